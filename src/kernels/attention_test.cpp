// Elementwise ops and paged attention (model lane) against direct formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention_test_util.h"
#include "kernels/kernels.h"

namespace berth {
namespace {

TEST(Ops, RmsnormRopeSoftmax) {
    std::vector<float> x = {1, -2, 3, -4}, w = {1, 1, 2, 0.5f}, out(4);
    rmsnorm(out.data(), x.data(), w.data(), 4, 0.0f);
    const float inv = 1.0f / std::sqrt(30.0f / 4);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[size_t(i)], x[size_t(i)] * inv * w[size_t(i)], 1e-6);

    // Rope at position 0 is the identity; at position p it rotates pair i by p * base^(-2i/n_rot).
    std::vector<float> v = {1, 0, 1, 0}, v0 = v;
    rope(v.data(), 1, 4, 4, 0, 10000.0f, 1.0f, false);
    for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(v[size_t(i)], v0[size_t(i)]);
    rope(v.data(), 1, 4, 4, 3, 10000.0f, 1.0f, false);  // pairs (0,1) and (2,3)
    EXPECT_NEAR(v[0], std::cos(3.0f), 1e-6);
    EXPECT_NEAR(v[1], std::sin(3.0f), 1e-6);
    EXPECT_NEAR(v[2], std::cos(3.0f / 100), 1e-6);
    EXPECT_NEAR(v[3], std::sin(3.0f / 100), 1e-6);
    std::vector<float> nx = {1, 1, 0, 0};  // neox pairs (0,2) and (1,3)
    rope(nx.data(), 1, 4, 4, 3, 10000.0f, 1.0f, true);
    EXPECT_NEAR(nx[0], std::cos(3.0f), 1e-6);
    EXPECT_NEAR(nx[2], std::sin(3.0f), 1e-6);
    EXPECT_NEAR(nx[1], std::cos(3.0f / 100), 1e-6);
    EXPECT_NEAR(nx[3], std::sin(3.0f / 100), 1e-6);

    std::vector<float> s = {1, 2, 3};
    softmax(s.data(), 3);
    const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    EXPECT_NEAR(s[2], std::exp(3.0) / z, 1e-6);
}

TEST(Attention, GroupAndHeadMatchADirectComputation) {
    for (DType t : {DType::F16, DType::F32, DType::Q8_0}) {
        SCOPED_TRACE(dtype_name(t));
        // 3 pages × 4 positions, the positions scattered over the pages in reverse order.
        const test::PagedKvCache f(t, 32, 12, 4, {2, 0, 1});
        const int group = 3, d = f.d;
        std::mt19937 rng(5);
        std::normal_distribution<float> nd;
        std::vector<float> q(size_t(group * d));
        for (float& x : q) x = nd(rng) * 0.5f;
        for (float cap : {0.0f, 5.0f}) {
            const int kh = 1, begin = 2, end = 11;
            std::vector<float> out(size_t(group * d)), scores(size_t(group * 12)), tmp(size_t(2 * d));
            attention_group(q.data(), group, f.kv, kh, begin, end, 0.3f, cap, out.data(), scores.data(), tmp.data());
            std::vector<double> ref(static_cast<size_t>(d));
            for (int g = 0; g < group; ++g) {
                test::reference_attention(q.data() + g * d, f, kh, begin, end, 0.3f, cap, ref.data());
                for (int i = 0; i < d; ++i)
                    EXPECT_NEAR(out[size_t(g * d + i)], ref[size_t(i)], 1e-4) << "head " << g << " dim " << i;
            }
        }
    }
}

}  // namespace
}  // namespace berth
