// Software prefetch for the kernels, by inline asm: GCC 12 silently dropped _mm_prefetch / __builtin_prefetch of
// addresses past the object a pointer came from (matmul_avx512.cpp's weight blocks), so the kernels emit
// prefetcht0 themselves.
#pragma once
#include <cstddef>

namespace berth::kern {

// One 64-byte line into L1.
static inline void prefetch_line(const void* p) { asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p))); }

// Every 64-byte line of [p, p + bytes) into L1.
static inline void prefetch_lines(const void* p, size_t bytes) {
    const char* a = static_cast<const char*>(p);
    for (size_t o = 0; o < bytes; o += 64) prefetch_line(a + o);
}

}  // namespace berth::kern
