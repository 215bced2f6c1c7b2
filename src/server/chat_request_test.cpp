#include "server/chat_request.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

ChatRequest native(const char* body) {
    ChatRequest r;
    Status s = decode_native_chat(ojson::parse(body), r);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return r;
}

std::string native_error(const char* body) {
    ChatRequest r;
    Status s = decode_native_chat(ojson::parse(body), r);
    EXPECT_FALSE(s.is_ok()) << body;
    return s.message();
}

ChatRequest openai(const char* body) {
    ChatRequest r;
    Status s = decode_openai_chat(ojson::parse(body), r);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return r;
}

std::string openai_error(const char* body) {
    ChatRequest r;
    Status s = decode_openai_chat(ojson::parse(body), r);
    EXPECT_FALSE(s.is_ok()) << body;
    return s.message();
}

TEST(ChatRequest, NativeMessagesKeepOrderAndNormalize) {
    ChatRequest r = native(R"({"messages":[
        {"role":"USER","content":"hi"},
        {"role":"assistant","content":null,"thinking":"hmm",
         "tool_calls":[{"function":{"name":"get_weather","arguments":{"zcity":"Paris","aunit":"c"}}}]},
        {"role":"tool","content":"18C"}],
      "tools":[{"type":"function","function":{"name":"get_weather",
        "parameters":{"type":"object","properties":{"zcity":{"type":"string"},"aunit":{"type":"string"}}}}}],
      "think":"high","format":"json"})");
    ASSERT_EQ(r.messages.size(), 3u);
    EXPECT_EQ(r.messages[0]["role"], "user");
    EXPECT_EQ(r.messages[1]["content"], "");
    EXPECT_EQ(r.messages[1]["thinking"], "hmm");
    // Arguments keep the order the client sent (not sorted).
    EXPECT_EQ(r.messages[1]["tool_calls"][0]["function"]["arguments"].dump(), R"({"zcity":"Paris","aunit":"c"})");
    // An orphan tool result is paired with the call before it by position.
    EXPECT_EQ(r.messages[2]["tool_name"], "get_weather");
    EXPECT_EQ(r.tools[0]["function"]["parameters"]["properties"].dump(),
              R"({"zcity":{"type":"string"},"aunit":{"type":"string"}})");
    EXPECT_TRUE(r.think.set && r.think.enabled);
    EXPECT_EQ(r.think.level, "high");
    EXPECT_EQ(r.format.kind, FormatSetting::json_object);
}

TEST(ChatRequest, NativeArgumentsMayBeAJsonString) {
    ChatRequest r = native(R"({"messages":[{"role":"assistant","tool_calls":[
        {"id":"call_1","function":{"name":"f","arguments":"{\"b\":1,\"a\":2}"}}]},
        {"role":"tool","tool_call_id":"call_1","content":"ok"}]})");
    EXPECT_EQ(r.messages[0]["tool_calls"][0]["function"]["arguments"].dump(), R"({"b":1,"a":2})");
    EXPECT_EQ(r.messages[1]["tool_name"], "f");
    EXPECT_EQ(r.messages[1]["tool_call_id"], "call_1");
}

TEST(ChatRequest, NativeErrorsNameThePath) {
    EXPECT_NE(native_error(R"({"messages":[{"role":"user","content":5}]})").find("messages[0].content"),
              std::string::npos);
    EXPECT_NE(native_error(R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"name":""}}]}]})")
                  .find("messages[0].tool_calls[0].function.name"),
              std::string::npos);
    EXPECT_NE(native_error(R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f",
                 "arguments":"{not json"}}]}]})")
                  .find("invalid tool call arguments at messages[0].tool_calls[0].function.arguments"),
              std::string::npos);
    EXPECT_NE(native_error(R"({"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]})")
                  .find("tools[0].function.parameters"),
              std::string::npos);
    EXPECT_NE(native_error(R"({"tools":[{"function":{"name":"f"}},{"function":{"name":"f"}}]})")
                  .find("tools[1].function.name \"f\" is defined twice"),
              std::string::npos);
    EXPECT_NE(native_error(R"({"tools":[{"type":"retrieval"}]})").find("tools[0].type"), std::string::npos);
    EXPECT_NE(native_error(R"({"format":"xml"})").find("invalid format: \"xml\""), std::string::npos);
    EXPECT_NE(native_error(R"({"format":3})").find("expected \"json\" or a valid JSON Schema object"),
              std::string::npos);
    EXPECT_NE(native_error(R"({"think":"extreme"})").find("think must be"), std::string::npos);
}

TEST(ChatRequest, NativeToolChoiceExtension) {
    ChatRequest r =
        native(R"({"tools":[{"function":{"name":"f"}}],"tool_choice":"required","parallel_tool_calls":false})");
    EXPECT_EQ(r.tool_choice.kind, ToolChoice::required);
    EXPECT_FALSE(r.parallel_tool_calls);
    EXPECT_NE(native_error(R"({"tool_choice":"sometimes"})").find("tool_choice must be"), std::string::npos);
}

