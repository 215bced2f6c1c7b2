// matmul against the references, for every weight type and every ISA this CPU supports, with odd shapes.
// Two comparisons per output:
//  1. against dot_row_ref on the *dequantized quantized activations* (the exact maths the kernel performs):
//     |y − ref_q| ≤ 2e-4 · Σ|w_i·xq_i| + 1e-5, i.e. float summation order and the odd activation element a
//     SIMD quantizer rounds the other way (plus, for Q4_1/Q5_1, the fp16 rounding of Q8_1's block sums).
//     A layout or indexing bug is orders of magnitude above this.
//  2. against matmul_ref (f32 activations): |y − ref| ≤ Σ|w_i|·step_i + 2e-4 · Σ|w_i·x_i| + 1e-5, where
//     step_i = amax(activation block of i)/127 bounds the activation quantization error (half a step for
//     rounding, the rest for the fp16 rounding of the block scales); step is 0 for float weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/gemm_impl.h"
#include "kernels/kernels.h"
#include "kernels/matmul_impl.h"
#include "kernels/matrix_test_util.h"

namespace berth {
namespace {

using test::gaussian;
using test::matrix_view;
using test::quantized;

DType activation_type(DType w) {
    switch (w) {
        case DType::Q4_0:
        case DType::Q5_0:
        case DType::Q8_0: return DType::Q8_0;
        case DType::Q4_1:
        case DType::Q5_1: return DType::Q8_1;
        case DType::F32:
        case DType::F16:
        case DType::BF16: return DType::F32;
        default: return DType::Q8_K;
    }
}

std::vector<Isa> supported_isas() {
    std::vector<Isa> v;
    for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avxvnni, Isa::avx512, Isa::amx})
        if (isa_supported(isa)) v.push_back(isa);
    return v;
}

struct IsaGuard {
    Isa saved = active_isa();
    ~IsaGuard() { set_active_isa(saved); }
};

}  // namespace

