// AVX-512 unpackers for the GEMM's panels (gemm_impl.h), for the types prefill mostly runs on: the same bytes,
// scales and mins as the scalar unpack_row (gemm_unpack.cpp, the specification), bit for bit. The scalar one
// spends more time than the GEMM's kernel at 32 tokens (Q4_0: half of the product's time in perf): it converts
// fp16 in software and moves one byte at a time. Compiled with the avx512 flags; picked by unpack_rows() only
// after the run-time CPU check.
#include <immintrin.h>

#include <cstring>

#include "kernels/gemm_impl.h"

namespace berth::kern {
namespace {

inline float h2f(fp16_t h) { return _cvtsh_ss(h); }

inline __m128i load16(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store16(uint8_t* p, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }
inline void store32(uint8_t* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }

// Q4_0: q (0..15), scale d, min -8·d per 32-block.
void unpack_q4_0(const uint8_t* row, int64_t k0, int kc, uint8_t* u, float* scale, float* min) {
    const BlockQ4_0* x = reinterpret_cast<const BlockQ4_0*>(row) + k0 / 32;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int b = 0; b < kc / 32; b++) {
        const __m128i q = load16(x[b].qs);
        store16(u + 32 * b, _mm_and_si128(q, m4));
        store16(u + 32 * b + 16, _mm_and_si128(_mm_srli_epi16(q, 4), m4));
        const float d = h2f(x[b].d);
        scale[16 * b] = d;
        min[16 * b] = -8.f * d;
    }
}

// Q8_0: q + 128, scale d, min -128·d per 32-block.
void unpack_q8_0(const uint8_t* row, int64_t k0, int kc, uint8_t* u, float* scale, float* min) {
    const BlockQ8_0* x = reinterpret_cast<const BlockQ8_0*>(row) + k0 / 32;
    const __m256i flip = _mm256_set1_epi8(char(0x80));
    for (int b = 0; b < kc / 32; b++) {
        store32(u + 32 * b, _mm256_xor_si256(load32(reinterpret_cast<const uint8_t*>(x[b].qs)), flip));
        const float d = h2f(x[b].d);
        scale[16 * b] = d;
        min[16 * b] = -128.f * d;
    }
}

// Q4_K: per 256-block, chunk c of 32 bytes gives sub-blocks 2c (low nibbles) and 2c+1 (high nibbles);
// scale d·sc and min −dmin·m per sub-block (scale_min_k4 in tensor/tensor.h).
void unpack_q4_K(const uint8_t* row, int64_t k0, int kc, uint8_t* u, float* scale, float* min) {
    const BlockQ4_K* x = reinterpret_cast<const BlockQ4_K*>(row) + k0 / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int sb = 0; sb < kc / QK_K; sb++) {
        const BlockQ4_K& b = x[sb];
        uint8_t* o = u + QK_K * sb;
        for (int c = 0; c < 4; c++) {
            const __m256i q = load32(b.qs + 32 * c);
            store32(o + 64 * c, _mm256_and_si256(q, m4));
            store32(o + 64 * c + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
        }
        const float d = h2f(b.d), dmin = h2f(b.dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            scale_min_k4(j, b.scales, &sc, &m);
            scale[16 * (8 * sb + j)] = d * float(sc);
            min[16 * (8 * sb + j)] = -(dmin * float(m));
        }
    }
}

// Q6_K: per 256-block and half h, four runs of 32 values: ql low / high nibbles of bytes 0-31 and 32-63 with
// two bits of qh each (bits 0-1, 2-3, 4-5, 6-7); scale d·sc and min −32·d·sc per 16-element sub-block.
void unpack_q6_K(const uint8_t* row, int64_t k0, int kc, uint8_t* u, float* scale, float* min) {
    const BlockQ6_K* x = reinterpret_cast<const BlockQ6_K*>(row) + k0 / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x30);
    for (int sb = 0; sb < kc / QK_K; sb++) {
        const BlockQ6_K& b = x[sb];
        uint8_t* o = u + QK_K * sb;
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = load32(b.ql + 64 * h), l1 = load32(b.ql + 64 * h + 32);
            const __m256i qh = load32(b.qh + 32 * h);
            // (qh >> 2j) & 3 placed at bits 4-5: shift left by 4, 2, 0 or right by 2, then mask 0x30. The 16-bit
            // shifts move bits across byte boundaries only outside the 0x30 mask.
            const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), m3);
            const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(qh, 2), m3);
            const __m256i h2 = _mm256_and_si256(qh, m3);
            const __m256i h3 = _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3);
            store32(o + 128 * h, _mm256_or_si256(_mm256_and_si256(l0, m4), h0));
            store32(o + 128 * h + 32, _mm256_or_si256(_mm256_and_si256(l1, m4), h1));
            store32(o + 128 * h + 64, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), h2));
            store32(o + 128 * h + 96, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), h3));
        }
        const float d = h2f(b.d);
        for (int j = 0; j < 16; j++) {
            const float s = d * float(b.scales[j]);
            scale[16 * (16 * sb + j)] = s;
            min[16 * (16 * sb + j)] = -32.f * s;
        }
    }
}

}  // namespace

UnpackRowFn unpack_row_avx512(DType wtype) {
    switch (wtype) {
        case DType::Q4_0: return unpack_q4_0;
        case DType::Q8_0: return unpack_q8_0;
        case DType::Q4_K: return unpack_q4_K;
        case DType::Q6_K: return unpack_q6_K;
        default: return nullptr;
    }
}

}  // namespace berth::kern
