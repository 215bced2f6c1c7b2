// memory: anonymous arenas (mmap/munmap), mapped files (mmap, madvise, mlock), the ledger, and readings of
// the process's memory from /proc. Everything berth holds for a model is reserved through this module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/base.h"

namespace berth {

// How a mapped file on disk compares with what was mapped.
enum class FileState {
    intact,    // the same file, unchanged
    replaced,  // renamed over or deleted: the mapping keeps the old content, which stays valid
    changed,   // written or truncated in place: mapped pages may now show other bytes, or none (see faulted())
};

// A read-only private mapping of a whole file. Movable, unmaps on destruction.
//
// MAP_PRIVATE copies a page only when this process writes it; pages it only reads stay the file's pages, so a file
// truncated in place takes them away and the next read raises SIGBUS. Every mapping is therefore registered with a
// process-wide SIGBUS handler that replaces the vanished part with zero pages (the read goes on, the model computes
// nonsense) and records it: faulted() and file_state() tell the owner, which must stop using the mapping.
class MappedFile {
  public:
    MappedFile() = default;
    ~MappedFile();
    MappedFile(MappedFile&& o) noexcept;
    MappedFile& operator=(MappedFile&& o) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    // Maps `path` read-only (MAP_PRIVATE). Empty files are refused.
    static Result<MappedFile> open(const std::string& path);
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // MADV_WILLNEED over the whole mapping (asynchronous read-ahead).
    void prefetch() const;
    // mlock the mapping; returns an error (not fatal) when RLIMIT_MEMLOCK forbids it.
    Status lock();
    // Bytes of the mapping currently resident in the page cache and mapped (mincore).
    size_t resident_bytes() const;
    // Drops the pages wholly inside [p, p + bytes) from this mapping (MADV_DONTNEED): ranges the process will not
    // read again, such as tensors copied to a device. Reading them later would fault them in from the file.
    void release_range(const void* p, size_t bytes) const;
    // A read past the file's end (truncated while mapped) was turned into zeros instead of SIGBUS.
    bool faulted() const;
    // Compares the file (through the descriptor kept open, then by path) with what was mapped: an fstat and a stat.
    FileState file_state() const;

  private:
    void unmap();
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
    bool locked_ = false;
    std::string path_;
    int fd_ = -1;     // kept open: fstat tells an in-place change from a rename
    int guard_ = -1;  // slot in the SIGBUS guard's table
    int64_t dev_ = 0, ino_ = 0, mtime_ns_ = 0;
};

// Anonymous private memory, page-aligned, faulted in at reservation so that it is committed, not promised.
class Arena {
  public:
    Arena() = default;
    ~Arena();
    Arena(Arena&& o) noexcept;
    Arena& operator=(Arena&& o) noexcept;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // Reserves `bytes` (rounded up to the page size) and touches every page. Fails cleanly (resource_exhausted)
    // when the system cannot provide it. huge_pages: 2 MiB aligned and MADV_HUGEPAGE (for weights that kernels
    // stream: fewer TLB misses), where the kernel grants them. touch = false leaves the committing to the caller,
    // which writes every page at once (the weights repacked at load, whose file pages go as each matrix is
    // written, so the peak stays one matrix above the plan instead of the whole copy).
    static Result<Arena> reserve(size_t bytes, const char* what, bool huge_pages = false, bool touch = true);
    uint8_t* data() const { return data_; }
    size_t size() const { return size_; }  // the rounded size actually mapped
    void release();                        // munmap now
    // mlock the arena; an error (not fatal) when RLIMIT_MEMLOCK forbids it.
    Status lock();

  private:
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

size_t page_size();
inline size_t round_up(size_t n, size_t align) { return (n + align - 1) / align * align; }

// A bump allocator over memory it does not own; reset after every step. Exceeding the capacity is a
// planning bug and CHECK-fails.
class BumpAllocator {
  public:
    BumpAllocator() = default;
    BumpAllocator(uint8_t* base, size_t capacity) : base_(base), capacity_(capacity) {}
    void* alloc(size_t bytes, size_t align = 64);
    template <typename T>
    T* alloc_array(size_t n) {
        return static_cast<T*>(alloc(n * sizeof(T), alignof(T) < 64 ? 64 : alignof(T)));
    }
    void reset() { used_ = 0; }
    size_t used() const { return used_; }
    size_t high_water() const { return high_water_; }
    size_t capacity() const { return capacity_; }

  private:
    uint8_t* base_ = nullptr;
    size_t capacity_ = 0, used_ = 0, high_water_ = 0;
};

// ---- process readings ----------------------------------------------------------------------------------
struct ProcessMemory {
    int64_t rss = 0, rss_anon = 0, rss_file = 0, rss_shmem = 0, vm_swap = 0, vm_size = 0;  // bytes
};
// Reads /proc/<pid>/status (pid 0 = self).
Result<ProcessMemory> read_process_memory(int pid = 0);

// ---- the ledger ----------------------------------------------------------------------------------------
enum class MemoryKind {
    weights_mapped = 0,
    weights_resident,
    weights_copy,
    kv,
    scratch,
    cache,
    weights_repacked,
    count_
};
const char* memory_kind_name(MemoryKind k);
// Anonymous kinds are counted against the process's RssAnon (weights_mapped/resident are file-backed).
bool memory_kind_is_anonymous(MemoryKind k);

// The device dimension: what a model holds on an accelerator (CUDA, or the stand-in BERTH_DEVICE=fake), one
// allocation per kind, made at load and freed at unload. Devices are numbered 0..kMaxDevices-1.
constexpr int kMaxDevices = 8;
enum class DeviceMemoryKind { weights = 0, kv, scratch, count_ };
const char* device_memory_kind_name(DeviceMemoryKind k);

// Every byte berth holds for a model is an entry (model, kind) on the host or (model, device, kind) on a
// device. Thread-safe.
class Ledger {
  public:
    void set(const std::string& model, MemoryKind kind, int64_t bytes);
    void add(const std::string& model, MemoryKind kind, int64_t bytes);
    void erase_model(const std::string& model);
    int64_t get(const std::string& model, MemoryKind kind) const;
    // Sum of a model's anonymous kinds plus its mapped weights (plus its bytes on host-backed devices, which
    // are host memory too): the host memory the model holds.
    int64_t model_total(const std::string& model) const;
    int64_t total() const;            // over all models, same rule as model_total
    int64_t anonymous_total() const;  // over all models, anonymous kinds (and host-backed device bytes) only

