// The read loop of measure_read_bandwidth_gbs (bandwidth.cpp) with 64-byte loads, for CPUs with AVX-512: on an
// Intel Xeon (Emerald Rapids VM, 2 threads) the compiler's 16-byte loads read 23-28 GB/s and these 29-33, which
// the engine's kernels (64-byte loads) also reach.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace berth {

uint64_t read_sum_avx512(const uint64_t* p, size_t n, size_t ahead, size_t far_l2) {
    const char* b = reinterpret_cast<const char*>(p);
    const size_t bytes = n * 8 / 256 * 256;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t o = 0; o < bytes; o += 256) {
        if (far_l2)
            for (size_t l = 0; l < 256; l += 64) asm volatile("prefetcht1 %0" : : "m"(*(b + o + far_l2 + l)));
        if (ahead)
            for (size_t l = 0; l < 256; l += 64) asm volatile("prefetcht0 %0" : : "m"(*(b + o + ahead + l)));
        a0 = _mm512_xor_si512(a0, _mm512_loadu_si512(b + o));
        a1 = _mm512_xor_si512(a1, _mm512_loadu_si512(b + o + 64));
        a2 = _mm512_xor_si512(a2, _mm512_loadu_si512(b + o + 128));
        a3 = _mm512_xor_si512(a3, _mm512_loadu_si512(b + o + 192));
    }
    const __m512i s = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
    alignas(64) uint64_t v[8];
    _mm512_store_si512(v, s);
    return v[0] ^ v[1] ^ v[2] ^ v[3] ^ v[4] ^ v[5] ^ v[6] ^ v[7];
}

}  // namespace berth
