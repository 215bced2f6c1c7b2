// String formats as regular expressions over ASCII (compiled by regex.cpp): date, time and date-time (RFC 3339,
// real calendar dates with leap years, years 0001-9999), uuid, email (dot-atom local part of at most 64
// characters at a domain of LDH labels), uri (scheme://authority path ?query #fragment, RFC 3986), ipv4
// (dotted quad without leading zeros). int32, int64, float and double are number formats (json_schema.cpp).
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

Result<int> format_body(GrammarBuilder::Impl& b, std::string_view f, const std::string& path) {
    auto re = [&](const char* pattern) { return regex_body(b, pattern, path); };
    auto length = [&](int lo, int hi) { return b.repeat(b.json_raw_char(), lo, hi); };
    if (f == "date") return re(kDate);
    if (f == "time") return re(kTime);
    if (f == "date-time") return re(kDateTime);
    if (f == "uuid") return re(kUuid);
    if (f == "ipv4") return re(kIpv4);
    if (f == "uri") return re(kUri);
    if (f == "email") {
        ASSIGN_OR_RETURN(int local, re(kEmailLocal));
        ASSIGN_OR_RETURN(int domain, re(kEmailDomain));
        return b.seq({b.intersect(local, length(1, 64)), b.byte('@'), domain});
    }
    return error(
        "format \"%.*s\"%s is not supported (date, time, date-time, uuid, email, uri, ipv4; int32, "
        "int64, float, double for numbers)",
        int(f.size()), f.data(), at(path).c_str());
}

}  // namespace berth::schema
