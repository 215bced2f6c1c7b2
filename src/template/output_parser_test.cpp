// The output parsers' building blocks and guarantees: JSON repair, typed XML values, name matching,
// incremental emission (content streams at once, markers split anywhere, calls emitted when closed), every
// family's ToolCallSyntax round-tripping through its parser, and linear time on long outputs.
#include <chrono>

#include "template/output_internal.h"
#include "template/output_test_util.h"

namespace berth {
namespace {

using namespace testing_output;
using outparse::parse_json;
using outparse::ToolSet;
using outparse::typed_value;

std::string repaired(std::string_view text) {
    bool rep = false;
    auto v = parse_json(text, true, &rep);
    if (!v) return "<none>";
    return (rep ? "R " : "") + v->dump();
}

TEST(OutputJson, StrictAndRepaired) {
    EXPECT_EQ(repaired(R"({"a": 1})"), R"({"a":1})");
    EXPECT_EQ(repaired(R"({"a": {"b": 1})"), R"(R {"a":{"b":1}})");           // missing closer
    EXPECT_EQ(repaired(R"({"a": [1, 2)"), "<none>");                          // ends after a number: no guess
    EXPECT_EQ(repaired(R"({"a": [1, "x"])"), R"(R {"a":[1,"x"]})");           // ends after a string
    EXPECT_EQ(repaired(R"({"a": 1}})"), R"(R {"a":1})");                      // stray closer
    EXPECT_EQ(repaired(R"({"a": 1,})"), R"(R {"a":1})");                      // trailing comma
    EXPECT_EQ(repaired("{\"a\": \"x\ny\"}"), R"(R {"a":"x\ny"})");            // raw newline
    EXPECT_EQ(repaired("{\"a\": \"t\tb\x01\"}"), R"(R {"a":"t\tb\u0001"})");  // raw controls
    EXPECT_EQ(repaired(R"({'a': 'it\'s "q"'})"), R"(R {"a":"it's \"q\""})");  // single quotes
    EXPECT_EQ(repaired(R"({"a": True, "b": None, "c": False})"), R"(R {"a":true,"b":null,"c":false})");
    EXPECT_EQ(repaired(R"({"x": "a\qb"})"), R"(R {"x":"a\\qb"})");           // invalid escape kept as text
    EXPECT_EQ(repaired(R"({"a": 1}, {"b": 2})"), R"(R [{"a":1},{"b":2}])");  // array wrapping
    EXPECT_EQ(repaired(R"({"a": "cut)"), "<none>");                          // cut inside a string
    EXPECT_EQ(repaired("not json"), "<none>");
    EXPECT_EQ(repaired(std::string(100000, '[')), "<none>");           // too deep, refused before parsing
    EXPECT_EQ(repaired(R"({"True": "None"})"), R"({"True":"None"})");  // words inside strings untouched
}

TEST(OutputJson, TypedValues) {
    ordered_json schema = ordered_json::parse(R"({
        "b": {"type": "boolean"}, "i": {"type": "integer"}, "n": {"type": "number"}, "a": {"type": "array"},
        "o": {"type": "object"}, "s": {"type": "string"}, "u": {"type": ["integer", "string"]},
        "any": {"anyOf": [{"type": "number"}, {"type": "array"}]}})");
    auto t = [&](const char* key, std::string_view raw) { return typed_value(raw, &schema[key]).dump(); };
    EXPECT_EQ(t("b", "true"), "true");
    EXPECT_EQ(t("b", "False"), "false");
    EXPECT_EQ(t("b", "yes"), "false");  // the reference parsers' choice
    EXPECT_EQ(t("i", "42"), "42");
    EXPECT_EQ(t("i", "4.5"), "\"4.5\"");  // not an integer: kept as text
    EXPECT_EQ(t("n", "2.50"), "2.5");
    EXPECT_EQ(t("n", "3.0"), "3");
    EXPECT_EQ(t("n", "1e3"), "1000");
    EXPECT_EQ(t("n", "0x10"), "\"0x10\"");
    EXPECT_EQ(t("a", "[1, \"x\"]"), "[1,\"x\"]");
    EXPECT_EQ(t("o", "{\"k\": 1}"), "{\"k\":1}");
    EXPECT_EQ(t("o", "not an object"), "\"not an object\"");
    EXPECT_EQ(t("s", "42"), "\"42\"");
    EXPECT_EQ(t("s", "null"), "null");  // null first, whatever the type (the reference parsers do the same)
    EXPECT_EQ(t("u", "7"), "7");
    EXPECT_EQ(t("u", "seven"), "\"seven\"");
    EXPECT_EQ(t("any", "[1]"), "[1]");
    EXPECT_EQ(t("any", "1.5"), "1.5");
    EXPECT_EQ(typed_value("x < y", nullptr).dump(), "\"x < y\"");  // no schema: text
}

TEST(OutputJson, ToolNamesAndHarmonyIdentifiers) {
    EXPECT_EQ(outparse::harmony_identifier("get weather-now.v2"), "get_weather_now_v2");
    EXPECT_EQ(outparse::harmony_identifier("9lives"), "_9lives");
    EXPECT_EQ(outparse::harmony_identifier("!!!"), "unnamed");
    EXPECT_EQ(outparse::harmony_identifier("a+b"), "ab");
    ToolSet tools(ordered_json::parse(R"([{"type": "function", "function": {"name": "a-b"}},
        {"name": "a.b"}, {"function": {"name": "plain"}}, {"function": {}}, 3])"));
    ASSERT_EQ(tools.size(), 3u);
    EXPECT_EQ(tools.find("a-b"), 0);
    EXPECT_EQ(tools.find("a.b"), 1);
    EXPECT_EQ(tools.find("a_b"), 0);    // first to claim the identifier
    EXPECT_EQ(tools.find("a_b_2"), 1);  // the duplicate is suffixed
    EXPECT_EQ(tools.find("functions.plain"), 2);
    EXPECT_EQ(tools.find("functions.a_b"), 0);
    EXPECT_EQ(tools.find("other"), -1);
}

OutputFormat family(const char* name) {
    OutputFormat f;
    EXPECT_TRUE(output_format_for_family(name, &f)) << name;
    return f;
}

ParserOptions with_tools() {
    ParserOptions o;
    o.tools = standard_tools();
    return o;
}

TEST(OutputParser, ContentStreamsAtOnceAndHoldsOnlyAMarkerPrefix) {
    OutputParser p(family("hermes"), with_tools());
    ParsedOutput out;
    p.push("Hello wor", out);
    EXPECT_EQ(out.content, "Hello wor");
    out = {};
    p.push("ld. Now <tool_", out);
    EXPECT_EQ(out.content, "ld. Now");  // " <tool_" may start a call (the space may sit next to it)
    out = {};
    p.push("call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", out);
    EXPECT_EQ(out.content, "");
    ASSERT_EQ(out.calls.size(), 1u);  // emitted as soon as it closed, before finish()
    EXPECT_EQ(out.calls[0].arguments, R"({"city":"Paris"})");
    out = {};
    p.push(" Done", out);
    EXPECT_EQ(out.content, " Done");  // text after a call keeps its whitespace
    out = {};
    p.finish(out);
    EXPECT_TRUE(out.content.empty() && out.calls.empty());
}

TEST(OutputParser, ThinkingStreamsAndAHalfMarkerNeverLeaks) {
    OutputParser p(family("hermes"), with_tools());
    ParsedOutput out;
    p.push("<think>step one", out);
    EXPECT_EQ(out.thinking, "step one");
    p.push(" then</th", out);
    EXPECT_EQ(out.thinking, "step one then");
    EXPECT_EQ(out.content, "");
    p.push("ink>answer", out);
    EXPECT_EQ(out.content, "answer");
    p.finish(out);
    EXPECT_EQ(out.thinking, "step one then");
}

TEST(OutputParser, StraySpecialTokensAreMarkupNotContent) {
    OutputParser p(family("llama3"), with_tools());
    ParsedOutput out;
    p.push("Hi<|eot_id|>", out);
    p.finish(out);
    EXPECT_EQ(out.content, "Hi");
}

// Every family's syntax writes calls its parser reads back, one call and (where the family can) several.
TEST(ToolCallSyntax, EveryFamilyRoundTrips) {
    const std::vector<std::pair<std::string, ordered_json>> calls = {
        {"get_weather", ordered_json::parse(R"({"city": "Paris <b>", "unit": "celsius"})")},
        {"set_options", ordered_json::parse(R"({"flag": true, "ratio": 0.5, "count": -3, "tags": ["a", "b"],
            "config": {"k": [1, {"z": null}]}, "limit": "none", "note": "line 1\nline \"2\" & {x}"})")},
        {"my-tool.v2", ordered_json::parse(R"({"x": 1})")},
        {"search", ordered_json::object()},
    };
    struct Variant {
        const char* family;
        const char* variant;
        const char* generic_tag;
    };
    const Variant variants[] = {
        {"generic", "", "{"},
        {"generic", "", "<functioncall>"},
        {"generic", "", "functools["},
        {"llama3", "", ""},
        {"hermes", "", ""},
        {"qwen3_coder", "", ""},
        {"glm", "", ""},
        {"glm", "compact", ""},
        {"mistral", "", ""},
        {"mistral", "nemo", ""},
        {"command_r", "", ""},
        {"command_r7b", "", ""},
        {"deepseek_r1", "", ""},
        {"deepseek_v3", "", ""},
        {"deepseek_dsml", "", ""},
        {"functionary_v3_1", "", ""},
        {"functionary_v3_2", "", ""},
        {"firefunction_v2", "", ""},
        {"harmony", "", ""},
        {"gemma4", "", ""},
        {"function_gemma", "", ""},
        {"kimi_k2", "", ""},
        {"granite", "", ""},
    };
    for (const auto& v : variants) {
        OutputFormat f = family(v.family);
        f.variant = v.variant;
        if (*v.generic_tag) f.generic_tag = v.generic_tag;
        ToolCallSyntax syntax = tool_call_syntax(f);
        EXPECT_EQ(syntax.family, f.family);
        for (size_t n : {size_t{1}, calls.size()}) {
            if (n > 1 && !syntax.parallel) continue;
            std::vector<std::pair<std::string, ordered_json>> some(calls.begin(), calls.begin() + n);
            for (size_t first = 0; first < (n == 1 ? calls.size() : 1); ++first) {
                if (n == 1) some = {calls[first]};
                std::string text = syntax.write_calls(some);
                std::string label = std::string(v.family) + "/" + v.variant + "/" + f.generic_tag + ": " + text;
                Parsed p = parse_all_ways(f, with_tools(), text, label);
                ASSERT_EQ(p.calls.size(), some.size()) << label << "\n" << describe(p);
                for (size_t i = 0; i < some.size(); ++i) {
                    EXPECT_EQ(p.calls[i].name, some[i].first) << label;
                    EXPECT_EQ(p.calls[i].arguments, some[i].second.dump()) << label;
                }
                EXPECT_EQ(p.content, "") << label;
                EXPECT_TRUE(p.warnings.empty()) << label << "\n" << describe(p);
            }
        }
    }
}

TEST(ToolCallSyntax, Pieces) {
    ToolCallSyntax hermes = tool_call_syntax(family("hermes"));
    EXPECT_EQ(hermes.write_call("f", ordered_json::parse(R"({"a":1})"), 0),
              "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\":1}}\n</tool_call>");
    EXPECT_TRUE(hermes.json_name);
    ToolCallSyntax kimi = tool_call_syntax(family("kimi_k2"));
    EXPECT_EQ(kimi.write_call("f", ordered_json::parse(R"({"s":"{i}"})"), 2),
              "<|tool_call_begin|>functions.f:2<|tool_call_argument_begin|>{\"s\":\"{i}\"}<|tool_call_end|>");
    ToolCallSyntax xml = tool_call_syntax(family("qwen3_coder"));
    EXPECT_EQ(xml.args, ToolCallSyntax::Args::xml_params);
    EXPECT_EQ(xml.write_call("f", ordered_json::parse(R"({"s":"v","n":2})"), 0),
              "<tool_call>\n<function=f>\n<parameter=s>\nv\n</parameter>\n<parameter=n>\n2\n</parameter>\n"
              "</function>\n</tool_call>");
    EXPECT_FALSE(tool_call_syntax(family("harmony")).parallel);
}

// Long outputs cost linear time: 400 KB of content and a 200 KB parameter value pushed byte by byte.
TEST(OutputParser, LinearOnLongOutputs) {
    std::string prose;
    while (prose.size() < 400000) prose += "Some text with <angle> brackets, {braces} and [THINK]-like words. ";
    std::string call = "<tool_call>\n<function=run_code>\n<parameter=code>\n";
    while (call.size() < 200000) call += "if a < b: print('</function> </tool_call>')\n";
    call += "</parameter>\n</function>\n</tool_call>";
    for (int which = 0; which < 2; ++which) {
        const std::string& text = which == 0 ? prose : call;
        auto start = std::chrono::steady_clock::now();
        OutputParser p(family("qwen3_coder"), with_tools());
        ParsedOutput out;
        for (char c : text) p.push(std::string_view(&c, 1), out);
        p.finish(out);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        EXPECT_LT(s, 5.0) << "byte-by-byte parse of " << text.size() << " bytes took " << s << " s";
        if (which == 0)
            EXPECT_EQ(out.content, prose);
        else
            EXPECT_EQ(out.calls.size(), 1u);
    }
}

}  // namespace
}  // namespace berth
