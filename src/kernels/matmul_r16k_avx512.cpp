// avx512 kernels of the repacked Q4_K_R16 and Q6_K_R16 weights (kernels.h) against the K records of Q8_K
// activations (matmul_impl.h): the 16 int32 lanes of a zmm are the 16 rows of a group, as in matmul_r16_avx512.cpp.
// Per group and 256-block, the weight side is paid once per pass of tokens. Q4_K: the 6-bit scales and mins of
// the 16 rows become 8 + 8 f32 vectors (d·scale_j, dmin·min_j) in a stack buffer, and the nibbles of sub-block j
// are masked into 8 vectors, one AND each: the high nibbles of odd j stay in place (16q), their d·scale_j taken
// over 16 (exact: a power of two), so the products are the same bits as with shifted nibbles. Per token and sub-block:
// 8 vpdpbusd against activation dwords broadcast from the record, one conversion, one fma by d·scale_j and one fnmadd
// of dmin·min_j by the record's d·Σx_j; per token and block one fma by the activations' d. That is 11 operations per
// 512 weights and token, like Q4_0_R16, where the one-row K-record tiles spend about 18. Q6_K: the same with 16 scales
// and the 6-bit quants built from ql and qh (tile_q6k_r16), its scales taken pair by pair from the block
// (q6_scale_pair). Decode-sized batches walk two groups at once (below). Prefill-sized batches take the GEMM
// instead, whose panels unpack_panel_r16 fills straight from the groups (their lanes are the panel's layout: no
// transposition).
//
// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 headers (GCC bug 105593), as in matmul_avx512.cpp.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm_impl.h"
#include "kernels/kernels.h"
#include "kernels/matmul_impl.h"
#include "kernels/prefetch.h"
#include "kernels/simd_avx512.h"

namespace berth::kern {
namespace {

// Tokens per pass over a group's blocks: 8 nibble vectors, NT accumulators and NT block sums stay in registers.
constexpr int kMaxTokens = 8;
constexpr size_t kBlockBytes = kRepackRows * sizeof(BlockQ4_K);  // 2304
constexpr size_t kScaleOffset = 2 * kRepackRows * sizeof(fp16_t), kQuantOffset = kScaleOffset + 3 * 64;

// The 8 scales and mins of the 16 rows (Q4_K's 6-bit packing: scale j < 4 is bits 0-5 of byte j, min j < 4
// of byte j + 4; for j = 4 + t, the low 4 bits come from byte 8 + t (scale: low nibble, min: high nibble) and
// the high 2 from bits 6-7 of byte t (scale) or t + 4 (min)) as f32, times d and dmin.
// High16: the odd sub-blocks' scales over 16, for tiles that read their high nibbles in place (q · 16).
template <bool High16>
static inline void block_scales(const uint8_t* blk, float (*fs)[16], float (*fm)[16]) {
    const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    const __m512 dv16 = High16 ? _mm512_mul_ps(dv, _mm512_set1_ps(1.0f / 16)) : dv;
    const __m512 mv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
    const __m512i d0 = _mm512_loadu_si512(blk + kScaleOffset), d1 = _mm512_loadu_si512(blk + kScaleOffset + 64);
    const __m512i d2 = _mm512_loadu_si512(blk + kScaleOffset + 128);
    const __m512i m63 = _mm512_set1_epi32(63), m0f = _mm512_set1_epi32(0x0F), m30 = _mm512_set1_epi32(0x30);
    auto put = [&](int j, __m512i sc, __m512i mn) {
        _mm512_store_ps(fs[j], _mm512_mul_ps(_mm512_cvtepi32_ps(sc), j % 2 ? dv16 : dv));
        _mm512_store_ps(fm[j], _mm512_mul_ps(_mm512_cvtepi32_ps(mn), mv));
    };
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++) {
        put(t, _mm512_and_si512(_mm512_srli_epi32(d0, 8 * t), m63),
            _mm512_and_si512(_mm512_srli_epi32(d1, 8 * t), m63));
        const __m512i sc = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(d2, 8 * t), m0f),
                                           _mm512_and_si512(_mm512_srli_epi32(d0, 8 * t + 2), m30));
        const __m512i mn = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(d2, 8 * t + 4), m0f),
                                           _mm512_and_si512(_mm512_srli_epi32(d1, 8 * t + 2), m30));
        put(4 + t, sc, mn);
    }
}

