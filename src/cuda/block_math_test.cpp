// The CUDA kernels' per-element arithmetic (block_math.h), compiled for the host and checked against the tensor
// module's scalar reference: bit-exact for the block formats, the half conversions and the KV quantization,
// within stated float tolerances for the transcendental functions. Runs on every CI machine; the kernels that
// loop over these functions are checked on a GPU by backend_test's DeviceOps (scripts/gpu-check).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cuda/block_math.h"
#include "tensor/tensor.h"

namespace berth::cuda {
namespace {

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

TEST(BlockMath, HalfToFloatIsExactForEveryHalf) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float want = fp16_to_fp32_slow(fp16_t(h));
        const float got = half_to_float(uint16_t(h));
        if (std::isnan(want))
            ASSERT_TRUE(std::isnan(got)) << h;
        else
            ASSERT_EQ(bits(got), bits(want)) << "half 0x" << std::hex << h;
    }
}

TEST(BlockMath, FloatToHalfRoundsAsTheReference) {
    std::mt19937 rng(3);
    std::vector<float> xs = {0.0f,   -0.0f,   1.0f,     -1.0f,    65504.0f, 65519.0f, 65520.0f, 1e10f,
                             -1e10f, 6.1e-5f, 5.96e-8f, 2.98e-8f, 2.99e-8f, 1e-9f,    INFINITY, -INFINITY};
    // Every half's neighbourhood: exact values, midpoints (ties to even) and just off them.
    for (uint32_t h = 0; h < 0x7c00; h += 7) {
        const float a = fp16_to_fp32_slow(fp16_t(h)), b = fp16_to_fp32_slow(fp16_t(h + 1));
        const float mid = a + (b - a) / 2;
        xs.insert(xs.end(), {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), -mid});
    }
    std::uniform_real_distribution<float> e(-30.0f, 17.0f);
    for (int i = 0; i < 100000; ++i) xs.push_back(std::ldexp(1.0f + float(rng() % 1000) / 1000.0f, int(e(rng))));
    for (float x : xs) ASSERT_EQ(float_to_half(x), fp32_to_fp16(x)) << x;
    EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
}

// Random rows of every weight type: quantized from random floats (as real weights are), and blocks of random
// bytes with finite scales (every bit pattern of the quants).
std::vector<uint8_t> random_row(DType t, int64_t n, std::mt19937& rng, bool raw_bytes) {
    std::vector<uint8_t> row(static_cast<size_t>(row_bytes(t, n)));
    if (!raw_bytes || !dtype_info(t).quantized) {
        std::normal_distribution<float> dist(0.0f, 1.0f);
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = dist(rng);
        quantize_row_ref(t, x.data(), row.data(), n);
        return row;
    }
    for (uint8_t& b : row) b = uint8_t(rng());
    // Overwrite the fp16 scales with finite values (offsets per format, as in tensor.h's blocks).
    const int64_t bb = dtype_info(t).block_bytes;
    std::vector<int> scale_offsets;
    switch (t) {
        case DType::Q4_0:
        case DType::Q5_0:
        case DType::Q8_0: scale_offsets = {0}; break;
        case DType::Q4_1:
        case DType::Q5_1: scale_offsets = {0, 2}; break;
        case DType::Q2_K: scale_offsets = {80, 82}; break;
        case DType::Q3_K: scale_offsets = {108}; break;
        case DType::Q4_K:
        case DType::Q5_K: scale_offsets = {0, 2}; break;
        case DType::Q6_K: scale_offsets = {208}; break;
        default: break;
    }
    std::uniform_real_distribution<float> s(-0.05f, 0.05f);
    for (int64_t b = 0; b < int64_t(row.size()); b += bb)
        for (int off : scale_offsets) {
            const fp16_t h = fp32_to_fp16(s(rng));
            std::memcpy(row.data() + b + off, &h, 2);
        }
    return row;
}

class Dequant : public ::testing::TestWithParam<DType> {};

