// sampling: logits → token. Repetition penalties over the last repeat_last_n tokens, top-k, top-p, min-p,
// temperature and a seeded deterministic RNG, optionally over the tokens a grammar mask allows. All buffers
// are sized at construction: sampling a token performs no heap allocation. Stop strings are matched by
// StopMatcher.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"

namespace berth {

struct SamplingParams {
    float temperature = 0.8f;        // ≤ 0: greedy (argmax after penalties)
    int top_k = 40;                  // ≤ 0: off
    float top_p = 0.9f;              // ≥ 1: off
    float min_p = 0.0f;              // ≤ 0: off; keeps tokens with p ≥ min_p · p_max
    float repeat_penalty = 1.1f;     // 1: off; logit > 0 → logit / penalty, else logit * penalty
    float presence_penalty = 0.0f;   // subtracted once from every token seen in the window
    float frequency_penalty = 0.0f;  // subtracted per occurrence in the window
    int repeat_last_n = 64;          // window of previous tokens the penalties look at; 0 = off, -1 = n_ctx
    uint64_t seed = 0xFFFFFFFFu;     // 0xFFFFFFFF ("-1" in Ollama) = random seed
};

// A small deterministic RNG (xoshiro256**) seeded with splitmix64.
class Rng {
  public:
    explicit Rng(uint64_t seed = 0) { reseed(seed); }
    void reseed(uint64_t seed);
    uint64_t next();
    double uniform();  // [0, 1)

  private:
    uint64_t s_[4];
};

class Sampler {
  public:
    // n_ctx bounds the history kept for penalties (repeat_last_n = -1 means n_ctx).
    Sampler(int n_vocab, const SamplingParams& params, int n_ctx = 4096);

    const SamplingParams& params() const { return params_; }
    // Changes the parameters without reallocating (reseeds the RNG).
    void set_params(const SamplingParams& params);
    // Adds a token to the history the penalties look at (prompt tokens and sampled ones).
    void accept(int32_t token);
    void reset_history();

    // Picks the next token from logits (n_vocab floats; not modified). Does not call accept().
    int32_t sample(const float* logits);
    // The same over the tokens whose bit is set in `allowed` (ceil(n_vocab / 64) words, bit t of word t / 64):
    // the others count as if their logit were -inf. -1 when no token is allowed.
    int32_t sample(const float* logits, const uint64_t* allowed);

    // Index of the largest logit (first on ties).
    static int32_t argmax(const float* logits, int n_vocab);

    // Heap bytes of this sampler's buffers (candidates, counts, history), and what a Sampler(n_vocab, ...,
    // n_ctx) allocates: the same figure, computed without one (for memory plans).
    int64_t heap_bytes() const;
    static int64_t heap_bytes(int n_vocab, int n_ctx);

  private:
    int32_t sample_impl(const float* logits, const uint64_t* allowed);
    struct Cand {
        float logit;
        int32_t id;
    };
    int n_vocab_;
    int n_ctx_;
    SamplingParams params_;
    Rng rng_;
    std::vector<Cand> cand_;        // (n_vocab)
    std::vector<int32_t> history_;  // ring of the last n_ctx tokens
    int64_t n_history_ = 0;
    std::vector<int32_t> counts_;  // (n_vocab) occurrences within the window, rebuilt per sample
};

// Finds stop strings in streamed text, holding back a tail that might be the start of a stop string.
class StopMatcher {
  public:
    explicit StopMatcher(std::vector<std::string> stops = {});
    // Appends text; returns how many bytes of the pending text are safe to emit now. When a stop string
    // is found, stopped() becomes true and the returned count ends before the stop string.
    size_t push(std::string_view text);
    bool stopped() const { return stopped_; }
    // Pending text not yet emitted (what push held back).
    const std::string& pending() const { return pending_; }
    // Removes n emitted bytes from the front of pending().
    void consume(size_t n) { pending_.erase(0, n); }
    void reset() {
        pending_.clear();
        stopped_ = false;
    }

  private:
    std::vector<std::string> stops_;
    std::string pending_;
    bool stopped_ = false;
};

}  // namespace berth
