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
#include "kernels/prefetch.h"
#include "kernels/simd_avx512.h"

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

// Prefetches the weight bytes kPrefetchBytes after block p (the next rows' blocks, as rows are taken in order).
// Inline asm: GCC 12 dropped _mm_prefetch / __builtin_prefetch of these addresses (past the block's object).
// The hardware prefetcher alone leaves a batch tile waiting on DRAM at every row: 8 tokens of a 2048-column
// Q4_K row measured 173 ns per row from DRAM against 95 in cache (one thread); 4 KiB ahead, 112.
constexpr size_t kPrefetchBytes = 4096;
static inline void prefetch_ahead(const void* p, size_t bytes) {
    prefetch_lines(static_cast<const char*>(p) + kPrefetchBytes, bytes);
}

// i16 lane L of the result holds 16-bit element (base + L / group) of `src`.
static inline __m512i lane_index(int base, int group) {
    alignas(64) int16_t idx[32];
    for (int l = 0; l < 32; l++) idx[l] = int16_t(base + l / group);
    return _mm512_load_si512(idx);
}

template <int NT, bool Q5>
void tile_q45_K_512(const uint8_t* wrow, const uint8_t* xq, size_t xstride, int64_t nb, float* out) {
    using Block = std::conditional_t<Q5, BlockQ5_K, BlockQ4_K>;
    const Block* w = reinterpret_cast<const Block*>(wrow);
    const __m512i one = _mm512_set1_epi8(1);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i shifts = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);   // lo | hi nibbles
    const __m512i shifts4 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(1), 1);  // 0 | 1
    const __m512i idx[4] = {lane_index(0, 16), lane_index(2, 16), lane_index(4, 16), lane_index(6, 16)};
    __m256 acc[NT];
    for (int k = 0; k < NT; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const Block& b = w[i];
        prefetch_ahead(&b, sizeof(Block));
        __m512i QH;
        if constexpr (Q5) QH = _mm512_broadcast_i64x4(loadu(b.qh));
        uint64_t sc, mins8;
        unpack_k4_scales(b.scales, &sc, &mins8);
        // min j twice in a row, to pair with the 16 bsums (two per 32-element sub-block)
        const __m128i m8 = _mm_cvtsi64_si128(int64_t(mins8));
        const __m256i mins_dup = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
        const __m512i sc16 = _mm512_zextsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc))));
        const __m256 dv = _mm256_set1_ps(h2f(b.d)), dminv = _mm256_set1_ps(h2f(b.dmin));
        __m512i sumi[NT];
        for (int k = 0; k < NT; k++) sumi[k] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            const __m512i raw = _mm512_broadcast_i64x4(loadu(b.qs + 32 * c));
            __m512i q = _mm512_and_si512(_mm512_srlv_epi16(raw, shifts), m4);
            if constexpr (Q5) {  // 5th bit: bit 2c of qh[l] for the low half, bit 2c+1 for the high half
                const __m512i cnt = _mm512_add_epi16(shifts4, _mm512_set1_epi16(int16_t(2 * c)));
                const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(QH, cnt), one);
                q = _mm512_or_si512(q, _mm512_slli_epi16(hb, 4));
            }
            const __m512i scv = _mm512_permutexvar_epi16(idx[c], sc16);
            for (int k = 0; k < NT; k++) {
                const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(xq + k * xstride) + i;
                const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(x->qs + 64 * c));
                sumi[k] = _mm512_dpwssd_epi32(sumi[k], p, scv);
            }
        }
        for (int k = 0; k < NT; k++) {
            const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(xq + k * xstride) + i;
            const __m256 pm = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins_dup, loadu(x->bsums)));
            const __m256 v = _mm256_fmsub_ps(_mm256_cvtepi32_ps(reduce_512(sumi[k])), dv, _mm256_mul_ps(pm, dminv));
            acc[k] = _mm256_fmadd_ps(v, _mm256_set1_ps(x->d), acc[k]);
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
        prefetch_ahead(&b, sizeof(BlockQ6_K));
        const float d = h2f(b.d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
        const __m512i sc16z = _mm512_zextsi256_si512(sc16);
        __m512i sumi[NT];
        for (int k = 0; k < NT; k++) sumi[k] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i L = _mm512_loadu_si512(b.ql + 64 * h);
            const __m512i QH = _mm512_broadcast_i64x4(loadu(b.qh + 32 * h));
            const __m512i q01 =
                _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi16(QH, sh01), m30));
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

