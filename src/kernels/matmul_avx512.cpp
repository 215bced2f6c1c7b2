// avx512 matmul kernels (compiled with the avx512 flags; called only after the run-time CPU check).
// GCC 12 reports -Wuninitialized inside its own AVX-512 intrinsics headers when casts leave the upper lanes
// undefined (GCC bug 105593); those lanes are always overwritten by the following insert.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/matmul_impl.h"

namespace berth::kern {
namespace avx512 {
#define BERTH_VNNI 1
#define BERTH_NT_MAX 8
#include "kernels/matmul_simd.inc"

// 512-bit K-quant tiles: one zmm holds 64 weights (two 32-element sub-blocks), so each maddubs + dpwssd pair
// does 64 multiply-adds per token. The i16 scales of the two halves come from one vpermw.

static inline __m256i reduce_512(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

// i16 lane L of the result holds 16-bit element (base + L / group) of `src`.
static inline __m512i lane_index(int base, int group) {
    alignas(64) int16_t idx[32];
    for (int l = 0; l < 32; l++) idx[l] = int16_t(base + l / group);
    return _mm512_load_si512(idx);
}

template <int NT>
void tile_q4_K_512(const uint8_t* wrow, const uint8_t* xq, size_t xstride, int64_t nb, float* out) {
    const BlockQ4_K* w = reinterpret_cast<const BlockQ4_K*>(wrow);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i shifts = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);  // lo | hi nibbles
    const __m512i idx[4] = {lane_index(0, 16), lane_index(2, 16), lane_index(4, 16), lane_index(6, 16)};
    __m256 acc[NT];
    for (int k = 0; k < NT; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const BlockQ4_K& b = w[i];
        uint64_t sc, mins8;
        unpack_k4_scales(b.scales, &sc, &mins8);
        const __m128i mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(mins8)));
        const __m512i sc16 = _mm512_zextsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc))));
        const float d = h2f(b.d), dmin = h2f(b.dmin);
        __m512i sumi[NT];
        for (int k = 0; k < NT; k++) sumi[k] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            const __m512i raw = _mm512_broadcast_i64x4(loadu(b.qs + 32 * c));
            const __m512i q = _mm512_and_si512(_mm512_srlv_epi16(raw, shifts), m4);
            const __m512i scv = _mm512_permutexvar_epi16(idx[c], sc16);
            for (int k = 0; k < NT; k++) {
                const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(xq + k * xstride) + i;
                const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(x->qs + 64 * c));
                sumi[k] = _mm512_dpwssd_epi32(sumi[k], p, scv);
            }
        }
        for (int k = 0; k < NT; k++) {
            const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(xq + k * xstride) + i;
            const __m128i bs_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x->bsums));
            const __m128i bs_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x->bsums + 8));
            const __m128i pm = _mm_madd_epi16(mins, _mm_hadd_epi16(bs_lo, bs_hi));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * x->d), _mm256_cvtepi32_ps(reduce_512(sumi[k])), acc[k]);
            acc[k] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * x->d), _mm256_cvtepi32_ps(_mm256_zextsi128_si256(pm)),
                                      acc[k]);
        }
    }
    for (int k = 0; k < NT; k++) out[k] = hsum(acc[k]);
}

template <int NT>
void tile_q6_K_512(const uint8_t* wrow, const uint8_t* xq, size_t xstride, int64_t nb, float* out) {
    const BlockQ6_K* w = reinterpret_cast<const BlockQ6_K*>(wrow);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    // Quarters 0|1 of a half take their high bits from qh << 4 | qh << 2, quarters 2|3 from qh | qh >> 2.
    const __m512i sh01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i sh23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i idx[4] = {lane_index(0, 8), lane_index(4, 8), lane_index(8, 8), lane_index(12, 8)};
    __m256 acc[NT];
    for (int k = 0; k < NT; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const BlockQ6_K& b = w[i];
        const float d = h2f(b.d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
        const __m512i sc16z = _mm512_zextsi256_si512(sc16);
        __m512i sumi[NT];
        for (int k = 0; k < NT; k++) sumi[k] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i L = _mm512_loadu_si512(b.ql + 64 * h);
            const __m512i QH = _mm512_broadcast_i64x4(loadu(b.qh + 32 * h));
            const __m512i q01 = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi16(QH, sh01), m30));
            const __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                                _mm512_and_si512(_mm512_srlv_epi16(QH, sh23), m30));
            const __m512i s01 = _mm512_permutexvar_epi16(idx[2 * h], sc16z);
            const __m512i s23 = _mm512_permutexvar_epi16(idx[2 * h + 1], sc16z);
            for (int k = 0; k < NT; k++) {
                const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(xq + k * xstride) + i;
                const __m512i p01 = _mm512_maddubs_epi16(q01, _mm512_loadu_si512(x->qs + 128 * h));
                const __m512i p23 = _mm512_maddubs_epi16(q23, _mm512_loadu_si512(x->qs + 128 * h + 64));
                sumi[k] = _mm512_dpwssd_epi32(sumi[k], p01, s01);
                sumi[k] = _mm512_dpwssd_epi32(sumi[k], p23, s23);
            }
        }
        for (int k = 0; k < NT; k++) {
            const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(xq + k * xstride) + i;
            const __m256i corr = _mm256_madd_epi16(sc16, loadu(x->bsums));
            const __m256i s = _mm256_sub_epi32(reduce_512(sumi[k]), _mm256_slli_epi32(corr, 5));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * x->d), _mm256_cvtepi32_ps(s), acc[k]);
        }
    }
    for (int k = 0; k < NT; k++) out[k] = hsum(acc[k]);
}

