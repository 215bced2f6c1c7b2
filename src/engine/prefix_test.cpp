// Prefix reuse: a slot keeps its finished sequence's KV, and the next request that starts with the same tokens
// (a chat turn resending the conversation) evaluates only the rest, with the same greedy output as a fresh start.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace berth {
namespace {

const std::string kModel = std::string(BERTH_TESTDATA) + "/models/stories260K.gguf";

LoadedEngine load(int n_parallel = 1) {
    EngineLoadOptions o;
    o.n_ctx = 256;
    o.n_parallel = n_parallel;
    o.n_threads = 1;
    static Ledger ledger;  // outlives every engine of this file
    static int loads = 0;
    auto e = load_engine(kModel, o, &ledger, "m" + std::to_string(loads++));
    EXPECT_TRUE(e.is_ok()) << e.status().to_string();
    return std::move(*e);
}

GenerateRequest greedy(std::vector<int32_t> prompt, int n) {
    GenerateRequest r;
    r.prompt = std::move(prompt);
    r.sampling.temperature = 0;
    r.num_predict = n;
    return r;
}

TEST(Prefix, NextTurnReusesTheConversationAndMatchesAFreshStart) {
    LoadedEngine warm = load();
    auto prompt = std::optional<std::vector<int32_t>>(warm.tokenizer->encode("Once upon a time", true, false));
    auto first = warm.engine->generate(greedy(*prompt, 20), nullptr);
    ASSERT_TRUE(first.is_ok()) << first.status().to_string();
    EXPECT_EQ(first->prompt_cached, 0);

    // The next turn: the conversation so far plus new text.
    std::vector<int32_t> turn = *prompt;
    turn.insert(turn.end(), first->output.begin(), first->output.end());
    auto more = std::optional<std::vector<int32_t>>(warm.tokenizer->encode(" Then the dog said", false, false));
    turn.insert(turn.end(), more->begin(), more->end());
    auto second = warm.engine->generate(greedy(turn, 20), nullptr);
    ASSERT_TRUE(second.is_ok()) << second.status().to_string();
    // Everything that was in the KV: the prompt and every generated token but the last.
    EXPECT_EQ(second->prompt_cached, int(prompt->size() + first->output.size() - 1));
    EXPECT_EQ(second->prompt_eval_count, int(turn.size())) << "the count still covers the whole prompt";

    LoadedEngine fresh = load();
    auto reference = fresh.engine->generate(greedy(turn, 20), nullptr);
    ASSERT_TRUE(reference.is_ok());
    EXPECT_EQ(reference->prompt_cached, 0);
    EXPECT_EQ(second->output, reference->output) << "reused KV gives the same greedy continuation";

    // A prompt that diverges early reuses only the common part; an identical one all but its last token.
    auto same = warm.engine->generate(greedy(turn, 5), nullptr);
    ASSERT_TRUE(same.is_ok());
    EXPECT_EQ(same->prompt_cached, int(turn.size()) - 1);
    std::vector<int32_t> other = {turn[0], turn[1], int32_t(turn[2] == 100 ? 101 : 100)};
    auto diverged = warm.engine->generate(greedy(other, 5), nullptr);
    ASSERT_TRUE(diverged.is_ok());
    EXPECT_EQ(diverged->prompt_cached, 2);
}

TEST(Prefix, CancelledRequestsKeepNothing) {
    LoadedEngine e = load();
    auto prompt = std::optional<std::vector<int32_t>>(e.tokenizer->encode("Once upon a time", true, false));
    // The caller cancels at its first piece while the worker goes on generating: on a busy machine the worker may
    // reach the end of the context first, so a few attempts (bounded) until one is really cut short.
    Result<GenerateResult> cancelled = internal_error("not run");
    for (int attempt = 0; attempt < 5; ++attempt) {
        cancelled = e.engine->generate(greedy(*prompt, -1), [](std::string_view) { return false; });
        ASSERT_TRUE(cancelled.is_ok());
        if (cancelled->done_reason == "cancel") break;
    }
    EXPECT_EQ(cancelled->done_reason, "cancel");
    auto again = e.engine->generate(greedy(*prompt, 5), nullptr);
    ASSERT_TRUE(again.is_ok());
    EXPECT_EQ(again->prompt_cached, 0) << "a cancelled sequence's pages went back to the pool";
}

// The KV pool's pages in the engine's stats: all free after load and after cancellations, a finished request's
// sequence counted as kept (not free), and free + kept = all once nothing runs.
TEST(Prefix, KvPagesAreCountedFreeKeptAndBack) {
    LoadedEngine e = load(2);
    auto settled = [&] {  // the stats are updated by the worker after each step
        for (int i = 0; i < 200 && e.engine->stats().active > 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return e.engine->stats();
    };
    EngineStats s0 = settled();
    ASSERT_GT(s0.kv_pages, 0);
    EXPECT_EQ(s0.kv_pages_free, s0.kv_pages);
    EXPECT_EQ(s0.kv_pages_kept, 0);
    auto prompt = std::optional<std::vector<int32_t>>(e.tokenizer->encode("Once upon a time", true, false));
    auto done = e.engine->generate(greedy(*prompt, 40), nullptr);
    ASSERT_TRUE(done.is_ok());
    EngineStats s1 = settled();
    EXPECT_GT(s1.kv_pages_kept, 0) << "the finished sequence stays for prefix reuse";
    EXPECT_EQ(s1.kv_pages_free + s1.kv_pages_kept, s1.kv_pages);
    for (int i = 0; i < 4; ++i) {
        auto c =
            e.engine->generate(greedy({prompt->front(), int32_t(100 + i)}, -1), [](std::string_view) { return false; });
        ASSERT_TRUE(c.is_ok());
    }
    EngineStats s2 = settled();
    EXPECT_EQ(s2.kv_pages_free + s2.kv_pages_kept, s2.kv_pages) << "no page held by a cancelled request";
}

}  // namespace
}  // namespace berth
