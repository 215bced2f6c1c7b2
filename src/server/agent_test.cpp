#include "server/agent.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace berth {
namespace {

const std::string kJinja = std::string(BERTH_TESTDATA) + "/templates/jinja/";

ModelTemplate load_template(const std::string& file) {
    std::ifstream f(kJinja + file);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string source = ss.str();
    Result<PromptTemplate> t = PromptTemplate::parse(source);
    CHECK_MSG(t.is_ok(), t.status().message().c_str());
    return ModelTemplate{*t, source, detect_output_format(source)};
}

const ojson kWeather = ojson::parse(R"([{"type":"function","function":{"name":"get_weather","parameters":{
    "type":"object","properties":{"city":{"type":"string","enum":["Paris","Rome"]},"days":{"type":"integer"}},
    "required":["city"]}}},
    {"type":"function","function":{"name":"get_time","parameters":{"type":"object",
    "properties":{"zone":{"type":"string"}},"required":["zone"]}}}])");

ChatRequest request(const char* native_body) {
    ChatRequest r;
    Status s = decode_native_chat(ojson::parse(native_body), r);
    CHECK_MSG(s.is_ok(), s.message().c_str());
    return r;
}

// Whether the whole text is a complete sentence of the grammar.
bool matches(const GrammarPtr& g, std::string_view text) {
    GrammarMatcher m(0);
    m.start(g, nullptr);
    return m.accept_bytes(text) && m.is_complete();
}

TEST(Agent, RefusesWhatTheTemplateCannotRender) {
    ModelTemplate plain = load_template("google-gemma-2-2b-it.jinja");  // no tools, no thinking
    OutputPlan plan;
    ChatRequest r = request(R"({"tools":[{"function":{"name":"f"}}]})");
    Status s = plan_output("gemma", &plain, nlohmann::json::object(), r, plan);
    EXPECT_EQ(s.code(), StatusCode::invalid_argument);
    EXPECT_NE(s.message().find("\"gemma\" does not support tools"), std::string::npos) << s.message();
    r = request(R"({"think":true})");
    s = plan_output("gemma", &plain, nlohmann::json::object(), r, plan);
    EXPECT_NE(s.message().find("does not support thinking"), std::string::npos) << s.message();
    // tool_choice none on such a model: the tools are left out instead.
    r = request(R"({"tools":[{"function":{"name":"f"}}],"tool_choice":"none"})");
    EXPECT_TRUE(plan_output("gemma", &plain, nlohmann::json::object(), r, plan).is_ok());
    EXPECT_TRUE(r.tools.empty());
    EXPECT_FALSE(plan.parse);
    // No template at all.
    r = request(R"({"tools":[{"function":{"name":"f"}}]})");
    s = plan_output("bare", nullptr, nlohmann::json::object(), r, plan);
    EXPECT_NE(s.message().find("it has no chat template"), std::string::npos) << s.message();
}

TEST(Agent, ThinkingTemplatesAlwaysParse) {
    ModelTemplate qwen = load_template("Qwen-Qwen3-0.6B.jinja");
    OutputPlan plan;
    ChatRequest r = request(R"({"think":false})");
    ASSERT_TRUE(plan_output("q", &qwen, nlohmann::json::object(), r, plan).is_ok());
    EXPECT_TRUE(plan.parse) << "think false still parses, so reasoning never reaches content";
    EXPECT_FALSE(plan.parser.thinking);
    r = request(R"({})");
    ASSERT_TRUE(plan_output("q", &qwen, nlohmann::json::object(), r, plan).is_ok());
    EXPECT_TRUE(plan.parser.thinking) << "unset means on";
}

TEST(Agent, FormatAfterAnOptionalReasoningBlock) {
    ModelTemplate qwen = load_template("Qwen-Qwen3-0.6B.jinja");
    GrammarCache cache;
    OutputPlan plan;
    ChatRequest r = request(R"({"format":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],
                              "additionalProperties":false}})");
    ASSERT_TRUE(plan_output("q", &qwen, nlohmann::json::object(), r, plan).is_ok());
    plan_after_render(plan, "<|im_start|>assistant\n");
    ASSERT_TRUE(plan_grammar(cache, r, plan).is_ok());
    ASSERT_TRUE(plan.grammar);
    EXPECT_TRUE(matches(plan.grammar, R"({"a": 1})"));
    EXPECT_TRUE(matches(plan.grammar, "<think>\nfirst <b>, then {\"a\"\n</think>\n\n{\"a\":2}"));
    EXPECT_FALSE(matches(plan.grammar, "<think>never closed {\"a\":2}"));
    EXPECT_FALSE(matches(plan.grammar, R"({"a": 1, "b": 2})"));
    // With thinking off the value comes first.
    r.think.set = true;
    r.think.enabled = false;
    ASSERT_TRUE(plan_output("q", &qwen, nlohmann::json::object(), r, plan).is_ok());
    plan_after_render(plan, "<|im_start|>assistant\n<think>\n\n</think>\n\n");
    ASSERT_TRUE(plan_grammar(cache, r, plan).is_ok());
    EXPECT_FALSE(matches(plan.grammar, "<think>x</think>{\"a\":2}"));
    EXPECT_TRUE(matches(plan.grammar, "{\"a\":2}"));
    // A prompt that leaves the block open: the answer must close it first.
    ModelTemplate r1 = load_template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja");
    r = request(R"({"format":"json"})");
    ASSERT_TRUE(plan_output("r1", &r1, nlohmann::json::object(), r, plan).is_ok());
    plan_after_render(plan, "<｜User｜>hi<｜Assistant｜><think>\n");
    ASSERT_TRUE(plan.parser.starts_in_thinking);
    ASSERT_TRUE(plan_grammar(cache, r, plan).is_ok());
    EXPECT_TRUE(matches(plan.grammar, "hmm</think>\n{}"));
    EXPECT_FALSE(matches(plan.grammar, "{}"));
}

