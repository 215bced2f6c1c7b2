// The prefill GEMM (gemm_impl.h) against its references, on every ISA this CPU runs:
//  - unpacking: scale · q + min equals dequantize_row_ref for every weight type (up to float rounding of the
//    two-term form: 2⁻²² of |scale|·q_max + |min|);
//  - the vector transpositions and activation quantizers give exactly the scalar reference's bytes and floats;
//  - each ISA's kernel equals the scalar kernel on the same panel and activations within 1e-5 of Σ|terms|
//    (the integer sums are exact; only the float scale/min steps round in another order);
//  - matmul() end to end (GEMM path, several column chunks, partial panels and tiles) against matmul_ref with
//    f32 activations: |y − ref| ≤ Σ|w_i|·step_i + 2e-4 · Σ|w_i·x_i| + 1e-5, step_i = amax(32-block)/127.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/gemm_impl.h"
#include "kernels/kernels.h"
#include "kernels/matrix_test_util.h"

namespace berth {
namespace {

using test::gaussian;
using test::matrix_view;
using test::quantized;

const DType kGemmTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                            DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

struct PanelBuf {
    std::vector<uint8_t> mem = std::vector<uint8_t>(kern::panel_scratch_bytes() + 64);
    kern::Panel p =
        kern::carve_panel(reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(mem.data()) + 63) / 64 * 64));
};

struct ActsBuf {
    std::vector<uint8_t> mem;
    kern::GemmActs a;
    ActsBuf(int64_t cols, int64_t tokens, int tt) : mem(kern::gemm_acts_bytes(cols, tokens, tt) + 64) {
        a = kern::carve_acts(reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(mem.data()) + 63) / 64 * 64), cols,
                             tokens, tt);
    }
};

std::vector<const kern::GemmIsaKernels*> vector_kernels() {
    std::vector<const kern::GemmIsaKernels*> v;
    if (isa_supported(Isa::avx2) && kern::gemm_kernels_avx2()) v.push_back(kern::gemm_kernels_avx2());
    if (isa_supported(Isa::avxvnni) && kern::gemm_kernels_avxvnni()) v.push_back(kern::gemm_kernels_avxvnni());
    if (isa_supported(Isa::avx512) && kern::gemm_kernels_avx512()) v.push_back(kern::gemm_kernels_avx512());
    if (isa_supported(Isa::amx) && kern::gemm_kernels_amx()) v.push_back(kern::gemm_kernels_amx());
    // The AMX kernel's layout, strides and epilogue with the tile products computed in scalar code: runs
    // wherever AVX-512 does (the real tile instructions only where isa_supported(Isa::amx)).
    if (isa_supported(Isa::avx512)) v.push_back(kern::gemm_kernels_amx_emulated());
    return v;
}

TEST(GemmUnpack, ScaleTimesQuantPlusMinIsTheReferenceValue) {
    for (DType type : kGemmTypes) {
        const int64_t cols = 1536, rows = 11;  // 11 rows: the panel's last 5 rows must come out zero
        auto wq = quantized(type, rows, cols, 5);
        const int64_t rb = row_bytes(type, cols);
        PanelBuf buf;
        kern::Panel& p = buf.p;
        std::vector<float> ref(static_cast<size_t>(cols));
        for (int64_t k0 = 0; k0 < cols; k0 += kern::kChunkCols) {
            const int kc = int(std::min<int64_t>(kern::kChunkCols, cols - k0));
            kern::unpack_rows(type, wq.data(), size_t(rb), int(rows), k0, kc, p);
            ASSERT_EQ(p.blk, kern::gemm_block(type));
            ASSERT_EQ(p.kc, kc);
            for (int r = 0; r < 16; r++) {
                if (r < rows) dequantize_row_ref(type, wq.data() + r * rb, ref.data(), cols);
                for (int k = 0; k < kc; k++) {
                    const int b = k / p.blk;
                    const float scale = p.scale[16 * b + r], min = p.min[16 * b + r];
                    const uint8_t q = p.rows[size_t(r) * kc + k];
                    if (r >= rows) {
                        ASSERT_EQ(q, 0);
                        ASSERT_EQ(scale, 0.f);
                        ASSERT_EQ(min, 0.f);
                        continue;
                    }
                    const double tol = (std::fabs(scale) * 255 + std::fabs(min)) * 2.5e-7;
                    ASSERT_NEAR(scale * q + min, ref[size_t(k0 + k)], tol)
                        << dtype_name(type) << " row " << r << " col " << k0 + k;
                }
            }
        }
    }
}

