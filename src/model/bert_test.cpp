// bert embeddings against the reference engine's mean-pooled vectors (testdata/embeddings).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/model.h"

namespace berth {
namespace {

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); i++)
        ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
    return ab / std::sqrt(aa * bb);
}

class BertEmbeddings : public ::testing::TestWithParam<std::string> {};

// The reference itself is ≥ 0.99993 from an exact float64 computation (exact_cosine). Measured here:
// ≥ 0.9999999 for F16 and ≥ 0.999989 for Q8_0 (8-bit activations on both sides), so the bounds are 0.99999
// and 0.99995.
TEST_P(BertEmbeddings, MatchReference) {
    std::ifstream in(std::string(BERTH_TESTDATA) + "/embeddings/" + GetParam() + ".json");
    ASSERT_TRUE(in.good());
    auto doc = nlohmann::json::parse(in);
    Ledger ledger;
    auto m = EmbeddingModel::load(std::string(BERTH_TESTDATA) + "/models/" + doc["model"].get<std::string>(), 2,
                                  &ledger, "bert");
    ASSERT_TRUE(m.is_ok()) << m.status().message();
    ASSERT_EQ((*m)->n_embd(), doc["n_embd"].get<int>());
    auto planned = EmbeddingModel::plan_scratch_bytes((*m)->gguf(), 2);
    ASSERT_TRUE(planned.is_ok());
    EXPECT_EQ(ledger.get("bert", MemoryKind::scratch), *planned) << "the plan equals what loading reserved";
    EXPECT_EQ(ledger.get("bert", MemoryKind::weights_mapped), int64_t((*m)->gguf().size()));
    const double bound = GetParam().find("f16") != std::string::npos ? 0.99999 : 0.99995;
    for (const auto& c : doc["cases"]) {
        auto toks = c["tokens"].get<std::vector<int32_t>>();
        auto ref = c["embedding"].get<std::vector<float>>();
        std::vector<float> out(ref.size());
        ASSERT_TRUE((*m)->embed(toks.data(), int(toks.size()), out.data()).is_ok());
        double cs = cosine(out, ref);
        printf("  %s %-50s cosine %.7f\n", GetParam().c_str(), c["text"].get<std::string>().substr(0, 50).c_str(), cs);
        EXPECT_GE(cs, bound) << c["text"];
    }
    std::vector<float> out(size_t((*m)->n_embd()));
    EXPECT_FALSE((*m)->embed(nullptr, 0, out.data()).is_ok());
    std::vector<int32_t> too_long(size_t((*m)->n_ctx() + 1), 101);
    EXPECT_FALSE((*m)->embed(too_long.data(), int(too_long.size()), out.data()).is_ok());
    int32_t bad = 1 << 30;
    EXPECT_FALSE((*m)->embed(&bad, 1, out.data()).is_ok());
}

INSTANTIATE_TEST_SUITE_P(Files, BertEmbeddings, ::testing::Values("bert-f16", "bert-q8_0"),
                         [](const auto& info) { return info.param == "bert-f16" ? "f16" : "q8_0"; });

TEST(BertEmbeddings, RefusesOtherArchitectures) {
    auto m = EmbeddingModel::load(std::string(BERTH_TESTDATA) + "/models/stories260K.gguf");
    ASSERT_FALSE(m.is_ok());
    EXPECT_NE(m.status().message().find("not a bert"), std::string::npos);
}

}  // namespace
}  // namespace berth
