// AVX-512 attention over an f16 or f32 paged KV cache for many query rows at once (attention_run in
// kernels.h): the query heads of one KV head for a run of consecutive positions of one sequence (prefill) or
// for one position (decode). Keys are walked in blocks of 16: the block's K rows are converted once and
// transposed (head_dim × 16) so that a query row's 16 scores are head_dim broadcast-FMAs, 8 rows at a time;
// the softmax is online (running max and sum per row, as FlashAttention), so no score row of the full
// context is ever stored, and the V rows of the block are converted once for every row.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernels.h"
#include "kernels/prefetch.h"
#include "kernels/transpose_avx512.h"

namespace berth::kern::avx512 {
namespace {

inline __m512 load16(const uint8_t* row, DType type, int i) {
    if (type == DType::F16) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row) + i / 16));
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
}

// e^x for 16 lanes: 2^n · p(r) with n = round(x · log2 e), r = x − n · ln 2 (two-part ln 2), p a degree-6
// Taylor polynomial on |r| ≤ ln2/2 (relative error < 2e-7); x ≤ −88 gives 0 (also for −inf), x ≥ 88 +inf.
__m512 exp512(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-88.0f), hi = _mm512_set1_ps(88.0f);
    const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(__mmask16(~under), p, n);
}

constexpr int kRowTile = 8;  // query rows whose scores are computed together

}  // namespace