// repack: the product runs on the weights repacked into 16-row groups (repack_rows16), against the same
// references on the file layout.
void check_matmul(DType type, int64_t n_rows, int64_t n_cols, int64_t n_tokens, ThreadPool& pool, bool repack) {
    const std::vector<uint8_t> wq = quantized(type, n_rows, n_cols, 1000 + uint32_t(n_rows));
    auto x = gaussian(n_tokens * n_cols, 2000 + uint32_t(n_tokens));
    const int64_t rb = row_bytes(type, n_cols);
    const TensorView w = matrix_view(type, n_cols, n_rows, wq.data());
    std::vector<uint8_t> packed(repack ? wq.size() : 0);
    TensorView wk = w;  // what the kernels read
    if (repack) {
        repack_rows16(w, packed.data());
        wk.type = repacked_type(type);
        wk.data = packed.data();
    }

    // Activations as the kernel sees them, and their quantization step per element.
    const DType act = activation_type(type);
    std::vector<float> xq(x), step(x.size(), 0.f);
    if (act != DType::F32) {
        std::vector<uint8_t> tmp(row_bytes(act, n_cols));
        const int64_t blk = dtype_info(act).block_elems;
        for (int64_t t = 0; t < n_tokens; t++) {
            quantize_row_ref(act, x.data() + t * n_cols, tmp.data(), n_cols);
            dequantize_row_ref(act, tmp.data(), xq.data() + t * n_cols, n_cols);
            for (int64_t b = 0; b < n_cols; b += blk) {
                float amax = 0;
                for (int64_t i = 0; i < blk; i++) amax = std::max(amax, std::fabs(x[t * n_cols + b + i]));
                for (int64_t i = 0; i < blk; i++) step[t * n_cols + b + i] = amax / 127;
            }
        }
    }
    std::vector<float> ref(n_tokens * n_rows);
    matmul_ref(w, x.data(), n_tokens, ref.data());

    const int64_t ldy = n_rows + 3;  // a row stride larger than n_rows: the padding must stay untouched
    std::vector<uint8_t> scratch(matmul_scratch_bytes(wk.type, n_cols, n_tokens, pool.n_threads()) + 1);
    std::vector<float> wrow(n_cols);
    IsaGuard guard;
    for (Isa isa : supported_isas()) {
        set_active_isa(isa);
        std::vector<float> y(n_tokens * ldy, -777.f);
        matmul(pool, wk, x.data(), n_tokens, y.data(), scratch.data(), ldy);
        // The GEMM quantizes activations in blocks of 32 (with f32 scales), so ref_q on Q8_K's 256-blocks does not
        // apply to it; their error stays within act_err, whose steps come from blocks at least as large.
        const MatmulJob job{wk, y.data(), ldy};
        const bool gemm = act == DType::Q8_K && gemm_applies(&job, 1, n_tokens);
        for (int64_t r = 0; r < n_rows; r++) {
            dequantize_row_ref(type, wq.data() + r * rb, wrow.data(), n_cols);
            for (int64_t t = 0; t < n_tokens; t++) {
                double ref_q = 0, abs_wxq = 0, abs_wx = 0, act_err = 0;
                for (int64_t i = 0; i < n_cols; i++) {
                    const double wi = wrow[i];
                    ref_q += wi * xq[t * n_cols + i];
                    abs_wxq += std::fabs(wi * xq[t * n_cols + i]);
                    abs_wx += std::fabs(wi * x[t * n_cols + i]);
                    act_err += std::fabs(wi) * step[t * n_cols + i];
                }
                // Q8_1 carries s = fp16(d·Σq) per block; the kernel uses it for the weight min term, so its fp16
                // rounding (≤ 2⁻¹¹ relative) adds |m·s|·2⁻¹¹ per block.
                double s_err = 0;
                if (act == DType::Q8_1) {
                    for (int64_t b = 0; b < n_cols / 32; b++) {
                        fp16_t m;
                        memcpy(&m, wq.data() + r * rb + b * dtype_info(type).block_bytes + 2, 2);
                        double s = 0;
                        for (int i = 0; i < 32; i++) s += xq[t * n_cols + 32 * b + i];
                        s_err += std::fabs(fp16_to_fp32(m) * s) * (1.0 / 2048);
                    }
                }
                const float got = y[t * ldy + r];
                if (!gemm) {
                    ASSERT_NEAR(got, ref_q, 2e-4 * abs_wxq + s_err + 1e-5)
                        << dtype_name(wk.type) << " isa=" << isa_name(isa) << " row " << r << " token " << t << " of "
                        << n_rows << "x" << n_cols << " tokens " << n_tokens;
                }
                ASSERT_NEAR(got, ref[t * n_rows + r], act_err + 2e-4 * abs_wx + 1e-5)
                    << dtype_name(type) << " isa=" << isa_name(isa) << " row " << r << " token " << t;
            }
        }
        for (int64_t t = 0; t < n_tokens; t++)
            for (int64_t r = n_rows; r < ldy; r++) ASSERT_EQ(y[t * ldy + r], -777.f) << "padding written";
    }
}

