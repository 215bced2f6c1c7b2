// AMX-INT8 GEMM (gemm_impl.h; compiled with the AMX flags, called only when the CPU has AMX-TILE and
// AMX-INT8 and Linux granted the tile state, see cpu.cpp).
//
// One TDPBUSD multiplies tile A, 16 weight rows × one sub-block of unsigned quants (the panel's row-major
// staging area as it is unpacked, so no transposition), by tile B, the sub-block's 4-byte groups of 16 tokens
// (the activation tile layout with tt = 16 is exactly B's layout), into C: 16 rows × 16 tokens of int32 sums.
// The per-sub-block scales force one tile store per sub-block; AVX-512 then applies
// acc[row] += (C[row] · d_x) · scale[row] + min[row] · s_x for all 16 tokens of a row at once. Sub-blocks go
// in pairs on two tile sets so one pair's multiply overlaps the previous pair's float work.
//
// The tile operations are a policy: HwTiles issues the instructions; EmuTiles computes the same in scalar
// code, which lets the tests check the layout, strides and epilogue on CPUs without AMX.
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

constexpr int kTile = 16;  // tokens per activation tile = columns of C

// Palette 1: tiles 0/3 are C (16 × 64 bytes), 1/4 are A (16 × blk bytes), 2/5 are B (blk/4 × 64 bytes).
struct alignas(64) TileConfig {
    uint8_t palette = 1, start_row = 0, reserved0[14] = {};
    uint16_t colsb[8] = {};
    uint8_t reserved1[16] = {};
    uint8_t rows[8] = {};
    uint8_t reserved2[8] = {};
};
static_assert(sizeof(TileConfig) == 64);

TileConfig config_for(int blk) {
    TileConfig c;
    for (int set = 0; set < 2; set++) {
        c.colsb[3 * set + 0] = 64, c.rows[3 * set + 0] = 16;
        c.colsb[3 * set + 1] = uint16_t(blk), c.rows[3 * set + 1] = 16;
        c.colsb[3 * set + 2] = 64, c.rows[3 * set + 2] = uint8_t(blk / 4);
    }
    return c;
}

struct HwTiles {
    static void configure(int blk) {
        const TileConfig c = config_for(blk);
        _tile_loadconfig(&c);
    }
    // c0 = a0 · b0 and c1 = a1 · b1 for two sub-blocks; a: 16 rows at a_stride, b: blk/4 lines of 64 bytes.
    static void pair(const uint8_t* a0, const uint8_t* a1, size_t a_stride, const int8_t* b0, const int8_t* b1,
                     int32_t* c0, int32_t* c1) {
        _tile_zero(0);
        _tile_zero(3);
        _tile_loadd(1, a0, a_stride);
        _tile_loadd(2, b0, 64);
        _tile_loadd(4, a1, a_stride);
        _tile_loadd(5, b1, 64);
        _tile_dpbusd(0, 1, 2);
        _tile_dpbusd(3, 4, 5);
        _tile_stored(0, c0, 64);
        _tile_stored(3, c1, 64);
    }
    static void single(const uint8_t* a, size_t a_stride, const int8_t* b, int32_t* c) {
        _tile_zero(0);
        _tile_loadd(1, a, a_stride);
        _tile_loadd(2, b, 64);
        _tile_dpbusd(0, 1, 2);
        _tile_stored(0, c, 64);
    }
    static void release() { _tile_release(); }
};

// The same products in scalar code (TDPBUSD's definition: C[m][n] += Σ_k Σ_i A[m][4k+i] · B[k][4n+i], A
// unsigned, B signed).
struct EmuTiles {
    static inline thread_local int blk = 32;
    static void configure(int b) { blk = b; }
    static void single(const uint8_t* a, size_t a_stride, const int8_t* b, int32_t* c) {
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 16; n++) {
                int32_t s = 0;
                for (int k = 0; k < blk / 4; k++)
                    for (int i = 0; i < 4; i++) s += int32_t(a[m * a_stride + 4 * k + i]) * b[64 * k + 4 * n + i];
                c[16 * m + n] = s;
            }
    }
    static void pair(const uint8_t* a0, const uint8_t* a1, size_t a_stride, const int8_t* b0, const int8_t* b1,
                     int32_t* c0, int32_t* c1) {
        single(a0, a_stride, b0, c0);
        single(a1, a_stride, b1, c1);
    }
    static void release() {}
};

