#include <cstdarg>
#include <cstdio>

#include "base/base.h"

namespace berth {

const char* status_code_name(StatusCode code) {
    switch (code) {
        case StatusCode::ok: return "ok";
        case StatusCode::invalid_argument: return "invalid argument";
        case StatusCode::not_found: return "not found";
        case StatusCode::corrupt_data: return "corrupt data";
        case StatusCode::unsupported: return "unsupported";
        case StatusCode::resource_exhausted: return "resource exhausted";
        case StatusCode::io_error: return "i/o error";
        case StatusCode::cancelled: return "cancelled";
        case StatusCode::timeout: return "timeout";
        case StatusCode::internal: return "internal error";
        case StatusCode::unavailable: return "unavailable";
    }
    return "unknown";
}

std::string Status::to_string() const {
    if (message_.empty()) return status_code_name(code_);
    return message_;
}

Status Status::with_context(std::string_view context) const {
    if (is_ok()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
}

static std::string vformat(const char* fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(nullptr, 0, fmt, ap2);
    va_end(ap2);
    std::string s(n > 0 ? size_t(n) : 0, '\0');
    if (n > 0) vsnprintf(s.data(), size_t(n) + 1, fmt, ap);
    return s;
}

std::string string_printf(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

#define BERTH_STATUS_CTOR(fn, code)        \
    Status fn(const char* fmt, ...) {      \
        va_list ap;                        \
        va_start(ap, fmt);                 \
        std::string s = vformat(fmt, ap);  \
        va_end(ap);                        \
        return Status(code, std::move(s)); \
    }
BERTH_STATUS_CTOR(invalid_argument, StatusCode::invalid_argument)
BERTH_STATUS_CTOR(not_found, StatusCode::not_found)
BERTH_STATUS_CTOR(corrupt_data, StatusCode::corrupt_data)
BERTH_STATUS_CTOR(unsupported, StatusCode::unsupported)
BERTH_STATUS_CTOR(resource_exhausted, StatusCode::resource_exhausted)
BERTH_STATUS_CTOR(io_error, StatusCode::io_error)
BERTH_STATUS_CTOR(internal_error, StatusCode::internal)

}  // namespace berth