    // Bytes of `model` on device `device` (0 ≤ device < kMaxDevices, CHECKed).
    void set_device(const std::string& model, int device, DeviceMemoryKind kind, int64_t bytes);
    int64_t get_device(const std::string& model, int device, DeviceMemoryKind kind) const;
    int64_t model_device_total(const std::string& model, int device) const;
    int64_t device_total(int device) const;  // over all models (the context row not included)
    // The device's own overhead (driver context, library handles and workspaces), measured once when the
    // device is opened: not a model's, shown as its own row so that ledger + context = what the driver reports.
    void set_device_context(int device, int64_t bytes);
    int64_t device_context(int device) const;
    // The host memory the same context took (a GPU runtime's libraries and tables, measured once): anonymous host
    // memory that is no model's, counted in total() and anonymous_total().
    void set_device_host_context(int device, int64_t bytes);
    int64_t device_host_context(int device) const;
    // A host-backed device (the stand-in BERTH_DEVICE=fake) takes its memory from anonymous host mappings:
    // its bytes then also count in total() and anonymous_total(), so "unaccounted" (RssAnon minus the ledger)
    // keeps meaning what berth cannot account for.
    void set_device_host_backed(int device, bool host_backed);

    struct Row {
        std::string model;
        int64_t bytes[int(MemoryKind::count_)] = {};
        int64_t device_bytes[kMaxDevices][int(DeviceMemoryKind::count_)] = {};
        int64_t device_total(int device) const;
    };
    std::vector<Row> snapshot() const;

  private:
    int64_t row_total_locked(const Row& r) const;
    int64_t host_backed_device_bytes_locked(const Row& r) const;
    mutable std::mutex mu_;
    std::map<std::string, Row> rows_;
    int64_t device_context_[kMaxDevices] = {};
    int64_t device_host_context_[kMaxDevices] = {};
    int64_t host_contexts_locked() const;
    bool device_host_backed_[kMaxDevices] = {};
};

// A model's row in a ledger, erased when this is destroyed. Declared as its owner's first member it is destroyed
// last, so the row goes only once the memory it accounts for (mappings, arenas) has been released: the ledger
// never shows less than is held, and "unaccounted" does not jump while a model unloads.
class LedgerRow {
  public:
    LedgerRow() = default;
    ~LedgerRow() {
        if (ledger_) ledger_->erase_model(name_);
    }
    LedgerRow(const LedgerRow&) = delete;
    LedgerRow& operator=(const LedgerRow&) = delete;
    void attach(Ledger* ledger, std::string name) {
        ledger_ = ledger;
        name_ = std::move(name);
    }

  private:
    Ledger* ledger_ = nullptr;
    std::string name_;
};

// ---- the process allocator -----------------------------------------------------------------------------
// Configures glibc malloc for a long-running server: few arenas (M_ARENA_MAX, BERTH_MALLOC_ARENAS, default 2)
// so that freed memory is not stranded in per-thread arenas, and a trim threshold that returns freed heap
// tops to the OS. Called once at server start.
void configure_process_allocator();
// glibc reads its malloc tunables only at process start. A server wants the per-thread caches (tcache) off:
// each long-lived HTTP thread otherwise keeps up to ~230 KiB of freed chunks for good, which shows up as
// unaccounted memory that creeps for hours and stays after every model is unloaded. Unless GLIBC_TUNABLES
// sets tcache_count already, this sets it (BERTH_MALLOC_TCACHE, default 0; "default" keeps glibc's) and
// re-executes the program with the same arguments. Call first thing, before any thread starts; returns
// when nothing needed doing or the exec failed (logged).
void exec_with_malloc_tunables();
// Returns free heap memory to the OS (malloc_trim); returns the heap's free bytes before trimming.
int64_t trim_heap();
struct HeapStats {
    int64_t in_use = 0, free = 0, mmapped = 0;  // bytes (mallinfo2)
};
HeapStats heap_stats();

// ---- history -------------------------------------------------------------------------------------------
// One memory/latency sample; the server takes one per second.
struct MemorySample {
    int64_t t_ms = 0;  // Unix time in milliseconds
    int64_t rss_anon = 0, rss_file = 0, vm_swap = 0, ledger = 0, unaccounted = 0;
    int64_t requests = 0;  // completed requests so far
    double requests_per_s = 0, ttft_p50_ms = 0, token_p50_ms = 0;
};

// A fixed ring of samples (capacity chosen at construction, never grows). Thread-safe.
class MemoryHistory {
  public:
    explicit MemoryHistory(size_t capacity = 3600);
    void push(const MemorySample& s);
    // Samples oldest first, at most `max` of the newest (0 = all).
    std::vector<MemorySample> snapshot(size_t max = 0) const;
    size_t size() const;
    size_t capacity() const { return ring_.size(); }

  private:
    mutable std::mutex mu_;
    std::vector<MemorySample> ring_;
    size_t next_ = 0, count_ = 0;
};

}  // namespace berth
