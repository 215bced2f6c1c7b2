// Builder combinators and the matcher at the byte level: literals, alternatives, repetition counts with
// separators, text_until, recursion through the JSON value rules, completion and "finished".
#include "grammar/grammar.h"

#include <gtest/gtest.h>

#include "grammar/grammar_test_util.h"

namespace berth {
namespace {

using testing::accepts;
using testing::accepts_prefix;

GrammarPtr build(GrammarBuilder& b, GrammarBuilder::Node root) {
    Result<GrammarPtr> g = b.build(root);
    EXPECT_TRUE(g.is_ok()) << g.status().to_string();
    return *g;
}

TEST(Builder, LiteralSeqAlt) {
    GrammarBuilder b;
    auto g = build(b, b.seq({b.literal("ab"), b.alt({b.literal("c"), b.literal("de")}), b.optional(b.literal("!"))}));
    EXPECT_TRUE(accepts(g, "abc"));
    EXPECT_TRUE(accepts(g, "abde!"));
    EXPECT_TRUE(accepts(g, "abc!"));
    EXPECT_FALSE(accepts(g, "ab"));
    EXPECT_TRUE(accepts_prefix(g, "ab"));
    EXPECT_FALSE(accepts_prefix(g, "abx"));
    EXPECT_FALSE(accepts(g, "abcd"));
}

TEST(Builder, RepeatCountsAndSeparator) {
    GrammarBuilder b;
    auto g = build(b, b.repeat(b.literal("x"), 2, 4, ","));
    EXPECT_FALSE(accepts(g, "x"));
    EXPECT_TRUE(accepts(g, "x,x"));
    EXPECT_TRUE(accepts(g, "x,x,x,x"));
    EXPECT_FALSE(accepts(g, "x,x,x,x,x"));
    EXPECT_FALSE(accepts(g, "xx"));
    EXPECT_FALSE(accepts(g, "x,x,"));
    GrammarBuilder b2;
    auto unbounded = build(b2, b2.repeat(b2.literal("ab"), 0, -1, ";"));
    EXPECT_TRUE(accepts(unbounded, ""));
    EXPECT_TRUE(accepts(unbounded, "ab"));
    EXPECT_TRUE(accepts(unbounded, "ab;ab;ab;ab;ab"));
    EXPECT_FALSE(accepts(unbounded, "ab;"));
    GrammarBuilder b3;
    auto one_or_more = build(b3, b3.repeat(b3.literal("a"), 1, -1));
    EXPECT_FALSE(accepts(one_or_more, ""));
    EXPECT_TRUE(accepts(one_or_more, "aaaa"));
}

TEST(Builder, TextUntilStopsBeforeTheFirstTerminator) {
    GrammarBuilder b;
    auto g = build(b, b.seq({b.literal("<think>"), b.text_until("</think>"), b.literal("</think>"), b.literal("{}")}));
    EXPECT_TRUE(accepts(g, "<think>some < thoughts </thin k></think>{}"));
    EXPECT_TRUE(accepts(g, "<think></think>{}"));
    EXPECT_FALSE(accepts_prefix(g, "<think>a</think>b")) << "the text ends at the first terminator";
    EXPECT_TRUE(accepts(g, "<think></</think>{}"));
    // A self-overlapping terminator: "ab" then "abab" would hold "abab" at offset 0.
    GrammarBuilder b2;
    auto o = build(b2, b2.seq({b2.text_until("abab"), b2.literal("abab")}));
    EXPECT_TRUE(accepts(o, "xxabab"));
    EXPECT_TRUE(accepts(o, "aabab"));
    EXPECT_FALSE(accepts(o, "ababab"));
    EXPECT_FALSE(accepts(o, "abababab"));
}

TEST(Builder, AnyJsonValueNestsThroughRules) {
    GrammarBuilder b;
    auto g = build(b, b.any_json_value());
    for (const char* ok : {"null", "true", "-0.5e+3", "\"a\\u00e9\\n\"", "[]", "{}", "[1, [2, {\"a\": [null]}]]",
                           "{\"a\": {\"b\": {\"c\": {\"d\": []}}}}", "{\n  \"k\": \"v\",\n  \"n\": 1\n}",
                           "\"\\ud83d\\ude00\"", "\"é\""}) {
        EXPECT_TRUE(accepts(g, ok)) << ok;
    }
    for (const char* bad : {"nul", "01", "[1,]", "{\"a\"}", "{a: 1}", "\"\\ud83d\"", "\"\\x\"", "[1 2]", "\"a\nb\"",
                            "{\"a\":1,}", "1.", ".5", "+1", "[1]]"}) {
        EXPECT_FALSE(accepts(g, bad)) << bad;
    }
}

TEST(Builder, BoundedWhitespace) {
    GrammarBuilder b;
    auto g = build(b, b.seq({b.literal("["), b.whitespace(), b.literal("]")}));
    EXPECT_TRUE(accepts(g, "[]"));
    EXPECT_TRUE(accepts(g, "[ ]"));
    EXPECT_TRUE(accepts(g, "[\n    ]"));
    EXPECT_FALSE(accepts(g, "[  ]")) << "one space at most";
    EXPECT_FALSE(accepts(g, "[\n\n]"));
    EXPECT_FALSE(accepts(g, "[\n" + std::string(21, ' ') + "]")) << "at most 20 indentation characters";
}

TEST(Matcher, CompleteAndFinished) {
    GrammarBuilder b;
    auto obj = build(b, b.any_json_object());
    GrammarMatcher m(1);
    m.start(obj, nullptr);
    EXPECT_FALSE(m.is_complete());
    ASSERT_TRUE(m.accept_bytes("{\"a\": 1"));
    EXPECT_FALSE(m.is_complete());
    ASSERT_TRUE(m.accept_bytes("}"));
    EXPECT_TRUE(m.is_complete());
    EXPECT_TRUE(m.is_finished()) << "nothing may follow the closing brace";
    EXPECT_FALSE(m.allows_bytes(" "));

    GrammarBuilder b2;
    auto num = build(b2, b2.any_json_value());
    m.start(num, nullptr);
    ASSERT_TRUE(m.accept_bytes("12"));
    EXPECT_TRUE(m.is_complete());
    EXPECT_FALSE(m.is_finished()) << "more digits may follow";
}

TEST(Matcher, RejectedBytesLeaveTheStateUnchanged) {
    GrammarBuilder b;
    auto g = build(b, b.any_json_value());
    GrammarMatcher m(1);
    m.start(g, nullptr);
    ASSERT_TRUE(m.accept_bytes("[1, "));
    EXPECT_FALSE(m.accept_bytes("]"));
    EXPECT_TRUE(m.allows_bytes("2]"));
    EXPECT_TRUE(m.accept_bytes("2]"));
    EXPECT_TRUE(m.is_finished());
}

TEST(Matcher, DeepNestingUsesTheStackAndCompacts) {
    GrammarBuilder b;
    auto g = build(b, b.any_json_value());
    GrammarMatcher m(1);
    m.start(g, nullptr);
    // 400 levels in, out, and again many times: frames are reclaimed, the depth limit is never reached.
    for (int round = 0; round < 30; ++round) {
        for (int i = 0; i < 400; ++i) ASSERT_TRUE(m.accept_bytes(i == 0 && round == 0 ? "[" : "[")) << i;
        for (int i = 0; i < 400; ++i) ASSERT_TRUE(m.accept_bytes("]")) << i;
        if (round == 0) {
            EXPECT_TRUE(m.is_finished());
            m.start(g, nullptr);
            ASSERT_TRUE(m.accept_bytes("["));
        } else {
            ASSERT_TRUE(m.accept_bytes(","));
        }
    }
    EXPECT_TRUE(m.limit_error().empty()) << m.limit_error();
    // Beyond 512 levels the matcher refuses and says why.
    m.start(g, nullptr);
    bool refused = false;
    for (int i = 0; i < 600 && !refused; ++i) refused = !m.accept_bytes("[");
    EXPECT_TRUE(refused);
    EXPECT_FALSE(m.limit_error().empty());
}

TEST(Builder, LeftRecursionIsRefused) {
    // Through the JSON Schema path: a schema that is a $ref to itself inside anyOf.
    Result<GrammarPtr> g =
        compile_json_schema(nlohmann::ordered_json::parse(R"({"anyOf": [{"$ref": "#"}, {"type": "null"}]})"));
    ASSERT_FALSE(g.is_ok());
    EXPECT_NE(g.status().message().find("left-recursive"), std::string::npos) << g.status().message();
}

}  // namespace
}  // namespace berth
