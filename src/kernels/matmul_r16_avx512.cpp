// avx512 kernel of the repacked Q8_0_R16 / Q4_0_R16 weights (kernels.h): the 16 int32 lanes of a zmm are the 16
// rows of a group. Per token and 32-block, 8 vpdpbusd against broadcast activation dwords from the record
// (matmul_impl.h), started from the record's offset term, then one conversion, one scale multiply and one fma
// serve all 16 rows: 11 operations per 512 weights, where the one-row tiles spend about 4 per 64 (their float
// epilogue per row, token and block pair). The weight side (the scales' conversion; Q4_0's nibble split) is
// paid once per group and block for every token of the batch.
// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 headers (GCC bug 105593), as in matmul_avx512.cpp.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/matmul_impl.h"
#include "kernels/prefetch.h"
#include "kernels/simd_avx512.h"

namespace berth::kern {
namespace {

constexpr int kMaxTokens = 16;  // tokens per pass over a group's blocks (accumulators stay in registers)

// Streams of groups per pass (walk_group_streams, matmul_impl.h): 4 for one or two tokens, 2 for 3-4, where
// S · NT accumulators stay in registers. berth_bench_matmul q4_0_r16 2048 5632 1 5 2 150 (1.6 GB, from DRAM,
// 2 threads, Intel Xeon, 33-34 GB/s measured), alternating: one stream per thread 26.8-27.3 GB/s, 2 streams
// 27-29.8, 3 streams 27.6-30.8, 4 streams 29.6-31.0; 2 tokens 25-26 -> 28-29 (4 streams); 4 tokens 22-24 ->
// 26-27 (2 streams; 4 measured 24.6-25.7); 8 tokens no better with 2. Q8_0: 31-32 -> 30-33. In cache
// (2048 x 2048, one copy) Q4_0 stays at 82-87. Why (no hardware counters on that VM to show it): each core must
// hold about 17 GB/s; software prefetch alone measured 19-20 GB/s for the K-quants against 25-27 with the
// hardware prefetchers, which track each stream within a 4 KiB page, so several streams keep more lines in
// flight across the page crossings of any one.
constexpr int streams_for(int nt) { return nt <= 2 ? 4 : nt <= 4 ? 2 : 1; }

// One 32-block of S groups (blk[s]) against NT tokens' records: per token and group, 8 vpdpbusd against broadcast
// activation dwords, started from the record's offset term, then one conversion, one scale multiply and one fma.
template <int NT, int S, bool Q4>
void tile_r16(const uint8_t* const* groups, const uint8_t* rec, size_t rec_stride, int64_t nb, float* const* y,
              int64_t ldy) {
    constexpr size_t kBlockBytes = Q4 ? kRepackRows * sizeof(BlockQ4_0) : kRepackRows * sizeof(BlockQ8_0);
    constexpr size_t kOffset = Q4 ? kR16OffsetQ4 : kR16OffsetQ8;
    const Prefetch pf = kernel_prefetch(NT);
    // Q4_0 at one or two tokens keeps the high nibbles in place (16q) and shifts the chain's sum instead: 4 shifts
    // per group and block become one per token.
    constexpr bool kHighInPlace = Q4 && NT <= 2;
    __m512 acc[S][NT];
    for (int s = 0; s < S; s++)
        for (int k = 0; k < NT; k++) acc[s][k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t* r = rec + size_t(b) * kR16RecordBytes;
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            const uint8_t* blk = groups[s] + size_t(b) * kBlockBytes;
            prefetch_ahead(pf, blk, kBlockBytes);  // kernel_prefetch() (kernels.h)
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
            const uint8_t* q = blk + kRepackRows * sizeof(fp16_t);
            __m512i w[8];
            if constexpr (Q4) {
                const __m512i m4 = _mm512_set1_epi8(0x0F), m4h = _mm512_set1_epi8(int8_t(0xF0));
                for (int j = 0; j < 4; j++) {
                    const __m512i v = _mm512_loadu_si512(q + 64 * j);
                    w[j] = _mm512_and_si512(v, m4);
                    w[j + 4] = kHighInPlace ? _mm512_and_si512(v, m4h) : _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                }
            } else {
                for (int j = 0; j < 8; j++) w[j] = _mm512_loadu_si512(q + 64 * j);
            }
            // Unrolled over the tokens: left to itself GCC 12 kept the loop from 12 tokens on and ran the
            // accumulators through the stack.
#pragma GCC unroll 16
            for (int k = 0; k < NT; k++) {
                const uint8_t* x = r + k * rec_stride;
                __m512i s0 = _mm512_set1_epi32(load_i32(x + kOffset));
                if constexpr (NT <= 4) {
                    // Two chains of 4, so one token alone (decode) does not wait on vpdpbusd's latency 8 times;
                    // each broadcast serves the pass's 2-4 groups (streams_for; GCC shares it).
                    __m512i s1 = _mm512_setzero_si512();
                    if constexpr (kHighInPlace) {  // s1: the high nibbles times 16, exactly
                        for (int j = 0; j < 4; j++) {
                            s0 = _mm512_dpbusd_epi32(s0, w[j], _mm512_set1_epi32(load_i32(x + 4 * j)));
                            s1 = _mm512_dpbusd_epi32(s1, w[j + 4], _mm512_set1_epi32(load_i32(x + 4 * j + 16)));
                        }
                        s1 = _mm512_srai_epi32(s1, 4);
                    } else {
                        for (int j = 0; j < 8; j += 2) {
                            s0 = _mm512_dpbusd_epi32(s0, w[j], _mm512_set1_epi32(load_i32(x + 4 * j)));
                            s1 = _mm512_dpbusd_epi32(s1, w[j + 1], _mm512_set1_epi32(load_i32(x + 4 * j + 4)));
                        }
                    }
                    s0 = _mm512_add_epi32(s0, s1);
                } else {
                    // 5-16 tokens, one group (streams_for): a chain per token, the broadcasts folded.
#pragma GCC unroll 8
                    for (int j = 0; j < 8; j++) s0 = avx512::dpbusd_bcast(s0, w[j], x + 4 * j);
                }
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(load_f32(x + kR16OffsetD)));
                acc[s][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), scale, acc[s][k]);
            }
        }
    }
    for (int s = 0; s < S; s++)
        for (int k = 0; k < NT; k++) _mm512_storeu_ps(y[s] + k * ldy, acc[s][k]);
}

