// Look-ups in the generated Unicode tables.
#include "tokenizer/unicode.h"

namespace berth {

namespace {

// Index of the range containing cp in a table sorted by first code point, or -1.
template <size_t W>
long find_range(const uint32_t (*table)[W], size_t count, uint32_t cp) {
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (table[mid][1] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < count && table[lo][0] <= cp && cp <= table[lo][1] ? long(lo) : -1;
}

}  // namespace

uint32_t unicode_nfd_first(uint32_t cp) {
    if (cp >= 0xAC00 && cp <= 0xD7A3) return 0x1100 + (cp - 0xAC00) / 588;  // Hangul syllable → leading jamo
    long i = find_range(unicode_data::nfd_first, unicode_data::nfd_first_count, cp);
    return i < 0 ? cp : cp + unicode_data::nfd_first[i][2];
}

uint32_t unicode_to_lower(uint32_t cp) {
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    long i = find_range(unicode_data::to_lower, unicode_data::to_lower_count, cp);
    return i < 0 ? cp : cp + unicode_data::to_lower[i][2];
}

bool unicode_is_whitespace(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

bool unicode_is_punctuation(uint32_t cp) {
    return find_range(unicode_data::punctuation, unicode_data::punctuation_count, cp) >= 0;
}

bool unicode_is_control(uint32_t cp) { return find_range(unicode_data::control, unicode_data::control_count, cp) >= 0; }

}  // namespace berth