// Q8_0 · Q8_0 with two 32-element blocks per zmm. vpsignb has no 512-bit form: the weight signs become a
// mask and the activations are negated under it (masked subtract from zero).
template <int NT>
void tile_q8_0_512(const uint8_t* wrow, const uint8_t* xq, size_t xstride, const float* xd, int64_t nb,
                   float* out) {
    const BlockQ8_0* w = reinterpret_cast<const BlockQ8_0*>(wrow);
    const __m512 zero_ps = _mm512_setzero_ps();
    const __m512i pair_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m512 acc[NT];
    for (int k = 0; k < NT; k++) acc[k] = zero_ps;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m512i w2 = _mm512_inserti64x4(_mm512_castsi256_si512(loadu(w[i].qs)), loadu(w[i + 1].qs), 1);
        const __m512i wabs = _mm512_abs_epi8(w2);
        const __mmask64 neg = _mm512_movepi8_mask(w2);
        const __m512 dw2 = _mm512_insertf32x8(_mm512_set1_ps(h2f(w[i].d)), _mm256_set1_ps(h2f(w[i + 1].d)), 1);
        for (int k = 0; k < NT; k++) {
            const BlockQ8_0* x = reinterpret_cast<const BlockQ8_0*>(xq + k * xstride) + i;
            const __m512i a2 = _mm512_inserti64x4(_mm512_castsi256_si512(loadu(x[0].qs)), loadu(x[1].qs), 1);
            const __m512i s = _mm512_mask_sub_epi8(a2, neg, _mm512_setzero_si512(), a2);
            const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wabs, s);
            const __m128i da_pair = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(xd + k * nb + i));
            const __m512 da2 = _mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(_mm_castsi128_ps(da_pair)));
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw2, da2), acc[k]);
        }
    }
    float tail[NT] = {};
    if (i < nb) tile_q8_0<NT>(reinterpret_cast<const uint8_t*>(w + i), xq + i * sizeof(BlockQ8_0), xstride, 1, tail);
    for (int k = 0; k < NT; k++) out[k] = _mm512_reduce_add_ps(acc[k]) + tail[k];
}

struct KernQ8_0_512 {
    static constexpr int nt_max = BERTH_NT_MAX;
    template <int NT>
    static void run(const MatmulTask& t, int64_t r, int64_t k0, float* out) {
        const int64_t nb = t.n_cols / QK8_0;
        tile_q8_0_512<NT>(t.w + r * t.w_row_bytes, t.xq + k0 * t.xq_row_bytes, t.xq_row_bytes, t.xd + k0 * nb, nb,
                          out);
    }
};

struct KernQ4_K_512 {
    static constexpr int nt_max = BERTH_NT_MAX;
    template <int NT>
    static void run(const MatmulTask& t, int64_t r, int64_t k0, float* out) {
        tile_q4_K_512<NT>(t.w + r * t.w_row_bytes, t.xq + k0 * t.xq_row_bytes, t.xq_row_bytes, t.n_cols / QK_K, out);
    }
};

struct KernQ6_K_512 {
    static constexpr int nt_max = BERTH_NT_MAX;
    template <int NT>
    static void run(const MatmulTask& t, int64_t r, int64_t k0, float* out) {
        tile_q6_K_512<NT>(t.w + r * t.w_row_bytes, t.xq + k0 * t.xq_row_bytes, t.xq_row_bytes, t.n_cols / QK_K, out);
    }
};

}  // namespace avx512

RowsFn rows_kernel_avx512(DType wtype) {
    switch (wtype) {
        case DType::Q4_K: return avx512::rows_driver<avx512::KernQ4_K_512>;
        case DType::Q6_K: return avx512::rows_driver<avx512::KernQ6_K_512>;
        case DType::Q8_0: return avx512::rows_driver<avx512::KernQ8_0_512>;
        default: return avx512::simd_rows_kernel(wtype);
    }
}
QuantizeFn quantize_kernel_avx512(DType act) { return avx512::simd_quantize_kernel(act); }

}  // namespace berth::kern
