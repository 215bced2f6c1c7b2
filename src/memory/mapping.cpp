#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "memory/fault_guard.h"
#include "memory/memory.h"

namespace berth {

size_t page_size() {
    static const size_t ps = size_t(sysconf(_SC_PAGESIZE));
    return ps;
}

namespace {
int64_t mtime_ns_of(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }
}  // namespace

MappedFile::~MappedFile() { unmap(); }

void MappedFile::unmap() {
    fault_guard_unregister(guard_);  // before the range can be reused by another mapping
    guard_ = -1;
    if (data_) munmap(data_, size_);
    if (fd_ >= 0) ::close(fd_);
    data_ = nullptr;
    size_ = 0;
    fd_ = -1;
}

MappedFile::MappedFile(MappedFile&& o) noexcept { *this = std::move(o); }

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
    if (this != &o) {
        unmap();
        data_ = o.data_;
        size_ = o.size_;
        locked_ = o.locked_;
        path_ = std::move(o.path_);
        fd_ = o.fd_;
        guard_ = o.guard_;
        dev_ = o.dev_;
        ino_ = o.ino_;
        mtime_ns_ = o.mtime_ns_;
        o.data_ = nullptr;
        o.size_ = 0;
        o.fd_ = -1;
        o.guard_ = -1;
    }
    return *this;
}

bool MappedFile::faulted() const { return fault_guard_faulted(guard_); }

FileState MappedFile::file_state() const {
    if (!data_) return FileState::intact;
    struct stat st;
    if (faulted() ||
        (fd_ >= 0 && fstat(fd_, &st) == 0 && (size_t(st.st_size) != size_ || mtime_ns_of(st) != mtime_ns_)))
        return FileState::changed;
    if (stat(path_.c_str(), &st) != 0 || int64_t(st.st_dev) != dev_ || int64_t(st.st_ino) != ino_)
        return FileState::replaced;
    return FileState::intact;
}

Result<MappedFile> MappedFile::open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return not_found("%s: no such file", path.c_str());
        return io_error("%s: cannot open: %s", path.c_str(), strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return io_error("%s: cannot stat: %s", path.c_str(), strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return invalid_argument("%s: not a regular file", path.c_str());
    }
    if (st.st_size == 0) {
        close(fd);
        return corrupt_data("%s: file is empty", path.c_str());
    }
    void* p = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    if (p == MAP_FAILED) {
        close(fd);
        return io_error("%s: mmap failed: %s", path.c_str(), strerror(e));
    }
    posix_madvise(p, size_t(st.st_size), POSIX_MADV_SEQUENTIAL);
    MappedFile m;
    m.data_ = static_cast<uint8_t*>(p);
    m.size_ = size_t(st.st_size);
    m.path_ = path;
    m.fd_ = fd;
    m.dev_ = int64_t(st.st_dev);
    m.ino_ = int64_t(st.st_ino);
    m.mtime_ns_ = mtime_ns_of(st);
    m.guard_ = fault_guard_register(p, round_up(m.size_, page_size()));
    return m;
}

void MappedFile::prefetch() const {
    if (data_) madvise(data_, size_, MADV_WILLNEED);
}

Status MappedFile::lock() {
    if (!data_ || locked_) return Status::ok();
    if (mlock(data_, size_) != 0)
        return resource_exhausted("mlock of %s (%s) failed: %s (raise RLIMIT_MEMLOCK / ulimit -l)", path_.c_str(),
                                  format_bytes(int64_t(size_)).c_str(), strerror(errno));
    locked_ = true;
    return Status::ok();
}

