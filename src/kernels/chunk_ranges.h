// Internal to kernels: work units 0 .. n-1 run on the pool with each thread owning a contiguous range of them,
// walked in order (the weights a thread reads stream as one run, so the hardware prefetcher and the kernels'
// prefetch ahead carry over from unit to unit); a thread that finishes early takes units from the back of the
// other ranges, so one slowed by another process on the shared cores does not hold up the others.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "kernels/kernels.h"

namespace berth::kern {

// Units [front, back) of one range, packed in one word (front << 32 | back) so that the owner (from the front)
// and thieves (from the back) take units with one compare-and-swap each.
struct alignas(64) UnitRange {
    std::atomic<uint64_t> fb{0};
    void set(uint64_t front, uint64_t back) { fb.store(front << 32 | back, std::memory_order_relaxed); }
    int64_t take(bool from_front) {
        uint64_t v = fb.load(std::memory_order_relaxed);
        for (;;) {
            const uint64_t f = v >> 32, b = v & 0xFFFFFFFFu;
            if (f >= b) return -1;
            const uint64_t next = from_front ? (f + 1) << 32 | b : f << 32 | (b - 1);
            if (fb.compare_exchange_weak(v, next, std::memory_order_relaxed)) return int64_t(from_front ? f : b - 1);
        }
    }
};
constexpr int kMaxUnitRanges = 64;  // more threads share ranges (still correct: every take is a compare-and-swap)

// Calls f(ith, unit) once for every unit in [0, n_units) (n_units < 2^32), on every thread of the pool.
template <typename F>
void run_unit_ranges(ThreadPool& pool, int64_t n_units, F&& f) {
    const int n_ranges = std::min(pool.n_threads(), kMaxUnitRanges);
    UnitRange ranges[kMaxUnitRanges];
    for (int r = 0; r < n_ranges; r++)
        ranges[r].set(uint64_t(n_units * r / n_ranges), uint64_t(n_units * (r + 1) / n_ranges));
    pool.parallel([&](int ith, int) {
        const int own = ith % n_ranges;
        for (int64_t u = ranges[own].take(true); u >= 0; u = ranges[own].take(true)) f(ith, u);
        for (int j = 1; j < n_ranges; j++) {
            UnitRange& victim = ranges[(own + j) % n_ranges];
            for (int64_t u = victim.take(false); u >= 0; u = victim.take(false)) f(ith, u);
        }
    });
}

// While alive, threads that finish a job early prefetch the weights of `jobs` (ThreadPool::set_next_weights) in
// place of those of the product after them: for the parallel activation quantization that precedes the product.
class PrefetchOwnWeights {
  public:
    PrefetchOwnWeights(ThreadPool& pool, const MatmulJob* jobs, int n_jobs) : pool_(pool), saved_(pool.next_weights()) {
        ThreadPool::NextWeights own;
        for (int j = 0; j < n_jobs; j++) own.add(jobs[j].w.data, size_t(jobs[j].w.n_bytes()));
        pool.set_next_weights(own);
    }
    ~PrefetchOwnWeights() { pool_.set_next_weights(saved_); }
    PrefetchOwnWeights(const PrefetchOwnWeights&) = delete;
    PrefetchOwnWeights& operator=(const PrefetchOwnWeights&) = delete;

  private:
    ThreadPool& pool_;
    ThreadPool::NextWeights saved_;
};

}  // namespace berth::kern
