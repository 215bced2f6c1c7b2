// Engine tests over a fake backend whose greedy continuation of token t is t + 1 (mod n_vocab), and a codec
// that spells token i as the letter 'a' + i. Token 15 ('p') is the end-of-generation token; for grammars,
// token 14 is a special token whose text is "<o>" (it prints 'o' unless special tokens are rendered).
#include "engine/engine.h"
#include "engine/side_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <new>
#include <set>

// The replacement operator new below uses malloc, so free in operator delete is the right match; GCC's
// heuristic does not know that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Counts heap allocations of the whole process while g_count_allocs is set (all threads).
static std::atomic<bool> g_count_allocs{false};
static std::atomic<int64_t> g_allocs{0};
void* operator new(size_t n) {
    if (g_count_allocs.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace berth {
namespace {

constexpr int kVocab = 16;
constexpr int32_t kEog = 15;

struct FakeState {
    std::mutex mu;
    std::set<int> live;  // sequences created and not freed
    int max_rows = 0;    // most logits rows in one forward
    int max_tokens = 0;  // most tokens in one forward
    int forwards = 0;
    int64_t delay_us = 0;    // per forward, to let concurrent requests overlap
    bool never_eog = false;  // continue 14 → 0 instead of 14 → 15 (end)
};

class FakeBackend final : public Backend {
  public:
    FakeBackend(std::shared_ptr<FakeState> st, int n_ctx, int n_parallel, int n_batch)
        : st_(std::move(st)),
          n_ctx_(n_ctx),
          n_parallel_(n_parallel),
          n_batch_(n_batch),
          logits_(size_t(n_parallel) * kVocab) {}
    int n_vocab() const override { return kVocab; }
    int n_ctx() const override { return n_ctx_; }
    int n_parallel() const override { return n_parallel_; }
    int n_batch() const override { return n_batch_; }
    Result<int> create_sequence() override {
        std::lock_guard<std::mutex> l(st_->mu);
        for (int i = 0; i < n_parallel_; ++i) {
            if (!st_->live.count(i)) {
                st_->live.insert(i);
                return i;
            }
        }
        return resource_exhausted("no sequence free");
    }
    void free_sequence(int seq) override {
        std::lock_guard<std::mutex> l(st_->mu);
        st_->live.erase(seq);
    }
    Result<const float*> forward(const BatchToken* tokens, int n) override {
        if (st_->delay_us) std::this_thread::sleep_for(std::chrono::microseconds(st_->delay_us));
        std::lock_guard<std::mutex> l(st_->mu);
        EXPECT_LE(n, n_batch_);
        int rows = 0;
        for (int i = 0; i < n; ++i) {
            EXPECT_TRUE(st_->live.count(tokens[i].seq)) << "token for a freed sequence";
            EXPECT_LT(tokens[i].pos, n_ctx_);
            if (!tokens[i].logits) continue;
            float* row = logits_.data() + size_t(rows++) * kVocab;
            for (int v = 0; v < kVocab; ++v) row[v] = 0.0f;
            row[(tokens[i].token + 1) % (st_->never_eog ? kVocab - 1 : kVocab)] = 10.0f;
        }
        st_->max_rows = std::max(st_->max_rows, rows);
        st_->max_tokens = std::max(st_->max_tokens, n);
        ++st_->forwards;
        return logits_.data();
    }

  private:
    std::shared_ptr<FakeState> st_;
    int n_ctx_, n_parallel_, n_batch_;
    std::vector<float> logits_;
};

class LetterCodec final : public TextCodec {
  public:
    Result<std::vector<int32_t>> encode(std::string_view text, bool, bool) const override {
        std::vector<int32_t> out;
        for (char c : text) out.push_back(int32_t(c - 'a'));
        return out;
    }
    void append_piece(int32_t token, std::string& out) const override { out.push_back(char('a' + token)); }
    bool is_eog(int32_t token) const override { return token == kEog; }
    std::shared_ptr<const Vocabulary> vocabulary() const override { return vocab_; }

  private:
    std::shared_ptr<const Vocabulary> vocab_ = Vocabulary::create(kVocab, [](int32_t t, std::string& out) {
        if (t == kEog) return TokenKind::eog;
        if (t == 14) {
            out = "<o>";
            return TokenKind::special;
        }
        out.push_back(char('a' + t));
        return TokenKind::text;
    });
};

struct Fixture {
    std::shared_ptr<FakeState> st = std::make_shared<FakeState>();
    std::unique_ptr<Engine> engine;
    Fixture(int n_ctx = 64, int n_parallel = 1, int n_batch = 32, EngineLimits limits = {}) {
        engine = std::make_unique<Engine>(std::make_unique<FakeBackend>(st, n_ctx, n_parallel, n_batch),
                                          std::make_shared<LetterCodec>(), limits);
    }
};

GenerateRequest greedy(std::vector<int32_t> prompt, int num_predict) {
    GenerateRequest r;
    r.prompt = std::move(prompt);
    r.sampling.temperature = 0.0f;
    r.sampling.repeat_penalty = 1.0f;
    r.num_predict = num_predict;
    return r;
}

TEST(Engine, GreedyUntilLength) {
    Fixture f;
    std::string text;
    int calls = 0;
    auto res = f.engine->generate(greedy({1, 2}, 5), [&](std::string_view t) {
        text += t;
        ++calls;
        return true;
    });
    ASSERT_TRUE(res.is_ok()) << res.status().to_string();
    EXPECT_EQ(text, "defgh");
    EXPECT_EQ(calls, 5) << "one callback per token, however fast the worker runs";
    EXPECT_EQ(res->done_reason, "length");
    EXPECT_EQ(res->eval_count, 5);
    EXPECT_EQ(res->prompt_eval_count, 2);
    EXPECT_EQ(res->output, (std::vector<int32_t>{3, 4, 5, 6, 7}));
    EXPECT_TRUE(f.st->live.empty());
}

TEST(Engine, StopsAtEndOfGeneration) {
    Fixture f;
    std::string text;
    auto res = f.engine->generate(greedy({12}, -1), [&](std::string_view t) {
        text += t;
        return true;
    });
    ASSERT_TRUE(res.is_ok());
    EXPECT_EQ(text, "no");  // 13, 14, then 15 = end of generation (not printed)
    EXPECT_EQ(res->done_reason, "stop");
    EXPECT_EQ(res->eval_count, 3);
}

TEST(Engine, StopStringIsRemovedAndEnds) {
    Fixture f;
    std::string text;
    GenerateRequest r = greedy({1}, 10);
    r.stop = {"fg"};
    auto res = f.engine->generate(r, [&](std::string_view t) {
        text += t;
        return true;
    });
    ASSERT_TRUE(res.is_ok());
    EXPECT_EQ(text, "cde");
    EXPECT_EQ(res->done_reason, "stop");
}

TEST(Engine, LengthBoundedByContext) {
    Fixture f(/*n_ctx=*/8);
    auto res = f.engine->generate(greedy({0, 0, 0}, -1), nullptr);
    ASSERT_TRUE(res.is_ok());
    EXPECT_EQ(res->done_reason, "length");
    EXPECT_LE(3 + res->eval_count, 8);
}

TEST(Engine, RejectsEmptyAndTooLongPrompts) {
    Fixture f(/*n_ctx=*/8);
    EXPECT_EQ(f.engine->generate(greedy({}, 1), nullptr).status().code(), StatusCode::invalid_argument);
    EXPECT_EQ(f.engine->generate(greedy(std::vector<int32_t>(8, 1), 1), nullptr).status().code(),
              StatusCode::invalid_argument);
    EXPECT_EQ(f.engine->generate(greedy({99}, 1), nullptr).status().code(), StatusCode::invalid_argument);
    // The engine still serves normally afterwards.
    EXPECT_TRUE(f.engine->generate(greedy({1}, 2), nullptr).is_ok());
}

TEST(Engine, CallbackCancelsAndFreesSequence) {
    Fixture f(/*n_ctx=*/4096);
    f.st->never_eog = true;
    f.st->delay_us = 100;  // slow steps: the caller sees text long before 4096 tokens
    int calls = 0;
    auto res = f.engine->generate(greedy({0}, -1), [&](std::string_view) { return ++calls < 3; });
    ASSERT_TRUE(res.is_ok());
    EXPECT_EQ(res->done_reason, "cancel");
    EXPECT_GE(calls, 3);
    EXPECT_LT(res->eval_count, 4000);
    EXPECT_TRUE(f.st->live.empty());
}

TEST(Engine, ExternalCancelFlag) {
    Fixture f(/*n_ctx=*/4096);
    f.st->delay_us = 200;
    f.st->never_eog = true;
    std::atomic<bool> cancel{false};
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        cancel = true;
    });
    auto res = f.engine->generate(greedy({0}, -1), nullptr, &cancel);
    t.join();
    ASSERT_TRUE(res.is_ok());
    EXPECT_EQ(res->done_reason, "cancel");
    EXPECT_TRUE(f.st->live.empty());
}

TEST(Engine, PrefillIsChunkedToBatchSize) {
    Fixture f(/*n_ctx=*/64, /*n_parallel=*/1, /*n_batch=*/4);
    std::vector<int32_t> prompt(10, 2);
    prompt.back() = 5;
    std::string text;
    auto res = f.engine->generate(greedy(prompt, 2), [&](std::string_view t) {
        text += t;
        return true;
    });
    ASSERT_TRUE(res.is_ok());
    EXPECT_EQ(text, "gh");
    EXPECT_LE(f.st->max_tokens, 4);
    EXPECT_GE(f.st->forwards, 3 + 1);  // ceil(10 / 4) prefill steps, then one decode step
}

TEST(Engine, ConcurrentRequestsShareDecodeSteps) {
    Fixture f(/*n_ctx=*/256, /*n_parallel=*/4, /*n_batch=*/64);
    f.st->delay_us = 300;  // long enough steps that the four requests overlap
    std::vector<std::string> texts(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            auto res = f.engine->generate(greedy({int32_t(i)}, 40), [&](std::string_view t) {
                texts[size_t(i)] += t;
                return true;
            });
            EXPECT_TRUE(res.is_ok());
        });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < 4; ++i) {
        // Greedy continuation of i cycles through the alphabet, skipping the end token only by stopping there.
        std::string expect;
        for (int k = 1; k <= 40; ++k) {
            int tok = (i + k) % kVocab;
            if (tok == kEog) break;
            expect.push_back(char('a' + tok));
        }
        EXPECT_EQ(texts[size_t(i)], expect) << i;
    }
    EXPECT_GT(f.st->max_rows, 1) << "decode steps were never batched";
    EXPECT_TRUE(f.st->live.empty());
}

