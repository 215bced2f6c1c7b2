// Persistent thread pool: the caller is worker 0; workers spin on a generation counter for a short while
// after each job (the next matmul usually follows within microseconds), then sleep on a condition variable. A
// thread that waits for the others first prefetches the head of its share of the next weights (set_next_weights).
#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "kernels/kernels.h"

namespace berth {
namespace {
// About 0.5-1 ms of polling before a worker sleeps: long enough to bridge the gaps between the matmuls of a
// forward pass, short enough not to burn a shared core while the server is idle.
constexpr int kSpinRounds = 1 << 15;
// Pause rounds (~25 ns each) before a waiting thread starts yielding its core to other runnable threads.
constexpr int kYieldAfter = 1 << 10;
// An idle thread prefetches in steps of this many bytes, looking between them whether to stop.
constexpr size_t kIdleStep = 4096;
}  // namespace

size_t idle_prefetch_bytes() {
    static const size_t bytes = [] {
        const char* env = getenv("BERTH_IDLE_PREFETCH");
        if (env && *env) {
            char* end = nullptr;
            const long kib = strtol(env, &end, 10);
            if (*end == 0 && kib >= 0 && kib <= (1L << 20)) return size_t(kib) << 10;
            fprintf(stderr, "berth: ignoring BERTH_IDLE_PREFETCH=%s (KiB, 0 to 1048576)\n", env);
        }
        if (kernel_prefetch(1) == Prefetch::none) return size_t(0);
        const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
        return l2 > 0 ? size_t(l2) / 2 : size_t(512) << 10;
    }();
    return bytes;
}

size_t ThreadPool::NextWeights::total() const {
    size_t t = 0;
    for (int i = 0; i < n; i++) t += spans[i].bytes;
    return t;
}

const char* ThreadPool::NextWeights::at(size_t offset) const {
    for (int i = 0; i < n; i++) {
        if (offset < spans[i].bytes) return static_cast<const char*>(spans[i].p) + offset;
        offset -= spans[i].bytes;
    }
    return nullptr;
}

template <typename Stop>
void ThreadPool::idle_prefetch(int ith, const NextWeights& next, Stop&& stop) {
    const size_t cap = idle_prefetch_bytes();  // read once, cached there
    if (next.n == 0 || cap == 0) return;
    IdleProgress& pr = progress_[size_t(ith)];
    const size_t total = next.total();
    if (pr.key != next.spans[0].p || pr.total != total) pr = {next.spans[0].p, total, 0};
    const size_t share = total / size_t(n_threads_), begin = share * size_t(ith), len = std::min(share, cap);
    while (pr.done < len && !stop()) {
        const size_t end = std::min(len, pr.done + kIdleStep);
        for (size_t o = pr.done; o < end; o += 64) asm volatile("prefetcht1 %0" : : "m"(*next.at(begin + o)));
        pr.done = end;
    }
}

ThreadPool::ThreadPool(int n_threads) {
    n_threads_ = n_threads > 0 ? n_threads : physical_core_count();
    if (n_threads_ < 1) n_threads_ = 1;
    threads_.reserve(n_threads_ - 1);
    progress_.resize(size_t(n_threads_));
    for (int i = 1; i < n_threads_; i++) threads_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_.store(true);
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
}

void ThreadPool::run(Fn fn, void* ctx) {
    if (n_threads_ == 1) {
        fn(ctx, 0, 1);
        return;
    }
    fn_ = fn;
    ctx_ = ctx;
    remaining_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
        // The lock orders the generation bump with a worker that is about to sleep (no lost wake-up).
        std::lock_guard<std::mutex> lk(mu_);
        hints_[(generation_.load(std::memory_order_relaxed) + 1) % 2] = pending_;
        generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping_.load(std::memory_order_acquire) > 0) cv_.notify_all();
    fn(ctx, 0, n_threads_);
    idle_prefetch(0, hints_[generation_.load(std::memory_order_relaxed) % 2],
                  [&] { return remaining_.load(std::memory_order_acquire) == 0; });
    // Spin, then yield: on an oversubscribed machine the worker we wait for may need this core.
    for (int spin = 0; remaining_.load(std::memory_order_acquire) != 0; spin++) {
        if (spin < kYieldAfter)
            _mm_pause();
        else
            std::this_thread::yield();
    }
}

void ThreadPool::worker_loop(int ith) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && spin < kSpinRounds; spin++) {
            if (spin % kYieldAfter == kYieldAfter - 1)
                std::this_thread::yield();
            else
                _mm_pause();
            gen = generation_.load(std::memory_order_acquire);
        }
        if (gen == seen) {
            std::unique_lock<std::mutex> lk(mu_);
            sleeping_.fetch_add(1, std::memory_order_acq_rel);
            cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            sleeping_.fetch_sub(1, std::memory_order_acq_rel);
            gen = generation_.load(std::memory_order_acquire);
        }
        seen = gen;
        if (stop_.load(std::memory_order_acquire)) return;
        fn_(ctx_, ith, n_threads_);
        remaining_.fetch_sub(1, std::memory_order_acq_rel);
        // Until the caller starts the next job (the hint of this one stays: the caller writes the other slot).
        idle_prefetch(ith, hints_[seen % 2], [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
}

}  // namespace berth