TEST(ChatRequest, NativeUnsetFields) {
    ChatRequest r = native(R"({"messages":[],"format":"","think":null,"tools":null})");
    EXPECT_TRUE(r.messages.empty());
    EXPECT_EQ(r.format.kind, FormatSetting::none);
    EXPECT_FALSE(r.think.set);
    EXPECT_TRUE(r.tools.empty());
    ChatRequest s = native(R"({"format":{"type":"object","properties":{"b":{},"a":{}}},"think":false})");
    EXPECT_EQ(s.format.kind, FormatSetting::json_schema);
    EXPECT_EQ(s.format.schema["properties"].dump(), R"({"b":{},"a":{}})");
    EXPECT_TRUE(s.think.set);
    EXPECT_FALSE(s.think.enabled);
}

TEST(ChatRequest, OpenAIMessages) {
    ChatRequest r = openai(R"({"messages":[
        {"role":"developer","content":[{"type":"text","text":"be "},{"type":"text","text":"brief"}]},
        {"role":"user","content":"weather?"},
        {"role":"assistant","content":null,"reasoning_content":"think",
         "tool_calls":[{"id":"call_a","type":"function","function":{"name":"w","arguments":"{\"city\":\"Paris\"}"}},
                       {"id":"call_b","type":"function","function":{"name":"v","arguments":""}}]},
        {"role":"tool","tool_call_id":"call_b","content":"1"},
        {"role":"tool","tool_call_id":"call_a","content":"2"}],
      "tools":[{"type":"function","function":{"name":"w"}},{"type":"function","function":{"name":"v"}}],
      "tool_choice":{"type":"function","function":{"name":"v"}},"parallel_tool_calls":false,
      "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},
      "reasoning_effort":"minimal"})");
    EXPECT_EQ(r.messages[0]["role"], "system");
    EXPECT_EQ(r.messages[0]["content"], "be brief");
    EXPECT_EQ(r.messages[2]["thinking"], "think");
    EXPECT_EQ(r.messages[2]["tool_calls"][0]["function"]["arguments"]["city"], "Paris");
    EXPECT_TRUE(r.messages[2]["tool_calls"][1]["function"]["arguments"].empty());
    // Results name their call by id, in any order.
    EXPECT_EQ(r.messages[3]["tool_name"], "v");
    EXPECT_EQ(r.messages[4]["tool_name"], "w");
    EXPECT_EQ(r.tool_choice.kind, ToolChoice::named);
    EXPECT_EQ(r.tool_choice.name, "v");
    EXPECT_FALSE(r.parallel_tool_calls);
    EXPECT_EQ(r.format.kind, FormatSetting::json_schema);
    EXPECT_EQ(r.think.level, "low");
}

TEST(ChatRequest, OpenAIReasoningEffortTable) {
    struct Case {
        const char* body;
        bool set, enabled;
        const char* level;
    } cases[] = {
        {R"({"messages":[{"role":"user"}]})", false, false, ""},
        {R"({"messages":[{"role":"user"}],"reasoning_effort":""})", false, false, ""},
        {R"({"messages":[{"role":"user"}],"reasoning_effort":"none"})", true, false, ""},
        {R"({"messages":[{"role":"user"}],"reasoning_effort":"high"})", true, true, "high"},
        {R"({"messages":[{"role":"user"}],"reasoning_effort":"xhigh"})", true, true, "max"},
        {R"({"messages":[{"role":"user"}],"reasoning_effort":"low","reasoning":{"effort":"medium"}})", true, true,
         "medium"},
    };
    for (auto& c : cases) {
        ChatRequest r = openai(c.body);
        EXPECT_EQ(r.think.set, c.set) << c.body;
        EXPECT_EQ(r.think.enabled, c.enabled) << c.body;
        EXPECT_EQ(r.think.level, c.level) << c.body;
    }
    EXPECT_NE(
        openai_error(R"({"messages":[{"role":"user"}],"reasoning_effort":"lots"})").find("invalid reasoning value"),
        std::string::npos);
}

TEST(ChatRequest, OpenAIErrors) {
    EXPECT_NE(openai_error(R"({"messages":[]})").find("too short"), std::string::npos);
    EXPECT_NE(openai_error(R"({"messages":[{"role":"user"}],"tool_choice":"required"})").find("needs tools"),
              std::string::npos);
    EXPECT_NE(openai_error(R"({"messages":[{"role":"user"}],"tools":[{"function":{"name":"a"}}],
                              "tool_choice":{"type":"function","function":{"name":"b"}}})")
                  .find("\"b\", which is not among the request's tools"),
              std::string::npos);
    EXPECT_NE(openai_error(R"({"messages":[{"role":"user"}],"response_format":{"type":"yaml"}})")
                  .find("response_format.type \"yaml\""),
              std::string::npos);
    EXPECT_NE(openai_error(R"({"messages":[{"role":"user"}],"response_format":{"type":"json_schema"}})")
                  .find("response_format.json_schema"),
              std::string::npos);
    EXPECT_NE(openai_error(R"({"messages":[{"role":"user","content":[{"type":"input_audio"}]}]})")
                  .find("messages[0].content[0]"),
              std::string::npos);
    EXPECT_NE(openai_error(R"({"messages":[{"role":"assistant","tool_calls":[{"id":"x","function":{"name":"f",
                              "arguments":"[1]"}}]}]})")
                  .find("invalid tool call arguments"),
              std::string::npos);
}

}  // namespace
}  // namespace berth
