// The plan equals the ledger, kind by kind and byte for byte, for every model in the test data at two context
// sizes, the `cache` kind (tokenizer tables, chat template, samplers) included; and the cache figure is the
// heap those really hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "engine/engine.h"
#include "engine/text_assets.h"

namespace berth {
namespace {

std::vector<std::string> test_models() {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(std::string(BERTH_TESTDATA) + "/models"))
        if (e.path().extension() == ".gguf") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

void expect_ledger_equals_plan(const Ledger& ledger, const std::string& name, const MemoryPlan& p) {
    EXPECT_EQ(ledger.get(name, MemoryKind::weights_mapped), p.weights_mapped);
    EXPECT_EQ(ledger.get(name, MemoryKind::kv), p.kv);
    EXPECT_EQ(ledger.get(name, MemoryKind::scratch), p.scratch);
    EXPECT_EQ(ledger.get(name, MemoryKind::cache), p.cache);
    EXPECT_EQ(ledger.model_total(name), p.total());
    EXPECT_GT(p.cache, 0) << "every model has a tokenizer";
}

TEST(PlanAndLedger, EveryTestModelAtTwoContextSizes) {
    std::vector<std::string> models = test_models();
    ASSERT_GE(models.size(), 20u) << BERTH_TESTDATA "/models";
    Ledger ledger;
    for (const std::string& path : models) {
        SCOPED_TRACE(path);
        Result<bool> embedding = is_embedding_model(path);
        ASSERT_TRUE(embedding.is_ok()) << embedding.status().to_string();
        if (*embedding) {  // one context: the model's own
            Result<MemoryPlan> p = plan_embedding(path);
            ASSERT_TRUE(p.is_ok()) << p.status().to_string();
            {
                Result<LoadedEmbedding> le = load_embedding(path, &ledger, "m");
                ASSERT_TRUE(le.is_ok()) << le.status().to_string();
                expect_ledger_equals_plan(ledger, "m", *p);
            }
            EXPECT_EQ(ledger.model_total("m"), 0) << "unloading erases every entry";
            EXPECT_EQ(ledger.get("m", MemoryKind::cache), 0);
            continue;
        }
        for (int n_ctx : {64, 256}) {
            SCOPED_TRACE(n_ctx);
            EngineLoadOptions o;
            o.n_ctx = n_ctx;
            o.n_parallel = 2;
            o.n_batch = 32;
            o.n_threads = 1;
            Result<MemoryPlan> p = plan_engine(path, o);
            ASSERT_TRUE(p.is_ok()) << p.status().to_string();
            {
                Result<LoadedEngine> le = load_engine(path, o, &ledger, "m");
                ASSERT_TRUE(le.is_ok()) << le.status().to_string();
                expect_ledger_equals_plan(ledger, "m", *p);
                EXPECT_EQ(le->plan.total(), p->total());
            }
            EXPECT_EQ(ledger.model_total("m"), 0) << "unloading erases every entry";
            EXPECT_EQ(ledger.get("m", MemoryKind::cache), 0);
        }
    }
}

// The figure entered as `cache` is what building the text assets adds to the heap (malloc's arena and its
// mmapped chunks). Tolerance: 3 % plus 64 KiB, for malloc's per-chunk headers and the compiled pre-tokenizer
// regexes, which Tokenizer::memory_bytes leaves out.
TEST(PlanAndLedger, CacheFigureIsTheHeapTheAssetsHold) {
#ifdef BERTH_SANITIZE
    GTEST_SKIP() << "AddressSanitizer replaces malloc, so glibc's heap statistics do not see these allocations";
#endif
    for (const char* file : {"/models/llama-2-tiny-random.gguf", "/vocab/ggml-vocab-llama-bpe.gguf",
                             "/vocab/ggml-vocab-qwen2.gguf", "/vocab/ggml-vocab-bert-bge.gguf"}) {
        SCOPED_TRACE(file);
        auto gguf = GgufFile::open(std::string(BERTH_TESTDATA) + file);
        ASSERT_TRUE(gguf.is_ok()) << gguf.status().to_string();
        trim_heap();
        HeapStats before = heap_stats();
        int64_t t0 = now_ns();
        Result<TextAssets> assets = load_text_assets(**gguf);
        int64_t took = now_ns() - t0;
        HeapStats after = heap_stats();
        ASSERT_TRUE(assets.is_ok()) << assets.status().to_string();
        int64_t grown = (after.in_use + after.mmapped) - (before.in_use + before.mmapped);
        double tolerance = 0.03 * double(assets->bytes) + 65536;
        EXPECT_NEAR(double(grown), double(assets->bytes), tolerance)
            << "heap grew " << grown << " bytes, the cache figure is " << assets->bytes;
        std::printf("%s: n_vocab %d, cache %lld bytes, heap grew %lld, built in %.1f ms\n", file,
                    assets->tokenizer->n_vocab(), (long long)assets->bytes, (long long)grown, double(took) / 1e6);
    }
}

// A backend with a model's sizes and nothing behind them: the engine's own heap is all that is measured.
class SizesOnly final : public Backend {
  public:
    int n_vocab() const override { return 32000; }
    int n_ctx() const override { return 4096; }
    int n_parallel() const override { return 4; }
    int n_batch() const override { return 512; }
    Result<int> create_sequence() override { return 0; }
    void free_sequence(int) override {}
    Result<const float*> forward(const BatchToken*, int) override { return internal_error("not used"); }
};

class NoText final : public TextCodec {
  public:
    Result<std::vector<int32_t>> encode(std::string_view, bool, bool) const override { return std::vector<int32_t>{}; }
    void append_piece(int32_t, std::string&) const override {}
    bool is_eog(int32_t) const override { return true; }
};

// The engine's part of the cache entry (samplers, text buffers, batch): the planned figure equals the
// engine's own count, and the heap grows by that much when the engine is built (same tolerance as above;
// the worker thread's small state and the empty queue's first block are not counted).
TEST(PlanAndLedger, EngineHeapFigureIsPlannedAndReal) {
#ifdef BERTH_SANITIZE
    GTEST_SKIP() << "AddressSanitizer replaces malloc, so glibc's heap statistics do not see these allocations";
#endif
    auto backend = std::make_unique<SizesOnly>();
    auto codec = std::make_shared<NoText>();
    trim_heap();
    HeapStats before = heap_stats();
    Engine engine(std::move(backend), codec);
    HeapStats after = heap_stats();
    int64_t grown = (after.in_use + after.mmapped) - (before.in_use + before.mmapped);
    EXPECT_EQ(engine.heap_bytes(), Engine::heap_bytes_for(32000, 4096, 4, 512));
    EXPECT_GT(engine.heap_bytes(), 4 * 32000 * 12) << "four samplers of 32000 candidates and counts";
    EXPECT_NEAR(double(grown), double(engine.heap_bytes()), 0.03 * double(engine.heap_bytes()) + 65536)
        << "heap grew " << grown << " bytes, the engine counts " << engine.heap_bytes();
}

}  // namespace
}  // namespace berth
