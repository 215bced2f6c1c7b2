// Unpacking GGUF weight blocks into the GEMM's panels (gemm_impl.h): unsigned 8-bit quants plus one f32 scale
// and one f32 min per 16- or 32-element sub-block, so that value = scale · q + min exactly as the reference
// dequantization computes it. Plain C++, the specification; Q4_0, Q8_0, Q4_K and Q6_K have avx512 unpackers
// (gemm_unpack_avx512.cpp) that unpack_rows() takes when that ISA is active.
#include <cstring>

#include "kernels/gemm_impl.h"
#include "kernels/kernels.h"
#include "kernels/matmul_impl.h"

namespace berth::kern {
namespace {

inline float h2f(fp16_t h) { return fp16_to_fp32(h); }

// One row: blocks covering [k0, k0 + kc) into u (kc values) and scale/min at stride 16 (this row's column of
// the panel's (kc/blk, 16) arrays).
template <DType T>
void unpack_row(const uint8_t* row, int64_t k0, int kc, uint8_t* u, float* scale, float* min) {
    if constexpr (T == DType::Q8_0 || T == DType::Q4_0 || T == DType::Q4_1 || T == DType::Q5_0 || T == DType::Q5_1) {
        for (int b = 0; b < kc / 32; b++) {
            uint8_t* o = u + 32 * b;
            const int64_t ib = k0 / 32 + b;
            if constexpr (T == DType::Q8_0) {
                const BlockQ8_0& x = reinterpret_cast<const BlockQ8_0*>(row)[ib];
                for (int j = 0; j < 32; j++) o[j] = uint8_t(x.qs[j]) ^ 0x80;  // q + 128
                scale[16 * b] = h2f(x.d);
                min[16 * b] = -128.f * h2f(x.d);
            } else if constexpr (T == DType::Q4_0 || T == DType::Q4_1) {
                using B = std::conditional_t<T == DType::Q4_0, BlockQ4_0, BlockQ4_1>;
                const B& x = reinterpret_cast<const B*>(row)[ib];
                for (int j = 0; j < 16; j++) o[j] = x.qs[j] & 0xF, o[j + 16] = x.qs[j] >> 4;
                scale[16 * b] = h2f(x.d);
                if constexpr (T == DType::Q4_0)
                    min[16 * b] = -8.f * h2f(x.d);
                else
                    min[16 * b] = h2f(x.m);
            } else {
                using B = std::conditional_t<T == DType::Q5_0, BlockQ5_0, BlockQ5_1>;
                const B& x = reinterpret_cast<const B*>(row)[ib];
                uint32_t qh;
                memcpy(&qh, x.qh, 4);
                for (int j = 0; j < 16; j++) {
                    o[j] = uint8_t((x.qs[j] & 0xF) | (((qh >> j) & 1) << 4));
                    o[j + 16] = uint8_t((x.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
                }
                scale[16 * b] = h2f(x.d);
                if constexpr (T == DType::Q5_0)
                    min[16 * b] = -16.f * h2f(x.d);
                else
                    min[16 * b] = h2f(x.m);
            }
        }
    } else {
        for (int sb = 0; sb < kc / QK_K; sb++) {
            uint8_t* o = u + QK_K * sb;
            const int64_t ib = k0 / QK_K + sb;
            if constexpr (T == DType::Q4_K || T == DType::Q5_K) {  // 8 sub-blocks of 32
                using B = std::conditional_t<T == DType::Q4_K, BlockQ4_K, BlockQ5_K>;
                const B& x = reinterpret_cast<const B*>(row)[ib];
                const float d = h2f(x.d), dmin = h2f(x.dmin);
                for (int c = 0; c < 4; c++) {
                    for (int l = 0; l < 32; l++) {
                        int lo = x.qs[32 * c + l] & 0xF, hi = x.qs[32 * c + l] >> 4;
                        if constexpr (T == DType::Q5_K) {
                            lo |= ((x.qh[l] >> (2 * c)) & 1) << 4;
                            hi |= ((x.qh[l] >> (2 * c + 1)) & 1) << 4;
                        }
                        o[64 * c + l] = uint8_t(lo);
                        o[64 * c + 32 + l] = uint8_t(hi);
                    }
                }
                for (int j = 0; j < 8; j++) {
                    int sc, m;
                    scale_min_k4(j, x.scales, &sc, &m);
                    scale[16 * (8 * sb + j)] = d * float(sc);
                    min[16 * (8 * sb + j)] = -(dmin * float(m));
                }
            } else if constexpr (T == DType::Q6_K) {  // 16 sub-blocks of 16, q − 32
                const BlockQ6_K& x = reinterpret_cast<const BlockQ6_K*>(row)[ib];
                const float d = h2f(x.d);
                for (int h = 0; h < 2; h++) {
                    const uint8_t* ql = x.ql + 64 * h;
                    const uint8_t* qh = x.qh + 32 * h;
                    for (int l = 0; l < 32; l++) {
                        o[128 * h + l] = uint8_t((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
                        o[128 * h + 32 + l] = uint8_t((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                        o[128 * h + 64 + l] = uint8_t((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                        o[128 * h + 96 + l] = uint8_t((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
                    }
                }
                for (int j = 0; j < 16; j++) {
                    const float s = d * float(x.scales[j]);
                    scale[16 * (16 * sb + j)] = s;
                    min[16 * (16 * sb + j)] = -32.f * s;
                }
            } else if constexpr (T == DType::Q3_K || T == DType::Q2_K) {  // 16 sub-blocks of 16
                using B = std::conditional_t<T == DType::Q3_K, BlockQ3_K, BlockQ2_K>;
                const B& x = reinterpret_cast<const B*>(row)[ib];
                for (int n = 0; n < 2; n++) {
                    const uint8_t* q = x.qs + 32 * n;
                    for (int j = 0; j < 4; j++)
                        for (int l = 0; l < 32; l++) {
                            int v = (q[l] >> (2 * j)) & 3;
                            if constexpr (T == DType::Q3_K) v += (x.hmask[l] >> (4 * n + j)) & 1 ? 4 : 0;  // q + 4
                            o[128 * n + 32 * j + l] = uint8_t(v);
                        }
                }
                const float d = h2f(x.d);
                for (int j = 0; j < 16; j++) {
                    if constexpr (T == DType::Q3_K) {
                        int sc = j < 8 ? x.scales[j] & 0xF : x.scales[j - 8] >> 4;
                        sc |= ((x.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
                        const float s = d * float(sc - 32);
                        scale[16 * (16 * sb + j)] = s;
                        min[16 * (16 * sb + j)] = -4.f * s;
                    } else {
                        scale[16 * (16 * sb + j)] = d * float(x.scales[j] & 0xF);
                        min[16 * (16 * sb + j)] = -(h2f(x.dmin) * float(x.scales[j] >> 4));
                    }
                }
            }
        }
    }
}

using RowFn = UnpackRowFn;

RowFn row_fn(DType t) {
    switch (t) {
        case DType::Q8_0: return unpack_row<DType::Q8_0>;
        case DType::Q4_0: return unpack_row<DType::Q4_0>;
        case DType::Q4_1: return unpack_row<DType::Q4_1>;
        case DType::Q5_0: return unpack_row<DType::Q5_0>;
        case DType::Q5_1: return unpack_row<DType::Q5_1>;
        case DType::Q2_K: return unpack_row<DType::Q2_K>;
        case DType::Q3_K: return unpack_row<DType::Q3_K>;
        case DType::Q4_K: return unpack_row<DType::Q4_K>;
        case DType::Q5_K: return unpack_row<DType::Q5_K>;
        case DType::Q6_K: return unpack_row<DType::Q6_K>;
        default: return nullptr;
    }
}

}  // namespace

UnpackRowFn unpack_row_scalar(DType wtype) { return row_fn(wtype); }

// Defined here, not beside unpack_panel_r16: this translation unit runs on every CPU.
bool gemm_unpacks_repacked(DType wtype) { return is_repacked_k(wtype); }

bool gemm_supports(DType wtype) { return row_fn(wtype) != nullptr || gemm_unpacks_repacked(wtype); }

int gemm_block(DType wtype) { return wtype == DType::Q6_K || wtype == DType::Q3_K || wtype == DType::Q2_K ? 16 : 32; }

size_t panel_scratch_bytes() {
    const size_t q = size_t(kPanelRows) * kChunkCols;
    const size_t scales = 2 * size_t(kChunkCols / 16) * kPanelRows * sizeof(float);
    return 2 * q + scales;  // rows and q
}

Panel carve_panel(void* mem) {
    uint8_t* p = static_cast<uint8_t*>(mem);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    Panel panel;
    panel.rows = p;
    p += size_t(kPanelRows) * kChunkCols;
    panel.q = p;
    p += size_t(kPanelRows) * kChunkCols;
    panel.scale = reinterpret_cast<float*>(p);
    p += size_t(kChunkCols / 16) * kPanelRows * sizeof(float);
    panel.min = reinterpret_cast<float*>(p);
    return panel;
}

void unpack_rows(DType wtype, const uint8_t* w, size_t w_row_bytes, int n_rows, int64_t k0, int kc, Panel& p) {
    uint8_t* stage = p.rows;
    RowFn f = active_isa() >= Isa::avx512 ? unpack_row_avx512(wtype) : nullptr;
    if (!f) f = row_fn(wtype);
    CHECK(f && kc > 0 && kc <= kChunkCols && n_rows >= 1 && n_rows <= kPanelRows);
    p.blk = gemm_block(wtype);
    p.kc = kc;
    for (int r = 0; r < n_rows; r++)
        f(w + size_t(r) * w_row_bytes, k0, kc, stage + size_t(r) * kc, p.scale + r, p.min + r);
    // Rows past the matrix: zero quants, zero scale and min, so they add nothing and read nothing undefined.
    for (int r = n_rows; r < kPanelRows; r++) {
        memset(stage + size_t(r) * kc, 0, size_t(kc));
        for (int b = 0; b < kc / p.blk; b++) p.scale[16 * b + r] = 0.f, p.min[16 * b + r] = 0.f;
    }
}

}  // namespace berth::kern
