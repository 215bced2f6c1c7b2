// AVX-512 attention over an f16 or f32 paged KV cache for many query rows at once (attention_rows in
// kernels.h): the query heads of one KV head for a run of consecutive positions of one sequence (prefill) or
// for one position (decode). Keys are walked in super-blocks of up to 128 (superblock_keys) and, for the
// scores, in blocks of 16: a block's K rows are converted once and transposed (head_dim × 16) so that a query
// row's 16 scores are head_dim broadcast-FMAs, 8 (or 4) rows at a time. The softmax is online (running max and
// sum per row, as FlashAttention) with one update per row and super-block, so no score row of the full context
// is ever stored. P·V keeps a tile of rows × columns of the output in registers; its V rows are the
// super-block's rows converted once (many rows) or, for up to 8 rows of an f16 cache (decode), the cache's own
// rows. berth_bench_attention (bench/) times it: 1 thread, Intel Xeon (Emerald Rapids), TinyLlama's decode
// shape (head_dim 64, 8 query heads per KV head) at depth 2048, 11.1 -> 4.0 ns per query row and key with the
// keys in cache and 10.1 -> 6.2 from DRAM; Llama 3 8B's (128, 4) 30.4 -> 14.4; an 8-token prefill tile 5.5 -> 2.5.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernels.h"
#include "kernels/prefetch.h"
#include "kernels/simd_avx512.h"
#include "kernels/transpose_avx512.h"

namespace berth::kern::avx512 {
namespace {

inline __m512 load16(const uint8_t* row, DType type, int i) {
    if (type == DType::F16) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row) + i / 16));
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
}

constexpr int kRowTile = 8;  // query rows whose scores are computed together (4 when a call has at most 4)

// Scores of R query rows (qt: their queries · scale, transposed, rows_pad apart per dimension) against the 16
// keys of kt (head_dim × 16), into out (R × 16). Two chains per row (even and odd dimensions): 8 chains alone
// leave the FMA units waiting on latency. The lines in pf (the next block's K and V rows) are prefetched one or
// two per step: a burst of 64 or more prefetches at once stalled on the core's few line-fill buffers (a third of
// decode's attention time at depth 2048, with the keys coming from DRAM).
template <int R>
inline void score_tile(const float* qt, int rows_pad, const float* kt, int d, const uint8_t* const* pf, int n_pf,
                       float* out) {
    __m512 s[R], s2[R];
    for (int u = 0; u < R; u++) s[u] = s2[u] = _mm512_setzero_ps();
    const float* qi = qt;
    for (int i = 0; i < d; i += 2, qi += 2 * rows_pad) {
        if (i < n_pf) {
            prefetch_line(pf[i]);
            if (i + 1 < n_pf) prefetch_line(pf[i + 1]);
        }
        const __m512 k16 = _mm512_load_ps(kt + int64_t(i) * 16);
        const __m512 k16b = _mm512_load_ps(kt + int64_t(i + 1) * 16);
        for (int u = 0; u < R; u++) {
            s[u] = _mm512_fmadd_ps(_mm512_set1_ps(qi[u]), k16, s[u]);
            s2[u] = _mm512_fmadd_ps(_mm512_set1_ps(qi[rows_pad + u]), k16b, s2[u]);
        }
    }
    for (int u = 0; u < R; u++) _mm512_store_ps(out + 16 * u, _mm512_add_ps(s[u], s2[u]));
}

// Keys per super-block: the scores of every row for these keys are kept (sc below), so that the softmax's
// reductions, the running max and sum and the rescaling of the output rows are paid once per super-block,
// not once per 16 keys. 32-128 keys, with the converted V rows (vc, when kept) at most 32 KiB.
constexpr int kMaxSuperblock = 128;
inline int superblock_keys(int d) { return std::clamp(8192 / d / 16 * 16, 32, kMaxSuperblock); }

