// Software prefetch for the kernels, by inline asm: GCC 12 silently dropped _mm_prefetch / __builtin_prefetch of
// addresses past the object a pointer came from (matmul_avx512.cpp's weight blocks), so the kernels emit
// prefetcht0 and prefetcht1 themselves.
#pragma once
#include <cstddef>

#include "kernels/kernels.h"

namespace berth::kern {

// One 64-byte line into L1.
static inline void prefetch_line(const void* p) { asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p))); }

// Every 64-byte line of [p, p + bytes) into L1.
static inline void prefetch_lines(const void* p, size_t bytes) {
    const char* a = static_cast<const char*>(p);
    for (size_t o = 0; o < bytes; o += 64) prefetch_line(a + o);
}

// Every 64-byte line of [p, p + bytes) into L2.
static inline void prefetch_lines_l2(const void* p, size_t bytes) {
    const char* a = static_cast<const char*>(p);
    for (size_t o = 0; o < bytes; o += 64) asm volatile("prefetcht1 %0" : : "m"(*(a + o)));
}

// The bytes [p, p + bytes) of a weight stream that a kernel reads now, prefetched as `mode` (kernel_prefetch,
// kernels.h) says for the same bytes further on. l2_l1: a prefetcht0 from memory holds one of the core's L1 fill
// buffers (16 on recent Intel cores) for the whole trip, so at 4 KiB ahead the lines a core keeps in flight are
// capped by them, and the more vector work a kernel does per line the fewer it keeps (a synthetic loop on an
// Intel Xeon VM, 2 threads, 2 x 1 GiB, vpdpbusd per 64-byte line 0 / 2 / 4: 34.7 / 30.6 / 27.9 GB/s). A prefetcht1
// 8 KiB ahead takes the trip from memory into L2 (the L2's own, larger queue) and a prefetcht0 2 KiB ahead
// fetches from L2: 34.4 / 33.0 / 31.2 GB/s.
// Distances ahead: l1's, and l2_l1's into L2 and into L1 (measure_read_bandwidth_gbs tries the last pair too).
constexpr size_t kAheadL1 = 4096, kAheadL2 = 8192, kAheadL2ThenL1 = 2048;
static inline void prefetch_ahead(Prefetch mode, const void* p, size_t bytes) {
    const char* a = static_cast<const char*>(p);
    if (mode == Prefetch::l1) {
        prefetch_lines(a + kAheadL1, bytes);
    } else if (mode == Prefetch::l2_l1) {
        prefetch_lines_l2(a + kAheadL2, bytes);
        prefetch_lines(a + kAheadL2ThenL1, bytes);
    }
}

}  // namespace berth::kern