// The avx512 unpackers give exactly the scalar unpacker's quants, scales and mins, on random bytes (every bit
// pattern of quants, scales and qh; finite fp16 scales) and at column offsets past the first chunk.
TEST(GemmUnpack, Avx512UnpackersEqualTheScalarOneBitForBit) {
    if (!isa_supported(Isa::avx512)) GTEST_SKIP() << "no avx512";
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> byte(0, 255);
    const int64_t n_cols = 2048;
    int covered = 0;
    for (DType type : kGemmTypes) {
        const kern::UnpackRowFn fast = kern::unpack_row_avx512(type), ref = kern::unpack_row_scalar(type);
        if (!fast) continue;
        covered++;
        std::vector<uint8_t> row(size_t(row_bytes(type, n_cols)));
        for (uint8_t& b : row) b = uint8_t(byte(rng));
        // fp16 scales: finite values (exponent field below 31), at the block's first bytes (d, and dmin for Q4_K)
        // or, for Q6_K, its last two.
        const int64_t bb = dtype_info(type).block_bytes, n_blocks = int64_t(row.size()) / bb;
        for (int64_t b = 0; b < n_blocks; b++) {
            uint8_t* blk = row.data() + b * bb;
            if (type == DType::Q6_K)
                blk[bb - 1] &= 0x7B;
            else
                blk[1] &= 0x7B, blk[3] &= 0x7B;
        }
        for (int64_t k0 : {int64_t(0), int64_t(1024)}) {
            const int kc = 1024;
            const int nsub = kc / kern::gemm_block(type);
            std::vector<uint8_t> u1(kc), u2(kc);
            std::vector<float> s1(16 * nsub, -1.f), s2(16 * nsub, -1.f), m1(16 * nsub, -1.f), m2(16 * nsub, -1.f);
            ref(row.data(), k0, kc, u1.data(), s1.data(), m1.data());
            fast(row.data(), k0, kc, u2.data(), s2.data(), m2.data());
            ASSERT_EQ(u1, u2) << dtype_name(type) << " k0 " << k0;
            ASSERT_EQ(0, memcmp(s1.data(), s2.data(), s1.size() * sizeof(float))) << dtype_name(type);
            ASSERT_EQ(0, memcmp(m1.data(), m2.data(), m1.size() * sizeof(float))) << dtype_name(type);
        }
    }
    EXPECT_EQ(covered, 4);
}

TEST(GemmLayout, VectorTransposeAndQuantizeEqualTheReference) {
    const auto isas = vector_kernels();
    if (isas.empty()) GTEST_SKIP() << "no vector GEMM on this CPU";
    const int64_t cols = 1088, tokens = 29;  // 1088 = 17 slabs of 64: one partial 32-column tail per chunk
    auto wq = quantized(DType::Q8_0, 16, cols, 9);
    auto x = gaussian(tokens * cols, 4);
    for (int i = 0; i < 32; i++) x[size_t(5 * cols + 64 + i)] = 0.f;  // an all-zero block
    for (const kern::GemmIsaKernels* K : isas) {
        if (K->transpose) {
            PanelBuf a, b;
            for (int kc : {1024, 64, 32}) {
                kern::unpack_rows(DType::Q8_0, wq.data(), size_t(row_bytes(DType::Q8_0, cols)), 16, 0, kc, a.p);
                kern::unpack_rows(DType::Q8_0, wq.data(), size_t(row_bytes(DType::Q8_0, cols)), 16, 0, kc, b.p);
                K->transpose(a.p);
                kern::gemm_transpose_ref(b.p);
                ASSERT_EQ(memcmp(a.p.q, b.p.q, size_t(kc) * 16), 0) << K->name << " kc " << kc;
            }
        }
        ActsBuf got(cols, tokens, K->tt), want(cols, tokens, K->tt);
        const int64_t padded = (tokens + K->tt - 1) / K->tt * K->tt;
        memset(got.mem.data(), 0x5a, got.mem.size());
        K->quantize(x.data(), tokens, 0, padded, got.a);
        kern::gemm_quantize_scalar(x.data(), tokens, 0, padded, want.a);
        ASSERT_EQ(memcmp(got.a.q, want.a.q, size_t(padded * cols)), 0) << K->name;
        for (int64_t i = 0; i < padded * cols / 32; i++) {
            ASSERT_EQ(got.a.d[i], want.a.d[i]) << K->name << " " << i;
            ASSERT_EQ(got.a.s32[i], want.a.s32[i]) << K->name << " " << i;
        }
        for (int64_t i = 0; i < padded * cols / 16; i++) ASSERT_EQ(got.a.s16[i], want.a.s16[i]) << K->name << " " << i;
    }
}