TEST(Engine, MoreRequestsThanSlotsWait) {
    Fixture f(/*n_ctx=*/64, /*n_parallel=*/2, /*n_batch=*/16);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 6; ++i) {
        threads.emplace_back([&] {
            auto res = f.engine->generate(greedy({1}, 3), nullptr);
            ok += res.is_ok() && res->eval_count == 3;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 6);
    EXPECT_EQ(f.engine->stats().requests, 6);
}

TEST(Engine, WaitingForASlotIsReportedAsQueueTime) {
    Fixture f(/*n_ctx=*/64, /*n_parallel=*/1, /*n_batch=*/16);
    f.st->delay_us = 2000;  // each step 2 ms: a request behind another waits at least 3 steps
    std::atomic<int64_t> max_queue{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
        threads.emplace_back([&] {
            auto res = f.engine->generate(greedy({1}, 3), nullptr);
            ASSERT_TRUE(res.is_ok());
            int64_t q = res->queue_ns, cur = max_queue.load();
            while (q > cur && !max_queue.compare_exchange_weak(cur, q)) {}
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_GE(max_queue.load(), 4000000) << "the last request waited for two others (>= 4 steps of 2 ms)";
}

// With every sequence busy, a request waits for one at most wait_timeout_ns, then gets a timeout (503) whose
// message has the numbers; the request that held the sequence is not disturbed.
TEST(Engine, WaitingForASequenceIsBoundedByTheTimeout) {
    EngineLimits limits;
    limits.wait_timeout_ns = 50 * 1000000;  // 50 ms
    Fixture f(/*n_ctx=*/256, /*n_parallel=*/1, /*n_batch=*/16, limits);
    f.st->delay_us = 2000;  // 2 ms a step: the first request (200 tokens) holds the only sequence ≥ 400 ms
    f.st->never_eog = true;
    std::atomic<bool> first_ok{false}, first_done{false};
    std::thread first([&] {
        auto r = f.engine->generate(greedy({1}, 200), nullptr);
        first_ok = r.is_ok() && r->eval_count == 200;
        first_done = true;
    });
    while (f.engine->stats().active == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    int64_t t0 = berth::now_ns();
    auto second = f.engine->generate(greedy({2}, 3), nullptr);
    int64_t waited = berth::now_ns() - t0;
    ASSERT_FALSE(second.is_ok());
    EXPECT_EQ(second.status().code(), StatusCode::timeout);
    EXPECT_NE(second.status().message().find("timed out after 0.05 s waiting for a free sequence: all 1 sequences"),
              std::string::npos)
        << second.status().message();
    EXPECT_GE(waited, 50 * 1000000);
    EXPECT_FALSE(first_done.load()) << "gave up while the first request still held the sequence";
    EXPECT_EQ(f.engine->stats().waiting, 0) << "the timed-out request left the queue";
    first.join();
    EXPECT_TRUE(first_ok.load());
    EXPECT_TRUE(f.engine->generate(greedy({2}, 3), nullptr).is_ok()) << "a free sequence serves the next request";
}

// At most max_waiting requests wait for a sequence; one more is refused at once (503).
TEST(Engine, WaitingQueueIsBounded) {
    EngineLimits limits;
    limits.max_waiting = 1;
    Fixture f(/*n_ctx=*/256, /*n_parallel=*/1, /*n_batch=*/16, limits);
    f.st->delay_us = 2000;
    f.st->never_eog = true;
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    threads.emplace_back([&] { ok += f.engine->generate(greedy({1}, 60), nullptr).is_ok(); });
    while (f.engine->stats().active == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    threads.emplace_back([&] { ok += f.engine->generate(greedy({1}, 3), nullptr).is_ok(); });
    while (f.engine->stats().waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto third = f.engine->generate(greedy({1}, 3), nullptr);
    ASSERT_FALSE(third.is_ok());
    EXPECT_EQ(third.status().code(), StatusCode::resource_exhausted);
    EXPECT_NE(third.status().message().find("1 requests already wait for one (BERTH_MAX_QUEUE=1)"), std::string::npos)
        << third.status().message();
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 2) << "the running and the waiting request both complete";
}

GrammarPtr grammar_of(const std::function<GrammarBuilder::Node(GrammarBuilder&)>& make) {
    GrammarBuilder b;
    Result<GrammarPtr> g = b.build(make(b));
    EXPECT_TRUE(g.is_ok()) << g.status().to_string();
    return *g;
}

GenerateRequest constrained(std::vector<int32_t> prompt, int num_predict, GrammarPtr g) {
    GenerateRequest r = greedy(std::move(prompt), num_predict);
    r.grammar = std::move(g);
    return r;
}

std::string run_text(Engine& e, const GenerateRequest& r, Result<GenerateResult>* out = nullptr) {
    std::string text;
    Result<GenerateResult> res = e.generate(r, [&](std::string_view t) {
        text += t;
        return true;
    });
    if (out) *out = std::move(res);
    return text;
}

// The grammar ends the generation as soon as nothing may follow: no end-of-generation token is needed.
TEST(EngineGrammar, StopsWhenTheGrammarIsFinished) {
    Fixture f;
    auto g = grammar_of([](GrammarBuilder& b) { return b.seq({b.literal("m"), b.optional(b.literal("n"))}); });
    Result<GenerateResult> res = Status(StatusCode::internal, "not run");
    EXPECT_EQ(run_text(*f.engine, constrained({11}, 20, g), &res), "mn");
    ASSERT_TRUE(res.is_ok()) << res.status().to_string();
    EXPECT_EQ(res->done_reason, "stop");
    EXPECT_EQ(res->output, (std::vector<int32_t>{12, 13}));
    EXPECT_EQ(res->grammar_masks, 0) << "the model's own choices were allowed";
}

// Tokens the grammar does not allow are masked: the model prefers the next letter, the grammar wants "ab"
// repeated up to three times.
TEST(EngineGrammar, MasksWhatTheGrammarForbids) {
    Fixture f;
    auto g = grammar_of([](GrammarBuilder& b) { return b.repeat(b.literal("ab"), 1, 3); });
    Result<GenerateResult> res = Status(StatusCode::internal, "not run");
    EXPECT_EQ(run_text(*f.engine, constrained({11}, 20, g), &res), "ababab");
    ASSERT_TRUE(res.is_ok());
    EXPECT_EQ(res->done_reason, "stop");
    EXPECT_GE(res->grammar_masks, 3);
    EXPECT_GT(res->grammar_ns, 0);
}

// End of generation is allowed only where the grammar may end; then the model's EOS ends it normally.
TEST(EngineGrammar, EndOfGenerationOnlyWhereTheGrammarMayEnd) {
    Fixture f;
    auto g = grammar_of([](GrammarBuilder& b) { return b.seq({b.literal("m"), b.repeat(b.literal("o"), 0, -1)}); });
    Result<GenerateResult> res = Status(StatusCode::internal, "not run");
    // 'o' is the special token here; with a grammar it is never text, so the only ways on are... none but EOS.
    EXPECT_EQ(run_text(*f.engine, constrained({11}, 20, g), &res), "m");
    ASSERT_TRUE(res.is_ok());
    EXPECT_EQ(res->output, (std::vector<int32_t>{12, kEog}));
    // A grammar that cannot end after "m" never lets EOS through.
    auto g2 = grammar_of([](GrammarBuilder& b) { return b.seq({b.literal("mn"), b.repeat(b.literal("n"), 0, 2)}); });
    EXPECT_EQ(run_text(*f.engine, constrained({11}, 20, g2), &res), "mnnn");
    EXPECT_EQ(res->done_reason, "stop");
}

TEST(EngineGrammar, SpecialTokensOnlyAsLiteralsAndRenderedAsText) {
    Fixture f;
    auto g = grammar_of([](GrammarBuilder& b) { return b.seq({b.literal("n"), b.literal("<o>")}); });
    Result<GenerateResult> res = Status(StatusCode::internal, "not run");
    EXPECT_EQ(run_text(*f.engine, constrained({12}, 20, g), &res), "n<o>");
    EXPECT_EQ(res->output, (std::vector<int32_t>{13, 14}));
    // Unconstrained: rendered only when asked; EOS never.
    GenerateRequest r = greedy({12}, 20);
    EXPECT_EQ(run_text(*f.engine, r), "no");
    r.render_special = true;
    EXPECT_EQ(run_text(*f.engine, r), "n<o>");
}

// A dead end (no token continues the grammar) ends that request with an error; the engine serves the next.
TEST(EngineGrammar, DeadEndIsAnErrorForThatRequestOnly) {
    Fixture f;
    auto g = grammar_of([](GrammarBuilder& b) { return b.seq({b.literal("m"), b.literal("z")}); });
    Result<GenerateResult> res = Status(StatusCode::internal, "not run");
    EXPECT_EQ(run_text(*f.engine, constrained({11}, 20, g), &res), "m");
    ASSERT_FALSE(res.is_ok());
    EXPECT_NE(res.status().message().find("dead end after 1 bytes"), std::string::npos) << res.status().message();
    EXPECT_EQ(run_text(*f.engine, greedy({1, 2}, 3)), "def");
    EXPECT_TRUE(f.st->live.empty() || f.st->live.size() == 1u);
}

TEST(EngineGrammar, NumPredictFirstIsLength) {
    Fixture f;
    auto g = grammar_of([](GrammarBuilder& b) { return b.repeat(b.literal("ab"), 5, 5); });
    Result<GenerateResult> res = Status(StatusCode::internal, "not run");
    EXPECT_EQ(run_text(*f.engine, constrained({11}, 3, g), &res), "aba");
    ASSERT_TRUE(res.is_ok());
    EXPECT_EQ(res->done_reason, "length");
}

TEST(EngineGrammar, CodecWithoutVocabularyRefusesGrammars) {
    struct Plain final : TextCodec {
        Result<std::vector<int32_t>> encode(std::string_view, bool, bool) const override {
            return std::vector<int32_t>{};
        }
        void append_piece(int32_t t, std::string& out) const override { out.push_back(char('a' + t)); }
        bool is_eog(int32_t t) const override { return t == kEog; }
    };
    auto st = std::make_shared<FakeState>();
    Engine e(std::make_unique<FakeBackend>(st, 64, 1, 32), std::make_shared<Plain>());
    auto g = grammar_of([](GrammarBuilder& b) { return b.literal("m"); });
    auto res = e.generate(constrained({11}, 5, g), nullptr);
    ASSERT_FALSE(res.is_ok());
    EXPECT_EQ(res.status().code(), StatusCode::unsupported);
}

// stats().kv_positions: the positions the generating sequences hold (what /metrics reports as KV use); they grow
// while a request decodes and drop to 0 when it ends, although the slot keeps its tokens for prefix reuse.
TEST(Engine, KvPositionsCountGeneratingSequencesOnly) {
    Fixture f(/*n_ctx=*/256, /*n_parallel=*/2, /*n_batch=*/16);
    f.st->delay_us = 2000;
    f.st->never_eog = true;
    EXPECT_EQ(f.engine->stats().kv_positions, 0);
    std::thread t([&] { EXPECT_TRUE(f.engine->generate(greedy({1, 2, 3, 4}, 100), nullptr).is_ok()); });
    int64_t seen = 0;
    for (int i = 0; i < 5000 && seen < 20; ++i) {
        EngineStats s = f.engine->stats();
        EXPECT_LE(s.kv_positions, 4 + 100) << "at most the prompt and the generated tokens";
        seen = std::max(seen, s.kv_positions);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_GE(seen, 20) << "positions grow while decoding";
    t.join();
    for (int i = 0; i < 1000 && f.engine->stats().active > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(f.engine->stats().active, 0);
    EXPECT_EQ(f.engine->stats().kv_positions, 0) << "a finished (kept) sequence is not in use";
}

// The decode loop allocates nothing per token: a request generating 200 tokens makes exactly as many heap
// allocations as one generating 2 (the per-request ones: job buffers, stop matcher, output vector).
TEST(Engine, DecodeStepsDoNotAllocate) {
    Fixture f(/*n_ctx=*/1024);
    f.st->never_eog = true;
    size_t bytes = 0;
    TextCallback count = [&](std::string_view t) {
        bytes += t.size();
        return true;
    };
    GenerateRequest warm = greedy({1}, 4);
    ASSERT_TRUE(f.engine->generate(warm, count).is_ok());  // warm-up
    auto allocs_for = [&](int n) {
        GenerateRequest r = greedy({1, 2, 3}, n);
        g_allocs = 0;
        g_count_allocs = true;
        Result<GenerateResult> res = f.engine->generate(r, count);
        g_count_allocs = false;
        EXPECT_TRUE(res.is_ok());
        EXPECT_EQ(res->eval_count, n);
        return g_allocs.load();
    };
    int64_t short_run = allocs_for(2);
    int64_t long_run = allocs_for(200);
    EXPECT_GT(short_run, 0) << "the counter sees the per-request allocations";
    EXPECT_EQ(long_run, short_run) << "allocations grow with the number of decode steps";
    EXPECT_GT(bytes, 200u);
}

// The same with a grammar: checking, masking (every other step here), resampling and accepting tokens
// allocate nothing per step, with the masks computed after the forward pass or beside it on the mask thread.
class ConstrainedAllocs : public ::testing::TestWithParam<int> {};

TEST_P(ConstrainedAllocs, ConstrainedDecodeStepsDoNotAllocate) {
    EngineLimits limits;
    limits.mask_thread = GetParam();
    Fixture f(/*n_ctx=*/1024, 1, 32, limits);
    ASSERT_EQ(f.engine->mask_thread(), GetParam() == 1);
    f.st->never_eog = true;
    auto g = grammar_of([](GrammarBuilder& b) { return b.repeat(b.literal("ab"), 0, -1); });
    ASSERT_TRUE(f.engine->generate(constrained({1}, 8, g), nullptr).is_ok());  // warm-up: fills the mask cache
    auto allocs_for = [&](int n) {
        GenerateRequest r = constrained({11, 12, 13}, n, g);
        g_allocs = 0;
        g_count_allocs = true;
        Result<GenerateResult> res = f.engine->generate(r, nullptr);
        g_count_allocs = false;
        EXPECT_TRUE(res.is_ok());
        EXPECT_EQ(res->eval_count, n);
        EXPECT_GE(res->grammar_masks, n / 2 - 1);
        return g_allocs.load();
    };
    int64_t short_run = allocs_for(2);
    int64_t long_run = allocs_for(200);
    EXPECT_GT(short_run, 0);
    EXPECT_EQ(long_run, short_run) << "allocations grow with the number of constrained decode steps";
}

INSTANTIATE_TEST_SUITE_P(MaskThread, ConstrainedAllocs, ::testing::Values(0, 1));

// The mask thread changes where the full masks are computed, not what is sampled: the same seeded requests
// give the same tokens and use the same number of masks with it and without it, and with it the masks were
// computed beside the forward passes. Two requests at once put two constrained rows in one step.
TEST(EngineGrammar, MaskThreadSamplesTheSameTokens) {
    auto g = grammar_of([](GrammarBuilder& b) {
        return b.repeat(b.alt({b.literal("ab"), b.literal("cde"), b.literal("f")}), 1, -1);
    });
    std::vector<std::vector<int32_t>> outputs[2];
    int masks[2] = {0, 0};
    for (int on = 0; on < 2; ++on) {
        EngineLimits limits;
        limits.mask_thread = on;
        Fixture f(/*n_ctx=*/256, /*n_parallel=*/2, 32, limits);
        f.st->never_eog = true;
        f.st->delay_us = 200;
        ASSERT_EQ(f.engine->mask_thread(), on == 1);
        Result<GenerateResult> res[2] = {Status(StatusCode::internal, "not run"), Status(StatusCode::internal, "")};
        std::thread other;
        for (int k = 0; k < 2; ++k) {
            auto run = [&, k] {
                GenerateRequest r = constrained({int32_t(k)}, 60, g);
                r.sampling.temperature = 6.0f;  // the fake's favourite gets about a third: many refusals
                r.sampling.top_k = 0;
                r.sampling.top_p = 1.0f;
                r.sampling.seed = 100 + uint64_t(k);
                res[k] = f.engine->generate(r, nullptr);
            };
            if (k == 0) {
                other = std::thread(run);
            } else {
                run();
            }
        }
        other.join();
        for (int k = 0; k < 2; ++k) {
            ASSERT_TRUE(res[k].is_ok()) << res[k].status().to_string();
            EXPECT_GT(res[k]->eval_count, 0);
            outputs[on].push_back(res[k]->output);
            masks[on] += res[k]->grammar_masks;
            if (on) {
                EXPECT_GT(res[k]->grammar_beside_ns, 0) << "masks computed beside the forward pass";
            } else {
                EXPECT_EQ(res[k]->grammar_beside_ns, 0);
            }
        }
    }
    EXPECT_EQ(outputs[0], outputs[1]);
    EXPECT_EQ(masks[0], masks[1]);
    EXPECT_GT(masks[0], 10) << "the sampler's first choice was often refused";
}

TEST(SideThread, RunsTheJobAndPublishesItsWrites) {
    SideThread side;
    EXPECT_EQ(side.wait(), 0) << "nothing posted";
    struct Ctx {
        std::vector<int> values = std::vector<int>(1000);
        std::thread::id ran_on;
    } ctx;
    for (int round = 1; round <= 3; ++round) {
        side.post(
            [](void* p) {
                Ctx& c = *static_cast<Ctx*>(p);
                c.ran_on = std::this_thread::get_id();
                for (int& v : c.values) v += 1;
            },
            &ctx);
        side.wait();
        EXPECT_NE(ctx.ran_on, std::this_thread::get_id());
        for (int v : ctx.values) ASSERT_EQ(v, round);
    }
    EXPECT_GE(usable_cpus(), 1);
}

}  // namespace
}  // namespace berth
