// base: logging, always-on CHECK, Status / Result<T>, fp16/bf16 conversion, clocks, byte-size parsing.
// Every module may include this header; it includes nothing of berth.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace berth {

// ---- logging -------------------------------------------------------------------------------------------
enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };
void set_log_level(LogLevel level);
LogLevel log_level();
// printf-style; one line to stderr with a timestamp and level. Thread-safe. When stderr is the systemd journal
// (JOURNAL_STREAM names its device and inode), the line starts with its syslog priority instead ("<4>WARN ..."),
// so that `journalctl -p warning` filters by level; the journal adds its own timestamps.
void log_message(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Looks at JOURNAL_STREAM and stderr again (log_message does it once, on its first line; tests redirect stderr).
void detect_log_journal();
#define LOG_DEBUG(...) ::berth::log_message(::berth::LogLevel::debug, __VA_ARGS__)
#define LOG_INFO(...) ::berth::log_message(::berth::LogLevel::info, __VA_ARGS__)
#define LOG_WARN(...) ::berth::log_message(::berth::LogLevel::warn, __VA_ARGS__)
#define LOG_ERROR(...) ::berth::log_message(::berth::LogLevel::error, __VA_ARGS__)

// ---- invariants (always on, also in release builds) ----------------------------------------------------
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const char* msg);
#define CHECK(cond)                                                    \
    do {                                                               \
        if (!(cond)) [[unlikely]]                                      \
            ::berth::check_failed(__FILE__, __LINE__, #cond, nullptr); \
    } while (0)
#define CHECK_MSG(cond, msg)                                         \
    do {                                                             \
        if (!(cond)) [[unlikely]]                                    \
            ::berth::check_failed(__FILE__, __LINE__, #cond, (msg)); \
    } while (0)

// ---- Status / Result -----------------------------------------------------------------------------------
// Environmental failures (bad file, bad request, out of memory) travel as a Status to the module boundary.
enum class StatusCode {
    ok = 0,
    invalid_argument,    // bad request / bad input: HTTP 400
    not_found,           // HTTP 404
    corrupt_data,        // malformed file
    unsupported,         // valid but not supported (type, architecture)
    resource_exhausted,  // memory budget, queue full: HTTP 503
    io_error,
    cancelled,
    timeout,
    internal,
    unavailable,  // shutting down: try again later (HTTP 503)
};
const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
  public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
    static Status ok() { return {}; }
    bool is_ok() const { return code_ == StatusCode::ok; }
    explicit operator bool() const { return is_ok(); }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }
    // "message" or "code: message" when the message is empty.
    std::string to_string() const;
    // Prepends context: "loading x.gguf: <message>".
    Status with_context(std::string_view context) const;

  private:
    StatusCode code_ = StatusCode::ok;
    std::string message_;
};

// printf-style constructors for the common codes.
Status invalid_argument(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Status not_found(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Status corrupt_data(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Status unsupported(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Status resource_exhausted(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Status io_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Status internal_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string string_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}
    Result(Status status) : v_(std::move(status)) { CHECK_MSG(!std::get<Status>(v_).is_ok(), "Result from ok Status"); }
    bool is_ok() const { return v_.index() == 0; }
    explicit operator bool() const { return is_ok(); }
    const Status& status() const {
        static const Status ok_status;
        return is_ok() ? ok_status : std::get<Status>(v_);
    }
    T& value() & {
        CHECK_MSG(is_ok(), std::get<Status>(v_).message().c_str());
        return std::get<T>(v_);
    }
    const T& value() const& {
        CHECK_MSG(is_ok(), std::get<Status>(v_).message().c_str());
        return std::get<T>(v_);
    }
    T&& value() && {
        CHECK_MSG(is_ok(), std::get<Status>(v_).message().c_str());
        return std::get<T>(std::move(v_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

  private:
    std::variant<T, Status> v_;
};

#define BERTH_CONCAT_INNER(a, b) a##b
#define BERTH_CONCAT(a, b) BERTH_CONCAT_INNER(a, b)
// RETURN_IF_ERROR(status_expr): returns the Status from the enclosing function when it is not ok.
#define RETURN_IF_ERROR(expr)         \
    do {                              \
        ::berth::Status _st = (expr); \
        if (!_st.is_ok()) return _st; \
    } while (0)
// ASSIGN_OR_RETURN(decl, result_expr): `ASSIGN_OR_RETURN(auto x, f());`
#define ASSIGN_OR_RETURN(decl, expr) ASSIGN_OR_RETURN_IMPL(BERTH_CONCAT(_res_, __LINE__), decl, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
    auto tmp = (expr);                         \
    if (!tmp.is_ok()) return tmp.status();     \
    decl = std::move(tmp).value()

// ---- half precision ------------------------------------------------------------------------------------
using fp16_t = uint16_t;
using bf16_t = uint16_t;

float fp16_to_fp32_slow(fp16_t h);
fp16_t fp32_to_fp16(float f);  // round to nearest even, like F16C's _cvtss_sh(x, 0)
// Table-driven conversion (65536 entries, built once at start-up).
extern float g_fp16_table[65536];
inline float fp16_to_fp32(fp16_t h) { return g_fp16_table[h]; }

inline float bf16_to_fp32(bf16_t h) {
    uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
// Round to nearest even; NaN stays NaN (quiet).
inline bf16_t fp32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return bf16_t((u >> 16) | 64);
    u += 0x7fff + ((u >> 16) & 1);
    return bf16_t(u >> 16);
}

// ---- clocks --------------------------------------------------------------------------------------------
int64_t now_ns();                             // monotonic clock
int64_t wall_time_ns();                       // realtime clock (Unix epoch)
std::string format_rfc3339(int64_t unix_ns);  // local time with offset and nanoseconds, as Ollama prints

// ---- sizes ---------------------------------------------------------------------------------------------
// "12GiB", "512MiB", "1.5GB", "123456" → bytes.
Result<int64_t> parse_byte_size(std::string_view text);
// 1536 → "1.5 KiB"
std::string format_bytes(int64_t bytes);

// ---- text --------------------------------------------------------------------------------------------
// Appends code point `cp` (< 0x110000) to `out` as UTF-8.
void append_utf8(uint32_t cp, std::string& out);

// Reads an environment variable; falls back to `fallback_name` (e.g. OLLAMA_HOST) when given and set.
std::string env_or(const char* name, const char* fallback_name, const std::string& default_value);

}  // namespace berth
