// attention_rows (the tiled, online-softmax attention of prefill runs and split decode) against the reference
// attention in double (attention_test_util.h), and its vector exp against std::exp.
// Tolerance: |out − ref| ≤ 2e-5 · max|V| per element. Both read the same f16/f32 rows; only the float
// rounding of the sums and the exp polynomial (relative error < 3e-7) differ.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/attention_test_util.h"
#include "kernels/kernels.h"

namespace berth {
namespace kern::avx512 {
void exp_avx512(const float* x, float* y, int64_t n);
}

namespace {

// A paged cache of n_pos positions in pages of 16, the pages in a shuffled order.
test::PagedKvCache paged_kv(DType t, int head_dim, int n_pos) {
    std::vector<int32_t> pages(size_t((n_pos + 15) / 16));
    std::iota(pages.begin(), pages.end(), 0);
    std::shuffle(pages.begin(), pages.end(), std::mt19937(7));
    return test::PagedKvCache(t, head_dim, n_pos, 16, std::move(pages), 0.7f);
}

TEST(AttentionRows, ExpMatchesStdExp) {
    if (!isa_supported(Isa::avx512)) GTEST_SKIP() << "no AVX-512";
    std::vector<float> x, y;
    for (float v = -100.f; v <= 88.f; v += 0.0137f) x.push_back(v);
    x.push_back(-std::numeric_limits<float>::infinity());
    y.resize(x.size());
    kern::avx512::exp_avx512(x.data(), y.data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
        const double want = x[i] < -88.f ? 0.0 : std::exp(double(x[i]));
        ASSERT_NEAR(y[i], want, want * 3e-7) << "x = " << x[i];
    }
}

TEST(AttentionRows, EqualTheReferenceForRunsWindowsSoftcapAndSplits) {
    if (!isa_supported(Isa::avx512) || int(active_isa()) < int(Isa::avx512)) GTEST_SKIP() << "no AVX-512";
    for (DType t : {DType::F16, DType::F32}) {
        // Shapes (tokens, query heads per KV head): a prefill run of 52 rows (V rows converted per super-block),
        // and decode-sized calls of up to 8 rows, which read V straight from an f16 cache in tiles of up to 8 rows.
        const int shapes[][2] = {{13, 4}, {1, 8}, {2, 3}, {1, 5}, {1, 1}};
        for (int d : {64, 128, 80, 256})
            for (const auto& shape : shapes) {
                const test::PagedKvCache f = paged_kv(t, d, 150);
                ASSERT_TRUE(attention_rows_supported(f.kv));
                const int group = shape[1], n_tok = shape[0], kh = 1;
                const int64_t pos0 = 137 - n_tok;  // the run ends at position 136
                std::mt19937 rng(11);
                std::normal_distribution<float> nd;
                const int64_t q_stride = int64_t(group + 3) * d;  // rows of a wider qkv buffer
                std::vector<float> q(size_t(n_tok * q_stride));
                for (float& x : q) x = nd(rng);
                std::vector<float> scratch(attention_rows_scratch_floats(d));
                for (float cap : {0.0f, 4.0f}) {
                    for (int64_t window : {int64_t(0), int64_t(40)}) {
                        std::vector<int64_t> begin(static_cast<size_t>(n_tok)), end(static_cast<size_t>(n_tok));
                        for (int i = 0; i < n_tok; ++i) {
                            end[size_t(i)] = pos0 + i + 1;
                            begin[size_t(i)] = window > 0 ? std::max<int64_t>(0, end[size_t(i)] - window) : 0;
                        }
                        for (int n_parts : {1, 3}) {
                            // Parts split the keys [0, end of the run) at arbitrary points (not page-aligned).
                            const int64_t ke = end.back(), cuts[4] = {0, 37, 101, ke};
                            std::vector<std::vector<float>> mem(size_t(n_parts),
                                                                std::vector<float>(attention_partial_floats(d)));
                            std::vector<AttnPartial> parts;
                            for (int p = 0; p < n_parts; ++p) {
                                parts.push_back(attention_partial_init(mem[size_t(p)].data(), n_tok * group, d));
                                const int64_t a = n_parts == 1 ? 0 : cuts[p], b = n_parts == 1 ? ke : cuts[p + 1];
                                attention_rows(q.data(), q_stride, n_tok, group, begin.data(), end.data(), a, b, f.kv,
                                               kh, 0.125f, cap, parts.back(), scratch.data());
                            }
                            const int64_t out_stride = int64_t(group + 1) * d;
                            std::vector<float> out(size_t(n_tok * out_stride), 9.f);
                            std::vector<double> ref(static_cast<size_t>(d));
                            attention_merge(parts.data(), n_parts, n_tok, group, d, out.data(), out_stride);
                            for (int tk = 0; tk < n_tok; ++tk)
                                for (int g = 0; g < group; ++g) {
                                    test::reference_attention(q.data() + tk * q_stride + g * d, f, kh,
                                                              begin[size_t(tk)], end[size_t(tk)], 0.125f, cap,
                                                              ref.data());
                                    for (int i = 0; i < d; ++i)
                                        ASSERT_NEAR(out[size_t(tk * out_stride + g * d + i)], ref[size_t(i)],
                                                    2e-5 * f.vmax)
                                            << dtype_name(t) << " d " << d << " rows " << n_tok << "x" << group
                                            << " cap " << cap << " window " << window << " parts " << n_parts
                                            << " token " << tk << " head " << g << " dim " << i;
                                }
                        }
                    }
                }
            }
    }
}

}  // namespace
}  // namespace berth
