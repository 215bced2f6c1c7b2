#include "sampling/sampling.h"

#include <gtest/gtest.h>

// The replaced operators pair malloc with free on purpose.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <map>
#include <new>

// Counts operator new while a window is open: sampling a token must not allocate.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocs{0};
}  // namespace
void* operator new(size_t n) {
    if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
    void* p = std::malloc(n ? n : 1);
    if (!p) throw std::bad_alloc();
    return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace berth {
namespace {

SamplingParams plain(float temperature) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = 42;
    return p;
}

TEST(Rng, DeterministicInSeedAndUniformInRange) {
    Rng a(7), b(7), c(8);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        uint64_t x = a.next();
        EXPECT_EQ(x, b.next());
        differs |= x != c.next();
    }
    EXPECT_TRUE(differs);
    double sum = 0;
    for (int i = 0; i < 100000; ++i) {
        double u = a.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        sum += u;
    }
    EXPECT_NEAR(sum / 100000, 0.5, 0.01);  // 5 sigma of the mean of 1e5 uniforms is 0.0046
}

TEST(Sampler, GreedyPicksArgmax) {
    std::vector<float> l = {0.1f, 2.0f, -1.0f, 1.9f};
    Sampler s(4, plain(0.0f));
    EXPECT_EQ(s.sample(l.data()), 1);
    EXPECT_EQ(Sampler::argmax(l.data(), 4), 1);
}

TEST(Sampler, TemperatureSamplingFollowsSoftmax) {
    std::vector<float> l = {0.0f, std::log(3.0f)};  // probabilities 1/4, 3/4
    Sampler s(2, plain(1.0f));
    int ones = 0, n = 20000;
    for (int i = 0; i < n; ++i) ones += s.sample(l.data()) == 1;
    EXPECT_NEAR(double(ones) / n, 0.75, 0.015);  // sigma = 0.003
}

TEST(Sampler, SameSeedSameSequence) {
    std::vector<float> l(50);
    for (int i = 0; i < 50; ++i) l[size_t(i)] = std::sin(float(i));
    Sampler a(50, plain(1.0f)), b(50, plain(1.0f));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(a.sample(l.data()), b.sample(l.data()));
}

TEST(Sampler, TopKTopPMinPRestrictTheSupport) {
    std::vector<float> l = {3.0f, 2.0f, 1.0f, 0.0f, -1.0f};
    SamplingParams p = plain(1.0f);
    p.top_k = 2;
    Sampler s(5, p);
    for (int i = 0; i < 500; ++i) EXPECT_LT(s.sample(l.data()), 2);
    p = plain(1.0f);
    p.top_p = 0.5f;  // p(0) = 0.636 already reaches 0.5
    s.set_params(p);
    for (int i = 0; i < 200; ++i) EXPECT_EQ(s.sample(l.data()), 0);
    p = plain(1.0f);
    p.min_p = 0.3f;  // p(1)/p(0) = e^-1 = 0.37 stays, p(2)/p(0) = 0.135 goes
    s.set_params(p);
    std::map<int, int> seen;
    for (int i = 0; i < 2000; ++i) ++seen[s.sample(l.data())];
    EXPECT_EQ(seen.size(), 2u);
    EXPECT_GT(seen[1], 0);
}

TEST(Sampler, RepeatPresenceFrequencyPenalties) {
    std::vector<float> l = {1.0f, 1.2f, -0.5f};
    SamplingParams p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 4;
    Sampler s(3, p);
    EXPECT_EQ(s.sample(l.data()), 1);
    s.accept(1);  // 1.2 / 2 = 0.6 < 1.0
    EXPECT_EQ(s.sample(l.data()), 0);
    for (int i = 0; i < 4; ++i) s.accept(2);  // token 1 leaves the window of 4
    EXPECT_EQ(s.sample(l.data()), 1);

    p = plain(0.0f);
    p.frequency_penalty = 0.15f;
    p.repeat_last_n = 64;
    s.set_params(p);
    s.reset_history();
    s.accept(1);
    EXPECT_EQ(s.sample(l.data()), 1);  // 1.2 - 0.15 = 1.05 > 1.0
    s.accept(1);
    EXPECT_EQ(s.sample(l.data()), 0);  // 1.2 - 0.30 = 0.90
    p.frequency_penalty = 0;
    p.presence_penalty = 0.25f;  // once per distinct token: 1.2 - 0.25 = 0.95
    s.set_params(p);
    EXPECT_EQ(s.sample(l.data()), 0);
}

TEST(Sampler, SamplingAllocatesNothing) {
    std::vector<float> l(1000);
    for (int i = 0; i < 1000; ++i) l[size_t(i)] = std::cos(float(i) * 0.37f) * 5;
    SamplingParams p;  // defaults: temperature, top-k 40, top-p 0.9, repeat penalty 1.1 over 64
    p.seed = 1;
    p.min_p = 0.05f;
    p.presence_penalty = 0.1f;
    p.frequency_penalty = 0.1f;
    Sampler s(1000, p, 256);
    g_allocs = 0;
    g_counting = true;
    for (int i = 0; i < 300; ++i) s.accept(s.sample(l.data()));
    g_counting = false;
    EXPECT_EQ(g_allocs.load(), 0);
}

// A mask keeps only the allowed tokens: greedy takes the best allowed one, temperature sampling follows the
// softmax renormalized over the allowed ones (tolerance: 3 standard deviations of 40,000 draws), penalties
// still apply by token id, nothing allocates, and an empty mask gives -1.
TEST(Sampler, MaskedSamplingKeepsAllowedTokensOnly) {
    std::vector<float> l = {3.0f, 0.0f, 2.0f, 1.0f, 5.0f, 0.5f, -1.0f, 4.0f};
    uint64_t allowed = (1u << 1) | (1u << 2) | (1u << 3) | (1u << 5);
    Sampler greedy(8, plain(0.0f));
    EXPECT_EQ(greedy.sample(l.data()), 4);
    EXPECT_EQ(greedy.sample(l.data(), &allowed), 2);
    uint64_t none = 0;
    EXPECT_EQ(greedy.sample(l.data(), &none), -1);

    Sampler s(8, plain(1.0f));
    std::array<int, 9> counts{};  // [8]: -1
    const int n = 40000;
    g_allocs = 0;
    g_counting = true;
    for (int i = 0; i < n; ++i) {
        int t = s.sample(l.data(), &allowed);
        ++counts[size_t(t < 0 ? 8 : t)];
    }
    g_counting = false;
    EXPECT_EQ(g_allocs.load(), 0);
    double z = 0;
    for (int t : {1, 2, 3, 5}) z += std::exp(double(l[size_t(t)]));
    for (int t = 0; t < 8; ++t) {
        const bool ok = (allowed >> t) & 1;
        const double p = ok ? std::exp(double(l[size_t(t)])) / z : 0.0;
        EXPECT_NEAR(counts[size_t(t)] / double(n), p, 3 * std::sqrt(p * (1 - p) / n) + 1e-9) << "token " << t;
    }

    // Penalties apply before masking: token 2 seen before drops below token 3.
    SamplingParams pen = plain(0.0f);
    pen.repeat_penalty = 4.0f;
    Sampler penalized(8, pen);
    penalized.accept(2);
    EXPECT_EQ(penalized.sample(l.data(), &allowed), 3);

    // Top-k counts allowed tokens only.
    SamplingParams topk = plain(1.0f);
    topk.top_k = 1;
    Sampler one(8, topk);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(one.sample(l.data(), &allowed), 2);
}

TEST(StopMatcher, HoldsBackPossibleStopPrefixes) {
    StopMatcher m({"</s>", "STOP"});
    EXPECT_EQ(m.push("hello <"), 6u);  // "<" might start "</s>"
    m.consume(6);
    EXPECT_EQ(m.push("/"), 0u);
    EXPECT_EQ(m.push("x"), 3u);  // "</x" cannot start a stop string any more
    m.consume(3);
    EXPECT_EQ(m.push("abc STO"), 4u);
    EXPECT_FALSE(m.stopped());
    m.consume(4);
    EXPECT_EQ(m.push("P tail"), 0u);
    EXPECT_TRUE(m.stopped());
}

}  // namespace
}  // namespace berth
