// Tokenizer tests against the reference engine's vectors: every .inp/.out pair in testdata/vocab, the prompt
// tokens of every oracle case, and streaming decode of every oracle greedy continuation.
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace berth {
namespace {

using namespace tokenizer_test;

std::string join(const std::vector<TokenId>& ids) {
    std::string s;
    for (TokenId id : ids) s += " " + std::to_string(id);
    return s;
}

// The reference's test format: inputs separated by "\n__ggml_vocab_test__\n", one output line per input.
void check_vocab(const std::string& name) {
    Loaded l = load(vocab_path(name));
    ASSERT_TRUE(l.tok);
    std::vector<std::string> inputs = vocab_inputs(name);
    std::string out = read_file(vocab_path(name) + ".out");
    std::vector<std::string> expected;
    std::istringstream os(out);
    for (std::string line; std::getline(os, line);) expected.push_back(line);
    ASSERT_EQ(inputs.size(), expected.size()) << name;
    ASSERT_GT(inputs.size(), 10u);
    int bad = 0;
    for (size_t i = 0; i < inputs.size(); i++) {
        std::vector<TokenId> ids = l.tok->encode(inputs[i], /*add_special=*/false, /*parse_special=*/false);
        std::string got = join(ids);
        std::string want = expected[i];
        // .out lines are " id id ..." (leading space) or empty.
        while (!want.empty() && want.back() == '\r') want.pop_back();
        if (!want.empty() && want[0] != ' ') want = " " + want;
        if (got != want) bad++;
        EXPECT_EQ(got, want) << name << " case " << i << ": \"" << inputs[i] << "\"";
    }
    EXPECT_EQ(bad, 0);
}

TEST(TokenizerVocab, LlamaSpm) { check_vocab("llama-spm"); }
TEST(TokenizerVocab, Phi3) { check_vocab("phi-3"); }
TEST(TokenizerVocab, LlamaBpe) { check_vocab("llama-bpe"); }
TEST(TokenizerVocab, Qwen2) { check_vocab("qwen2"); }
TEST(TokenizerVocab, Gpt2) { check_vocab("gpt-2"); }
TEST(TokenizerVocab, Mpt) { check_vocab("mpt"); }
TEST(TokenizerVocab, Starcoder) { check_vocab("starcoder"); }
TEST(TokenizerVocab, Refact) { check_vocab("refact"); }
TEST(TokenizerVocab, Falcon) { check_vocab("falcon"); }
TEST(TokenizerVocab, DeepseekCoder) { check_vocab("deepseek-coder"); }
TEST(TokenizerVocab, DeepseekLlm) { check_vocab("deepseek-llm"); }
TEST(TokenizerVocab, BertBge) { check_vocab("bert-bge"); }

std::vector<std::string> oracle_files() {
    std::vector<std::string> v;
    for (auto& e : std::filesystem::directory_iterator(kData + "/oracle"))
        if (e.path().extension() == ".json") v.push_back(e.path().string());
    std::sort(v.begin(), v.end());
    return v;
}

// Prompt tokens with chat-style settings (BOS as the metadata says, special parsing on) equal the oracle's, and
// streaming the greedy continuation one token at a time gives the same valid UTF-8 as decoding it at once.
TEST(TokenizerOracle, PromptTokensAndStreamingDecode) {
    auto files = oracle_files();
    ASSERT_FALSE(files.empty());
    int cases = 0;
    for (const auto& path : files) {
        auto j = nlohmann::json::parse(read_file(path));
        std::string model = j["model"].get<std::string>();
        Loaded l = load(kData + "/models/" + model);
        ASSERT_TRUE(l.tok) << model;
        EXPECT_EQ(l.tok->n_vocab(), j["n_vocab"].get<int>()) << model;
        for (const auto& c : j["cases"]) {
            std::string prompt = c["prompt"].get<std::string>();
            std::vector<TokenId> want = c["tokens"].get<std::vector<TokenId>>();
            EXPECT_EQ(join(l.tok->encode(prompt, true, true)), join(want)) << model << ": " << prompt.substr(0, 60);
            std::vector<TokenId> greedy = c["greedy"].get<std::vector<TokenId>>();
            std::string streamed;
            StreamDecoder dec(*l.tok);
            for (TokenId id : greedy) {
                size_t before = streamed.size();
                dec.push(id, streamed);
                std::string added = streamed.substr(before);
                std::string check;
                EXPECT_EQ(append_valid_utf8(added, check, true), 0u);
                EXPECT_EQ(check, added) << "emitted invalid UTF-8";
            }
            dec.flush(streamed);
            std::string once;
            append_valid_utf8(l.tok->decode(greedy), once, false);
            EXPECT_EQ(streamed, once) << model;
            cases++;
        }
    }
    EXPECT_GT(cases, 50);
}

}  // namespace
}  // namespace berth
