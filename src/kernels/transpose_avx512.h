// Internal to kernels: the 16 × 16 transpose of 32-bit lanes in zmm registers that the AVX-512 GEMM (weight
// panels), the AMX GEMM (its float accumulators) and the flash attention (score tiles) share. Include only
// from translation units compiled with the avx512 flags (*_avx512.cpp, *_amx.cpp).
#pragma once

#include <immintrin.h>

namespace berth::kern {

// out[j] lane i = in[i] lane j, for 16 vectors of 16 × 32 bits; `out` may be `in` (the inputs are read into
// registers before the first store).
static inline void transpose16x16_epi32(const __m512i* in, __m512i* out) {
    __m512i a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(in[2 * i], in[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(in[2 * i], in[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        b[4 * i + 0] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    // b[4i + c] holds, in 128-bit lane L, element 4L + c of vectors 4i .. 4i + 3.
    for (int c = 0; c < 4; c++) {
        const __m512i e0 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x44), e1 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xEE);
        const __m512i f0 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x44);
        const __m512i f1 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xEE);
        out[0 + c] = _mm512_shuffle_i32x4(e0, f0, 0x88);
        out[4 + c] = _mm512_shuffle_i32x4(e0, f0, 0xDD);
        out[8 + c] = _mm512_shuffle_i32x4(e1, f1, 0x88);
        out[12 + c] = _mm512_shuffle_i32x4(e1, f1, 0xDD);
    }
}

// The same for 16 vectors of 16 floats.
static inline void transpose16x16_ps(const __m512* in, __m512* out) {
    __m512i v[16];
    for (int i = 0; i < 16; i++) v[i] = _mm512_castps_si512(in[i]);
    transpose16x16_epi32(v, v);
    for (int i = 0; i < 16; i++) out[i] = _mm512_castsi512_ps(v[i]);
}

}  // namespace berth::kern
