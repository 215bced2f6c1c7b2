// Sampling: penalties over a history window, then greedy or top-k / top-p / min-p / temperature with a
// seeded RNG. Buffers are sized in the constructor; sample() allocates nothing.
#include "sampling/sampling.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace berth {

namespace {
uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Rng::reseed(uint64_t seed) {
    for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::uniform() { return double(next() >> 11) * 0x1.0p-53; }

Sampler::Sampler(int n_vocab, const SamplingParams& params, int n_ctx)
    : n_vocab_(n_vocab),
      n_ctx_(std::max(1, n_ctx)),
      cand_(size_t(n_vocab)),
      history_(size_t(std::max(1, n_ctx))),
      counts_(size_t(n_vocab), 0) {
    set_params(params);
}

void Sampler::set_params(const SamplingParams& params) {
    params_ = params;
    uint64_t seed = params.seed;
    if (seed == 0xFFFFFFFFu) seed = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
    rng_.reseed(seed);
}

void Sampler::accept(int32_t token) {
    history_[size_t(n_history_ % n_ctx_)] = token;
    ++n_history_;
}

void Sampler::reset_history() { n_history_ = 0; }

int32_t Sampler::argmax(const float* logits, int n_vocab) {
    int32_t best = 0;
    for (int i = 1; i < n_vocab; ++i) {
        if (logits[i] > logits[best]) best = i;
    }
    return best;
}

int32_t Sampler::sample(const float* logits) {
    const SamplingParams& p = params_;
    for (int i = 0; i < n_vocab_; ++i) cand_[size_t(i)] = Cand{logits[i], i};
    // Penalties over the last repeat_last_n tokens.
    int64_t window = p.repeat_last_n < 0 ? n_ctx_ : std::min<int64_t>(p.repeat_last_n, n_ctx_);
    window = std::min(window, n_history_);
    bool penalize =
        window > 0 && (p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f);
    if (penalize) {
        for (int64_t k = 0; k < window; ++k) {
            int32_t t = history_[size_t((n_history_ - 1 - k) % n_ctx_)];
            if (t >= 0 && t < n_vocab_) ++counts_[size_t(t)];
        }
        for (int64_t k = 0; k < window; ++k) {
            int32_t t = history_[size_t((n_history_ - 1 - k) % n_ctx_)];
            if (t < 0 || t >= n_vocab_ || counts_[size_t(t)] == 0) continue;
            float& l = cand_[size_t(t)].logit;
            if (p.repeat_penalty != 1.0f) l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
            l -= p.presence_penalty + p.frequency_penalty * float(counts_[size_t(t)]);
            counts_[size_t(t)] = 0;  // each distinct token penalized once
        }
    }
    if (p.temperature <= 0.0f) {
        int32_t best = 0;
        for (int i = 1; i < n_vocab_; ++i) {
            if (cand_[size_t(i)].logit > cand_[size_t(best)].logit) best = i;
        }
        return best;
    }
    auto by_logit = [](const Cand& a, const Cand& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    size_t n = size_t(n_vocab_);
    if (p.top_k > 0 && size_t(p.top_k) < n) {
        std::partial_sort(cand_.begin(), cand_.begin() + p.top_k, cand_.end(), by_logit);
        n = size_t(p.top_k);
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    // Softmax with temperature over the n best (sorted, so cand_[0] is the maximum).
    float max_l = cand_[0].logit;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
        float e = std::exp((cand_[i].logit - max_l) / p.temperature);
        cand_[i].logit = e;  // now an unnormalized probability
        sum += e;
    }
    if (p.min_p > 0.0f) {
        float cut = float(p.min_p * cand_[0].logit);
        size_t keep = 1;
        while (keep < n && cand_[keep].logit >= cut) ++keep;
        n = keep;
        sum = 0;
        for (size_t i = 0; i < n; ++i) sum += cand_[i].logit;
    }
    if (p.top_p < 1.0f) {
        double acc = 0;
        size_t keep = 0;
        while (keep < n) {
            acc += cand_[keep].logit / sum;
            ++keep;
            if (acc >= p.top_p) break;
        }
        n = std::max<size_t>(keep, 1);
        sum = 0;
        for (size_t i = 0; i < n; ++i) sum += cand_[i].logit;
    }
    double r = rng_.uniform() * sum, acc = 0;
    for (size_t i = 0; i < n; ++i) {
        acc += cand_[i].logit;
        if (r < acc) return cand_[i].id;
    }
    return cand_[n - 1].id;
}

}  // namespace berth
