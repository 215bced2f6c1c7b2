// The `cache` ledger entry (tokenizer tables, chat template, the engine's samplers) is the heap those really
// hold; plan_test.cpp checks that the plan's figure equals the ledger's for every test model.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/text_assets.h"

namespace berth {
namespace {

// The figure entered as `cache` is what building the text assets adds to the heap (malloc's arena and its
// mmapped chunks). Tolerance: 3 % plus 64 KiB, for malloc's per-chunk headers and the compiled pre-tokenizer
// regexes, which Tokenizer::memory_bytes leaves out.
TEST(CacheEntry, TextAssetsFigureIsTheHeapTheyHold) {
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
TEST(CacheEntry, EngineHeapFigureIsPlannedAndReal) {
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