// The end of a 256-block: each stream's and token's block sum times the token's d, into its accumulator.
template <int S, int NT>
static inline void end_block(__m512 (&acc)[S][NT], const __m512 (&bsum)[S][NT], const uint8_t* r, size_t rec_stride) {
    for (int s = 0; s < S; s++)
        for (int k = 0; k < NT; k++)
            acc[s][k] =
                _mm512_fmadd_ps(bsum[s][k], _mm512_set1_ps(load_f32(r + k * rec_stride + kKRecOffsetD)), acc[s][k]);
}

template <int S, int NT>
static inline void store_acc(const __m512 (&acc)[S][NT], float* const* y, int64_t ldy) {
    for (int s = 0; s < S; s++)
        for (int k = 0; k < NT; k++) _mm512_storeu_ps(y[s] + k * ldy, acc[s][k]);
}

// Record byte of activation dword D (elements 4D .. 4D + 3): the K record keeps it at dword 16(D % 4) + D / 4.
constexpr size_t rec_at(int D) { return size_t(4 * (16 * (D % 4) + D / 4)); }
// Q4_K: dword 8j + i, elements 32j + 4i .. +3 (sub-block j).
constexpr size_t rec_dword(int j, int i) { return rec_at(8 * j + i); }

template <int NT, int S>
void tile_q4k_r16(const uint8_t* const* groups, const uint8_t* rec, size_t rec_stride, int64_t nb, float* const* y,
                  int64_t ldy) {
    // As kernel_prefetch() says, an eighth of the block per sub-block. Issued all at once at the block's start, its
    // 36 lines stalled on the line-fill buffers: TinyLlama Q4_K_M at 8 streams measured 115-116 tok/s with that
    // prefetch against 125-128 without (Intel Xeon), a quarter of the kernel's samples on the prefetch loop. Spread,
    // berth_bench_matmul q4_K_r16 2048 5632 TOKENS 3 2 150 (1.7 GB, from DRAM) reads 17.7-19.0 GB/s at 8 tokens
    // (14.6-17.3 without prefetch) and 24-27 at one token (24 as a burst); in cache (2048 x 2048, one copy) the
    // burst had held one token to 55-64 GB/s, spread 74-78.
    const Prefetch pf = kernel_prefetch(NT);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m4h = _mm512_set1_epi8(int8_t(0xF0));
    alignas(64) float fs[S][8][16], fm[S][8][16];
    __m512 acc[S][NT];
    for (int s = 0; s < S; s++)
        for (int k = 0; k < NT; k++) acc[s][k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t* r = rec + size_t(b) * kKRecordBytes;
        for (int s = 0; s < S; s++) block_scales<true>(groups[s] + size_t(b) * kBlockBytes, fs[s], fm[s]);
        __m512 bsum[S][NT];  // Σ_j d·scale_j · Σ q·x of sub-block j, per stream and token
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                const uint8_t* blk = groups[s] + size_t(b) * kBlockBytes;
                const uint8_t* q = blk + kQuantOffset;
                // The block ahead, an eighth per sub-block: its 36 lines at once stalled on the line-fill buffers.
                prefetch_ahead(pf, blk + j * kBlockBytes / 8, kBlockBytes / 8);
                // Sub-block j: the low (j even) or high nibbles of bytes 32(j/2) .. 32(j/2) + 31 of each row, the
                // high ones in place. Shifting them down as well cost 8 more operations per odd sub-block:
                // berth_bench_matmul q4_K_r16 2048 2048 1 200 2 1 (in cache) 63-77 -> 71-85 GB/s, from DRAM
                // (2048 5632 1 5 2 150) 26.7-29.2 -> 27.1-29.9, medians of alternating runs (Intel Xeon).
                __m512i w[8];
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) {
                    const __m512i v = _mm512_loadu_si512(q + 64 * (8 * (j / 2) + i));
                    w[i] = _mm512_and_si512(v, j % 2 ? m4h : m4);
                }
                const __m512 f = _mm512_load_ps(fs[s][j]), mf = _mm512_load_ps(fm[s][j]);
                for (int k = 0; k < NT; k++) {
                    const uint8_t* x = r + k * rec_stride;
                    __m512i s0 = _mm512_setzero_si512();
                    if constexpr (NT <= 2) {  // two chains: one token does not wait on vpdpbusd's latency 8 times
                        __m512i s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
                        for (int i = 0; i < 8; i += 2) {
                            s0 = _mm512_dpbusd_epi32(s0, w[i], _mm512_set1_epi32(load_i32(x + rec_dword(j, i))));
                            s1 =
                                _mm512_dpbusd_epi32(s1, w[i + 1], _mm512_set1_epi32(load_i32(x + rec_dword(j, i + 1))));
                        }
                        s0 = _mm512_add_epi32(s0, s1);
                    } else {
#pragma GCC unroll 8
                        for (int i = 0; i < 8; i++)
                            s0 = _mm512_dpbusd_epi32(s0, w[i], _mm512_set1_epi32(load_i32(x + rec_dword(j, i))));
                    }
                    const __m512 c = _mm512_cvtepi32_ps(s0);
                    bsum[s][k] = j == 0 ? _mm512_mul_ps(c, f) : _mm512_fmadd_ps(c, f, bsum[s][k]);
                    acc[s][k] = _mm512_fnmadd_ps(mf, _mm512_set1_ps(load_f32(x + kKRecOffsetSums + 4 * j)), acc[s][k]);
                }
            }
        }
        end_block<S, NT>(acc, bsum, r, rec_stride);
    }
    store_acc<S, NT>(acc, y, ldy);
}