TEST_P(Dequant, EveryChunkBitExactWithTheReference) {
    const DType t = GetParam();
    std::mt19937 rng(11);
    const int64_t n = dtype_info(t).block_elems == QK_K ? 1024 : 256;
    for (bool raw : {false, true}) {
        for (int rep = 0; rep < 20; ++rep) {
            std::vector<uint8_t> row = random_row(t, n, rng, raw);
            std::vector<float> want(static_cast<size_t>(n));
            dequantize_row_ref(t, row.data(), want.data(), n);
            float got[32];
            for (int64_t c = 0; c < n / 32; ++c) {
                dequant_chunk32(int(t), row.data(), c, 32, got);
                for (int i = 0; i < 32; ++i)
                    ASSERT_EQ(bits(got[i]), bits(want[size_t(c * 32 + i)]))
                        << dtype_name(t) << " chunk " << c << " element " << i << ": " << got[i] << " vs "
                        << want[size_t(c * 32 + i)] << (raw ? " (random bytes)" : "");
            }
        }
    }
    EXPECT_EQ(block_elems(int(t)), dtype_info(t).block_elems);
    EXPECT_EQ(block_bytes(int(t)), dtype_info(t).block_bytes);
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, Dequant,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                                           DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                                           DType::Q6_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// Float rows of any length (stories260K: 172 columns): the last chunk holds the remainder, zero beyond it.
TEST(BlockMath, FloatRowsOfAnyLength) {
    std::mt19937 rng(5);
    for (DType t : {DType::F32, DType::F16, DType::BF16})
        for (int64_t n : {1, 8, 31, 33, 172}) {
            std::vector<uint8_t> row = random_row(t, n, rng, false);
            std::vector<float> want(static_cast<size_t>(n));
            dequantize_row_ref(t, row.data(), want.data(), n);
            float got[32];
            for (int64_t c = 0; c * 32 < n; ++c) {
                const int valid = int(std::min<int64_t>(32, n - c * 32));
                dequant_chunk32(int(t), row.data(), c, valid, got);
                for (int i = 0; i < 32; ++i)
                    ASSERT_EQ(got[i], i < valid ? want[size_t(c * 32 + i)] : 0.0f) << dtype_name(t) << " n " << n;
            }
        }
}

TEST(BlockMath, KvRowsReadAndWrittenAsTheCpuDoes) {
    std::mt19937 rng(9);
    std::normal_distribution<float> dist(0.0f, 2.0f);
    const int n = 128;
    for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
        for (int rep = 0; rep < 50; ++rep) {
            std::vector<float> x(static_cast<size_t>(n));
            for (float& v : x) v = dist(rng);
            if (rep == 0) std::fill(x.begin(), x.end(), 0.0f);    // all zero: d = 0
            if (rep == 1) std::fill(x.begin(), x.end(), -3.25f);  // one value: ties in the rounding
            if (rep == 2)
                for (int i = 0; i < n; ++i) x[size_t(i)] = float(i % 32 - 16) / 2;  // exact halves
            std::vector<uint8_t> want(static_cast<size_t>(row_bytes(t, n)));
            quantize_row_ref(t, x.data(), want.data(), n);
            if (t == DType::Q8_0 || t == DType::Q4_0) {
                std::vector<uint8_t> got(want.size());
                const int bb = t == DType::Q8_0 ? 34 : 18;
                for (int b = 0; b < n / 32; ++b) quantize_kv_block(int(t), x.data() + 32 * b, got.data() + bb * b);
                ASSERT_EQ(got, want) << dtype_name(t) << " rep " << rep;
            }
            std::vector<float> deq(static_cast<size_t>(n));
            dequantize_row_ref(t, want.data(), deq.data(), n);
            for (int i = 0; i < n; ++i) ASSERT_EQ(bits(kv_element(int(t), want.data(), i)), bits(deq[size_t(i)]));
        }
    }
}

// Rope angles: the CPU's iteration (theta multiplied by theta_scale once per pair), against a double-precision
// angle: within float rounding of the angle (4095 · 2⁻²³ rad at position 4095 after 64 multiplications).
TEST(BlockMath, RopeAnglesAndPairs) {
    const float factors[4] = {1.0f, 2.0f, 4.0f, 8.0f};
    for (int64_t pos : {0, 1, 17, 4095})
        for (int i = 0; i < 64; ++i) {
            const double want = double(pos) * 0.5 * std::pow(10000.0, -2.0 * i / 128);
            EXPECT_NEAR(rope_theta(pos, i, 128, 10000.0f, 0.5f, nullptr), want, 1e-5 * (1 + want) + 4096 * 64 * 6e-8)
                << pos << " " << i;
        }
    EXPECT_FLOAT_EQ(rope_theta(100, 2, 8, 10000.0f, 1.0f, factors), rope_theta(100, 2, 8, 10000.0f, 1.0f, nullptr) / 4);
    int a, b;
    rope_pair(false, 3, 64, &a, &b);
    EXPECT_EQ(a, 6);
    EXPECT_EQ(b, 7);
    rope_pair(true, 3, 64, &a, &b);
    EXPECT_EQ(a, 3);
    EXPECT_EQ(b, 35);
}

TEST(BlockMath, ActivationsAndRouting) {
    for (float g : {-20.0f, -3.0f, -0.5f, 0.0f, 0.25f, 1.0f, 4.0f, 30.0f}) {
        EXPECT_NEAR(silu(g), g / (1 + std::exp(-double(g))), 1e-6 * (1 + std::fabs(g)));
        const double gd = g;
        EXPECT_NEAR(gelu_tanh(g), 0.5 * gd * (1 + std::tanh(0.7978845608028654 * gd * (1 + 0.044715 * gd * gd))),
                    1e-6 * (1 + std::fabs(g)));
    }
    const float logits[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.5f, 0.0f};
    float probs[6], w[3];
    int32_t ids[3];
    moe_route_row(logits, 6, 3, probs, ids, w);
    EXPECT_EQ(ids[0], 1);  // a tie goes to the first index
    EXPECT_EQ(ids[1], 3);
    EXPECT_EQ(ids[2], 4);
    const double e2 = std::exp(2.0), e15 = std::exp(1.5);
    EXPECT_NEAR(w[0], e2 / (2 * e2 + e15), 1e-6);
    EXPECT_NEAR(w[2], e15 / (2 * e2 + e15), 1e-6);
}

}  // namespace
}  // namespace berth::cuda