// e^x of n floats (the tests check exp512 through it).
void exp_avx512(const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, exp512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

size_t attention_rows_work_floats(int head_dim) {
    const size_t rows = size_t(kAttnMaxRows);
    return rows * size_t(head_dim) + 2 * 16 * size_t(head_dim) + rows * 16;
}

// Rows r = t · group + g (token t of the run, query head g); q row r at q + t · q_stride + g · head_dim. Keys
// [kb, ke) of this call; row r sees keys in [begin[t], end[t]). The running state (st.o: rows × head_dim,
// st.m, st.l: rows) is updated in place (attention_partial_init sets it up; attention_merge normalizes).
void attention_rows_avx512(const float* q, int64_t q_stride, int n_tok, int group, const int64_t* begin,
                           const int64_t* end, int64_t kb, int64_t ke, const AttnKv& kv, int kv_head, float scale,
                           float cap, AttnPartial st, float* work) {
    const int d = kv.head_dim;  // multiple of 16, ≤ 256
    const int rows = n_tok * group;
    const int rows_pad = (rows + kRowTile - 1) / kRowTile * kRowTile;
    float* qs = work;                            // (rows_pad, d) queries · scale, zero rows past `rows`
    float* kt = qs + int64_t(kAttnMaxRows) * d;  // (d, 16) K block transposed
    float* vc = kt + int64_t(d) * 16;            // (16, d) V block
    float* pr = vc + int64_t(16) * d;            // (rows, 16) probabilities of the block
    for (int r = 0; r < rows_pad; r++) {
        const float* src = q + int64_t(r / group) * q_stride + int64_t(r % group) * d;
        for (int i = 0; i < d; i += 16)
            _mm512_store_ps(
                qs + int64_t(r) * d + i,
                r < rows ? _mm512_mul_ps(_mm512_loadu_ps(src + i), _mm512_set1_ps(scale)) : _mm512_setzero_ps());
    }
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const float neg_inf = -std::numeric_limits<float>::infinity();
    for (int64_t j0 = kb; j0 < ke; j0 += 16) {
        const int nk = int(std::min<int64_t>(16, ke - j0));
        // The next block's K and V rows: one KV head's rows lie n_head_kv rows apart in pages of a few KiB, which
        // the hardware prefetcher does not follow. Without this, decode at depth 2048 (1.1B Q4_K_M, 2 threads)
        // spent 38 % of its attention time waiting on the V loads: 36-44 tok/s, with it 54 (depth 0: ~60).
        for (int64_t j = j0 + 16; j < std::min<int64_t>(ke, j0 + 32); j++) {
            prefetch_lines(kv.row(j, kv_head, kv.k_offset), size_t(kv.head_row_bytes));
            prefetch_lines(kv.row(j, kv_head, kv.v_offset), size_t(kv.head_row_bytes));
        }
        const uint8_t* krow[16];
        for (int k = 0; k < 16; k++) {
            krow[k] = kv.row(j0 + std::min(k, nk - 1), kv_head, kv.k_offset);  // missing keys: masked below
            const uint8_t* vr = kv.row(j0 + std::min(k, nk - 1), kv_head, kv.v_offset);
            for (int i = 0; i < d; i += 16)
                _mm512_store_ps(vc + int64_t(k) * d + i, k < nk ? load16(vr, kv.type, i) : _mm512_setzero_ps());
        }
        for (int i0 = 0; i0 < d; i0 += 16) {
            __m512 t[16];
            for (int k = 0; k < 16; k++) t[k] = load16(krow[k], kv.type, i0);
            transpose16x16_ps(t, t);
            for (int i = 0; i < 16; i++) _mm512_store_ps(kt + int64_t(i0 + i) * 16, t[i]);
        }
        const __m512i key = _mm512_add_epi32(lane, _mm512_set1_epi32(int(j0)));
        for (int r0 = 0; r0 < rows_pad; r0 += kRowTile) {
            __m512 s[kRowTile];
            for (int u = 0; u < kRowTile; u++) s[u] = _mm512_setzero_ps();
            for (int i = 0; i < d; i++) {
                const __m512 k16 = _mm512_load_ps(kt + int64_t(i) * 16);
                for (int u = 0; u < kRowTile; u++)
                    s[u] = _mm512_fmadd_ps(_mm512_set1_ps(qs[int64_t(r0 + u) * d + i]), k16, s[u]);
            }
            for (int u = 0; u < kRowTile && r0 + u < rows; u++) {
                const int r = r0 + u, t = r / group;
                __m512 sc = s[u];
                if (cap > 0) {  // cap · tanh(s / cap) = cap · (1 − 2 / (e^{2s/cap} + 1))
                    const __m512 e = exp512(_mm512_mul_ps(sc, _mm512_set1_ps(2.0f / cap)));
                    const __m512 th =
                        _mm512_sub_ps(_mm512_set1_ps(1.0f),
                                      _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
                    sc = _mm512_mul_ps(th, _mm512_set1_ps(cap));
                }
                const __mmask16 live = _mm512_cmpge_epi32_mask(key, _mm512_set1_epi32(int(begin[t]))) &
                                       _mm512_cmplt_epi32_mask(key, _mm512_set1_epi32(int(end[t]))) &
                                       __mmask16((1u << nk) - 1);
                if (!live) {
                    _mm512_store_ps(pr + int64_t(r) * 16, _mm512_setzero_ps());
                    continue;
                }
                sc = _mm512_mask_blend_ps(live, _mm512_set1_ps(neg_inf), sc);
                const float m_new = std::max(st.m[r], _mm512_reduce_max_ps(sc));
                const __m512 p = _mm512_maskz_mov_ps(live, exp512(_mm512_sub_ps(sc, _mm512_set1_ps(m_new))));
                const float alpha = st.m[r] == neg_inf ? 0.0f : std::exp(st.m[r] - m_new);
                st.l[r] = st.l[r] * alpha + _mm512_reduce_add_ps(p);
                st.m[r] = m_new;
                _mm512_store_ps(pr + int64_t(r) * 16, p);
                if (alpha != 1.0f) {
                    float* orow = st.o + int64_t(r) * d;
                    for (int i = 0; i < d; i += 16)
                        _mm512_storeu_ps(orow + i, _mm512_mul_ps(_mm512_loadu_ps(orow + i), _mm512_set1_ps(alpha)));
                }
            }
        }
        // o[r] += Σ_k p[r][k] · V[k], 4 registers of the row's output at a time.
        for (int r = 0; r < rows; r++) {
            float* orow = st.o + int64_t(r) * d;
            const float* p = pr + int64_t(r) * 16;
            for (int i0 = 0; i0 < d; i0 += 64) {
                const int nv = std::min(4, (d - i0) / 16);
                __m512 acc[4];
                for (int v = 0; v < nv; v++) acc[v] = _mm512_loadu_ps(orow + i0 + 16 * v);
                for (int k = 0; k < nk; k++) {
                    const __m512 pk = _mm512_set1_ps(p[k]);
                    for (int v = 0; v < nv; v++)
                        acc[v] = _mm512_fmadd_ps(pk, _mm512_load_ps(vc + int64_t(k) * d + i0 + 16 * v), acc[v]);
                }
                for (int v = 0; v < nv; v++) _mm512_storeu_ps(orow + i0 + 16 * v, acc[v]);
            }
        }
    }
}

}  // namespace berth::kern::avx512