// Signed 8-bit values of one Q8_0 / Q4_0 / Q5_0 block (32 elements).
template <DType W, typename B>
static inline __m256i signed_values(const B& b) {
    if constexpr (W == DType::Q8_0) {
        return loadu(b.qs);
    } else if constexpr (W == DType::Q4_0) {
        return _mm256_sub_epi8(nibbles_32(b.qs), _mm256_set1_epi8(8));
    } else {  // Q5_0: the 5th bit clear makes the byte negative (value − 16)
        const __m256i high = _mm256_andnot_si256(bytes_from_bits_32(b.qh), _mm256_set1_epi8(char(0xF0)));
        return _mm256_or_si256(nibbles_32(b.qs), high);
    }
}

// Symmetric 32-blocks (Q8_0, Q4_0, Q5_0) · Q8_0 with two blocks per zmm. vpsignb has no 512-bit form: the
// weight signs become a mask and the activations are negated under it (masked subtract from zero). Q4_0 skips
// the signs: its nibbles q (0..15) are vpdpbusd's unsigned operand and the offset comes off as 8·Σx per
// 4-element lane (a second vpdpbusd against 8s), exact in int32 and 6 fewer weight-side ops per block pair.
template <int NT, DType W>
void tile_sym_512(const uint8_t* wrow, const uint8_t* xq, size_t xstride, const float* xd, int64_t nb, float* out) {
    using Block =
        std::conditional_t<W == DType::Q8_0, BlockQ8_0, std::conditional_t<W == DType::Q4_0, BlockQ4_0, BlockQ5_0>>;
    const Block* w = reinterpret_cast<const Block*>(wrow);
    const __m512i pair_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    // Q4_0: 128-bit lanes [a, a, b, b] of the two blocks' 16 bytes shift by 0 | 4 | 0 | 4 bits (low | high nibbles).
    const __m512i nibble_shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
    const __m512i m4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    constexpr int U = NT == 1 ? 2 : 1;  // independent accumulators to hide the fma latency in matvecs
    __m512 acc[U][NT];
    for (int u = 0; u < U; u++)
        for (int k = 0; k < NT; k++) acc[u][k] = _mm512_setzero_ps();
    auto step = [&](int64_t i, __m512* a) {
        // Batches only: matvecs of these types measured no faster with the prefetch.
        if constexpr (NT > 1) prefetch_ahead(&w[i], 2 * sizeof(Block));
        __m512i wq;  // Q4_0: unsigned nibbles; others: |w|
        __mmask64 neg = 0;
        if constexpr (W == DType::Q4_0) {
            const __m256i ab = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].qs))),
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i + 1].qs)), 1);
            const __m512i z = _mm512_castsi256_si512(ab);
            wq = _mm512_and_si512(_mm512_srlv_epi64(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 1, 0, 0)), nibble_shift),
                                  m4);
        } else {
            const __m512i w2 =
                _mm512_inserti64x4(_mm512_castsi256_si512(signed_values<W>(w[i])), signed_values<W>(w[i + 1]), 1);
            wq = _mm512_abs_epi8(w2);
            neg = _mm512_movepi8_mask(w2);
        }
        // The two weight scales as f32 in lanes 0 and 1.
        const __m128 dw = _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(w[i].d), w[i + 1].d, 1));
        for (int k = 0; k < NT; k++) {
            const BlockQ8_0* x = reinterpret_cast<const BlockQ8_0*>(xq + k * xstride) + i;
            const __m512i a2 = _mm512_inserti64x4(_mm512_castsi256_si512(loadu(x[0].qs)), loadu(x[1].qs), 1);
            __m512i p;
            if constexpr (W == DType::Q4_0) {
                p = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wq, a2),
                                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, a2));
            } else {
                const __m512i s = _mm512_mask_sub_epi8(a2, neg, _mm512_setzero_si512(), a2);
                p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq, s);
            }
            const __m128 da = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(xd + k * nb + i)));
            const __m512 d2 = _mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(_mm_mul_ps(dw, da)));
            a[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d2, a[k]);
        }
    };
    int64_t i = 0;
    for (; i + 2 * U <= nb; i += 2 * U)
        for (int u = 0; u < U; u++) step(i + 2 * u, acc[u]);
    for (; i + 2 <= nb; i += 2) step(i, acc[0]);
    float tail[NT] = {};
    if (i < nb) {
        if constexpr (W == DType::Q8_0)
            tile_q8_0<NT>(reinterpret_cast<const uint8_t*>(w + i), xq + i * sizeof(BlockQ8_0), xstride, 1, tail);
        else
            tile_q01<NT, W>(reinterpret_cast<const uint8_t*>(w + i), xq + i * sizeof(BlockQ8_0), xstride, 1, tail);
    }
    for (int k = 0; k < NT; k++) {
        __m512 sum = acc[0][k];
        for (int u = 1; u < U; u++) sum = _mm512_add_ps(sum, acc[u][k]);
        out[k] = _mm512_reduce_add_ps(sum) + tail[k];
    }
}

