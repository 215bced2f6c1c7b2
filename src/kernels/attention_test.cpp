// Elementwise ops and paged attention (model lane) against direct formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

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

// A paged cache of 3 pages x 4 positions, positions scattered over the pages in reverse order.
struct FakeKv {
    int n_head_kv = 2, d = 32, pp = 4;
    std::vector<uint8_t> mem;
    std::vector<int32_t> pages = {2, 0, 1};
    AttnKv kv;
    std::vector<float> k_ref, v_ref;  // (pos, n_head_kv, d) after f16 rounding

    explicit FakeKv(DType t) {
        int64_t row = row_bytes(t, d), pos_bytes = row * n_head_kv, page_bytes = 2 * pos_bytes * pp;
        mem.assign(size_t(page_bytes * 3), 0);
        kv.type = t;
        kv.page_positions = pp;
        kv.n_head_kv = n_head_kv;
        kv.head_dim = d;
        kv.pages = pages.data();
        kv.base = mem.data();
        kv.page_bytes = page_bytes;
        kv.k_offset = 0;
        kv.v_offset = pos_bytes * pp;
        kv.head_row_bytes = row;
        std::mt19937 rng(3);
        std::normal_distribution<float> nd;
        std::vector<float> tmp(size_t(d) * n_head_kv);
        for (int p = 0; p < 12; ++p) {
            for (int which = 0; which < 2; ++which) {
                for (float& f : tmp) f = nd(rng);
                uint8_t* dst =
                    mem.data() + pages[size_t(p / pp)] * page_bytes + (which ? kv.v_offset : 0) + (p % pp) * pos_bytes;
                store_row(t, tmp.data(), dst, int64_t(tmp.size()));
                std::vector<float> back(tmp.size());
                dequantize_row_ref(t, dst, back.data(), int64_t(back.size()));
                (which ? v_ref : k_ref).insert((which ? v_ref : k_ref).end(), back.begin(), back.end());
            }
        }
    }
};

TEST(Attention, GroupAndHeadMatchADirectComputation) {
    for (DType t : {DType::F16, DType::F32, DType::Q8_0}) {
        SCOPED_TRACE(dtype_name(t));
        FakeKv f(t);
        const int group = 3, d = f.d;
        std::mt19937 rng(5);
        std::normal_distribution<float> nd;
        std::vector<float> q(size_t(group * d));
        for (float& x : q) x = nd(rng) * 0.5f;
        for (float cap : {0.0f, 5.0f}) {
            const int kh = 1, begin = 2, end = 11;
            std::vector<float> out(size_t(group * d)), scores(size_t(group * 12)), tmp(size_t(2 * d));
            attention_group(q.data(), group, f.kv, kh, begin, end, 0.3f, cap, out.data(), scores.data(), tmp.data());
            for (int g = 0; g < group; ++g) {
                std::vector<double> s;
                double mx = -1e30, sum = 0;
                for (int p = begin; p < end; ++p) {
                    double dot = 0;
                    for (int i = 0; i < d; ++i) dot += q[size_t(g * d + i)] * f.k_ref[size_t((p * 2 + kh) * d + i)];
                    dot *= 0.3;
                    if (cap > 0) dot = cap * std::tanh(dot / cap);
                    s.push_back(dot);
                    mx = std::max(mx, dot);
                }
                for (double& x : s) sum += (x = std::exp(x - mx));
                for (int i = 0; i < d; ++i) {
                    double o = 0;
                    for (int p = begin; p < end; ++p)
                        o += s[size_t(p - begin)] / sum * f.v_ref[size_t((p * 2 + kh) * d + i)];
                    EXPECT_NEAR(out[size_t(g * d + i)], o, 1e-4) << "head " << g << " dim " << i;
                }
            }
        }
    }
}

}  // namespace
}  // namespace berth