// Q6_K_R16: per group and 256-block, the 16 fp16 d, then chunks 0-31 = ql dwords, 32-47 = qh dwords, 48-51 =
// the 16 int8 scales (4 per chunk).
constexpr size_t kQ6BlockBytes = kRepackRows * sizeof(BlockQ6_K);  // 3360
constexpr size_t kQ6Chunks = kRepackRows * sizeof(fp16_t);

// d·scale of the 16 rows for sub-blocks 2hq and 2hq + 1 (bytes 2(hq % 2) and 2(hq % 2) + 1 of scale chunk hq / 2),
// dv: the 16 rows' d as f32.
static inline void q6_scale_pair(const uint8_t* blk, int hq, __m512 dv, __m512* f0, __m512* f1) {
    const __m512i v = _mm512_loadu_si512(blk + kQ6Chunks + 64 * (48 + hq / 2));
    const int k = 2 * (hq % 2);
    *f0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * k), 24)), dv);
    *f1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 16 - 8 * k), 24)), dv);
}

// d·scale_s of the 16 rows for the 16 sub-blocks of 16 elements.
static inline void q6_scales(const uint8_t* blk, float (*fs)[16]) {
    const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
#pragma GCC unroll 8
    for (int hq = 0; hq < 8; hq++) {
        __m512 f0, f1;
        q6_scale_pair(blk, hq, dv, &f0, &f1);
        _mm512_store_ps(fs[2 * hq], f0);
        _mm512_store_ps(fs[2 * hq + 1], f1);
    }
}