TEST(GemmKernels, EqualTheScalarKernel) {
    const auto isas = vector_kernels();
    if (isas.empty()) GTEST_SKIP() << "no vector GEMM on this CPU";
    const int64_t cols = 1024, tokens = 37;
    auto x = gaussian(tokens * cols, 12);
    for (DType type : {DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
        auto wq = quantized(type, 13, cols, 3);
        for (const kern::GemmIsaKernels* K : isas) {
            if (type == DType::Q8_0 && !K->eight_bit) continue;
            PanelBuf buf;
            kern::Panel& p = buf.p;
            kern::unpack_rows(type, wq.data(), size_t(row_bytes(type, cols)), 13, 0, int(cols), p);
            if (K->transpose) K->transpose(p);
            ActsBuf acts(cols, tokens, K->tt);
            K->quantize(x.data(), tokens, 0, (tokens + K->tt - 1) / K->tt * K->tt, acts.a);
            const int64_t ldy = 19;
            for (bool accumulate : {false, true}) {
                for (int64_t t0 : {int64_t(0), int64_t(K->tt)}) {
                    const int nt = int(tokens - t0);
                    std::vector<float> got(size_t(tokens * ldy), 0.5f), want(size_t(tokens * ldy), 0.5f);
                    const kern::GemmArgs g{&p, &acts.a, 0, t0, nt, got.data(), ldy, 13, accumulate};
                    (p.blk == 16 ? K->kernel16 : K->kernel32)(g);
                    kern::GemmArgs gr = g;
                    gr.y = want.data();
                    kern::gemm_kernels_scalar()->kernel32(gr);  // the scalar kernel handles both block sizes
                    for (int64_t t = 0; t < tokens; t++)
                        for (int64_t r = 0; r < ldy; r++) {
                            const float w = want[size_t(t * ldy + r)];
                            // Untouched: other tokens, rows past the panel's 13 and the padding up to ldy.
                            if (t < t0 || r >= 13) {
                                ASSERT_EQ(got[size_t(t * ldy + r)], 0.5f) << K->name << " wrote outside the panel";
                                continue;
                            }
                            double mag = 0;  // Σ |scale·q·x| + |min·s| bounds the float terms
                            for (int k = 0; k < cols; k++) {
                                const int b = k / p.blk;
                                mag += std::fabs(p.scale[16 * b + r] * p.rows[size_t(r) * cols + k] *
                                                 acts.a.q[acts.a.q_at(t, k)] * acts.a.d[acts.a.b32_at(t, k / 32)]);
                                mag += std::fabs(p.min[16 * b + r] * acts.a.q[acts.a.q_at(t, k)] *
                                                 acts.a.d[acts.a.b32_at(t, k / 32)]);
                            }
                            ASSERT_NEAR(got[size_t(t * ldy + r)], w, 1e-5 * mag + 1e-6)
                                << K->name << " " << dtype_name(type) << " token " << t << " row " << r;
                        }
                }
            }
        }
    }
}

struct IsaGuard {
    Isa saved = active_isa();
    ~IsaGuard() { set_active_isa(saved); }
};

void check_gemm_matmul(DType type, int64_t rows, int64_t cols, int64_t tokens, ThreadPool& pool) {
    auto wq = quantized(type, rows, cols, 100 + uint32_t(rows));
    auto x = gaussian(tokens * cols, 200 + uint32_t(tokens));
    const TensorView w = matrix_view(type, cols, rows, wq.data());
    std::vector<float> ref(size_t(tokens * rows));
    matmul_ref(w, x.data(), tokens, ref.data());
    std::vector<float> wrow(static_cast<size_t>(cols)), step(static_cast<size_t>(tokens * cols));
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t b = 0; b < cols; b += 32) {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = std::max(amax, std::fabs(x[size_t(t * cols + b + i)]));
            for (int i = 0; i < 32; i++) step[size_t(t * cols + b + i)] = amax / 127;
        }
    const int64_t ldy = rows + 2;
    std::vector<uint8_t> scratch(matmul_scratch_bytes(type, cols, tokens, pool.n_threads()));
    IsaGuard guard;
    for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avxvnni, Isa::avx512, Isa::amx}) {
        if (!isa_supported(isa)) continue;
        set_active_isa(isa);
        const MatmulJob job{w, nullptr, ldy};
        // Every ISA takes the GEMM here, except plain AVX2 for Q8_0 (maddubs saturation: the row kernels run).
        ASSERT_EQ(gemm_applies(&job, 1, tokens), !(isa == Isa::avx2 && type == DType::Q8_0)) << isa_name(isa);
        std::vector<float> y(size_t(tokens * ldy), -777.f);
        matmul(pool, w, x.data(), tokens, y.data(), scratch.data(), ldy);
        for (int64_t r = 0; r < rows; r++) {
            dequantize_row_ref(type, wq.data() + r * row_bytes(type, cols), wrow.data(), cols);
            for (int64_t t = 0; t < tokens; t++) {
                double err = 0, mag = 0;
                for (int64_t i = 0; i < cols; i++) {
                    err += std::fabs(wrow[size_t(i)]) * step[size_t(t * cols + i)];
                    mag += std::fabs(wrow[size_t(i)] * x[size_t(t * cols + i)]);
                }
                ASSERT_NEAR(y[size_t(t * ldy + r)], ref[size_t(t * rows + r)], err + 2e-4 * mag + 1e-5)
                    << dtype_name(type) << " isa=" << isa_name(isa) << " row " << r << " token " << t;
            }
            for (int64_t t = 0; t < tokens; t++)
                for (int64_t r2 = rows; r2 < ldy; r2++) ASSERT_EQ(y[size_t(t * ldy + r2)], -777.f) << "padding written";
        }
    }
}