// The same products for a batch of NT tokens from the pair records (matmul_impl.h): the weight side (|w|, signs,
// the two scales) is decoded once per block pair for all NT tokens, and each token then costs two line loads and
// five operations per pair (tile_sym_512 spends about nine: it rebuilds the pair's activations and scales, and
// for Q4_0 the offset, per token and row). Needs an even block count.
template <int NT, DType W>
void tile_sym_pairs_512(const uint8_t* wrow, const uint8_t* xp, size_t xstride, int64_t nb, float* out) {
    using Block =
        std::conditional_t<W == DType::Q8_0, BlockQ8_0, std::conditional_t<W == DType::Q4_0, BlockQ4_0, BlockQ5_0>>;
    const Block* w = reinterpret_cast<const Block*>(wrow);
    const __m512i pair_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i nibble_shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
    __m512 acc[NT];
    for (int k = 0; k < NT; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        prefetch_ahead(&w[i], 2 * sizeof(Block));
        // Signed weights as vpdpbusd's signed operand (Q4_0 too: q − 8).
        __m512i w2;
        if constexpr (W == DType::Q4_0) {  // the nibble unpack of tile_sym_512, then q - 8
            const __m256i ab = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].qs))),
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i + 1].qs)), 1);
            const __m512i z = _mm512_castsi256_si512(ab);
            const __m512i q =
                _mm512_and_si512(_mm512_srlv_epi64(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 1, 0, 0)), nibble_shift),
                                 _mm512_set1_epi8(0x0F));
            w2 = _mm512_sub_epi8(q, _mm512_set1_epi8(8));
        } else {
            w2 = _mm512_inserti64x4(_mm512_castsi256_si512(signed_values<W>(w[i])), signed_values<W>(w[i + 1]), 1);
        }
        // The records hold x + 128 (unsigned): Σ(x + 128)·w − 128·Σw per 4-element lane, the second term once
        // per row and pair, as the starting value of every token's vpdpbusd.
        const __m512i base = _mm512_sub_epi32(
            _mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(char(0x80)), w2));
        const __m128 dw = _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(w[i].d), w[i + 1].d, 1));
        const __m512 dw2 = _mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(dw));
        const uint8_t* rec = xp + (i / 2) * kPairBytes;
        for (int k = 0; k < NT; k++) {
            const uint8_t* x = rec + k * xstride;
            const __m512i p = _mm512_dpbusd_epi32(base, _mm512_loadu_si512(x), w2);
            const __m512 d2 = _mm512_mul_ps(dw2, _mm512_loadu_ps(reinterpret_cast<const float*>(x + 64)));
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d2, acc[k]);
        }
    }
    for (int k = 0; k < NT; k++) out[k] = _mm512_reduce_add_ps(acc[k]);
}

