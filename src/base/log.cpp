#include <sys/stat.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

#include "base/base.h"

namespace berth {
namespace {
LogLevel g_level = LogLevel::info;
std::mutex g_log_mutex;
bool g_journal_detected = false;  // under g_log_mutex
bool g_journal = false;           // stderr is the journal's stream: prefix syslog priorities

// syslog priorities (sd-daemon.h's SD_DEBUG ... SD_ERR): what the journal files each line under.
int syslog_priority(LogLevel l) {
    switch (l) {
        case LogLevel::debug: return 7;
        case LogLevel::info: return 6;
        case LogLevel::warn: return 4;
        case LogLevel::error: return 3;
    }
    return 6;
}

// systemd sets JOURNAL_STREAM=<device>:<inode> of the stream it connected stdout/stderr to; a child whose stderr
// was redirected elsewhere inherits the variable, so the descriptor itself must match.
bool stderr_is_journal() {
    const char* js = getenv("JOURNAL_STREAM");
    if (!js || !*js) return false;
    unsigned long long dev = 0, ino = 0;
    if (sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st;
    if (fstat(2, &st) != 0) return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
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

void detect_log_journal() {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    g_journal = stderr_is_journal();
    g_journal_detected = true;
}
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
    if (!g_journal_detected) {
        g_journal = stderr_is_journal();
        g_journal_detected = true;
    }
    if (g_journal) {
        fprintf(stderr, "<%d>%-5s %s\n", syslog_priority(level), level_name(level), buf);
        return;
    }
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
            t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000, level_name(level), buf);
}

void check_failed(const char* file, int line, const char* expr, const char* msg) {
    if (g_journal) fputs("<2>", stderr);  // critical
    fprintf(stderr, "CHECK failed at %s:%d: %s%s%s\n", file, line, expr, msg ? " — " : "", msg ? msg : "");
    fflush(stderr);
    abort();
}

}  // namespace berth