// The 6-bit quants (0..63) of elements 128h + 32q + 4i .. +3 of the 16 rows in w[i] (i < 8): the low (q < 2) or
// high nibbles of ql dword 16h + 8(q % 2) + i, with bits 2q, 2q + 1 of qh dword 8h + i at bits 4-5 (the 16-bit
// shifts move bits across bytes only outside the 0x30 mask). Elements i < 4 lie in sub-block 8h + 2q, the rest
// in the next one.
static inline void q6_weights(const uint8_t* blk, int h, int q, __m512i* w) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const uint8_t* c = blk + kQ6Chunks;
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        const __m512i ql = _mm512_loadu_si512(c + 64 * (16 * h + 8 * (q % 2) + i));
        const __m512i qh = _mm512_loadu_si512(c + 64 * (32 + 8 * h + i));
        const __m512i lo = _mm512_and_si512(q < 2 ? ql : _mm512_srli_epi16(ql, 4), m4);
        const __m512i hi = q == 0   ? _mm512_slli_epi16(qh, 4)
                           : q == 1 ? _mm512_slli_epi16(qh, 2)
                           : q == 2 ? qh
                                    : _mm512_srli_epi16(qh, 2);
        w[i] = _mm512_or_si512(lo, _mm512_and_si512(hi, m30));
    }
}

// Per token and pair of sub-blocks: two chains of 4 vpdpbusd started from the record's -32·bsum of each (the
// quants are q + 32), two conversions and two fmas by d·scale; per token and block one fma by the activations'
// d. Prefetch as kernel_prefetch() says: unlike tile_q4k_r16, batches gain from it here (more bytes per weight;
// TinyLlama Q6_K at 8 streams 79-101 tok/s with, 73-87 without, alternating, Intel Xeon).
template <int NT, int S>
void tile_q6k_r16(const uint8_t* const* groups, const uint8_t* rec, size_t rec_stride, int64_t nb, float* const* y,
                  int64_t ldy) {
    const Prefetch pf = kernel_prefetch(NT);
    __m512 acc[S][NT];
    for (int s = 0; s < S; s++)
        for (int k = 0; k < NT; k++) acc[s][k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t* r = rec + size_t(b) * kKRecordBytes;
        __m512 dv[S];
        for (int s = 0; s < S; s++)
            dv[s] = _mm512_cvtph_ps(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(groups[s] + size_t(b) * kQ6BlockBytes)));
        __m512 bsum[S][NT];
#pragma GCC unroll 8
        for (int hq = 0; hq < 8; hq++) {
            const int h = hq / 4, q = hq % 4, s0 = 8 * h + 2 * q;
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                const uint8_t* blk = groups[s] + size_t(b) * kQ6BlockBytes;
                // As in tile_q4k_r16 (in cache, 2048 x 2048, one token: 49-63 GB/s as a burst, 85-88 spread).
                prefetch_ahead(pf, blk + hq * kQ6BlockBytes / 8, kQ6BlockBytes / 8);
                __m512i w[8];
                q6_weights(blk, h, q, w);
                __m512 f0, f1;
                q6_scale_pair(blk, hq, dv[s], &f0, &f1);
                for (int k = 0; k < NT; k++) {
                    const uint8_t* x = r + k * rec_stride;
                    __m512i a0 = _mm512_set1_epi32(load_i32(x + kKRecOffsetBias + 4 * s0));
                    __m512i a1 = _mm512_set1_epi32(load_i32(x + kKRecOffsetBias + 4 * (s0 + 1)));
                    // The broadcasts folded into vpdpbusd: as vpbroadcastd GCC 12 hoisted them out of the sub-block
                    // loop and spilled them (in cache, one thread, berth_bench_matmul q6_K_r16 2048 256 T 3000 1:
                    // 1 token 30.3-31.6 -> 29.1-30.3 ns per row, 2 tokens 20.5-21.0 -> 16.9-18.4, 4 and 8 a little
                    // faster; Q4_K's tile, which does not spill them, measured 15-20 % slower at 1-2 tokens folded).
#pragma GCC unroll 4
                    for (int i = 0; i < 4; i++) {
                        a0 = avx512::dpbusd_bcast(a0, w[i], x + rec_at(32 * h + 8 * q + i));
                        a1 = avx512::dpbusd_bcast(a1, w[i + 4], x + rec_at(32 * h + 8 * q + i + 4));
                    }
                    const __m512 c0 = _mm512_cvtepi32_ps(a0);
                    bsum[s][k] = hq == 0 ? _mm512_mul_ps(c0, f0) : _mm512_fmadd_ps(c0, f0, bsum[s][k]);
                    bsum[s][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1), f1, bsum[s][k]);
                }
            }
        }
        end_block<S, NT>(acc, bsum, r, rec_stride);
    }
    store_acc<S, NT>(acc, y, ldy);
}

