// Helpers shared by berth's fuzz targets.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "base/base.h"

namespace berth::fuzz {

// Reads the input front to back: a few control bytes, then the rest as text.
class Input {
  public:
    Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
    uint8_t byte() {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }
    std::string_view rest() const { return {reinterpret_cast<const char*>(p_), n_}; }
    // Splits the rest at the first occurrence of `sep` (the whole rest when absent).
    std::string_view take_until(std::string_view sep) {
        std::string_view r = rest();
        size_t at = r.find(sep);
        std::string_view head = r.substr(0, at);
        size_t used = at == std::string_view::npos ? r.size() : at + sep.size();
        p_ += used;
        n_ -= used;
        return head;
    }

  private:
    const uint8_t* p_;
    size_t n_;
};

// The input as a file that code taking a path can open: an anonymous memory file, "/proc/self/fd/N".
class MemFile {
  public:
    MemFile(const uint8_t* data, size_t size) {
        fd_ = memfd_create("berth-fuzz", 0);
        if (fd_ < 0) abort();
        for (size_t done = 0; done < size;) {
            ssize_t w = write(fd_, data + done, size - done);
            if (w <= 0) abort();
            done += size_t(w);
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~MemFile() { close(fd_); }
    MemFile(const MemFile&) = delete;
    MemFile& operator=(const MemFile&) = delete;
    const std::string& path() const { return path_; }

  private:
    int fd_ = -1;
    std::string path_;
};

// A property the code promises did not hold: report it as a crash, with the reason.
[[noreturn]] inline void fail(const char* what) {
    fprintf(stderr, "fuzz property violated: %s\n", what);
    abort();
}

// True when `s` is valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
inline bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k < n; ++k) {
            unsigned char d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3F);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n;
    }
    return true;
}

}  // namespace berth::fuzz
