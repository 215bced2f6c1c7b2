// AVX-512 VNNI GEMM (gemm_impl.h; compiled with the avx512 flags, called only after the run-time CPU check).
// Register tile: 16 weight rows (one zmm of int32 lanes) × up to 12 tokens. Per 4 columns one 64-byte load
// of weights feeds 12 vpdpbusd whose activation operand is a 4-byte broadcast straight from memory, so the
// inner loop is one load and 12 multiply-accumulates of 64 products each. Per sub-block the int32 sums
// become floats once: acc += (sum · scale) · d_x + min · s_x.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm_impl.h"
#include "kernels/simd_avx512.h"
#include "kernels/transpose_avx512.h"

namespace berth::kern {
namespace {

constexpr int kTile = 12;  // tokens per activation tile: 12 int32 + 12 float accumulators, 8 zmm to spare

template <int BLK, int T>
void tile(const GemmArgs& g, int64_t ts) {
    const Panel& p = *g.p;
    const GemmActs& a = *g.a;
    const ActTile x = act_tile(a, ts, g.k0, BLK);
    const int8_t* xq = x.q;
    const float *xd = x.d, *xs = x.s;
    __m512 acc[T];
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    const int nb = p.kc / BLK;
    const uint8_t* wq = p.q;
    for (int b = 0; b < nb; b++) {
        __m512i sum[T];
#pragma GCC unroll 16
        for (int t = 0; t < T; t++) sum[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int j = 0; j < BLK / 4; j++) {
            const __m512i w = _mm512_load_si512(wq + (b * (BLK / 4) + j) * 64);
            const int8_t* xj = xq + (b * (BLK / 4) + j) * 4 * kTile;
#pragma GCC unroll 16
            for (int t = 0; t < T; t++) sum[t] = avx512::dpbusd_bcast(sum[t], w, xj + 4 * t);
        }
        const __m512 sc = _mm512_load_ps(p.scale + 16 * b), mn = _mm512_load_ps(p.min + 16 * b);
        const float* dxb = xd + (b * BLK / 32) * kTile;
        const float* sxb = xs + b * kTile;
#pragma GCC unroll 16
        for (int t = 0; t < T; t++) {
            const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(sum[t]), sc);
            acc[t] = _mm512_fmadd_ps(f, _mm512_set1_ps(dxb[t]), acc[t]);
            acc[t] = _mm512_fmadd_ps(mn, _mm512_set1_ps(sxb[t]), acc[t]);
        }
    }
    const __mmask16 m = avx512::first_lanes(g.n_rows);
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) {
        float* yt = g.y + (ts + t) * g.ldy;
        __m512 v = acc[t];
        if (g.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, yt));
        _mm512_mask_storeu_ps(yt, m, v);
    }
}

template <int BLK, int T = kTile>
inline void tile_n(int n, const GemmArgs& g, int64_t ts) {
    if (n == T)
        tile<BLK, T>(g, ts);
    else if constexpr (T > 1)
        tile_n<BLK, T - 1>(n, g, ts);
}

template <int BLK>
void kernel(const GemmArgs& g) {
    for (int64_t ts = g.t0; ts < g.t0 + g.nt; ts += kTile)
        tile_n<BLK>(int(std::min<int64_t>(kTile, g.t0 + g.nt - ts)), g, ts);
}

// 16 rows × 64 columns per step: the 16×16 matrix of 4-byte groups is transposed in registers.
void transpose(Panel& p) {
    const int kc = p.kc;
    for (int s = 0; s < kc / 64; s++) {
        __m512i r[16];
        for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(p.rows + size_t(i) * kc + 64 * s);
        // After the transpose r[j] holds the 4-byte group j of the 16 rows: one 64-byte line of p.q.
        transpose16x16_epi32(r, r);
        uint8_t* out = p.q + size_t(s) * 16 * 64;
        for (int j = 0; j < 16; j++) _mm512_store_si512(out + j * 64, r[j]);
    }
    for (int k = kc / 64 * 64; k < kc; k += 4)  // a last partial slab (kc = 32 mod 64)
        for (int r = 0; r < 16; r++) memcpy(p.q + (k / 4) * 64 + r * 4, p.rows + size_t(r) * kc + k, 4);
}

}  // namespace

void gemm_quantize_avx512(const float* x, int64_t n_tokens, int64_t t0, int64_t t1, const GemmActs& a) {
    const int64_t nb = a.n_cols / 32;
    int8_t* q = const_cast<int8_t*>(a.q);
    float* d = const_cast<float*>(a.d);
    float* s32 = const_cast<float*>(a.s32);
    float* s16 = const_cast<float*>(a.s16);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t t = t0; t < t1; t++) {
        const float* xt = x + t * a.n_cols;
        for (int64_t b = 0; b < nb; b++) {
            __m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
            if (t < n_tokens) x0 = _mm512_loadu_ps(xt + 32 * b), x1 = _mm512_loadu_ps(xt + 32 * b + 16);
            const float amax =
                _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
            const float db = amax / 127.f, id = amax != 0.f ? 127.f / amax : 0.f;
            const __m512 idv = _mm512_set1_ps(id);
            const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, idv)),
                          q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, idv));
            const int sum0 = _mm512_reduce_add_epi32(q0), sum1 = _mm512_reduce_add_epi32(q1);
            alignas(16) int32_t groups[8];
            _mm_store_si128(reinterpret_cast<__m128i*>(groups), _mm512_cvtepi32_epi8(q0));
            _mm_store_si128(reinterpret_cast<__m128i*>(groups + 4), _mm512_cvtepi32_epi8(q1));
            for (int i = 0; i < 8; i++) memcpy(q + a.q_at(t, 32 * b + 4 * i), &groups[i], 4);
            d[a.b32_at(t, b)] = db;
            s32[a.b32_at(t, b)] = db * float(sum0 + sum1);
            s16[a.b16_at(t, 2 * b)] = db * float(sum0);
            s16[a.b16_at(t, 2 * b + 1)] = db * float(sum1);
        }
    }
}

const GemmIsaKernels* gemm_kernels_avx512() {
    static const GemmIsaKernels k{kernel<16>, kernel<32>, transpose, gemm_quantize_avx512, kTile, true, "avx512"};
    return &k;
}

}  // namespace berth::kern