// Where P·V reads the V rows: the super-block's rows converted once to f32 (VConverted; many rows share them),
// or the f16 rows of the cache themselves (VCacheF16; up to 8 rows, each V chunk converted once per tile).
struct VConverted {
    const float* v;  // (keys, stride)
    int64_t stride;
    __m512 load(int k, int col) const { return _mm512_load_ps(v + k * stride + col); }
};
struct VCacheF16 {
    const uint8_t* const* rows;  // rows[k] + offset: key k's V row
    int64_t offset;
    __m512 load(int k, int col) const {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[k] + offset + 2 * col)));
    }
};

// o[r][col, col + 16·NV) = alpha[r] · o[r] + Σ_k p[r][k] · v[k], for NR rows, all in registers: each V chunk is
// loaded once for the NR rows.
template <int NR, int NV, class V>
void pv_tile(float* o, int64_t o_stride, const float* p, int64_t p_stride, V v, int col, int n, const float* alpha) {
    __m512 acc[NR][NV];
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NV; j++)
            acc[r][j] = _mm512_mul_ps(_mm512_loadu_ps(o + r * o_stride + col + 16 * j), _mm512_set1_ps(alpha[r]));
    for (int k = 0; k < n; k++) {
        __m512 vk[NV];
        for (int j = 0; j < NV; j++) vk[j] = v.load(k, col + 16 * j);
        for (int r = 0; r < NR; r++) {
            const __m512 pk = _mm512_set1_ps(p[r * p_stride + k]);
            for (int j = 0; j < NV; j++) acc[r][j] = _mm512_fmadd_ps(pk, vk[j], acc[r][j]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NV; j++) _mm512_storeu_ps(o + r * o_stride + col + 16 * j, acc[r][j]);
}

template <class V>
using PvTile = void (*)(float*, int64_t, const float*, int64_t, V, int, int, const float*);
// Up to 4 zmm columns for up to 4 rows, up to 2 for 5-8 rows (pv_cols(rows)): at most 16 accumulators. The tiles
// the dispatch never takes are not instantiated.
template <class V, int NR, int NV>
constexpr PvTile<V> pv_fn() {
    if constexpr (NR > 4 && NV > 2)
        return nullptr;
    else
        return pv_tile<NR, NV, V>;
}
template <class V, int NR>
constexpr PvTile<V> pv_cols_of[4] = {pv_fn<V, NR, 1>(), pv_fn<V, NR, 2>(), pv_fn<V, NR, 3>(), pv_fn<V, NR, 4>()};
constexpr int pv_cols(int rows) { return rows > 4 ? 2 : 4; }
// [rows − 1][zmm columns − 1]: 4 rows × 4 columns from converted rows; up to 8 rows from the cache.
constexpr const PvTile<VConverted>* pv_converted[4] = {pv_cols_of<VConverted, 1>, pv_cols_of<VConverted, 2>,
                                                       pv_cols_of<VConverted, 3>, pv_cols_of<VConverted, 4>};
constexpr const PvTile<VCacheF16>* pv_cache[8] = {
    pv_cols_of<VCacheF16, 1>, pv_cols_of<VCacheF16, 2>, pv_cols_of<VCacheF16, 3>, pv_cols_of<VCacheF16, 4>,
    pv_cols_of<VCacheF16, 5>, pv_cols_of<VCacheF16, 6>, pv_cols_of<VCacheF16, 7>, pv_cols_of<VCacheF16, 8>};

}  // namespace

