#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "base/base.h"

namespace berth {
namespace {
LogLevel g_level = LogLevel::info;
std::mutex g_log_mutex;
const char* level_name(LogLevel l) {
    switch (l) {
        case LogLevel::debug: return "DEBUG";
        case LogLevel::info: return "INFO";
        case LogLevel::warn: return "WARN";
        case LogLevel::error: return "ERROR";
    }
    return "?";
}
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void log_message(LogLevel level, const char* fmt, ...) {
    if (level < g_level) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t;
    gmtime_r(&ts.tv_sec, &t);
    std::lock_guard<std::mutex> lock(g_log_mutex);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
            t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000, level_name(level), buf);
}

void check_failed(const char* file, int line, const char* expr, const char* msg) {
    fprintf(stderr, "CHECK failed at %s:%d: %s%s%s\n", file, line, expr, msg ? " — " : "", msg ? msg : "");
    fflush(stderr);
    abort();
}

}  // namespace berth