namespace {

class MatmulTypes : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTypes, MatchesReferenceDecodeAndPrefillShapes) {
    const DType type = GetParam();
    const bool k_quant = dtype_info(type).block_elems == QK_K;
    const int64_t n_cols = k_quant ? 512 : 96;
    ThreadPool pool(2);
    for (int64_t n_tokens : {1, 2, 5, 8, 13}) check_matmul(type, 37, n_cols, n_tokens, pool);
    check_matmul(type, 67, k_quant ? 1024 : 1056, 3, pool);
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, MatmulTypes,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                                           DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                                           DType::Q6_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// Batches of 2..15 tokens on rows of a multiple of 64 columns take the avx512 pair-record kernels of the
// symmetric 32-block types (matmul_impl.h); odd batch sizes, 37 rows (not a multiple of the 16-row chunks)
// and the one-block-pair row. Same tolerances as every type: the integer sums are exact, only the f32
// scaling order differs.
TEST(Matmul, BatchedSymmetricTypesMatchReference) {
    ThreadPool pool(2);
    for (DType type : {DType::Q4_0, DType::Q5_0, DType::Q8_0})
        for (int64_t n_cols : {64, 2048})
            for (int64_t n_tokens : {1, 2, 3, 5, 7, 8, 15}) check_matmul(type, 37, n_cols, n_tokens, pool);
}

// Q8_0 weight bytes over the whole int8 range (-128 included, which the quantizer never writes) and
// activations at ±127 after quantization: the pair kernels' unsigned offset (x + 128) and its correction
// (128·Σw) must stay exact in int32. Every ISA against the scalar one; both sum integers exactly, so the
// difference is f32 rounding: 1e-5 of Σ|w·x|.
TEST(Matmul, BatchedQ8_0FullByteRangeEqualsScalar) {
    const int64_t n_cols = 256, n_rows = 19, n_tokens = 7;
    const std::vector<BlockQ8_0> w = test::q8_0_full_range(n_rows * n_cols / QK8_0, 7);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(-128, 127);
    std::vector<float> x(n_tokens * n_cols);
    for (float& v : x) v = float(byte(rng)) / 16.f;
    for (int64_t t = 0; t < n_tokens; t++) x[t * n_cols + t] = t % 2 ? 40.f : -40.f;  // ±127 in its block
    const TensorView tv = matrix_view(DType::Q8_0, n_cols, n_rows, w.data());
    ThreadPool pool(2);
    std::vector<uint8_t> scratch(matmul_scratch_bytes(DType::Q8_0, n_cols, n_tokens, pool.n_threads()));
    IsaGuard guard;
    set_active_isa(Isa::scalar);
    std::vector<float> want(n_tokens * n_rows), got(n_tokens * n_rows);
    matmul(pool, tv, x.data(), n_tokens, want.data(), scratch.data());
    std::vector<float> wrow(n_cols);
    for (Isa isa : supported_isas()) {
        set_active_isa(isa);
        matmul(pool, tv, x.data(), n_tokens, got.data(), scratch.data());
        for (int64_t r = 0; r < n_rows; r++) {
            dequantize_row_ref(DType::Q8_0, &w[r * n_cols / QK8_0], wrow.data(), n_cols);
            for (int64_t t = 0; t < n_tokens; t++) {
                double mag = 0;
                for (int64_t i = 0; i < n_cols; i++) mag += std::fabs(wrow[i] * x[t * n_cols + i]);
                ASSERT_NEAR(got[t * n_rows + r], want[t * n_rows + r], 1e-5 * mag)
                    << isa_name(isa) << " row " << r << " token " << t;
            }
        }
    }
}

// Batches of 1..kMaxPairTokens tokens of the K-quant types take the avx512 K-record tiles (matmul_impl.h):
// every batch size of one to two token groups, odd row counts and one-block rows. Same tolerances as every type.
TEST(Matmul, BatchedKQuantsMatchReference) {
    ThreadPool pool(2);
    for (DType type : {DType::Q4_K, DType::Q5_K, DType::Q6_K})
        for (int64_t n_cols : {256, 2048})
            for (int64_t n_tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15}) check_matmul(type, 37, n_cols, n_tokens, pool);
}

// K-quant weights with every quant at its maximum (Q4_K 15, Q5_K 31, Q6_K 63) or random, random scales, and
// activations at ±127 after quantization: the K-record tiles keep 16 products per int32 lane (Q5_K: 8) and
// read their low i16, so these are the sums closest to the i16 limit (16·15·127, 8·31·127); the Q6_K offset
// (-32·bsum) and its signed scales stay exact in int32. Every ISA against the scalar one: the integer sums
// are exact, so the difference is f32 rounding, 1e-5 of Σ|w·x|.
TEST(Matmul, KQuantsFullRangeEqualScalar) {
    const int64_t n_cols = 512, n_rows = 9, n_tokens = 5;
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<float> x(n_tokens * n_cols);
    for (int64_t t = 0; t < n_tokens; t++)
        for (int64_t i = 0; i < n_cols; i++)
            x[t * n_cols + i] = t == 0 ? 1.f : t == 1 ? -1.f : float(byte(rng) - 128) / 32.f;  // tokens 0, 1: ±127
    ThreadPool pool(2);
    IsaGuard guard;
    for (DType type : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        const size_t rb = size_t(row_bytes(type, n_cols)), bb = size_t(dtype_info(type).block_bytes);
        std::vector<uint8_t> w(rb * n_rows);
        for (uint8_t& v : w) v = uint8_t(byte(rng));
        for (size_t off = 0; off < w.size(); off += bb) {  // sane scales: d (and dmin) in [0.01, 0.02)
            const fp16_t d = fp32_to_fp16(0.01f + 0.00004f * float(byte(rng)));
            const fp16_t dmin = fp32_to_fp16(0.01f + 0.00004f * float(byte(rng)));
            if (type == DType::Q6_K) {
                memcpy(&w[off + bb - 2], &d, 2);
            } else {
                memcpy(&w[off], &d, 2);
                memcpy(&w[off + 2], &dmin, 2);
            }
        }
        // Rows 0-2: every quant bit set (the largest quants), all scales kept random.
        for (int64_t r = 0; r < 3; r++)
            for (size_t off = r * rb; off < (r + 1) * rb; off += bb) {
                if (type == DType::Q6_K)
                    memset(&w[off], 0xFF, 128 + 64);  // ql, qh
                else if (type == DType::Q5_K)
                    memset(&w[off + 16], 0xFF, 32 + 128);  // qh, qs
                else
                    memset(&w[off + 16], 0xFF, 128);  // qs
            }
        const TensorView tv = matrix_view(type, n_cols, n_rows, w.data());
        std::vector<uint8_t> scratch(matmul_scratch_bytes(type, n_cols, n_tokens, pool.n_threads()));
        set_active_isa(Isa::scalar);
        std::vector<float> want(n_tokens * n_rows), got(n_tokens * n_rows), wrow(n_cols);
        matmul(pool, tv, x.data(), n_tokens, want.data(), scratch.data());
        for (Isa isa : supported_isas()) {
            set_active_isa(isa);
            matmul(pool, tv, x.data(), n_tokens, got.data(), scratch.data());
            for (int64_t r = 0; r < n_rows; r++) {
                dequantize_row_ref(type, &w[r * rb], wrow.data(), n_cols);
                for (int64_t t = 0; t < n_tokens; t++) {
                    double mag = 0;
                    for (int64_t i = 0; i < n_cols; i++) mag += std::fabs(wrow[i] * x[t * n_cols + i]);
                    ASSERT_NEAR(got[t * n_rows + r], want[t * n_rows + r], 1e-5 * mag)
                        << dtype_name(type) << " " << isa_name(isa) << " row " << r << " token " << t;
                }
            }
        }
    }
}

