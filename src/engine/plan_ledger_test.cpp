// The plan equals the ledger, kind by kind and byte for byte, for every model in the test data at two context
// sizes, the new `cache` kind (tokenizer tables, chat template) included; and the cache figure is the heap
// the tokenizer really holds.
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

}  // namespace
}  // namespace berth