class GemmTypes : public ::testing::TestWithParam<DType> {};

TEST_P(GemmTypes, MatmulMatchesReference) {
    ThreadPool pool(2);
    const bool k_quant = dtype_info(GetParam()).block_elems == QK_K;
    check_gemm_matmul(GetParam(), 37, k_quant ? 2304 : 1120, 29, pool);  // 3 column chunks, 3 panels
    check_gemm_matmul(GetParam(), 16, 512, 16, pool);
}

INSTANTIATE_TEST_SUITE_P(AllGemmTypes, GemmTypes, ::testing::ValuesIn(kGemmTypes),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Gemm, ThreadCountsAndTokenSplitsGiveTheSameResult) {
    const int64_t rows = 40, cols = 512, tokens = 100;
    auto wq = quantized(DType::Q4_K, rows, cols, 1);
    auto x = gaussian(tokens * cols, 2);
    const TensorView w = matrix_view(DType::Q4_K, cols, rows, wq.data());
    std::vector<float> first;
    for (int n : {1, 2, 3, 8, 65}) {  // 3 panels: with 8 threads the token range is split across tasks; 65 share ranges
        ThreadPool pool(n);
        std::vector<uint8_t> scratch(matmul_scratch_bytes(DType::Q4_K, cols, tokens, n));
        std::vector<float> y(size_t(tokens * rows));
        matmul(pool, w, x.data(), tokens, y.data(), scratch.data());
        if (first.empty())
            first = y;
        else
            ASSERT_EQ(y, first) << n << " threads";
    }
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// The tile instructions themselves: on a CPU with AMX (and Linux's permission) the hardware kernels must give
// exactly what the emulated tiles give (same int32 products, same float epilogue).
TEST(GemmAmx, HardwareTilesEqualTheEmulation) {
    if (!isa_supported(Isa::amx)) GTEST_SKIP() << "this CPU has no AMX-INT8, or Linux refused the tile state";
    const int64_t cols = 2048, tokens = 45;
    auto x = gaussian(tokens * cols, 21);
    for (DType type : {DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
        auto wq = quantized(type, 16, cols, 8);
        const kern::GemmIsaKernels* hw = kern::gemm_kernels_amx();
        const kern::GemmIsaKernels* emu = kern::gemm_kernels_amx_emulated();
        PanelBuf buf;
        ActsBuf acts(cols, tokens, hw->tt);
        hw->quantize(x.data(), tokens, 0, (tokens + hw->tt - 1) / hw->tt * hw->tt, acts.a);
        std::vector<float> a(size_t(tokens * 16)), b(size_t(tokens * 16));
        for (int64_t k0 = 0; k0 < cols; k0 += kern::kChunkCols) {
            kern::unpack_rows(type, wq.data(), size_t(row_bytes(type, cols)), 16, k0, kern::kChunkCols, buf.p);
            const kern::GemmArgs g{&buf.p, &acts.a, k0, 0, int(tokens), a.data(), 16, 16, k0 > 0};
            kern::GemmArgs ge = g;
            ge.y = b.data();
            (buf.p.blk == 16 ? hw->kernel16 : hw->kernel32)(g);
            (buf.p.blk == 16 ? emu->kernel16 : emu->kernel32)(ge);
        }
        ASSERT_EQ(a, b) << dtype_name(type);
    }
}

}  // namespace
}  // namespace berth
