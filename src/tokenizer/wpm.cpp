// WordPiece (BERT): normalize (first code point of NFD, lowercase), split on whitespace and around punctuation
// and CJK characters, then greedy longest-match per word. GGUF BERT vocabularies store word starts with a
// "▁" prefix and continuations without "##"; a word with no full match becomes [UNK].
#include <algorithm>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace berth {

static bool is_chinese_char(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static bool is_ascii_symbol(uint32_t cp) {
    return cp == '$' || cp == '+' || cp == '<' || cp == '=' || cp == '>' || cp == '^' || cp == '`' || cp == '|' ||
           cp == '~';
}

void Tokenizer::Impl::encode_wpm(std::string_view text, std::vector<TokenId>& out) const {
    // Words as "▁word" strings in one buffer: (offset, length) pairs.
    std::string buf;
    std::vector<std::pair<size_t, size_t>> words;
    size_t word_start = std::string::npos;
    auto finish = [&]() {
        if (word_start != std::string::npos && buf.size() > word_start + 3)
            words.push_back({word_start, buf.size() - word_start});
        else if (word_start != std::string::npos)
            buf.resize(word_start);
        word_start = std::string::npos;
    };
    auto start = [&]() {
        if (word_start == std::string::npos) {
            word_start = buf.size();
            buf += "\xe2\x96\x81";
        }
    };
    const uint8_t* p = reinterpret_cast<const uint8_t*>(text.data());
    for (size_t i = 0; i < text.size();) {
        int len = utf8_sequence(p + i, text.size() - i);
        if (len <= 0) len = 1;
        uint32_t cp = len == 1 && p[i] >= 0x80 ? 0xFFFD : utf8_decode(p + i, len);
        i += size_t(len);
        cp = unicode_nfd_first(cp);
        if (unicode_is_whitespace(cp)) {
            finish();
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || unicode_is_control(cp)) continue;
        uint32_t lower = unicode_to_lower(cp);
        if (unicode_is_punctuation(cp) || (cp < 0x7F && is_ascii_symbol(cp)) || is_chinese_char(cp)) {
            finish();
            start();
            append_utf8(lower, buf);
            finish();
        } else {
            start();
            append_utf8(lower, buf);
        }
    }
    finish();

    for (auto [off, wlen] : words) {
        std::string_view word(buf.data() + off, wlen);
        const size_t before = out.size();
        for (size_t i = 0; i < wlen;) {
            bool match = false;
            for (size_t j = std::min(wlen, i + max_token_len + 1); j > i; j--) {
                TokenId id = vocab.find(word.substr(i, j - i));
                if (id != kNoToken) {
                    out.push_back(id);
                    i = j;
                    match = true;
                    break;
                }
            }
            if (!match) {
                out.resize(before);
                break;
            }
        }
        if (out.size() == before && unk_id != kNoToken) out.push_back(unk_id);
    }
}

}  // namespace berth
