// Keep-alive durations with the semantics of Go's time.ParseDuration and Ollama's api.Duration.
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "sched/sched.h"

namespace berth {

namespace {

Status bad_duration(std::string_view text) {
    return invalid_argument("time: invalid duration \"%.*s\"", int(text.size()), text.data());
}

int64_t unit_ns(std::string_view u) {
    if (u == "ns") return 1;
    if (u == "us" || u == "\xC2\xB5s" || u == "\xCE\xBCs") return 1000;
    if (u == "ms") return 1000000;
    if (u == "s") return kNsPerSecond;
    if (u == "m") return 60 * kNsPerSecond;
    if (u == "h") return 3600 * kNsPerSecond;
    return 0;
}

}  // namespace

Result<int64_t> parse_duration(std::string_view text) {
    std::string_view s = text;
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s == "0") return int64_t(0);
    if (s.empty()) return bad_duration(text);
    long double total = 0;
    while (!s.empty()) {
        size_t i = 0;
        long double value = 0;
        bool digits = false;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            value = value * 10 + (s[i++] - '0');
            digits = true;
        }
        if (i < s.size() && s[i] == '.') {
            ++i;
            long double scale = 0.1L;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                value += (s[i++] - '0') * scale;
                scale /= 10;
                digits = true;
            }
        }
        if (!digits) return bad_duration(text);
        size_t u = i;
        while (u < s.size() && !(s[u] == '.' || (s[u] >= '0' && s[u] <= '9'))) ++u;
        std::string_view unit = s.substr(i, u - i);
        if (unit.empty()) {
            return invalid_argument("time: missing unit in duration \"%.*s\"", int(text.size()), text.data());
        }
        int64_t mul = unit_ns(unit);
        if (mul == 0) {
            return invalid_argument("time: unknown unit \"%.*s\" in duration \"%.*s\"", int(unit.size()), unit.data(),
                                    int(text.size()), text.data());
        }
        total += value * (long double)mul;
        s.remove_prefix(u);
    }
    if (total >= (long double)kForever) return neg ? -kForever : kForever;
    // Rounded in long double: through a double, values just under 2^63 ns ("9223372036854775806ns") rounded up to
    // 2^63, which llround turned into INT64_MIN, a negative duration (found by fuzz/duration_fuzz).
    int64_t ns = int64_t(std::llroundl(total));
    return neg ? -ns : ns;
}

int64_t keep_alive_from_seconds(double seconds) {
    if (seconds < 0 || std::isnan(seconds)) return kForever;
    long double ns = (long double)seconds * kNsPerSecond;
    if (ns >= (long double)kForever) return kForever;
    return int64_t(ns);
}

Result<int64_t> keep_alive_from_string(std::string_view text) {
    ASSIGN_OR_RETURN(int64_t ns, parse_duration(text));
    return ns < 0 ? kForever : ns;
}

int64_t keep_alive_from_env(std::string_view text) {
    if (text.empty()) return 300 * kNsPerSecond;
    Result<int64_t> d = parse_duration(text);
    if (d.is_ok()) return *d < 0 ? kForever : *d;
    // Integer seconds ("3600", "-1") are accepted in the environment.
    std::string s(text);
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (end && *end == '\0' && end != s.c_str()) return v < 0 ? kForever : keep_alive_from_seconds(double(v));
    LOG_WARN("invalid keep-alive \"%s\" in the environment, using 5m", s.c_str());
    return 300 * kNsPerSecond;
}

Result<int64_t> parse_timeout(std::string_view text) {
    Result<int64_t> d = parse_duration(text);
    if (!d.is_ok()) {
        std::string s(text);
        char* end = nullptr;
        long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || !end || *end != '\0') {
            return invalid_argument("\"%s\" is not a duration (\"5m\", \"30s\") or a number of seconds", s.c_str());
        }
        d = v <= 0 ? 0 : v >= kForever / kNsPerSecond ? kForever : int64_t(v) * kNsPerSecond;
    }
    return *d <= 0 ? 0 : *d;
}

std::string format_duration(int64_t ns) {
    if (ns >= kForever) return "forever";
    if (ns < kNsPerSecond) return string_printf("%lldms", (long long)(ns / 1000000));
    int64_t s = ns / kNsPerSecond;
    std::string out;
    if (s >= 3600) out += string_printf("%lldh", (long long)(s / 3600));
    if (s >= 60) out += string_printf("%lldm", (long long)(s / 60 % 60));
    out += string_printf("%llds", (long long)(s % 60));
    return out;
}

namespace {
class SystemClock final : public Clock {
  public:
    int64_t now_ns() const override { return berth::now_ns(); }
    int64_t wall_ns() const override { return berth::wall_time_ns(); }
};
}  // namespace

const Clock& system_clock() {
    static const SystemClock clock;
    return clock;
}

}  // namespace berth