// Float weights accept rows of any length (stories260K has n_ff = 172, n_embd = 64).
TEST(Matmul, FloatRowsOfAnyLength) {
    ThreadPool pool(2);
    for (DType type : {DType::F32, DType::F16, DType::BF16})
        for (int64_t n_cols : {1, 7, 65, 172})
            for (int64_t n_tokens : {1, 4, 9}) check_matmul(type, 19, n_cols, n_tokens, pool);
}

// More threads than cores (8 on the 2-core CI machine) start late and finish early at random, so chunks are taken
// from the back of other threads' ranges; 65 threads share the 64 ranges.
TEST(Matmul, ThreadCountsGiveTheSameResult) {
    for (int n : {1, 2, 3, 8, 65}) {
        ThreadPool pool(n);
        check_matmul(DType::Q4_K, 70, 256, 4, pool);
        check_matmul(DType::Q8_0, 70, 64, 1, pool);
        // Above matmul's threshold for using the pool (2^19 multiply-adds), with a partial last chunk.
        check_matmul(DType::Q4_K, 301, 2048, 1, pool);
        check_matmul(DType::Q8_0, 150, 1024, 5, pool);
        check_matmul(DType::F16, 150, 1000, 4, pool);
    }
}

// matmul_multi must give exactly what separate matmuls give (same kernels, same quantized input), for jobs
// that share an activation type (Q4_K + Q6_K, one dispatch) and for mixes that fall back (Q8_0 + F16).
TEST(Matmul, MultiEqualsSeparateProducts) {
    ThreadPool pool(2);
    const int64_t n_cols = 1024;
    for (int64_t n_tokens : {1, 3}) {
        for (auto types :
             {std::vector<DType>{DType::Q4_K, DType::Q6_K, DType::Q4_K}, std::vector<DType>{DType::Q8_0, DType::F16}}) {
            std::vector<std::vector<uint8_t>> data;
            std::vector<MatmulJob> jobs;
            const int64_t rows[3] = {300, 70, 130};
            int64_t ldy = 0;
            for (size_t j = 0; j < types.size(); j++) ldy += rows[j];
            std::vector<float> y_multi(size_t(ldy * n_tokens), -1.f), y_sep(size_t(ldy * n_tokens), -2.f);
            size_t scratch = 0;
            int64_t off = 0;
            for (size_t j = 0; j < types.size(); j++) {
                data.push_back(quantized(types[j], rows[j], n_cols, 7 + uint32_t(j)));
                jobs.push_back({matrix_view(types[j], n_cols, rows[j], data.back().data()), y_multi.data() + off, ldy});
                scratch = std::max(scratch, matmul_scratch_bytes(types[j], n_cols, n_tokens, pool.n_threads()));
                off += rows[j];
            }
            auto x = gaussian(n_tokens * n_cols, 99);
            std::vector<uint8_t> wdata(scratch + 64);
            matmul_multi(pool, jobs.data(), int(jobs.size()), x.data(), n_tokens, wdata.data());
            off = 0;
            for (size_t j = 0; j < jobs.size(); j++) {
                matmul(pool, jobs[j].w, x.data(), n_tokens, y_sep.data() + off, wdata.data(), ldy);
                off += rows[j];
            }
            for (size_t i = 0; i < y_multi.size(); i++) ASSERT_EQ(y_multi[i], y_sep[i]) << i;
        }
    }
}

