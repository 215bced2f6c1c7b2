// Internal to kernels: the int8 GEMM that prefill and large batches take (matmul() with n_tokens ≥
// gemm_min_tokens()). Every quantized weight type is unpacked, 16 rows and up to kChunkCols columns at a time,
// into one common "panel" layout that the matrix units read without shuffles:
//
//   value(row r, column k) = scale[b][r] · q[k/4][r][k%4] + min[b][r],   b = k / blk (blk = 16 or 32)
//
// with q unsigned 8-bit. 16 rows × 4 consecutive columns are one 64-byte line: one zmm for vpdpbusd, half a
// ymm pair for AVX-VNNI, one row of an AMX B tile. The activations are quantized once per product to signed
// int8 in blocks of 32 with an f32 scale and the scaled block sums the min term needs, so
//
//   y[t][r] = Σ_b d_x[t][b] · (scale[b][r] · Σ_{k∈b} q_w·q_x + min[b][r] · Σ_{k∈b} q_x)
//
// where the inner sum is exact in int32. One unpacked panel serves every token of the batch (the tokens are
// walked in tiles of up to 12 inside the panel), so the weights are unpacked and read once per product.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"
#include "tensor/tensor.h"

namespace berth {
// Whether matmul_multi() takes the GEMM for these jobs (enough tokens, every weight type unpacks, one n_cols).
bool gemm_applies(const MatmulJob* jobs, int n_jobs, int64_t n_tokens);
// Scratch the GEMM needs for one weight of this type (0 when it would not take the GEMM).
size_t gemm_scratch_bytes(DType wtype, int64_t n_cols, int64_t n_tokens, int n_threads);
// y_j = x · W_jᵀ through the GEMM; wdata holds gemm_scratch_bytes() for the largest job.
void gemm_multi(ThreadPool& pool, const MatmulJob* jobs, int n_jobs, const float* x, int64_t n_tokens, void* wdata);
}  // namespace berth

