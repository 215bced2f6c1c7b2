#include "sampling/sampling.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace berth {
namespace {

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

void Rng::reseed(uint64_t seed) {
    for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }

Sampler::Sampler(int n_vocab, const SamplingParams& params, int n_ctx) : n_vocab_(n_vocab), n_ctx_(std::max(1, n_ctx)) {
    CHECK(n_vocab > 0);
    cand_.resize(size_t(n_vocab));
    history_.resize(size_t(n_ctx_));
    counts_.assign(size_t(n_vocab), 0);
    set_params(params);
}

int64_t Sampler::heap_bytes() const {
    return int64_t(cand_.capacity() * sizeof(Cand) + history_.capacity() * sizeof(int32_t) +
                   counts_.capacity() * sizeof(int32_t));
}

int64_t Sampler::heap_bytes(int n_vocab, int n_ctx) {
    return int64_t(n_vocab) * int64_t(sizeof(Cand) + sizeof(int32_t)) + int64_t(std::max(1, n_ctx)) * 4;
}

void Sampler::set_params(const SamplingParams& params) {
    params_ = params;
    uint64_t seed = params.seed;
    if (seed == 0xFFFFFFFFu || seed == ~uint64_t(0)) seed = std::random_device{}() ^ (uint64_t(now_ns()) << 1);
    rng_.reseed(seed);
}

void Sampler::accept(int32_t token) {
    history_[size_t(n_history_ % n_ctx_)] = token;
    ++n_history_;
}

void Sampler::reset_history() { n_history_ = 0; }

int32_t Sampler::argmax(const float* logits, int n_vocab) {
    int32_t best = 0;
    for (int i = 1; i < n_vocab; ++i)
        if (logits[i] > logits[best]) best = i;
    return best;
}

int32_t Sampler::sample(const float* logits) { return sample_impl(logits, nullptr); }

int32_t Sampler::sample(const float* logits, const uint64_t* allowed) { return sample_impl(logits, allowed); }

int32_t Sampler::sample_impl(const float* logits, const uint64_t* allowed) {
    const SamplingParams& p = params_;
    int n = n_vocab_;
    for (int i = 0; i < n; ++i) cand_[size_t(i)] = {logits[i], int32_t(i)};

    // Penalties over the window of the last repeat_last_n tokens (each distinct token once for repeat and
    // presence penalties, per occurrence for the frequency penalty), as llama.cpp applies them.
    int64_t window = p.repeat_last_n < 0 ? n_ctx_ : std::min<int64_t>(p.repeat_last_n, n_ctx_);
    window = std::min(window, n_history_);
    const bool penalize =
        window > 0 && (p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f);
    if (penalize) {
        for (int64_t i = n_history_ - window; i < n_history_; ++i) {
            int32_t t = history_[size_t(i % n_ctx_)];
            if (t >= 0 && t < n) ++counts_[size_t(t)];
        }
        for (int64_t i = n_history_ - window; i < n_history_; ++i) {
            int32_t t = history_[size_t(i % n_ctx_)];
            if (t < 0 || t >= n || counts_[size_t(t)] == 0) continue;
            float& l = cand_[size_t(t)].logit;
            if (p.repeat_penalty != 1.0f && p.repeat_penalty > 0)
                l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
            l -= float(counts_[size_t(t)]) * p.frequency_penalty + p.presence_penalty;
            counts_[size_t(t)] = 0;  // handled: later occurrences skip it
        }
    }

    // A mask keeps the allowed candidates only (in id order), after the penalties were applied by id.
    if (allowed) {
        int kept = 0;
        for (int i = 0; i < n; ++i)
            if ((allowed[size_t(i) >> 6] >> (i & 63)) & 1) cand_[size_t(kept++)] = cand_[size_t(i)];
        n = kept;
        if (n == 0) return -1;
    }

    if (p.temperature <= 0) {
        int best = 0;
        for (int i = 1; i < n; ++i)
            if (cand_[size_t(i)].logit > cand_[size_t(best)].logit) best = i;
        return cand_[size_t(best)].id;
    }

    // top-k: keep the k largest, sorted descending.
    auto by_logit = [](const Cand& a, const Cand& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    int k = (p.top_k > 0 && p.top_k < n) ? p.top_k : n;
    std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.begin() + n, by_logit);

    // Softmax with temperature over the k survivors (logit field now holds probabilities).
    const float inv_t = 1.0f / p.temperature;
    const float mx = cand_[0].logit;
    double sum = 0;
    for (int i = 0; i < k; ++i) {
        float e = std::exp((cand_[size_t(i)].logit - mx) * inv_t);
        cand_[size_t(i)].logit = e;
        sum += e;
    }
    for (int i = 0; i < k; ++i) cand_[size_t(i)].logit = float(cand_[size_t(i)].logit / sum);

    // min-p: drop tokens below min_p times the top probability.
    if (p.min_p > 0) {
        const float floor_p = p.min_p * cand_[0].logit;
        int keep = 1;
        while (keep < k && cand_[size_t(keep)].logit >= floor_p) ++keep;
        k = keep;
    }
    // top-p: the smallest prefix whose mass reaches top_p.
    if (p.top_p < 1.0f) {
        double cum = 0;
        int keep = 0;
        while (keep < k) {
            cum += cand_[size_t(keep)].logit;
            ++keep;
            if (cum >= p.top_p) break;
        }
        k = std::max(keep, 1);
    }
    double mass = 0;
    for (int i = 0; i < k; ++i) mass += cand_[size_t(i)].logit;
    double r = rng_.uniform() * mass;
    for (int i = 0; i < k; ++i) {
        r -= cand_[size_t(i)].logit;
        if (r < 0) return cand_[size_t(i)].id;
    }
    return cand_[size_t(k - 1)].id;
}

}  // namespace berth