TEST(Agent, ForcedToolCallsInTheFamilySyntax) {
    ModelTemplate qwen = load_template("Qwen-Qwen3-0.6B.jinja");
    GrammarCache cache;
    OutputPlan plan;
    ChatRequest r;
    ASSERT_TRUE(decode_openai_chat(ojson::parse(std::string(R"({"messages":[{"role":"user","content":"x"}],
        "tool_choice":"required","reasoning_effort":"none","tools":)") +
                                                kWeather.dump() + "}"),
                                   r)
                    .is_ok());
    ASSERT_TRUE(plan_output("q", &qwen, nlohmann::json::object(), r, plan).is_ok());
    plan_after_render(plan, "<|im_start|>assistant\n<think>\n\n</think>\n\n");
    ASSERT_TRUE(plan_grammar(cache, r, plan).is_ok());
    const ToolCallSyntax syn = tool_call_syntax(plan.format);
    const std::string one = syn.write_calls({{"get_weather", ojson::parse(R"({"city":"Rome","days":3})")}});
    const std::string two = syn.write_calls(
        {{"get_weather", ojson::parse(R"({"city":"Paris"})")}, {"get_time", ojson::parse(R"({"zone":"CET"})")}});
    EXPECT_TRUE(matches(plan.grammar, one)) << one;
    EXPECT_TRUE(matches(plan.grammar, two)) << two;
    EXPECT_FALSE(matches(plan.grammar, syn.write_calls({{"get_weather", ojson::parse(R"({"city":"Oslo"})")}})));
    EXPECT_FALSE(matches(plan.grammar, syn.write_calls({{"get_news", ojson::parse(R"({})")}})));
    EXPECT_FALSE(matches(plan.grammar, "Sure! " + one)) << "the call comes first";
    // What the grammar lets through, the parser reads back as the same call.
    OutputSplitter splitter(plan);
    ParsedOutput out;
    splitter.push(one, out);
    splitter.finish(out);
    ASSERT_EQ(out.calls.size(), 1u);
    EXPECT_EQ(out.calls[0].name, "get_weather");
    EXPECT_EQ(call_arguments(out.calls[0]).dump(), R"({"city":"Rome","days":3})");
    EXPECT_EQ(out.calls[0].id.rfind("call_", 0), 0u);
    EXPECT_EQ(out.content, "");

    // parallel_tool_calls false: one call; a named function: only that one.
    r.parallel_tool_calls = false;
    ASSERT_TRUE(plan_output("q", &qwen, nlohmann::json::object(), r, plan).is_ok());
    ASSERT_TRUE(plan_grammar(cache, r, plan).is_ok());
    EXPECT_FALSE(matches(plan.grammar, two));
    r.tool_choice.kind = ToolChoice::named;
    r.tool_choice.name = "get_time";
    ASSERT_TRUE(plan_grammar(cache, r, plan).is_ok());
    EXPECT_FALSE(matches(plan.grammar, one));
    EXPECT_TRUE(matches(plan.grammar, syn.write_calls({{"get_time", ojson::parse(R"({"zone":"UTC"})")}})));

    // A format and a forced call together are refused.
    r.format.kind = FormatSetting::json_object;
    EXPECT_EQ(plan_grammar(cache, r, plan).code(), StatusCode::invalid_argument);
}

TEST(Agent, XmlParameterFamiliesAreForcedToo) {
    ModelTemplate coder = load_template("Qwen3-Coder.jinja");
    GrammarCache cache;
    OutputPlan plan;
    ChatRequest r = request((std::string(R"({"tool_choice":"required","tools":)") + kWeather.dump() + "}").c_str());
    ASSERT_TRUE(plan_output("c", &coder, nlohmann::json::object(), r, plan).is_ok());
    ASSERT_EQ(plan.format.family, ToolFamily::qwen3_coder);
    plan_after_render(plan, "<|im_start|>assistant\n");
    ASSERT_TRUE(plan_grammar(cache, r, plan).is_ok());
    const ToolCallSyntax syn = tool_call_syntax(plan.format);
    const std::string call = syn.write_calls({{"get_weather", ojson::parse(R"({"city":"Paris","days":2})")}});
    EXPECT_TRUE(matches(plan.grammar, call)) << call;
    OutputSplitter splitter(plan);
    ParsedOutput out;
    splitter.push(call, out);
    splitter.finish(out);
    ASSERT_EQ(out.calls.size(), 1u);
    EXPECT_EQ(call_arguments(out.calls[0]), ojson::parse(R"({"city":"Paris","days":2})"));
}

TEST(Agent, SplitterTrimsBeforeAFormatValueAndNumbersCalls) {
    OutputPlan plan;
    plan.trim_leading_whitespace = true;
    OutputSplitter s(plan);
    ParsedOutput out;
    s.push(" \n", out);
    EXPECT_EQ(out.content, "");
    s.push(" {\"a\": ", out);
    s.push(" 1}", out);
    EXPECT_EQ(out.content, "{\"a\":  1}");
    EXPECT_EQ(new_tool_call_id().size(), 13u);
    ParsedToolCall call{"f", R"({"b":1,"a":[2]})", "call_x"};
    EXPECT_EQ(native_tool_call(call, 3).dump(),
              R"({"id":"call_x","function":{"index":3,"name":"f","arguments":{"b":1,"a":[2]}}})");
    EXPECT_EQ(
        openai_tool_call(call, 0).dump(),
        R"({"id":"call_x","index":0,"type":"function","function":{"name":"f","arguments":"{\"b\":1,\"a\":[2]}"}})");
}

}  // namespace
}  // namespace berth
