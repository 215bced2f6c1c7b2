// RequestFramer: where one HTTP/1.1 request ends in a connection's buffer (request line, headers, then a body by
// Content-Length or chunked transfer coding), with the bounds that keep a hostile request small.
#include <cstring>

#include "server/acceptor.h"

namespace berth {

namespace {

bool is_tchar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

FrameStatus RequestFramer::fail(int status, std::string message) {
    phase_ = Phase::failed;
    error_status_ = status;
    error_ = std::move(message);
    return FrameStatus::error;
}

// Request line "METHOD SP target SP HTTP/1.x", then "name: value" lines; every line ends in CRLF and nothing else
// (a bare LF, a folded line or a name with spaces is refused rather than read one way here and another later).
FrameStatus RequestFramer::parse_head(std::string_view head) {
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == 0 || sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp2 == sp1 + 1)
        return fail(400, "malformed request line");
    std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                     version = line.substr(sp2 + 1);
    for (char c : method) {
        if (!is_tchar(c)) return fail(400, "malformed request line");
    }
    if (target.size() > kMaxTargetBytes) return fail(414, "request target longer than 8192 bytes");
    for (char c : target) {
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return fail(400, "malformed request target");
    }
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail(400, "unsupported HTTP version");
    head_.method = std::string(method);
    head_.path = std::string(target.substr(0, target.find('?')));

    bool has_length = false, has_encoding = false;
    for (size_t at = eol + 2; at < head.size();) {
        size_t end = head.find("\r\n", at);
        if (end == at) break;  // the blank line
        std::string_view h = head.substr(at, end - at);
        if (h.find('\n') != std::string_view::npos || h.find('\r') != std::string_view::npos)
            return fail(400, "malformed header line (a bare CR or LF)");
        size_t colon = h.find(':');
        if (colon == 0 || colon == std::string_view::npos) return fail(400, "malformed header line");
        std::string_view name = h.substr(0, colon);
        for (char c : name) {
            if (!is_tchar(c)) return fail(400, "malformed header name");
        }
        std::string_view value = trim(h.substr(colon + 1));
        if (iequals(name, "Content-Length")) {
            if (has_length) return fail(400, "more than one Content-Length header");
            if (value.empty() || value.size() > 18) return fail(400, "invalid Content-Length");
            int64_t n = 0;
            for (char c : value) {
                if (c < '0' || c > '9') return fail(400, "invalid Content-Length");
                n = n * 10 + (c - '0');
            }
            head_.content_length = n;
            has_length = true;
        } else if (iequals(name, "Transfer-Encoding")) {
            if (has_encoding) return fail(400, "more than one Transfer-Encoding header");
            if (!iequals(value, "chunked")) return fail(501, "unsupported Transfer-Encoding (only chunked)");
            head_.chunked = true;
            has_encoding = true;
        } else if (iequals(name, "Expect") && iequals(value, "100-continue")) {
            head_.expect_continue = true;
            if (value == "100-continue") head_.expect_value_at = size_t(value.data() - head.data());
        }
        at = end + 2;
    }
    if (has_length && has_encoding) return fail(400, "both Content-Length and Transfer-Encoding");
    return FrameStatus::head_done;
}

FrameStatus RequestFramer::advance(std::string_view buf) {
    for (;;) {
        switch (phase_) {
            case Phase::head: {
                size_t from = scan_ >= 3 ? scan_ - 3 : 0;
                size_t pos = buf.find("\r\n\r\n", from);
                if (pos == std::string_view::npos) {
                    if (buf.find("\r\n") == std::string_view::npos && buf.size() > kMaxTargetBytes + 64)
                        return fail(414, "request target longer than 8192 bytes");
                    if (buf.size() > kMaxHeadBytes) return fail(431, "request header larger than 64 KiB");
                    scan_ = buf.size();
                    return FrameStatus::need_more;
                }
                size_t head_end = pos + 4;
                if (buf.find("\r\n") > kMaxTargetBytes + 64) return fail(414, "request target longer than 8192 bytes");
                if (head_end > kMaxHeadBytes) return fail(431, "request header larger than 64 KiB");
                if (FrameStatus s = parse_head(buf.substr(0, head_end)); s == FrameStatus::error) return s;
                head_.head_bytes = head_end;
                scan_ = head_end;
                body_bytes_ = head_.content_length;
                phase_ = head_.chunked ? Phase::chunk_size : Phase::length_body;
                return FrameStatus::head_done;
            }
            case Phase::length_body: {
                if (head_.content_length > max_body_) return fail(413, "request body too large");
                size_t need = head_.head_bytes + size_t(head_.content_length);
                if (buf.size() < need) return FrameStatus::need_more;
                end_ = need;
                phase_ = Phase::done;
                return FrameStatus::complete;
            }
            case Phase::chunk_size: {
                size_t eol = buf.find("\r\n", scan_);
                if (eol == std::string_view::npos) {
                    if (buf.size() - scan_ > 1024) return fail(400, "chunk size line longer than 1 KiB");
                    return FrameStatus::need_more;
                }
                std::string_view line = buf.substr(scan_, eol - scan_);
                size_t digits = 0;
                int64_t size = 0;
                while (digits < line.size() && hex_value(line[digits]) >= 0) {
                    if (digits == 15) return fail(400, "chunk size too large");
                    size = size * 16 + hex_value(line[digits]);
                    ++digits;
                }
                if (digits == 0 || (digits < line.size() && line[digits] != ';'))
                    return fail(400, "malformed chunk size");
                if (line.find('\n') != std::string_view::npos || line.find('\r') != std::string_view::npos)
                    return fail(400, "malformed chunk size");
                body_bytes_ += size;
                if (body_bytes_ > max_body_) return fail(413, "request body too large");
                scan_ = eol + 2;
                chunk_left_ = size;
                phase_ = size == 0 ? Phase::last_crlf : Phase::chunk_data;
                break;
            }
            case Phase::chunk_data: {
                size_t take = std::min<size_t>(buf.size() - scan_, size_t(chunk_left_));
                scan_ += take;
                chunk_left_ -= int64_t(take);
                if (chunk_left_ > 0) return FrameStatus::need_more;
                phase_ = Phase::chunk_data_end;
                break;
            }
            case Phase::chunk_data_end:
            case Phase::last_crlf: {
                if (buf.size() < scan_ + 2) return FrameStatus::need_more;
                if (buf[scan_] != '\r' || buf[scan_ + 1] != '\n')
                    return fail(400, phase_ == Phase::last_crlf ? "chunk trailers are not supported"
                                                                : "malformed chunked body");
                scan_ += 2;
                if (phase_ == Phase::chunk_data_end) {
                    phase_ = Phase::chunk_size;
                    break;
                }
                end_ = scan_;
                phase_ = Phase::done;
                return FrameStatus::complete;
            }
            case Phase::done: return FrameStatus::complete;
            case Phase::failed: return FrameStatus::error;
        }
    }
}

}  // namespace berth
