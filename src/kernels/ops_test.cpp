// The avx512 elementwise ops (ops_avx512.cpp) against references in double and against the scalar fp16
// conversion. Tolerances: rmsnorm 1e-6 relative (the same double sum in another order, one float rounding more
// at most); silu_mul 1e-6 relative plus 1e-30 absolute (exp512's relative error < 3e-7 and one division; for
// gates under -88, where exp512 stops at e^88, both sides are within 1e-30 of zero); fp16 stores bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace berth {
namespace kern::avx512 {
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);
void silu_mul(float* out, const float* gate, const float* up, int64_t n);
void store_f16(const float* x, fp16_t* d, int64_t n);
}  // namespace kern::avx512

namespace {

TEST(OpsAvx512, RmsnormMatchesDouble) {
    if (!isa_supported(Isa::avx512)) GTEST_SKIP() << "no AVX-512";
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.f, 3.f);
    for (int64_t n : {1, 15, 16, 17, 64, 100, 2048, 5633}) {
        std::vector<float> x(static_cast<size_t>(n)), w(x.size()), out(x.size());
        for (int64_t i = 0; i < n; ++i) x[size_t(i)] = nd(rng), w[size_t(i)] = nd(rng);
        double ss = 0;
        for (float v : x) ss += double(v) * v;
        const double scale = 1.0 / std::sqrt(ss / double(n) + 1e-5);
        for (const float* wp : {static_cast<const float*>(w.data()), static_cast<const float*>(nullptr)}) {
            kern::avx512::rmsnorm(out.data(), x.data(), wp, n, 1e-5f);
            for (int64_t i = 0; i < n; ++i) {
                const double want = double(x[size_t(i)]) * scale * (wp ? double(wp[i]) : 1.0);
                ASSERT_NEAR(out[size_t(i)], want, std::fabs(want) * 1e-6) << "n " << n << " i " << i;
            }
        }
    }
}

TEST(OpsAvx512, SiluMulMatchesDouble) {
    if (!isa_supported(Isa::avx512)) GTEST_SKIP() << "no AVX-512";
    std::vector<float> g, up;
    for (float v = -120.f; v <= 120.f; v += 0.0173f) g.push_back(v), up.push_back(0.5f + std::fabs(std::sin(v)));
    std::vector<float> out(g.size());
    kern::avx512::silu_mul(out.data(), g.data(), up.data(), int64_t(g.size()));
    for (size_t i = 0; i < g.size(); ++i) {
        const double gd = g[i], want = gd / (1.0 + std::exp(-gd)) * up[i];
        ASSERT_NEAR(out[i], want, std::fabs(want) * 1e-6 + 1e-30) << "g = " << g[i];
    }
}

TEST(OpsAvx512, StoreF16MatchesTheScalarConversion) {
    if (!isa_supported(Isa::avx512)) GTEST_SKIP() << "no AVX-512";
    std::vector<float> x = {0.f,
                            -0.f,
                            1.f,
                            -1.f,
                            65504.f,
                            65520.f,
                            1e6f,
                            -1e6f,
                            6e-8f,
                            3e-8f,
                            1e-10f,
                            6.1e-5f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
    std::mt19937 rng(5);
    std::uniform_int_distribution<uint32_t> bits;
    while (x.size() < 4099) {  // random bit patterns over every exponent, NaNs left out
        uint32_t u = bits(rng);
        float f;
        std::memcpy(&f, &u, 4);
        if (!std::isnan(f)) x.push_back(f);
    }
    std::vector<fp16_t> got(x.size());
    kern::avx512::store_f16(x.data(), got.data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i], fp32_to_fp16(x[i])) << "x = " << x[i];
}

}  // namespace
}  // namespace berth