template <DType W>
struct KernSym512 {
    static constexpr int nt_max = BERTH_NT_MAX;
    template <int NT>
    static void run(const MatmulTask& t, int64_t r, int64_t k0, float* out) {
        const int64_t nb = t.n_cols / QK8_0;
        if (NT > 1 && t.xp) {
            tile_sym_pairs_512<NT, W>(t.w + r * t.w_row_bytes, t.xp + k0 * t.xp_row_bytes, t.xp_row_bytes, nb, out);
            return;
        }
        tile_sym_512<NT, W>(t.w + r * t.w_row_bytes, t.xq + k0 * t.xq_row_bytes, t.xq_row_bytes, t.xd + k0 * nb, nb,
                            out);
    }
};

// Float weights: 16 lanes per zmm; the last partial vector uses masked loads, so rows of any length work.
template <DType T>
static inline __m512 load16(const uint8_t* w, int64_t i, __mmask16 m) {
    if constexpr (T == DType::F32) return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(w) + i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(w) + i);
    if constexpr (T == DType::F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));  // BF16
}

template <int NT, DType T>
void tile_float_512(const uint8_t* w, const float* x, int64_t ldx, int64_t n, float* out) {
    constexpr int U = NT == 1 ? 4 : 2;
    __m512 acc[U][NT];
    for (int u = 0; u < U; u++)
        for (int k = 0; k < NT; k++) acc[u][k] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 * U <= n; i += 16 * U)
        for (int u = 0; u < U; u++) {
            const __m512 wv = load16<T>(w, i + 16 * u, 0xFFFF);
            for (int k = 0; k < NT; k++)
                acc[u][k] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + k * ldx + i + 16 * u), acc[u][k]);
        }
    for (; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        const __m512 wv = load16<T>(w, i, m);
        for (int k = 0; k < NT; k++)
            acc[0][k] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + k * ldx + i), acc[0][k]);
    }
    for (int k = 0; k < NT; k++) {
        __m512 s = acc[0][k];
        for (int u = 1; u < U; u++) s = _mm512_add_ps(s, acc[u][k]);
        out[k] = _mm512_reduce_add_ps(s);
    }
}

// 4 rows × 4 tokens register tile for prefill: each activation vector feeds 4 rows and each weight vector 4
// tokens, so the loop needs half a load per fma instead of one (the one-row tile was L2-bound).
template <DType T>
void tile_float_4x4(const uint8_t* w, size_t w_stride, const float* x, int64_t ldx, int64_t n, float* y, int64_t ldy) {
    __m512 acc[4][4];
    for (int m = 0; m < 4; m++)
        for (int k = 0; k < 4; k++) acc[m][k] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 mask = first_lanes(n - i);
        __m512 wv[4];
        for (int m = 0; m < 4; m++) wv[m] = load16<T>(w + m * w_stride, i, mask);
        for (int k = 0; k < 4; k++) {
            const __m512 xv = _mm512_maskz_loadu_ps(mask, x + k * ldx + i);
            for (int m = 0; m < 4; m++) acc[m][k] = _mm512_fmadd_ps(wv[m], xv, acc[m][k]);
        }
    }
    for (int k = 0; k < 4; k++)
        for (int m = 0; m < 4; m++) y[k * ldy + m] = _mm512_reduce_add_ps(acc[m][k]);
}

