// The plan made from GGUF metadata before loading equals, byte for byte, what loading enters in the ledger:
// every model in the test data, at two context sizes and with each KV cache type, the `cache` kind included
// (cache_test.cpp checks that figure against the heap).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "engine/engine.h"

namespace berth {
namespace {

std::vector<std::string> test_models() {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(std::string(BERTH_TESTDATA) + "/models"))
        if (e.path().extension() == ".gguf") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

// Every anonymous ledger kind of `name` must be in the plan; the mapped weights equal the plan's.
void expect_ledger_equals_plan(const Ledger& ledger, const std::string& name, const MemoryPlan& plan) {
    EXPECT_EQ(ledger.get(name, MemoryKind::weights_mapped), plan.weights_mapped);
    EXPECT_EQ(ledger.get(name, MemoryKind::kv), plan.kv);
    EXPECT_EQ(ledger.get(name, MemoryKind::scratch), plan.scratch);
    EXPECT_EQ(ledger.get(name, MemoryKind::cache), plan.cache) << "tokenizer tables, chat template, samplers";
    EXPECT_GT(plan.cache, 0) << "every model has a tokenizer";
    int64_t anonymous = 0;
    for (int k = 0; k < int(MemoryKind::count_); ++k)
        if (memory_kind_is_anonymous(MemoryKind(k))) anonymous += ledger.get(name, MemoryKind(k));
    EXPECT_EQ(anonymous, plan.anonymous()) << "an anonymous ledger entry the plan lacks";
}

TEST(Plan, EqualsTheLedgerForEveryTestModel) {
    const auto models = test_models();
    ASSERT_GE(models.size(), 20u) << "the test data's models are missing";
    int generative = 0, embedding = 0;
    for (const auto& path : models) {
        SCOPED_TRACE(path);
        auto emb = is_embedding_model(path);
        ASSERT_TRUE(emb.is_ok()) << emb.status().to_string();
        Ledger ledger;
        if (*emb) {
            auto planned = plan_embedding(path);
            ASSERT_TRUE(planned.is_ok()) << planned.status().to_string();
            {
                auto loaded = load_embedding(path, &ledger, "m");
                ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
                expect_ledger_equals_plan(ledger, "m", *planned);
            }
            EXPECT_EQ(ledger.model_total("m"), 0) << "unloading erases the entries";
            ++embedding;
            continue;
        }
        struct Case {
            int n_ctx;
            DType kv;
        };
        for (Case c : {Case{64, DType::F16}, Case{320, DType::F16}, Case{320, DType::Q8_0}, Case{320, DType::Q4_0}}) {
            SCOPED_TRACE(std::to_string(c.n_ctx) + " " + dtype_name(c.kv));
            EngineLoadOptions o;
            o.n_ctx = c.n_ctx;
            o.n_parallel = 2;
            o.n_threads = 1;
            o.kv_type = c.kv;
            auto planned = plan_engine(path, o);
            ASSERT_TRUE(planned.is_ok()) << planned.status().to_string();
            EXPECT_EQ(planned->n_ctx, c.n_ctx);
            {
                auto loaded = load_engine(path, o, &ledger, "m");
                ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
                expect_ledger_equals_plan(ledger, "m", *planned);
                EXPECT_EQ(loaded->plan.total(), planned->total());
            }
            EXPECT_EQ(ledger.model_total("m"), 0) << "unloading erases the entries";
        }
        ++generative;
    }
    EXPECT_GE(generative, 20);
    EXPECT_GE(embedding, 1);
}

// Quantized KV rows take less memory: q8_0 about 17/32 of f16, q4_0 about 9/32 (per 32-element block).
TEST(Plan, QuantizedKvIsSmaller) {
    const std::string path = std::string(BERTH_TESTDATA) + "/models/llama-spm-q8_0.gguf";
    auto kv_bytes = [&](DType t) {
        EngineLoadOptions o;
        o.n_ctx = 1024;
        o.kv_type = t;
        auto p = plan_engine(path, o);
        EXPECT_TRUE(p.is_ok()) << p.status().to_string();
        EXPECT_EQ(p->kv_type, t);
        return double(p->kv);
    };
    double f16 = kv_bytes(DType::F16), q8 = kv_bytes(DType::Q8_0), q4 = kv_bytes(DType::Q4_0);
    EXPECT_NEAR(q8 / f16, 34.0 / 64.0, 0.02);
    EXPECT_NEAR(q4 / f16, 18.0 / 64.0, 0.02);
}

}  // namespace
}  // namespace berth