void MappedFile::release_range(const void* p, size_t bytes) const {
    const uintptr_t begin = reinterpret_cast<uintptr_t>(p), end = begin + bytes;
    const uintptr_t lo = round_up(begin, page_size()), hi = end / page_size() * page_size();
    CHECK(begin >= reinterpret_cast<uintptr_t>(data_) && end <= reinterpret_cast<uintptr_t>(data_) + size_);
    if (hi <= lo) return;
    // A locked mapping keeps its pages through MADV_DONTNEED: unlock the range first (best effort, like the advice).
    if (locked_) munlock(reinterpret_cast<void*>(lo), hi - lo);
    madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

size_t MappedFile::resident_bytes() const {
    if (!data_) return 0;
    size_t ps = page_size();
    size_t pages = (size_ + ps - 1) / ps;
    // mincore in chunks to bound the vector size (no per-call growth beyond 64 KiB).
    constexpr size_t chunk = 65536;
    std::vector<unsigned char> vec(chunk);
    size_t resident = 0;
    for (size_t first = 0; first < pages; first += chunk) {
        size_t n = std::min(chunk, pages - first);
        if (mincore(data_ + first * ps, n * ps, vec.data()) != 0) return 0;
        for (size_t i = 0; i < n; i++) resident += vec[i] & 1;
    }
    return std::min(resident * ps, size_);
}

Arena::~Arena() { release(); }

Arena::Arena(Arena&& o) noexcept { *this = std::move(o); }

Arena& Arena::operator=(Arena&& o) noexcept {
    if (this != &o) {
        release();
        data_ = o.data_;
        size_ = o.size_;
        o.data_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

Result<Arena> Arena::reserve(size_t bytes, const char* what, bool huge_pages, bool touch) {
    Arena a;
    if (bytes == 0) return a;
    size_t n = round_up(bytes, page_size());
    constexpr size_t kHuge = size_t(2) << 20;
    huge_pages = huge_pages && n >= kHuge;
    // Huge pages: map 2 MiB more without populating, trim to an aligned start (the kernel backs only aligned
    // 2 MiB ranges with huge pages) and ask for them (MADV_HUGEPAGE; THP's "madvise" mode honours it). The
    // mapping keeps exactly n bytes, so RSS and the ledger agree either way.
    void* p = mmap(nullptr, huge_pages ? n + kHuge : n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | (huge_pages || !touch ? 0 : MAP_POPULATE), -1, 0);
    if (p == MAP_FAILED)
        return resource_exhausted("cannot reserve %s for %s: %s", format_bytes(int64_t(n)).c_str(), what,
                                  strerror(errno));
    if (huge_pages) {
        const uintptr_t lo = reinterpret_cast<uintptr_t>(p), start = (lo + kHuge - 1) / kHuge * kHuge;
        if (start > lo) munmap(p, start - lo);
        const uintptr_t end = lo + n + kHuge;
        if (end > start + n) munmap(reinterpret_cast<void*>(start + n), end - (start + n));
        p = reinterpret_cast<void*>(start);
        madvise(p, n, MADV_HUGEPAGE);  // best effort: without THP the pages stay 4 KiB
    }
    // MAP_POPULATE is best effort; touch every page so the memory is committed now, not on first use.
    volatile uint8_t* bytes_p = static_cast<uint8_t*>(p);
    if (touch)
        for (size_t off = 0; off < n; off += page_size()) bytes_p[off] = 0;
    a.data_ = static_cast<uint8_t*>(p);
    a.size_ = n;
    return a;
}

Status Arena::lock() {
    if (data_ && mlock(data_, size_) != 0)
        return resource_exhausted("mlock of %s failed: %s (raise RLIMIT_MEMLOCK / ulimit -l)",
                                  format_bytes(int64_t(size_)).c_str(), strerror(errno));
    return Status::ok();
}

void Arena::release() {
    if (data_) munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
}

void* BumpAllocator::alloc(size_t bytes, size_t align) {
    size_t start = round_up(used_, align);
    CHECK_MSG(start + bytes <= capacity_, "scratch arena exhausted: the load-time plan was too small");
    used_ = start + bytes;
    if (used_ > high_water_) high_water_ = used_;
    return base_ + start;
}

}  // namespace berth