// acc[r] (16 tokens) += (C[r] · d_x) · scale[r] + min[r] · s_x for one sub-block.
inline void epilogue(const int32_t* c, const float* scale, const float* min, __m512 dx, __m512 sx, __m512* acc) {
    for (int r = 0; r < 16; r++) {
        const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * r)), dx);
        acc[r] = _mm512_fmadd_ps(f, _mm512_set1_ps(scale[r]), acc[r]);
        acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(min[r]), sx, acc[r]);
    }
}

template <typename Tiles, int BLK>
void tile16(const GemmArgs& g, int64_t ts, int nt) {
    const Panel& p = *g.p;
    const GemmActs& a = *g.a;
    const ActTile x = act_tile(a, ts, g.k0, BLK);
    const int8_t* xq = x.q;
    const float *xd = x.d, *xs = x.s;
    alignas(64) int32_t c[2][16 * 16];
    __m512 acc[16];
    for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
    const int nb = p.kc / BLK;
    for (int b = 0; b < nb; b += 2) {
        const int n = std::min(2, nb - b);  // a chunk of an odd number of 32-blocks ends with a single one
        if (n == 2)
            Tiles::pair(p.rows + b * BLK, p.rows + (b + 1) * BLK, size_t(p.kc), xq + int64_t(b) * BLK * kTile,
                        xq + int64_t(b + 1) * BLK * kTile, c[0], c[1]);
        else
            Tiles::single(p.rows + b * BLK, size_t(p.kc), xq + int64_t(b) * BLK * kTile, c[0]);
        for (int h = 0; h < n; h++) {
            const int bb = b + h;
            const __m512 dx = _mm512_load_ps(xd + (bb * BLK / 32) * kTile), sx = _mm512_load_ps(xs + bb * kTile);
            epilogue(c[h], p.scale + 16 * bb, p.min + 16 * bb, dx, sx, acc);
        }
    }
    __m512 out[16];
    transpose16x16_ps(acc, out);  // out[t]: the 16 rows of token t
    const __mmask16 m = avx512::first_lanes(g.n_rows);
    for (int t = 0; t < nt; t++) {
        float* yt = g.y + (ts + t) * g.ldy;
        __m512 v = out[t];
        if (g.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, yt));
        _mm512_mask_storeu_ps(yt, m, v);
    }
}

template <typename Tiles, int BLK>
void kernel(const GemmArgs& g) {
    Tiles::configure(BLK);
    for (int64_t ts = g.t0; ts < g.t0 + g.nt; ts += kTile)
        tile16<Tiles, BLK>(g, ts, int(std::min<int64_t>(kTile, g.t0 + g.nt - ts)));
    Tiles::release();  // a configured tile state makes every context switch save 8 KiB
}

}  // namespace

// The activation quantizer is the AVX-512 unit's (with tt = 16 here).
const GemmIsaKernels* gemm_kernels_amx() {
    static const GemmIsaKernels k{
        kernel<HwTiles, 16>, kernel<HwTiles, 32>, nullptr, gemm_quantize_avx512, kTile, true, "amx"};
    return &k;
}

// The same kernels on emulated tiles: for the tests on any AVX-512 CPU.
const GemmIsaKernels* gemm_kernels_amx_emulated() {
    static const GemmIsaKernels k{
        kernel<EmuTiles, 16>, kernel<EmuTiles, 32>, nullptr, gemm_quantize_avx512, kTile, true, "amx-emulated"};
    return &k;
}

}  // namespace berth::kern