// Rows outer (a 4-row block of weights stays in L1/L2 while every token passes over it), tokens inner.
template <DType T>
void rows_float_512(const MatmulTask& t, int64_t r0, int64_t r1) {
    float out[4];
    const int64_t n_tok4 = t.n_tokens / 4 * 4;
    auto one_row = [&](int64_t r, int64_t k0, int64_t nt) {
        const float* x = t.x + k0 * t.n_cols;
        const uint8_t* w = t.w + r * t.w_row_bytes;
        switch (nt) {
            case 1: tile_float_512<1, T>(w, x, t.n_cols, t.n_cols, out); break;
            case 2: tile_float_512<2, T>(w, x, t.n_cols, t.n_cols, out); break;
            case 3: tile_float_512<3, T>(w, x, t.n_cols, t.n_cols, out); break;
            default: tile_float_512<4, T>(w, x, t.n_cols, t.n_cols, out); break;
        }
        for (int64_t k = 0; k < nt; k++) t.y[(k0 + k) * t.ldy + r] = out[k];
    };
    int64_t r = r0;
    if (n_tok4 > 0) {
        for (; r + 4 <= r1; r += 4) {
            for (int64_t k0 = 0; k0 < n_tok4; k0 += 4)
                tile_float_4x4<T>(t.w + r * t.w_row_bytes, t.w_row_bytes, t.x + k0 * t.n_cols, t.n_cols, t.n_cols,
                                  t.y + k0 * t.ldy + r, t.ldy);
            for (int64_t m = 0; m < 4 && n_tok4 < t.n_tokens; m++) one_row(r + m, n_tok4, t.n_tokens - n_tok4);
        }
    }
    for (; r < r1; r++)
        for (int64_t k0 = 0; k0 < t.n_tokens; k0 += 4) one_row(r, k0, std::min<int64_t>(4, t.n_tokens - k0));
}

#include "kernels/matmul_krec_avx512.inc"

template <bool Q5>
struct KernQ45_K_512 {
    static constexpr int nt_max = BERTH_NT_MAX;
    template <int NT>
    static void run(const MatmulTask& t, int64_t r, int64_t k0, float* out) {
        const int64_t nb = t.n_cols / QK_K;
        if constexpr (NT > 1) {
            if (t.xk) {  // batches on the K records (matmul_krec_avx512.inc)
                tile_q45_K_rec<NT, Q5>(t.w + r * t.w_row_bytes, t.xk + k0 * nb * kKRecordBytes, nb * kKRecordBytes, nb,
                                       out);
                return;
            }
        }
        tile_q45_K_512<NT, Q5>(t.w + r * t.w_row_bytes, t.xq + k0 * t.xq_row_bytes, t.xq_row_bytes, nb, out);
    }
};

struct KernQ6_K_512 {
    static constexpr int nt_max = BERTH_NT_MAX;
    template <int NT>
    static void run(const MatmulTask& t, int64_t r, int64_t k0, float* out) {
        const int64_t nb = t.n_cols / QK_K;
        if constexpr (NT > 1) {
            if (t.xk) {
                tile_q6_K_rec<NT>(t.w + r * t.w_row_bytes, t.xk + k0 * nb * kKRecordBytes, nb * kKRecordBytes, nb, out);
                return;
            }
        }
        tile_q6_K_512<NT>(t.w + r * t.w_row_bytes, t.xq + k0 * t.xq_row_bytes, t.xq_row_bytes, nb, out);
    }
};

}  // namespace avx512

RowsFn rows_kernel_avx512(DType wtype) {
    switch (wtype) {
        case DType::Q4_K: return avx512::rows_driver<avx512::KernQ45_K_512<false>>;
        case DType::Q5_K: return avx512::rows_driver<avx512::KernQ45_K_512<true>>;
        case DType::Q6_K: return avx512::rows_driver<avx512::KernQ6_K_512>;
        case DType::Q8_0: return avx512::rows_driver<avx512::KernSym512<DType::Q8_0>>;
        case DType::Q4_0: return avx512::rows_driver<avx512::KernSym512<DType::Q4_0>>;
        case DType::Q5_0: return avx512::rows_driver<avx512::KernSym512<DType::Q5_0>>;
        case DType::F32: return avx512::rows_float_512<DType::F32>;
        case DType::F16: return avx512::rows_float_512<DType::F16>;
        case DType::BF16: return avx512::rows_float_512<DType::BF16>;
        default: return avx512::simd_rows_kernel(wtype);
    }
}
QuantizeFn quantize_kernel_avx512(DType act) { return avx512::simd_quantize_kernel(act); }

}  // namespace berth::kern