// Streams of groups per pass (walk_group_streams, matmul_impl.h; why in matmul_r16_avx512.cpp), interleaved
// sub-block by sub-block: block by block (2.3-3.4 KB at a time) measured no better than one stream.
// berth_bench_matmul TYPE 2048 5632 TOKENS 5 2 150 (from DRAM, 2 threads, Intel Xeon), medians of 3-5
// alternating runs, GB/s, one stream -> two: Q4_K 24.1 -> 27.6 (4 streams 28.2), Q6_K 25.0 -> 28.9 (27.5);
// 2 tokens Q4_K 24.9 -> 27.8, Q6_K 23.2 -> 23.9; 4 tokens Q4_K 25.4 -> 27.1, Q6_K 22.2 -> 26.8. In cache (2048 x
// 2048) 4 streams cost the K-quants more than the Q4_0 kernel (Q6_K 76 -> 61, Q4_K 78 -> 68), two streams less
// (Q6_K 75; Q4_K 69 in one series, 74 against one stream's 76 in a later one): two it is, to 2 tokens everywhere
// and to 4 where kernel_k_two_streams (kernels.h) says so: two streams of 3-4 tokens keep 2 x NT accumulators and
// block sums live and spill (GCC 12), which the Intel Xeon, held by memory, hid, and a Zen 5 VM does not (in cache,
// one thread, 4 tokens: 55-56 ns per row with two streams, 43-44 with one; berth_bench_roofline measures its
// vpdpbusd peak at ~6.5 per ns per core, so the pass is not held by vpdpbusd but by the spills' loads and stores).

// The groups of rows [r0, r1) against NT tokens (K records at rec, outputs at y), in S streams.
template <bool Q6, int NT, int S>
void pass_k_r16(const MatmulTask& t, int64_t r0, int64_t r1, const uint8_t* rec, size_t rec_row, float* y, int64_t nb) {
    walk_group_streams<S>(t, r0, r1, y, [&](const uint8_t* const* groups, float* const* ys, int n) {
        with_count<S>(n, [&]<int K>() {
            if constexpr (Q6)
                tile_q6k_r16<NT, K>(groups, rec, rec_row, nb, ys, t.ldy);
            else
                tile_q4k_r16<NT, K>(groups, rec, rec_row, nb, ys, t.ldy);
        });
    });
}

// Rows [r0, r1) are whole groups; token passes outside, groups inside, as in matmul_r16_avx512.cpp.
template <bool Q6>
void rows_k_r16_512(const MatmulTask& t, int64_t r0, int64_t r1) {
    const int64_t nb = t.n_cols / QK_K;
    const size_t rec_row = size_t(nb) * kKRecordBytes;
    for (int64_t k0 = 0; k0 < t.n_tokens; k0 += kMaxTokens) {
        const int nt = int(std::min<int64_t>(kMaxTokens, t.n_tokens - k0));
        with_count<kMaxTokens>(nt, [&]<int NT>() {
            const uint8_t* rec = t.xkr + k0 * rec_row;
            float* y = t.y + k0 * t.ldy;
            if constexpr (NT <= 2)
                pass_k_r16<Q6, NT, 2>(t, r0, r1, rec, rec_row, y, nb);
            else if constexpr (NT <= 4)
                kernel_k_two_streams() ? pass_k_r16<Q6, NT, 2>(t, r0, r1, rec, rec_row, y, nb)
                                       : pass_k_r16<Q6, NT, 1>(t, r0, r1, rec, rec_row, y, nb);
            else
                pass_k_r16<Q6, NT, 1>(t, r0, r1, rec, rec_row, y, nb);
        });
    }
}

}  // namespace

