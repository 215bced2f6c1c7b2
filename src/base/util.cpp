#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>

#include "base/base.h"

namespace berth {

int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t wall_time_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string format_rfc3339(int64_t unix_ns) {
    time_t secs = time_t(unix_ns / 1000000000);
    long nanos = long(unix_ns % 1000000000);
    tm t;
    localtime_r(&secs, &t);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &t);
    long off = t.tm_gmtoff;
    char tz[16];
    if (off == 0) {
        snprintf(tz, sizeof tz, "Z");
    } else {
        snprintf(tz, sizeof tz, "%c%02ld:%02ld", off < 0 ? '-' : '+', std::labs(off) / 3600,
                 (std::labs(off) % 3600) / 60);
    }
    return string_printf("%s.%09ld%s", date, nanos, tz);
}

Result<int64_t> parse_byte_size(std::string_view text) {
    std::string s(text);
    while (!s.empty() && isspace((unsigned char)s.back())) s.pop_back();
    size_t i = 0;
    while (i < s.size() && isspace((unsigned char)s[i])) i++;
    s = s.substr(i);
    if (s.empty()) return invalid_argument("empty size");
    char* end = nullptr;
    double v = strtod(s.c_str(), &end);
    if (end == s.c_str() || !std::isfinite(v) || v < 0) return invalid_argument("invalid size \"%s\"", s.c_str());
    std::string unit(end);
    while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
    for (auto& c : unit) c = char(tolower((unsigned char)c));
    double mult;
    if (unit.empty() || unit == "b")
        mult = 1;
    else if (unit == "k" || unit == "kb")
        mult = 1e3;
    else if (unit == "m" || unit == "mb")
        mult = 1e6;
    else if (unit == "g" || unit == "gb")
        mult = 1e9;
    else if (unit == "t" || unit == "tb")
        mult = 1e12;
    else if (unit == "kib")
        mult = 1024.0;
    else if (unit == "mib")
        mult = 1024.0 * 1024;
    else if (unit == "gib")
        mult = 1024.0 * 1024 * 1024;
    else if (unit == "tib")
        mult = 1024.0 * 1024 * 1024 * 1024;
    else
        return invalid_argument("invalid size unit in \"%s\" (use B, KB, MB, GB, KiB, MiB, GiB)", s.c_str());
    double bytes = v * mult;
    if (bytes > 9.0e18) return invalid_argument("size \"%s\" too large", s.c_str());
    return int64_t(bytes);
}

std::string format_bytes(int64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = double(bytes);
    int u = 0;
    while (std::fabs(v) >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0) return string_printf("%lld B", (long long)bytes);
    return string_printf("%.1f %s", v, units[u]);
}

std::string env_or(const char* name, const char* fallback_name, const std::string& default_value) {
    const char* v = getenv(name);
    if (v && *v) return v;
    if (fallback_name) {
        v = getenv(fallback_name);
        if (v && *v) return v;
    }
    return default_value;
}

void append_utf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

}  // namespace berth
