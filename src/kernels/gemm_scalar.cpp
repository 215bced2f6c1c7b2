// The scalar GEMM (gemm_impl.h): the reference the SIMD and AMX kernels are tested against, and the path
// BERTH_ISA=scalar takes. Integer dot products per sub-block, then the scale and min terms in double.
#include <cmath>
#include <cstring>

#include "kernels/gemm_impl.h"

namespace berth::kern {
namespace {

constexpr int kScalarTile = 4;

void kernel_scalar(const GemmArgs& g) {
    const Panel& p = *g.p;
    const GemmActs& a = *g.a;
    const int blk = p.blk;
    for (int t = 0; t < g.nt; t++) {
        const int64_t tok = g.t0 + t;
        for (int r = 0; r < g.n_rows; r++) {
            double acc = 0;
            for (int b = 0; b < p.kc / blk; b++) {
                int32_t dot = 0;
                for (int k = b * blk; k < (b + 1) * blk; k++)
                    dot += int32_t(p.rows[size_t(r) * p.kc + k]) * a.q[a.q_at(tok, g.k0 + k)];
                const int64_t kb = g.k0 + int64_t(b) * blk;  // first column of the sub-block
                const double dx = a.d[a.b32_at(tok, kb / 32)];
                const double sx = blk == 32 ? a.s32[a.b32_at(tok, kb / 32)] : a.s16[a.b16_at(tok, kb / 16)];
                acc += dx * double(p.scale[16 * b + r]) * double(dot) + double(p.min[16 * b + r]) * sx;
            }
            float* y = g.y + tok * g.ldy + r;
            *y = g.accumulate ? float(double(*y) + acc) : float(acc);
        }
    }
}

}  // namespace

size_t gemm_acts_bytes(int64_t n_cols, int64_t n_tokens, int tt) {
    const size_t padded = size_t((n_tokens + tt - 1) / tt * tt);
    auto a64 = [](size_t b) { return (b + 63) / 64 * 64; };
    return a64(padded * size_t(n_cols)) + 2 * a64(padded * size_t(n_cols / 32) * 4) +
           a64(padded * size_t(n_cols / 16) * 4);
}

GemmActs carve_acts(void* mem, int64_t n_cols, int64_t n_tokens, int tt) {
    const size_t padded = size_t((n_tokens + tt - 1) / tt * tt);
    auto a64 = [](size_t b) { return (b + 63) / 64 * 64; };
    uint8_t* p = static_cast<uint8_t*>(mem);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0 && n_cols % 32 == 0);
    GemmActs a;
    a.n_cols = n_cols;
    a.tt = tt;
    a.q = reinterpret_cast<int8_t*>(p);
    p += a64(padded * size_t(n_cols));
    a.d = reinterpret_cast<float*>(p);
    p += a64(padded * size_t(n_cols / 32) * 4);
    a.s32 = reinterpret_cast<float*>(p);
    p += a64(padded * size_t(n_cols / 32) * 4);
    a.s16 = reinterpret_cast<float*>(p);
    return a;
}

// Per 32-block: d = amax / 127, q = nearest-even(x · (127 / amax)) in [-127, 127], and the scaled sums. The
// SIMD quantizers evaluate the same float expressions, so their output is identical.
void gemm_quantize_scalar(const float* x, int64_t n_tokens, int64_t t0, int64_t t1, const GemmActs& a) {
    const int64_t nb = a.n_cols / 32;
    int8_t* q = const_cast<int8_t*>(a.q);
    float* d = const_cast<float*>(a.d);
    float* s32 = const_cast<float*>(a.s32);
    float* s16 = const_cast<float*>(a.s16);
    for (int64_t t = t0; t < t1; t++) {
        for (int64_t b = 0; b < nb; b++) {
            const float* xb = x + t * a.n_cols + 32 * b;
            float amax = 0;
            if (t < n_tokens)
                for (int i = 0; i < 32; i++) amax = std::fmax(amax, std::fabs(xb[i]));
            const float db = amax / 127.f, id = amax != 0.f ? 127.f / amax : 0.f;
            int sum[2] = {0, 0};
            for (int i = 0; i < 32; i++) {
                const int v = amax != 0.f ? int(std::nearbyint(xb[i] * id)) : 0;
                q[a.q_at(t, 32 * b + i)] = int8_t(v);
                sum[i / 16] += v;
            }
            d[a.b32_at(t, b)] = db;
            s32[a.b32_at(t, b)] = db * float(sum[0] + sum[1]);
            s16[a.b16_at(t, 2 * b)] = db * float(sum[0]);
            s16[a.b16_at(t, 2 * b + 1)] = db * float(sum[1]);
        }
    }
}

namespace {
void transpose_scalar(Panel& p) {
    for (int r = 0; r < kPanelRows; r++)
        for (int k = 0; k < p.kc; k++) p.q[(k / 4) * 64 + r * 4 + k % 4] = p.rows[size_t(r) * p.kc + k];
}
}  // namespace

const GemmIsaKernels* gemm_kernels_scalar() {
    static const GemmIsaKernels k{kernel_scalar, kernel_scalar, nullptr, gemm_quantize_scalar,
                                  kScalarTile,   true,          "scalar"};
    return &k;
}

// Exposed for the tests of the vector kernels' layout: the reference transposition.
void gemm_transpose_ref(Panel& p) { transpose_scalar(p); }

}  // namespace berth::kern