// Chunk c of a block's nibble bytes holds, in lane l, row l's quants of elements 32j + 4i .. +3 for j = 2(c / 8)
// (low nibbles) and j + 1 (high), i = c % 8: panel column quads 8j + i and 8(j + 1) + i.
// Q6_K_R16: the quants of (h, q, i) are column quad 32h + 8q + i; scale d·scale_s and min -32·d·scale_s.
static void unpack_panel_q6k(const uint8_t* group, int64_t k0, int kc, Panel& p) {
    p.blk = 16;
    p.kc = kc;
    alignas(64) float fs[16][16];
    const __m512 m32 = _mm512_set1_ps(-32.f);
    for (int bb = 0; bb < kc / QK_K; bb++) {
        const uint8_t* blk = group + size_t(k0 / QK_K + bb) * kQ6BlockBytes;
        uint8_t* out = p.q + size_t(bb) * QK_K * kRepackRows;
        for (int hq = 0; hq < 8; hq++) {
            __m512i w[8];
            q6_weights(blk, hq / 4, hq % 4, w);
            for (int i = 0; i < 8; i++) _mm512_store_si512(out + 64 * (8 * hq + i), w[i]);
        }
        q6_scales(blk, fs);
        for (int s = 0; s < 16; s++) {
            const __m512 f = _mm512_load_ps(fs[s]);
            _mm512_storeu_ps(p.scale + 16 * (16 * bb + s), f);
            _mm512_storeu_ps(p.min + 16 * (16 * bb + s), _mm512_mul_ps(f, m32));
        }
    }
}

void unpack_panel_r16(DType wtype, const uint8_t* group, int64_t k0, int kc, Panel& p) {
    CHECK(gemm_unpacks_repacked(wtype) && k0 % QK_K == 0 && kc % QK_K == 0);
    if (wtype == DType::Q6_K_R16) return unpack_panel_q6k(group, k0, kc, p);
    p.blk = 32;
    p.kc = kc;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    alignas(64) float fs[8][16], fm[8][16];
    for (int bb = 0; bb < kc / QK_K; bb++) {
        const uint8_t* blk = group + size_t(k0 / QK_K + bb) * kBlockBytes;
        const uint8_t* q = blk + kQuantOffset;
        uint8_t* out = p.q + size_t(bb) * QK_K * kRepackRows;  // 64 column quads of 64 bytes per block
        for (int c = 0; c < 32; c++) {
            const __m512i v = _mm512_loadu_si512(q + 64 * c);
            const int j = 2 * (c / 8), i = c % 8;
            _mm512_store_si512(out + 64 * (8 * j + i), _mm512_and_si512(v, m4));
            _mm512_store_si512(out + 64 * (8 * (j + 1) + i), _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
        }
        block_scales<false>(blk, fs, fm);
        const __m512 neg = _mm512_set1_ps(-0.f);
        for (int j = 0; j < 8; j++) {
            _mm512_storeu_ps(p.scale + 16 * (8 * bb + j), _mm512_load_ps(fs[j]));
            _mm512_storeu_ps(p.min + 16 * (8 * bb + j), _mm512_xor_ps(_mm512_load_ps(fm[j]), neg));
        }
    }
}

RowsFn rows_kernel_r16k_avx512(DType wtype) {
    if (wtype == DType::Q4_K_R16) return rows_k_r16_512<false>;
    if (wtype == DType::Q6_K_R16) return rows_k_r16_512<true>;
    return nullptr;
}

}  // namespace berth::kern
