// Matrices repacked into 16-row groups (kernels.h: repack_rows16) through matmul(): the avx512 kernel and the
// scalar one against the references on the file layout, batches of every size the kernels split (passes of
// 16 tokens; Q4_K_R16 / Q6_K_R16: 8, and the GEMM), the full Q8_0 byte range, mixed dispatches, and when the
// model repacks.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/matmul_impl.h"
#include "kernels/matrix_test_util.h"

namespace berth {
namespace {

using test::gaussian;
using test::matrix_view;
using test::quantized;

TEST(MatmulR16, MatchesReferenceForEveryBatchSize) {
    ThreadPool pool(2);
    for (DType type : {DType::Q4_0, DType::Q8_0})
        for (int64_t n_cols : {32, 96, 2048})
            for (int64_t n_tokens : {1, 2, 3, 8, 15, 16, 17, 40}) check_matmul(type, 48, n_cols, n_tokens, pool, true);
    // Q4_K_R16 and Q6_K_R16 take passes of 8 tokens, and the GEMM from 16.
    for (DType type : {DType::Q4_K, DType::Q6_K})
        for (int64_t n_cols : {256, 768, 2048})
            for (int64_t n_tokens : {1, 2, 3, 7, 8, 9, 16, 17, 40})
                check_matmul(type, 48, n_cols, n_tokens, pool, true);
}

TEST(MatmulR16, ThreadCountsAndLargeMatrices) {
    for (int n : {1, 3, 65}) {
        ThreadPool pool(n);
        check_matmul(DType::Q8_0, 512, 1024, 1, pool, true);  // above the pool's threshold: chunks of 16-row groups
        check_matmul(DType::Q4_0, 160, 2048, 5, pool, true);
        check_matmul(DType::Q4_K, 320, 2048, 3, pool, true);
        check_matmul(DType::Q6_K, 160, 2048, 2, pool, true);
    }
}

// walk_group_streams: every group of the range once, each stream's groups in order, at most S per call, and
// all S streams while every stream has groups left; the outputs at the groups' rows.
template <int S>
void check_streams(int64_t groups) {
    std::vector<int> seen(size_t(groups), 0);
    std::vector<int64_t> last(S, -1);
    int64_t calls = 0;
    const int64_t r0 = 32;
    const int64_t r1 = r0 + groups * kRepackRows;
    std::vector<uint8_t> wbuf(static_cast<size_t>(r1) * 3);
    std::vector<float> ybuf(static_cast<size_t>(r1));
    const uint8_t* w = wbuf.data();
    float* y = ybuf.data();
    kern::MatmulTask t{};
    t.w = w;
    t.w_row_bytes = 3;
    kern::walk_group_streams<S>(t, r0, r1, y, [&](const uint8_t* const* g, float* const* ys, int n) {
        ASSERT_GE(n, 1);
        ASSERT_LE(n, S);
        if (calls < groups / S) { ASSERT_EQ(n, S) << "groups " << groups; }
        for (int s = 0; s < n; s++) {
            const int64_t row = (g[s] - w) / 3;
            ASSERT_EQ(ys[s] - y, row);
            ASSERT_EQ((row - r0) % kRepackRows, 0);
            const int64_t gi = (row - r0) / kRepackRows;
            ASSERT_TRUE(gi >= 0 && gi < groups);
            seen[size_t(gi)]++;
            ASSERT_GT(gi, last[size_t(s)]) << "stream " << s << " went back";
            last[size_t(s)] = gi;
        }
        calls++;
    });
    for (int64_t gi = 0; gi < groups; gi++) EXPECT_EQ(seen[size_t(gi)], 1) << "group " << gi << " of " << groups;
    EXPECT_EQ(calls, groups == 0 ? 0 : (groups + S - 1) / S);
}

TEST(MatmulR16, StreamsOfGroupsVisitEveryGroupOnce) {
    for (int64_t groups = 0; groups <= 13; groups++) {
        check_streams<1>(groups);
        check_streams<2>(groups);
        check_streams<3>(groups);
        check_streams<4>(groups);
    }
}

TEST(MatmulR16, ChunksOfSeveralStreamsWithARemainder) {
    // One thread: 896 rows make chunks of 7 groups (matmul.cpp's chunk_rows), so the kernels walk 4 streams and
    // then 3 (Q4_0, Q8_0 at one or two tokens), or 2 streams and then 1 (the K-quants, and 3-4 tokens where
    // kernel_k_two_streams says so: both ways here, whatever this CPU's default).
    ThreadPool pool(1);
    const bool saved = kernel_k_two_streams();
    for (int64_t n_tokens : {1, 2, 3, 4}) {
        check_matmul(DType::Q4_0, 896, 256, n_tokens, pool, true);
        check_matmul(DType::Q8_0, 896, 256, n_tokens, pool, true);
        for (bool two : {false, true}) {
            set_kernel_k_two_streams(two);
            check_matmul(DType::Q4_K, 896, 256, n_tokens, pool, true);
            check_matmul(DType::Q6_K, 896, 256, n_tokens, pool, true);
        }
    }
    set_kernel_k_two_streams(saved);
}

TEST(MatmulR16, RepackRoundTripsEveryByte) {
    // Q8_0 over the whole int8 range (-128 included) with random scales: the repacked products equal the
    // scalar products on the file layout up to f32 rounding, on every ISA (the integer sums are exact).
    const int64_t n_cols = 256, n_rows = 32, n_tokens = 5;
    const std::vector<BlockQ8_0> w = test::q8_0_full_range(n_rows * n_cols / QK8_0, 11);
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> byte(-128, 127);
    std::vector<float> x(n_tokens * n_cols);
    for (float& v : x) v = float(byte(rng)) / 16.f;
    const TensorView tv = matrix_view(DType::Q8_0, n_cols, n_rows, w.data());
    std::vector<BlockQ8_0> packed(w.size());
    repack_rows16(tv, packed.data());
    TensorView pv = tv;
    pv.type = DType::Q8_0_R16;
    pv.data = packed.data();
    ThreadPool pool(2);
    std::vector<uint8_t> scratch(matmul_scratch_bytes(DType::Q8_0_R16, n_cols, n_tokens, pool.n_threads()));
    const Isa saved = active_isa();
    set_active_isa(Isa::scalar);
    std::vector<float> want(n_tokens * n_rows), got(n_tokens * n_rows);
    matmul(pool, tv, x.data(), n_tokens, want.data(), scratch.data());
    for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
        if (!isa_supported(isa)) continue;
        set_active_isa(isa);
        matmul(pool, pv, x.data(), n_tokens, got.data(), scratch.data());
        for (int64_t t = 0; t < n_tokens; t++)
            for (int64_t r = 0; r < n_rows; r++) {
                double mag = 0;  // Σ|w·x|: f32 rounding of the block sums in another order
                for (int64_t i = 0; i < n_cols; i++) {
                    const BlockQ8_0& b = w[size_t(r * n_cols + i) / QK8_0];
                    mag += std::fabs(fp16_to_fp32(b.d) * b.qs[i % QK8_0] * x[t * n_cols + i]);
                }
                ASSERT_NEAR(got[t * n_rows + r], want[t * n_rows + r], 1e-5 * mag)
                    << isa_name(isa) << " row " << r << " token " << t;
            }
    }
    set_active_isa(saved);
}

// One dispatch with repacked and file-layout jobs of the same activation type equals separate products: Q8_0
// activations (batches below the Q4_0 GEMM's 10 tokens: a mixed dispatch takes the row kernels, a separate Q4_0
// product the GEMM), and Q8_K ones as in a Q4_K_M file (above 16 tokens a mixed dispatch runs its jobs apart, so
// the file-layout ones keep the GEMM).
void check_multi(const DType (&types)[3], const bool (&repack)[3], int64_t n_cols, int64_t n_tokens) {
    ThreadPool pool(2);
    const int64_t rows[3] = {64, 48, 96};
    std::vector<std::vector<uint8_t>> data;
    std::vector<MatmulJob> jobs;
    const int64_t ldy = rows[0] + rows[1] + rows[2];
    std::vector<float> y_multi(size_t(ldy * n_tokens)), y_sep(size_t(ldy * n_tokens));
    size_t scratch = 0;
    int64_t off = 0;
    for (int j = 0; j < 3; j++) {
        std::vector<uint8_t> q = quantized(types[j], rows[j], n_cols, 40 + uint32_t(j));
        TensorView v = matrix_view(types[j], n_cols, rows[j], nullptr);
        if (repack[j]) {
            std::vector<uint8_t> p(q.size());
            v.data = q.data();
            repack_rows16(v, p.data());
            q.swap(p);
            v.type = repacked_type(types[j]);
        }
        data.push_back(std::move(q));
        v.data = data.back().data();
        jobs.push_back({v, y_multi.data() + off, ldy});
        scratch = std::max(scratch, matmul_scratch_bytes(v.type, n_cols, n_tokens, pool.n_threads()));
        off += rows[j];
    }
    const auto x = gaussian(n_tokens * n_cols, 5);
    std::vector<uint8_t> wdata(scratch + 64);
    matmul_multi(pool, jobs.data(), 3, x.data(), n_tokens, wdata.data());
    off = 0;
    for (int j = 0; j < 3; j++) {
        matmul(pool, jobs[j].w, x.data(), n_tokens, y_sep.data() + off, wdata.data(), ldy);
        off += rows[j];
    }
    for (size_t i = 0; i < y_multi.size(); i++)
        ASSERT_EQ(y_multi[i], y_sep[i]) << dtype_name(types[0]) << " tokens " << n_tokens << " " << i;
}

TEST(MatmulR16, MultiWithFileLayoutJobs) {
    for (int64_t n_tokens : {1, 6, 9})
        check_multi({DType::Q8_0, DType::Q4_0, DType::Q4_0}, {true, false, true}, 512, n_tokens);
    for (int64_t n_tokens : {1, 2, 6, 9, 20}) {
        check_multi({DType::Q4_K, DType::Q6_K, DType::Q4_K}, {true, false, true}, 512, n_tokens);
        check_multi({DType::Q4_K, DType::Q6_K, DType::Q6_K}, {false, true, true}, 512, n_tokens);
    }
}

// Prefill-sized batches of Q4_K_R16 / Q6_K_R16 take the GEMM, whose panels come straight from the repacked
// groups: the products equal those of the file layout's GEMM bit for bit (same panel values, same kernel).
TEST(MatmulR16, GemmReadsRepackedKQuantsBitForBit) {
    if (!isa_supported(Isa::avx512)) GTEST_SKIP() << "no avx512 here";
    const Isa saved = active_isa();
    set_active_isa(Isa::avx512);
    ThreadPool pool(2);
    const int64_t n_rows = 64, n_cols = 2304, n_tokens = 40;  // two column chunks, the second one partial
    for (DType type : {DType::Q4_K, DType::Q6_K}) {
        std::vector<uint8_t> q = quantized(type, n_rows, n_cols, 9), packed(q.size());
        const TensorView w = matrix_view(type, n_cols, n_rows, q.data());
        repack_rows16(w, packed.data());
        TensorView wr = w;
        wr.type = repacked_type(type);
        wr.data = packed.data();
        const auto x = gaussian(n_tokens * n_cols, 3);
        std::vector<uint8_t> scratch(std::max(matmul_scratch_bytes(type, n_cols, n_tokens, 2),
                                              matmul_scratch_bytes(wr.type, n_cols, n_tokens, 2)));
        std::vector<float> want(n_tokens * n_rows), got(n_tokens * n_rows);
        matmul(pool, w, x.data(), n_tokens, want.data(), scratch.data());
        matmul(pool, wr, x.data(), n_tokens, got.data(), scratch.data());
        for (size_t i = 0; i < got.size(); i++) ASSERT_EQ(got[i], want[i]) << dtype_name(type) << " " << i;
    }
    set_active_isa(saved);
}

TEST(MatmulR16, WhenTheModelRepacks) {
    const Isa saved = active_isa();
    const bool avx512 = isa_supported(Isa::avx512);
    if (avx512) set_active_isa(Isa::avx512);
    EXPECT_EQ(repack_applies(DType::Q8_0, 2048, 2048), avx512);
    EXPECT_EQ(repack_applies(DType::Q4_0, 32000, 2048), avx512);
    EXPECT_FALSE(repack_applies(DType::Q8_0, 37, 2048));  // not whole 16-row groups
    EXPECT_EQ(repack_applies(DType::Q4_K, 2048, 5632), avx512);
    EXPECT_FALSE(repack_applies(DType::Q4_K, 2048, 2080));  // not whole 256-blocks
    EXPECT_EQ(repack_applies(DType::Q6_K, 32000, 2048), avx512);
    EXPECT_FALSE(repack_applies(DType::Q5_K, 2048, 2048));
    EXPECT_FALSE(repack_applies(DType::Q8_0_R16, 2048, 2048));
    set_active_isa(Isa::scalar);
    EXPECT_FALSE(repack_applies(DType::Q8_0, 2048, 2048));  // only where the avx512 kernel runs
    set_active_isa(saved);
    EXPECT_EQ(row_bytes(DType::Q8_0_R16, 2048), row_bytes(DType::Q8_0, 2048));
    EXPECT_EQ(dtype_info(uint32_t(DType::Q8_0_R16)), nullptr);  // no file can claim the repacked types
    EXPECT_EQ(dtype_info(uint32_t(DType::Q4_0_R16)), nullptr);
    EXPECT_EQ(dtype_info(uint32_t(DType::Q4_K_R16)), nullptr);
    EXPECT_EQ(dtype_info(uint32_t(DType::Q6_K_R16)), nullptr);
}

}  // namespace
}  // namespace berth
