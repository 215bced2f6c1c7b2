// Durations and sizes from clients and the environment: parse_duration (Go's time.ParseDuration),
// keep_alive_from_string / _from_seconds / _from_env, parse_timeout, parse_byte_size.
// Properties: no crash or undefined behaviour (overflow saturates); a parsed duration, shown by format_duration
// (milliseconds under a second, whole seconds above, as log lines and error messages show it), parses back to
// the value at that precision; keep-alives and byte sizes are never negative.
#include <cmath>
#include <cstring>
#include <string>

#include "fuzz_util.h"
#include "sched/sched.h"

using namespace berth;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    set_log_level(LogLevel::error);  // keep_alive_from_env warns about every invalid value
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    Result<int64_t> d = parse_duration(text);
    if (d.is_ok() && *d != kForever && *d != -kForever) {
        std::string shown = format_duration(*d);
        Result<int64_t> back = parse_duration(shown);
        const int64_t unit = *d < kNsPerSecond ? 1000000 : kNsPerSecond;
        if (!back.is_ok() || *back != *d / unit * unit) {
            fprintf(stderr, "%lld -> \"%s\"\n", (long long)*d, shown.c_str());
            fuzz::fail("format_duration does not parse back to the same duration");
        }
    }
    Result<int64_t> ka = keep_alive_from_string(text);
    if (ka.is_ok() && *ka < 0) fuzz::fail("negative keep-alive (negative means forever)");
    if (keep_alive_from_env(text) < 0) fuzz::fail("negative keep-alive from the environment");
    Result<int64_t> t = parse_timeout(text);
    if (t.is_ok() && *t < 0) fuzz::fail("negative timeout (0 means no limit)");
    Result<int64_t> bytes = parse_byte_size(text);
    if (bytes.is_ok() && *bytes < 0) fuzz::fail("negative byte size");

    // The same bytes as a JSON number of seconds (keep_alive: 1e300, -0.0, NaN, denormals).
    if (size >= sizeof(double)) {
        double seconds;
        std::memcpy(&seconds, data, sizeof seconds);
        if (std::isfinite(seconds) && keep_alive_from_seconds(seconds) < 0) fuzz::fail("negative keep-alive");
    }
    return 0;
}