// e^x of n floats (the tests check exp512 through it).
void exp_avx512(const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        _mm512_mask_storeu_ps(y + i, m, exp512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

size_t attention_rows_work_floats(int head_dim) {
    const size_t rows = size_t(kAttnMaxRows), d = size_t(head_dim), sb = size_t(superblock_keys(head_dim));
    return rows * d + 16 * d + sb * d + rows * sb;
}

// Rows r = t · group + g (token t of the run, query head g); q row r at q + t · q_stride + g · head_dim. Keys
// [kb, ke) of this call; row r sees keys in [begin[t], end[t]). The running state (st.o: rows × head_dim,
// st.m, st.l: rows) is updated in place (attention_partial_init sets it up; attention_merge normalizes).
void attention_rows_avx512(const float* q, int64_t q_stride, int n_tok, int group, const int64_t* begin,
                           const int64_t* end, int64_t kb, int64_t ke, const AttnKv& kv, int kv_head, float scale,
                           float cap, AttnPartial st, float* work) {
    const int d = kv.head_dim;  // multiple of 16, ≤ 256
    const int rows = n_tok * group;
    const int row_tile = rows <= 4 ? 4 : kRowTile;  // a GQA group of 4 (decode) does not pay for 8 rows
    const int rows_pad = (rows + row_tile - 1) / row_tile * row_tile;
    const int sbk = superblock_keys(d);
    // Up to 8 rows of an f16 cache (a decode step's query heads of one KV head) read V straight from the cache.
    const bool v_direct = rows <= 8 && kv.type == DType::F16;
    float* qt = work;                            // (d, rows_pad) queries · scale, transposed; zero rows past `rows`
    float* kt = qt + int64_t(kAttnMaxRows) * d;  // (d, 16) K block transposed
    float* vc = kt + int64_t(d) * 16;            // (sbk, d) V rows of the super-block, converted (unless v_direct)
    float* sc = vc + int64_t(sbk) * d;           // (rows, sbk) scores of the super-block, then probabilities
    for (int r = 0; r < rows_pad; r++) {
        const float* src = q + int64_t(r / group) * q_stride + int64_t(r % group) * d;
        for (int i = 0; i < d; i++) qt[int64_t(i) * rows_pad + r] = r < rows ? src[i] * scale : 0.0f;
    }
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const float neg_inf = -std::numeric_limits<float>::infinity();
    float alpha[kAttnMaxRows];
    alignas(64) float srow_tile[kRowTile * 16];
    const uint8_t* at[kMaxSuperblock + 16];
    const uint8_t* pf[16 * 2 * 256 * 4 / 64];  // lines of the next block's K and V rows (f32, head_dim 256 at most)
    for (int64_t s0 = kb; s0 < ke; s0 += sbk) {
        const int n = int(std::min<int64_t>(sbk, ke - s0));
        // Where the K/V rows of the super-block's keys and of the next 16 (prefetched) start, walking the pages:
        // one division per super-block, not one per row.
        const int n_at = int(std::min<int64_t>(n + 16, ke - s0));
        {
            int64_t page = s0 / kv.page_positions, slot = s0 % kv.page_positions;
            for (int k = 0; k < n_at; k++) {
                at[k] = kv.base + kv.pages[page] * kv.page_bytes + (slot * kv.n_head_kv + kv_head) * kv.head_row_bytes;
                if (++slot == kv.page_positions) slot = 0, ++page;
            }
        }
        // Scores of every row for the super-block's keys (−inf where a row does not see the key), 16 keys at a time.
        for (int b0 = 0; b0 < n; b0 += 16) {
            const int64_t j0 = s0 + b0;
            const int nk = std::min(16, n - b0);
            // The next block's K and V rows: one KV head's rows lie n_head_kv rows apart in pages of a few KiB,
            // which the hardware prefetcher does not follow; score_tile issues them in the first row tile.
            int n_pf = 0;
            for (int k = b0 + 16; k < std::min(n_at, b0 + 32); k++)
                for (int64_t o = 0; o < kv.head_row_bytes; o += 64) {
                    pf[n_pf++] = at[k] + kv.k_offset + o;
                    pf[n_pf++] = at[k] + kv.v_offset + o;
                }
            const uint8_t* krow[16];
            for (int k = 0; k < 16; k++) krow[k] = at[b0 + std::min(k, nk - 1)] + kv.k_offset;  // masked below
            if (!v_direct)
                for (int k = 0; k < nk; k++) {
                    const uint8_t* vr = at[b0 + k] + kv.v_offset;
                    for (int i = 0; i < d; i += 16)
                        _mm512_store_ps(vc + int64_t(b0 + k) * d + i, load16(vr, kv.type, i));
                }
            for (int i0 = 0; i0 < d; i0 += 16) {
                __m512 t[16];
                for (int k = 0; k < 16; k++) t[k] = load16(krow[k], kv.type, i0);
                transpose16x16_ps(t, t);
                for (int i = 0; i < 16; i++) _mm512_store_ps(kt + int64_t(i0 + i) * 16, t[i]);
            }
            const __m512i key = _mm512_add_epi32(lane, _mm512_set1_epi32(int(j0)));
            for (int r0 = 0; r0 < rows_pad; r0 += row_tile, n_pf = 0) {
                if (row_tile == 4)
                    score_tile<4>(qt + r0, rows_pad, kt, d, pf, n_pf, srow_tile);
                else
                    score_tile<8>(qt + r0, rows_pad, kt, d, pf, n_pf, srow_tile);
                for (int u = 0; u < row_tile && r0 + u < rows; u++) {
                    const int r = r0 + u, t = r / group;
                    __m512 x = _mm512_load_ps(srow_tile + 16 * u);
                    if (cap > 0) {  // cap · tanh(s / cap) = cap · (1 − 2 / (e^{2s/cap} + 1))
                        const __m512 e = exp512(_mm512_mul_ps(x, _mm512_set1_ps(2.0f / cap)));
                        const __m512 th =
                            _mm512_sub_ps(_mm512_set1_ps(1.0f),
                                          _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
                        x = _mm512_mul_ps(th, _mm512_set1_ps(cap));
                    }
                    const __mmask16 live = _mm512_cmpge_epi32_mask(key, _mm512_set1_epi32(int(begin[t]))) &
                                           _mm512_cmplt_epi32_mask(key, _mm512_set1_epi32(int(end[t]))) &
                                           __mmask16((1u << nk) - 1);
                    _mm512_store_ps(sc + int64_t(r) * sbk + b0, _mm512_mask_blend_ps(live, _mm512_set1_ps(neg_inf), x));
                }
            }
        }
        // Online softmax, once per row and super-block: the new running max, the probabilities in place of the
        // scores, the running sum, and the factor that rescales the row's output.
        const int n16 = (n + 15) / 16 * 16;
        for (int r = 0; r < rows; r++) {
            float* srow = sc + int64_t(r) * sbk;
            __m512 mx = _mm512_set1_ps(neg_inf);
            for (int b0 = 0; b0 < n16; b0 += 16) mx = _mm512_max_ps(mx, _mm512_load_ps(srow + b0));
            const float m_new = std::max(st.m[r], _mm512_reduce_max_ps(mx));
            if (m_new == neg_inf) {  // no key of this row yet: probabilities 0, output unchanged
                for (int b0 = 0; b0 < n16; b0 += 16) _mm512_store_ps(srow + b0, _mm512_setzero_ps());
                alpha[r] = 1.0f;
                continue;
            }
            const __m512 m16 = _mm512_set1_ps(m_new);
            __m512 sum = _mm512_setzero_ps();
            for (int b0 = 0; b0 < n16; b0 += 16) {
                const __m512 p = exp512(_mm512_sub_ps(_mm512_load_ps(srow + b0), m16));
                _mm512_store_ps(srow + b0, p);
                sum = _mm512_add_ps(sum, p);
            }
            alpha[r] = st.m[r] == neg_inf ? 0.0f : std::exp(st.m[r] - m_new);
            st.l[r] = st.l[r] * alpha[r] + _mm512_reduce_add_ps(sum);
            st.m[r] = m_new;
        }
        // o[r] = alpha[r] · o[r] + Σ_k p[r][k] · V[k], a tile of rows × columns of the output in registers.
        if (v_direct) {
            const VCacheF16 v{at, kv.v_offset};
            const int cols = pv_cols(rows);
            for (int i0 = 0; i0 < d; i0 += 16 * cols)
                pv_cache[rows - 1][std::min(cols, (d - i0) / 16) - 1](st.o, d, sc, sbk, v, i0, n, alpha);
        } else {
            const VConverted v{vc, d};
            for (int r0 = 0; r0 < rows; r0 += 4)
                for (int i0 = 0; i0 < d; i0 += 64)
                    pv_converted[std::min(4, rows - r0) - 1][std::min(4, (d - i0) / 16) - 1](
                        st.o + int64_t(r0) * d, d, sc + int64_t(r0) * sbk, sbk, v, i0, n, alpha + r0);
        }
    }
}

}  // namespace berth::kern::avx512
