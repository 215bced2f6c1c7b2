// Internal to kernels: the per-ISA matmul entry points. Each ISA translation unit (matmul_scalar.cpp,
// matmul_avx2.cpp, matmul_avx512.cpp) returns a kernel for a weight type, or nullptr when it has none, and
// matmul() falls back to the next lower ISA.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"
#include "tensor/tensor.h"

namespace berth::kern {

// One matmul: y(n_tokens, n_rows) = x(n_tokens, n_cols) · W(n_rows, n_cols)ᵀ.
struct MatmulTask {
    DType wtype;
    const uint8_t* w;  // n_rows rows of w_row_bytes
    size_t w_row_bytes;
    int64_t n_cols;
    const float* x;     // (n_tokens, n_cols) f32, for float weight types
    const uint8_t* xq;  // (n_tokens) rows of xq_row_bytes, activations in act_type(wtype)
    size_t xq_row_bytes;
    const float* xd;  // Q8_0 activations only: their block scales as f32, (n_tokens, n_cols / 32)
    // Q8_0 activations of batches (n_tokens > 1) on the avx512 path, else null: the pair layout below,
    // (n_tokens) rows of xp_row_bytes.
    const uint8_t* xp;
    size_t xp_row_bytes;
    // Q8_K activations of 2 to kMaxPairTokens tokens on the avx512 path, else null: the K records below,
    // (n_tokens) rows of n_cols / QK_K records.
    const uint8_t* xk;
    // The same K records for repacked K-quant weights (Q4_K_R16, Q6_K_R16), of every token (one included), else null.
    const uint8_t* xkr;
    // Q8_0 activations for repacked (R16) weights: the records below, (n_tokens) rows of xr_row_bytes.
    const uint8_t* xr;
    size_t xr_row_bytes;
    int64_t n_tokens;
    float* y;  // (n_tokens, ldy)
    int64_t ldy;
};

// Computes y for rows [r0, r1) and every token.
using RowsFn = void (*)(const MatmulTask& t, int64_t r0, int64_t r1);
// Quantizes one activation row of n floats into the activation type.
using QuantizeFn = void (*)(const float* x, void* y, int64_t n);

// Pair layout of Q8_0 activations for the batched avx512 kernels: per token, one 128-byte record per two
// 32-blocks, so that a token's share of a weight block pair is two zmm loads and nothing to rearrange: the
// 64 values of the two blocks plus 128 as uint8 (vpdpbusd's unsigned operand, the weights being the signed
// one), then their scales as 16 f32 (block i's in lanes 0-7, block i+1's in lanes 8-15, matching the int32
// lanes of vpdpbusd). 128 bytes per 64 columns keep 4 tokens of a 2048-column row (16 KiB) in L1. Made for
// batches of 2 to kMaxPairTokens tokens (larger ones take the GEMM), so the scratch stays small.
constexpr size_t kPairBytes = 128;
constexpr int64_t kMaxPairTokens = 16;
// Bytes of one token's pair records for n_cols (a multiple of 64).
inline size_t pair_row_bytes(int64_t n_cols) { return size_t(n_cols / 64) * kPairBytes; }
// Writes one token's pair records from its Q8_0 blocks (n_cols / 32 of them, an even count).
void make_pairs_q8_0(const void* blocks, int64_t n_cols, uint8_t* out);

// K record layout of Q8_K activations for the avx512 K-quant tiles: per token, one 384-byte record per
// 256-block, so that a 4-op vpdpbusd pass leaves the sum of the 16 products of elements 16j..16j+15 in int32
// lane j (one lane per Q6_K scale, two per Q4_K/Q5_K scale) and the per-block terms are one load each:
//   [0, 256)   the 256 int8 values: byte 64m + 4j + e holds element 16j + 4m + e (m, e < 4; j < 16)
//   [256, 320) 16 × int32: -32·bsum_j (Q6_K's offset, the starting value of its vpdpbusd)
//   [320, 352) 8 × f32: d·(bsum_2s + bsum_2s+1), the sums of the 32-element sub-blocks (Q4_K/Q5_K mins)
//   [352, 356) f32: d; the rest is zero
constexpr size_t kKRecordBytes = 384;
constexpr size_t kKRecOffsetBias = 256, kKRecOffsetSums = 320, kKRecOffsetD = 352;
// The weight types whose avx512 batch tiles read the K records.
inline bool reads_k_records(DType wtype) {
    return wtype == DType::Q4_K || wtype == DType::Q5_K || wtype == DType::Q6_K;
}
// Repacked K-quant weights (Q4_K_R16, Q6_K_R16): their kernels read the K records of every token.
inline bool is_repacked_k(DType wtype) { return wtype == DType::Q4_K_R16 || wtype == DType::Q6_K_R16; }
// Writes one token's K records from its Q8_K blocks (n_cols / QK_K of them).
void make_k_records(const void* blocks, int64_t n_cols, uint8_t* out);

// Records of Q8_0 activations for the kernels of repacked (R16) weights: per token, one 48-byte record per
// 32-block, whose fields the kernel broadcasts to all 16 rows of a group:
//   [0, 32) the 32 int8 values; [32, 36) f32 d; [36, 40) int32 -8·Σx (Q4_0's offset: its nibbles are q + 8);
//   [40, 44) int32 -128·Σx (Q8_0's stored w + 128); [44, 48) zero.
constexpr size_t kR16RecordBytes = 48;
// Unaligned reads of a record's int32 / f32 fields (the R16 kernels broadcast them).
inline int32_t load_i32(const uint8_t* p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
inline float load_f32(const uint8_t* p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
constexpr size_t kR16OffsetD = 32, kR16OffsetQ4 = 36, kR16OffsetQ8 = 40;
inline size_t r16_row_bytes(int64_t n_cols) { return size_t(n_cols / 32) * kR16RecordBytes; }
void make_r16_records(const void* blocks, int64_t n_cols, uint8_t* out);
// The avx512 kernels of repacked weights walk the groups of rows [r0, r1) of t as up to S streams: stream s owns
// a contiguous run of groups, and one call of tile(groups, ys, n) takes the next group of each of the n streams
// still running (groups: their first bytes; ys: their outputs for the first token, from y), so that the kernel
// reads n places of the matrix block by block. One stream per core held decode to 76-79 % of the measured
// bandwidth on the Intel Xeon (matmul_r16_avx512.cpp).
template <int S, typename F>
inline void walk_group_streams(const MatmulTask& t, int64_t r0, int64_t r1, float* y, F&& tile) {
    const int64_t ng = (r1 - r0) / kRepackRows, q = ng / S, rem = ng % S;
    const uint8_t* groups[S];
    float* ys[S];
    for (int64_t i = 0; i <= q; i++) {
        int n = 0;
        for (int s = 0; s < S && (i < q || s < rem); s++, n++) {
            const int64_t row = r0 + (s * q + std::min<int64_t>(s, rem) + i) * kRepackRows;
            groups[n] = t.w + row * t.w_row_bytes;
            ys[n] = y + row;
        }
        if (n > 0) tile(groups, ys, n);
    }
}
// Calls f.template operator()<K>() for K == n, n in 1 .. N: a run-time count (tokens of a pass, streams of a
// call) as the template argument the kernels unroll on.
template <int N, typename F>
inline void with_count(int n, F&& f) {
    if constexpr (N > 0) {
        if (n == N) return f.template operator()<N>();
        with_count<N - 1>(n, f);
    }
}
RowsFn rows_kernel_r16_scalar(DType wtype);
RowsFn rows_kernel_r16_avx512(DType wtype);
RowsFn rows_kernel_r16k_avx512(DType wtype);  // Q4_K_R16, Q6_K_R16 (matmul_r16k_avx512.cpp)

// The activation type ggml pairs with each weight type; F32 for float weights (activations used as is).
DType act_type(DType wtype);

RowsFn rows_kernel_scalar(DType wtype);  // every weight type
RowsFn rows_kernel_avx2(DType wtype);
RowsFn rows_kernel_avxvnni(DType wtype);
RowsFn rows_kernel_avx512(DType wtype);
QuantizeFn quantize_kernel_avx2(DType act);
QuantizeFn quantize_kernel_avxvnni(DType act);
QuantizeFn quantize_kernel_avx512(DType act);

// Scalar dot products of one weight row with one quantized activation row (n_cols elements), shared with the
// SIMD units for the types they do not specialise. Returns the float result.
float vec_dot_scalar(DType wtype, const void* w, const void* xq, const float* x, int64_t n_cols);

}  // namespace berth::kern
