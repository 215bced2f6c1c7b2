// String formats as regular expressions over ASCII (compiled by regex.cpp): date, time and date-time (RFC 3339,
// real calendar dates with leap years, years 0001-9999), uuid, email (dot-atom local part of at most 64
// characters at a domain of LDH labels), uri (scheme://authority path ?query #fragment, RFC 3986), ipv4
// (dotted quad without leading zeros). int32, int64, float and double are number formats (json_schema.cpp).
#include <atomic>
#include <mutex>

#include "grammar/schema_internal.h"

namespace berth::schema {
namespace {

// Years 0001-9999; leap years are those divisible by 4, except centuries not divisible by 400.
#define YEAR "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
#define LEAP "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
#define MONTH_DAY                                                                                          \
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|" \
    "1[0-9]|2[0-8]))"
#define DATE "(?:" YEAR "-" MONTH_DAY "|" LEAP "-02-29)"
#define TIME "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
#define LABEL "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#define PCT "%[0-9A-Fa-f]{2}"

const char* const kDate = "^" DATE "$";
const char* const kTime = "^" TIME "$";
const char* const kDateTime = "^" DATE "T" TIME "$";
const char* const kUuid = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const char* const kIpv4 =
    "^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$";
const char* const kEmailLocal = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$";
const char* const kEmailDomain = "^" LABEL "(?:\\." LABEL ")+$";
const char* const kUri = "^[A-Za-z][A-Za-z0-9+.-]*://(?:[A-Za-z0-9._~!$&'()*+,;=-]|" PCT
                         ")+(?::[0-9]{1,5})?"
                         "(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|" PCT
                         ")*)*"
                         "(?:\\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|" PCT
                         ")*)?"
                         "(?:#(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|" PCT ")*)?$";

}  // namespace

bool is_number_format(std::string_view f) { return f == "int32" || f == "int64" || f == "float" || f == "double"; }

namespace {

constexpr const char* kFormats[] = {"date", "time", "date-time", "uuid", "ipv4", "uri", "email"};
constexpr int kNumFormats = int(sizeof(kFormats) / sizeof(kFormats[0]));

// Format `i`'s string body as builder nodes (what the automaton below is compiled from).
int format_nodes(GrammarBuilder::Impl& b, int i) {
    auto re = [&](const char* pattern) {
        Result<int> r = regex_body(b, pattern, "");
        CHECK_MSG(r.is_ok(), r.status().message().c_str());  // the patterns above are fixed and valid
        return *r;
    };
    switch (i) {
        case 0: return re(kDate);
        case 1: return re(kTime);
        case 2: return re(kDateTime);
        case 3: return re(kUuid);
        case 4: return re(kIpv4);
        case 5: return re(kUri);
        default: {
            const int local = b.intersect(re(kEmailLocal), b.repeat(b.json_raw_char(), 1, 64));
            return b.seq({local, b.byte('@'), re(kEmailDomain)});
        }
    }
}

// The formats' automata are fixed, so each is compiled once per process, on first use, and shared by every
// schema that names it (constant afterwards; format_automata_bytes() says how small: tens of KiB for all).
struct FormatAutomata {
    std::once_flag once[kNumFormats];
    ByteDfa dfa[kNumFormats];
    std::atomic<int64_t> bytes{0};
};

FormatAutomata& format_automata() {
    static FormatAutomata f;
    return f;
}

const ByteDfa& format_dfa(int i) {
    FormatAutomata& f = format_automata();
    std::call_once(f.once[i], [&] {
        GrammarBuilder::Impl b;
        Result<ByteDfa> d = compile_to_dfa(b, format_nodes(b, i));
        CHECK_MSG(d.is_ok(), d.status().message().c_str());
        f.dfa[i] = std::move(*d);
        int64_t n = int64_t(sizeof(ByteDfa));
        for (const auto& e : f.dfa[i].edges) n += int64_t(sizeof(e) + e.capacity() * sizeof(ByteDfa::Edge));
        f.bytes += n + int64_t(f.dfa[i].final.capacity());
    });
    return f.dfa[i];
}

}  // namespace

int64_t format_automata_bytes() { return format_automata().bytes.load(); }

Result<int> format_body(GrammarBuilder::Impl& b, std::string_view f, const std::string& path) {
    for (int i = 0; i < kNumFormats; ++i)
        if (f == kFormats[i]) return b.automaton(format_dfa(i));
    return error(
        "format \"%.*s\"%s is not supported (date, time, date-time, uuid, email, uri, ipv4; int32, "
        "int64, float, double for numbers)",
        int(f.size()), f.data(), at(path).c_str());
}

}  // namespace berth::schema