TEST(Matmul, GetRowDequantizes) {
    const int64_t n_cols = 256, n_rows = 5;
    auto wf = gaussian(n_rows * n_cols, 3);
    std::vector<uint8_t> wq(row_bytes(DType::Q6_K, n_cols) * n_rows);
    for (int64_t r = 0; r < n_rows; r++)
        quantize_row_ref(DType::Q6_K, wf.data() + r * n_cols, wq.data() + r * row_bytes(DType::Q6_K, n_cols), n_cols);
    const TensorView w = matrix_view(DType::Q6_K, n_cols, n_rows, wq.data());
    std::vector<float> got(n_cols), want(n_cols);
    get_row(w, 3, got.data());
    dequantize_row_ref(DType::Q6_K, w.row(3), want.data(), n_cols);
    EXPECT_EQ(got, want);
    for (int64_t i = 0; i < n_cols; i++) EXPECT_NEAR(got[i], wf[3 * n_cols + i], 0.2);  // Q6_K error ≪ 0.2σ
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// The SIMD activation quantizers against quantize_row_ref: every dequantized element within one quantization
// step (ties and the last bit of 1/d may round the other way), and Q8_K bsums / Q8_1 sums consistent.
TEST(ActivationQuantizers, MatchReferenceWithinOneStep) {
    const int64_t n = 1024;
    auto x = gaussian(n, 5);
    x[3] = 0.f;
    for (int64_t i = 256; i < 512; i++) x[i] = 0.f;  // an all-zero Q8_K block
    for (Isa isa : {Isa::avx2, Isa::avx512}) {
        if (!isa_supported(isa)) continue;
        for (DType act : {DType::Q8_0, DType::Q8_1, DType::Q8_K}) {
            kern::QuantizeFn f = isa == Isa::avx2 ? kern::quantize_kernel_avx2(act) : kern::quantize_kernel_avx512(act);
            ASSERT_NE(f, nullptr);
            std::vector<uint8_t> got(row_bytes(act, n)), want(row_bytes(act, n));
            f(x.data(), got.data(), n);
            quantize_row_ref(act, x.data(), want.data(), n);
            std::vector<float> g(n), w(n);
            dequantize_row_ref(act, got.data(), g.data(), n);
            dequantize_row_ref(act, want.data(), w.data(), n);
            const int64_t blk = dtype_info(act).block_elems;
            for (int64_t b = 0; b < n; b += blk) {
                float amax = 0;
                for (int64_t i = b; i < b + blk; i++) amax = std::max(amax, std::fabs(x[i]));
                for (int64_t i = b; i < b + blk; i++)
                    ASSERT_NEAR(g[i], w[i], amax / 127 * 1.01 + 1e-7)
                        << dtype_name(act) << " " << isa_name(isa) << " " << i;
            }
            if (act == DType::Q8_K) {
                const BlockQ8_K* blocks = reinterpret_cast<const BlockQ8_K*>(got.data());
                for (int64_t b = 0; b < n / QK_K; b++)
                    for (int j = 0; j < 16; j++) {
                        int s = 0;
                        for (int i = 0; i < 16; i++) s += blocks[b].qs[16 * j + i];
                        ASSERT_EQ(blocks[b].bsums[j], s);
                    }
            }
            if (act == DType::Q8_1) {
                const BlockQ8_1* blocks = reinterpret_cast<const BlockQ8_1*>(got.data());
                for (int64_t b = 0; b < n / 32; b++) {
                    int s = 0;
                    for (int i = 0; i < 32; i++) s += blocks[b].qs[i];
                    const float d = fp16_to_fp32(blocks[b].d);
                    ASSERT_NEAR(fp16_to_fp32(blocks[b].s), d * s, std::fabs(d * s) * 1e-3 + 1e-6);
                }
            }
        }
    }
}

}  // namespace
}  // namespace berth