namespace berth::kern {

constexpr int kPanelRows = 16;
constexpr int kChunkCols = 1024;  // columns unpacked at once (a multiple of 256): 16 KiB of quants per panel

// Activations of a product as the GEMM reads them: n_tokens rows of n_cols (a multiple of 32) in tiles of tt
// tokens (the last tile padded with zeros). Inside a tile the 4-byte groups of its tokens are interleaved, so
// the kernels broadcast token after token from one pointer:
//   q:   tile-major, then (n_cols / 4, tt, 4) int8      d, s32: (n_cols / 32, tt) per tile     s16: (n_cols / 16, tt)
// d is the block scale, s32 / s16 are d · Σ q over the 32-block / each 16-element half.
struct GemmActs {
    const int8_t* q;
    const float* d;
    const float* s32;
    const float* s16;
    int64_t n_cols;
    int tt;
    // Offsets of token t's tile and lane.
    int64_t q_at(int64_t t, int64_t k) const {
        return (t / tt) * tt * n_cols + (k / 4) * 4 * tt + (t % tt) * 4 + k % 4;
    }
    int64_t b32_at(int64_t t, int64_t b) const { return (t / tt) * tt * (n_cols / 32) + b * tt + t % tt; }
    int64_t b16_at(int64_t t, int64_t b) const { return (t / tt) * tt * (n_cols / 16) + b * tt + t % tt; }
};
// Where a kernel's walk over one activation tile starts: the tile that holds token ts, from panel column k0
// (a multiple of 32), at lane l0 of the tile. s is s32 for blk = 32 and s16 for blk = 16.
struct ActTile {
    const int8_t* q;
    const float* d;
    const float* s;
};
inline ActTile act_tile(const GemmActs& a, int64_t ts, int64_t k0, int blk, int l0 = 0) {
    const int64_t first = ts / a.tt * a.tt;  // the tile's first token
    const float* s = blk == 32 ? a.s32 + first * (a.n_cols / 32) + (k0 / 32) * a.tt
                               : a.s16 + first * (a.n_cols / 16) + (k0 / 16) * a.tt;
    return {a.q + first * a.n_cols + k0 * a.tt + 4 * l0, a.d + first * (a.n_cols / 32) + (k0 / 32) * a.tt + l0, s + l0};
}
// Bytes of the activation buffers for n_tokens rows in tiles of tt (each array 64-byte aligned).
size_t gemm_acts_bytes(int64_t n_cols, int64_t n_tokens, int tt);
// Carves them from `mem`.
GemmActs carve_acts(void* mem, int64_t n_cols, int64_t n_tokens, int tt);

// 16 rows × kc columns of weights, unpacked.
struct Panel {
    uint8_t* rows;  // (16, kc) row-major, as unpacked (the staging area; AMX reads it as tile A)
    uint8_t* q;     // (kc / 4, 16, 4), 64-byte aligned: rows transposed for the vector kernels
    float* scale;   // (kc / blk, 16)
    float* min;     // (kc / blk, 16)
    int blk = 32;   // 16 for the types whose sub-blocks have 16 elements (Q6_K, Q3_K, Q2_K)
    int kc = 0;
};

// Bytes of one thread's panel buffers (both layouts), a 64-byte multiple.
size_t panel_scratch_bytes();
// Carves a panel from `mem` (panel_scratch_bytes() bytes, 64-byte aligned).
Panel carve_panel(void* mem);

// Whether weights of this type unpack into panels; and the block size (16 or 32) of their scales.
bool gemm_supports(DType wtype);
int gemm_block(DType wtype);

// Unpacks rows [0, n_rows) (n_rows ≤ 16, rows past n_rows become zero) of `w` (rows of w_row_bytes),
// columns [k0, k0 + kc), into p.rows (row-major) and p.scale / p.min; sets p.blk and p.kc. k0 and kc are
// multiples of the type's block (256 for K-quants). Scalar: the specification of the layout.
void unpack_rows(DType wtype, const uint8_t* w, size_t w_row_bytes, int n_rows, int64_t k0, int kc, Panel& p);

// One row's share of unpack_rows: the blocks covering [k0, k0 + kc) into u (kc values) and scale/min at
// stride 16 (the row's column of the panel's (kc / blk, 16) arrays).
using UnpackRowFn = void (*)(const uint8_t* row, int64_t k0, int kc, uint8_t* u, float* scale, float* min);
// The scalar unpacker of every gemm_supports() type (the specification), and the avx512 ones (Q4_0, Q8_0,
// Q4_K, Q6_K; nullptr for the others), bit-identical to it; unpack_rows() takes the avx512 one when active.
UnpackRowFn unpack_row_scalar(DType wtype);
UnpackRowFn unpack_row_avx512(DType wtype);

// Repacked weights (kernels.h) of one 16-row group straight into the transposed panel p.q (their int32 lanes
// are its layout) and p.scale / p.min, bit for bit what unpack_rows and the transposition give on the file
// layout; for the vector GEMM kernels (transpose != nullptr) only: avx512, Q4_K_R16 and Q6_K_R16.
bool gemm_unpacks_repacked(DType wtype);
void unpack_panel_r16(DType wtype, const uint8_t* group, int64_t k0, int kc, Panel& p);

// Computes y[t][r] (+)= Σ_k W[r][k0 + k]·x[t][k0 + k] over the panel's kc columns for tokens [t0, t0 + nt)
// and rows [0, n_rows) of the panel; y is (tokens, ldy) and points at the panel's first row. `accumulate`
// adds to y (later column chunks), otherwise stores.
struct GemmArgs {
    const Panel* p;
    const GemmActs* a;
    int64_t k0;
    int64_t t0;
    int nt;
    float* y;
    int64_t ldy;
    int n_rows;
    bool accumulate;
};
using GemmKernelFn = void (*)(const GemmArgs& g);
// Transposes p.rows into p.q.
using TransposeFn = void (*)(Panel& p);
// Quantizes activation rows [t0, t1) of x (n_tokens, n_cols), whole tiles, into `a`; rows ≥ n_tokens of
// the last tile become zeros.
using GemmQuantizeFn = void (*)(const float* x, int64_t n_tokens, int64_t t0, int64_t t1, const GemmActs& a);
void gemm_quantize_scalar(const float* x, int64_t n_tokens, int64_t t0, int64_t t1, const GemmActs& a);
void gemm_quantize_avx512(const float* x, int64_t n_tokens, int64_t t0, int64_t t1, const GemmActs& a);

struct GemmIsaKernels {
    GemmKernelFn kernel16;  // blk = 16
    GemmKernelFn kernel32;  // blk = 32
    TransposeFn transpose;  // nullptr: the kernels read the row-major staging area (AMX: weights are tile A)
    GemmQuantizeFn quantize;
    int tt;          // activation tile (tokens)
    bool eight_bit;  // takes 8-bit quants (Q8_0: q + 128); plain AVX2's maddubs would saturate on them
    const char* name;
};

// nullptr when the ISA has no GEMM (or this CPU cannot run it: AMX also needs the kernel's permission).
// The reference transposition (tests check the vector ones against it).
void gemm_transpose_ref(Panel& p);

const GemmIsaKernels* gemm_kernels_scalar();
const GemmIsaKernels* gemm_kernels_avx2();
const GemmIsaKernels* gemm_kernels_avxvnni();
const GemmIsaKernels* gemm_kernels_avx512();
const GemmIsaKernels* gemm_kernels_amx();
// The AMX kernels on emulated tiles (scalar tile products, AVX-512 for the rest): tests on CPUs without AMX.
const GemmIsaKernels* gemm_kernels_amx_emulated();

}  // namespace berth::kern
