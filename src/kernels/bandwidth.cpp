// Memory read bandwidth with every thread of the pool, for `berth bench` (speed is reported as a fraction of
// it) and `berth debug bench-matmul`.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"

namespace berth {
namespace {

// Sums 64-bit words, 8 independent accumulators so the loads stream (the compiler vectorizes at -O3).
uint64_t read_sum(const uint64_t* p, size_t n) {
    uint64_t s[8] = {};
    for (size_t i = 0; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] ^= p[i + k];
    return s[0] ^ s[1] ^ s[2] ^ s[3] ^ s[4] ^ s[5] ^ s[6] ^ s[7];
}

}  // namespace

double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes, int repeats) {
    bytes = std::max<size_t>(bytes, size_t(1) << 20) & ~size_t(4095);
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return 0.0;
    // The figure must be an upper bound for any engine on this machine (speeds are reported as a share of it):
    // transparent huge pages spare the page walks that 4 KiB pages cost a streaming read. Where THP is off the
    // advice is ignored and the figure is that of 4 KiB pages, as the weights get.
    madvise(mem, bytes, MADV_HUGEPAGE);
    memset(mem, 1, bytes);  // fault every page in before timing
    const uint64_t* words = static_cast<const uint64_t*>(mem);
    const size_t n_words = bytes / 8;
    double best = 0;
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < std::max(1, repeats); rep++) {
        const int64_t t0 = now_ns();
        pool.parallel([&](int ith, int nth) {
            const size_t w0 = n_words * ith / nth / 8 * 8, w1 = n_words * (ith + 1) / nth / 8 * 8;
            sink = sink ^ read_sum(words + w0, w1 - w0);
        });
        const double s = double(now_ns() - t0) * 1e-9;
        best = std::max(best, double(bytes) / s * 1e-9);
    }
    munmap(mem, bytes);
    return best;
}

}  // namespace berth
