// Persistent thread pool: the caller is worker 0; workers spin on a generation counter for a short while
// after each job (the next matmul usually follows within microseconds), then sleep on a condition variable.
#include <immintrin.h>

#include "kernels/kernels.h"

namespace berth {
namespace {
// About 0.5-1 ms of polling before a worker sleeps: long enough to bridge the gaps between the matmuls of a
// forward pass, short enough not to burn a shared core while the server is idle.
constexpr int kSpinRounds = 1 << 15;
// Pause rounds (~25 ns each) before a waiting thread starts yielding its core to other runnable threads.
constexpr int kYieldAfter = 1 << 10;
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    n_threads_ = n_threads > 0 ? n_threads : physical_core_count();
    if (n_threads_ < 1) n_threads_ = 1;
    threads_.reserve(n_threads_ - 1);
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
        generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping_.load(std::memory_order_acquire) > 0) cv_.notify_all();
    fn(ctx, 0, n_threads_);
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
    }
}

}  // namespace berth
