// Memory read bandwidth with every thread of the pool, for `berth bench` (speed is reported as a fraction of
// it) and `berth debug bench-matmul`.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/prefetch.h"

namespace berth {
namespace {

// Sums 64-bit words, 8 independent accumulators so the loads stream (the compiler vectorizes at -O3). With
// `ahead` > 0, each 64-byte line also asks for the line `ahead` bytes further: a software prefetch crosses the
// 4 KiB page boundaries where the hardware prefetcher stops, so an engine that prefetches could otherwise beat
// the plain loop's figure. The best distance differs by machine (2 KiB on an AMD EPYC Zen 4 VM read ~15 %
// faster than no prefetch; on an Intel Xeon Emerald Rapids VM 2 KiB gave 26.0 GB/s, 4 KiB 28.2, 8 KiB 28.4),
// so the measurement tries several.
uint64_t read_sum(const uint64_t* p, size_t n, size_t ahead, size_t far_l2) {
    const size_t ahead_words = ahead / 8, far_words = far_l2 / 8;
    uint64_t s[8] = {};
    if (ahead_words) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
            if (far_words) __builtin_prefetch(p + i + far_words, 0, 2);  // prefetcht1
            __builtin_prefetch(p + i + ahead_words);
            for (int k = 0; k < 8; k++) s[k] ^= p[i + k];
        }
    } else {
        for (size_t i = 0; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++) s[k] ^= p[i + k];
    }
    return s[0] ^ s[1] ^ s[2] ^ s[3] ^ s[4] ^ s[5] ^ s[6] ^ s[7];
}

}  // namespace

int64_t last_level_cache_bytes() {
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    return l3 > 0 ? int64_t(l3) : int64_t(32) << 20;
}

size_t memory_bandwidth_bytes() { return std::max(size_t(512) << 20, size_t(4 * last_level_cache_bytes())); }

double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes, int repeats) {
    if (bytes == 0) bytes = memory_bandwidth_bytes();
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
    // Every repetition times the plain loop and the prefetching one at each distance: the best of them all is
    // the figure, so an engine that prefetches or loads 64 bytes at a time cannot beat it.
    // Where the CPU has AVX-512, the same loops with 64-byte loads as well (bandwidth_avx512.cpp). The last
    // distance is prefetch_ahead's l2_l1 (kernels/prefetch.h): into L2 and, nearer, into L1.
    constexpr size_t kAhead[] = {0, 2048, 4096, 8192, kern::kAheadL2ThenL1}, kFarL2[] = {0, 0, 0, 0, kern::kAheadL2};
    constexpr int kDistances = int(sizeof(kAhead) / sizeof(kAhead[0]));
    const bool wide = isa_supported(Isa::avx512);
    const int loops = wide ? 2 * kDistances : kDistances;
    for (int pass = 0; pass < loops * std::max(1, repeats); pass++) {
        const size_t ahead = kAhead[pass % kDistances], far_l2 = kFarL2[pass % kDistances];
        const bool wide_pass = pass % loops >= kDistances;
        const int64_t t0 = now_ns();
        pool.parallel([&](int ith, int nth) {
            const size_t w0 = n_words * ith / nth / 8 * 8, w1 = n_words * (ith + 1) / nth / 8 * 8;
            sink = sink ^ (wide_pass ? read_sum_avx512 : read_sum)(words + w0, w1 - w0, ahead, far_l2);
        });
        const double s = double(now_ns() - t0) * 1e-9;
        best = std::max(best, double(bytes) / s * 1e-9);
    }
    munmap(mem, bytes);
    return best;
}

}  // namespace berth
