// Token masks against the definition: at every step of random constrained generations, the mask (trie walk,
// and cached state masks) holds exactly the tokens that allows() accepts one by one. Also special tokens
// (only where a literal spells them), end-of-generation tokens (only where the grammar may end), tokens that
// are partial UTF-8, and the mask cache's reuse.
#include <gtest/gtest.h>

#include <random>

#include "grammar/grammar.h"
#include "grammar/grammar_test_util.h"

namespace berth {
namespace {

// A vocabulary of every single byte, pieces a JSON tokenizer would have (including ones that cross value
// boundaries and partial UTF-8), random strings, two special tokens, one end-of-generation token and masked
// ones.
struct TestVocab {
    std::vector<std::string> texts;
    std::vector<TokenKind> kinds;
    std::shared_ptr<const Vocabulary> vocab;
    int eog = -1, tool_call = -1, reserved = -1;

    TestVocab() {
        for (int b = 0; b < 256; ++b) add(std::string(1, char(b)));
        for (const char* p : {"{",        "}",          "{\"",  "\"}",      "\":",  "\": ",  "\",",          "\", \"",
                              ",\n",      ",\n  \"",    "\n  ", "  ",       "name", "age",   "\"name\": \"", "true",
                              "false",    "null",       "nu",   "ll",       "12",   "3.",    "-1",           "e+",
                              "[\"",      "\"]",        "]}",   "}}",       "}]",   "\\u00", "\\n",          "\\\"",
                              "é",        "\xc3",       "\xa9", "\xe2\x82", "\xac", "😀",     "</",           "think",
                              "</think>", "<think>",    " {",   "{\n",      "abc",  "a\"b",  "\"",           "\"\"",
                              "red",      "green",      "tags", "[]",       "0",    "01",    "2024-",        "-02-",
                              "29",       "T12:00:00Z", "@",    ".com",     "<tool"}) {
            add(p);
        }
        std::mt19937 rng(7);
        const std::string alphabet = "{}[]\":, \nabcdeflnrstu0123456789.-+\\\xc3\xa9<>/";
        for (int i = 0; i < 600; ++i) {
            std::string s;
            int len = 1 + int(rng() % 6);
            for (int k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
            add(s);
        }
        tool_call = add("<tool_call>", TokenKind::special);
        reserved = add("<|reserved|>", TokenKind::special);
        eog = add("", TokenKind::eog);
        add("", TokenKind::masked);
        add("unused", TokenKind::masked);
        vocab = Vocabulary::create(int(texts.size()), [&](int32_t t, std::string& out) {
            out = texts[size_t(t)];
            return kinds[size_t(t)];
        });
    }
    int add(std::string s, TokenKind k = TokenKind::text) {
        texts.push_back(std::move(s));
        kinds.push_back(k);
        return int(texts.size()) - 1;
    }
};

const TestVocab& test_vocab() {
    static const TestVocab v;
    return v;
}

// Runs `steps` random steps; at each, the mask must equal allows() over the whole vocabulary, with and without
// the cache. Returns how many steps ran (generation may finish earlier).
int check_random_generation(const GrammarPtr& g, uint32_t seed, int steps, MaskCache* cache) {
    const TestVocab& tv = test_vocab();
    const int n = tv.vocab->n_vocab();
    GrammarMatcher m(n);
    m.start(g, tv.vocab.get());
    TokenMask mask(n), plain(n);
    std::mt19937 rng(seed);
    int step = 0;
    for (; step < steps; ++step) {
        int count = m.fill_mask(mask, cache);
        int count_plain = m.fill_mask(plain, nullptr);
        EXPECT_EQ(count, count_plain) << "step " << step;
        std::vector<int32_t> allowed;
        for (int32_t t = 0; t < n; ++t) {
            const bool a = m.allows(t);
            EXPECT_EQ(mask.test(t), a) << "token " << t << " '" << tv.texts[size_t(t)] << "' at step " << step;
            EXPECT_EQ(plain.test(t), a) << "token " << t << " '" << tv.texts[size_t(t)] << "' at step " << step;
            if (a) allowed.push_back(t);
        }
        EXPECT_EQ(int(allowed.size()), count);
        if (allowed.empty()) {
            ADD_FAILURE() << "dead end at step " << step;
            break;
        }
        int32_t t = allowed[rng() % allowed.size()];
        // Prefer ending less often, so that generations get long.
        if (t == tv.eog && allowed.size() > 1 && rng() % 4) t = allowed[rng() % allowed.size()];
        EXPECT_TRUE(m.accept(t).is_ok());
        if (t == tv.eog || m.is_finished()) break;
    }
    return step;
}

TEST(Vocabulary, TrieAndKinds) {
    const TestVocab& tv = test_vocab();
    const Vocabulary& v = *tv.vocab;
    EXPECT_EQ(v.n_vocab(), int(tv.texts.size()));
    EXPECT_EQ(v.bytes(300), tv.texts[300]);
    EXPECT_EQ(v.kind(tv.tool_call), TokenKind::special);
    EXPECT_EQ(v.kind(tv.eog), TokenKind::eog);
    EXPECT_EQ(v.kind(tv.eog + 1), TokenKind::masked) << "a token without bytes is masked";
    EXPECT_GT(v.n_trie_nodes(), 256);
    EXPECT_GT(v.memory_bytes(), 0);
}

TEST(Mask, EqualsTokenByTokenChecks) {
    const char* schemas[] = {
        R"({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"enum": ["red", "green"]}}}, "required": ["name"]})",
        R"({"type": "array", "items": {"type": "number"}, "maxItems": 5})",
        R"({"type": "string", "format": "date"})",
        R"({"anyOf": [{"type": "string", "maxLength": 3}, {"type": "boolean"}, {"type": "null"}]})",
        R"({})",
        // Counted lengths: masks depend on how far the count is from its bounds.
        R"({"type": "object", "properties": {"s": {"type": "string", "minLength": 34, "maxLength": 38}},
            "required": ["s"], "additionalProperties": false})",
    };
    MaskCache cache(test_vocab().vocab->n_vocab());
    int total = 0;
    for (const char* s : schemas) {
        GrammarPtr g = testing::schema(s);
        ASSERT_TRUE(g);
        for (uint32_t seed = 1; seed <= 6; ++seed) total += check_random_generation(g, seed, 60, &cache);
    }
    EXPECT_GT(total, 300);
    EXPECT_GT(cache.stats().hits, 0);
}

TEST(Mask, SpecialTokensOnlyWhereALiteralSpellsThem) {
    const TestVocab& tv = test_vocab();
    GrammarBuilder b;
    auto value = b.json_schema(nlohmann::ordered_json::parse(R"({"type": "object"})"));
    ASSERT_TRUE(value.is_ok());
    auto g = b.build(b.seq({b.literal("<tool_call>"), b.whitespace(), *value, b.literal("</tool_call>")}));
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    GrammarMatcher m(tv.vocab->n_vocab());
    m.start(*g, tv.vocab.get());
    EXPECT_TRUE(m.allows(tv.tool_call));
    EXPECT_FALSE(m.allows(tv.reserved));
    ASSERT_TRUE(m.accept(tv.tool_call).is_ok());
    ASSERT_TRUE(m.accept_bytes("{\"a\": \""));
    EXPECT_FALSE(m.allows(tv.tool_call)) << "inside a JSON string the text is not a literal";
    EXPECT_TRUE(m.allows_bytes("<tool_call>")) << "but its bytes as text are";
    check_random_generation(*g, 3, 40, nullptr);
}

TEST(Mask, EndOfGenerationOnlyWhereTheGrammarMayEnd) {
    const TestVocab& tv = test_vocab();
    GrammarPtr g = testing::schema(R"({"type": "integer"})");
    GrammarMatcher m(tv.vocab->n_vocab());
    m.start(g, tv.vocab.get());
    EXPECT_FALSE(m.allows(tv.eog));
    ASSERT_TRUE(m.accept_bytes("12"));
    EXPECT_TRUE(m.allows(tv.eog)) << "a complete integer may end";
    EXPECT_TRUE(m.allows_bytes("3")) << "or go on";
    EXPECT_TRUE(m.accept(tv.eog).is_ok());
    TokenMask mask(tv.vocab->n_vocab());
    EXPECT_EQ(m.fill_mask(mask, nullptr), 0) << "nothing after the end";
}

TEST(Mask, PartialUtf8Tokens) {
    const TestVocab& tv = test_vocab();
    GrammarPtr g = testing::schema(R"({"type": "string", "maxLength": 2})");
    GrammarMatcher m(tv.vocab->n_vocab());
    m.start(g, tv.vocab.get());
    ASSERT_TRUE(m.accept_bytes("\""));
    ASSERT_TRUE(m.accept(0xC3).is_ok()) << "the first byte of é";
    EXPECT_FALSE(m.allows('"')) << "a character is incomplete";
    ASSERT_TRUE(m.accept(0xA9).is_ok());
    ASSERT_TRUE(m.accept_bytes("x"));
    EXPECT_FALSE(m.allows('x')) << "two characters already";
    EXPECT_TRUE(m.allows('"'));
}

TEST(Mask, CachedStatesAreReused) {
    const TestVocab& tv = test_vocab();
    GrammarPtr g = testing::schema(R"({"type": "array", "items": {"type": "string"}})");
    MaskCache cache(tv.vocab->n_vocab());
    GrammarMatcher m(tv.vocab->n_vocab());
    TokenMask mask(tv.vocab->n_vocab());
    m.start(g, tv.vocab.get());
    ASSERT_TRUE(m.accept_bytes("[\"ab"));
    m.fill_mask(mask, &cache);
    const auto first = cache.stats();
    EXPECT_EQ(first.misses, 1);
    ASSERT_TRUE(m.accept_bytes("cd"));  // the same string state
    m.fill_mask(mask, &cache);
    EXPECT_EQ(cache.stats().misses, 1);
    EXPECT_EQ(cache.stats().hits, first.hits + 1);
}

}  // namespace
}  // namespace berth