// The groups of rows [r0, r1) against NT tokens (records at rec, outputs at y), in streams_for(NT) streams.
template <int NT, bool Q4>
void pass_r16(const MatmulTask& t, int64_t r0, int64_t r1, const uint8_t* rec, float* y, int64_t nb) {
    constexpr int S = streams_for(NT);
    walk_group_streams<S>(t, r0, r1, y, [&](const uint8_t* const* groups, float* const* ys, int n) {
        with_count<S>(n, [&]<int K>() { tile_r16<NT, K, Q4>(groups, rec, t.xr_row_bytes, nb, ys, t.ldy); });
    });
}

// Rows [r0, r1) are whole groups (matmul() chunks rows in multiples of 16). Token passes of up to kMaxTokens
// outside, groups inside: the range's weights come back from L2 for each pass while the pass's records stay in L1.
template <bool Q4>
void rows_r16_512(const MatmulTask& t, int64_t r0, int64_t r1) {
    const int64_t nb = t.n_cols / QK8_0;
    for (int64_t k0 = 0; k0 < t.n_tokens; k0 += kMaxTokens) {
        const int nt = int(std::min<int64_t>(kMaxTokens, t.n_tokens - k0));
        with_count<kMaxTokens>(
            nt, [&]<int NT>() { pass_r16<NT, Q4>(t, r0, r1, t.xr + k0 * t.xr_row_bytes, t.y + k0 * t.ldy, nb); });
    }
}

}  // namespace

RowsFn rows_kernel_r16_avx512(DType wtype) {
    if (wtype == DType::Q8_0_R16) return rows_r16_512<false>;
    if (wtype == DType::Q4_0_R16) return rows_r16_512<true>;
    return rows_kernel_r16k_avx512(wtype);
}

}  // namespace berth::kern
