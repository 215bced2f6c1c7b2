// PromptTemplate: syntax detection over every reference template, the think → Jinja variables mapping
// (renderings-tools.json rendered from `think` instead of kwargs), capabilities of known templates, Ollama's
// legacy and fill-in-the-middle paths, and errors that name what to change.
#include "template/template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace berth {
namespace {

using nlohmann::ordered_json;

const std::string kTemplates = std::string(BERTH_TESTDATA) + "/templates";

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

ordered_json read_json(const std::string& path) {
    std::ifstream f(path);
    EXPECT_TRUE(f) << "missing " << path;
    return f ? ordered_json::parse(f) : ordered_json();
}

std::string jinja_source(const std::string& name) { return read_file(kTemplates + "/jinja/" + name); }

std::string go_source(const std::string& name) {
    static const ordered_json ref = read_json(kTemplates + "/gotmpl/renderings.json");
    return ref["templates"][name].get<std::string>();
}

TEST(PromptTemplate, DetectsJinjaForEveryJinjaReferenceTemplate) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(kTemplates + "/jinja")) {
        auto t = PromptTemplate::parse(read_file(e.path().string()));
        ASSERT_TRUE(t.is_ok()) << e.path() << ": " << t.status().message();
        EXPECT_EQ(t->syntax(), TemplateSyntax::jinja) << e.path();
        ASSERT_NE(t->jinja(), nullptr);
        ++n;
    }
    EXPECT_EQ(n, 35);
}

TEST(PromptTemplate, DetectionAndParseErrors) {
    auto plain = PromptTemplate::parse("no tags at all");
    ASSERT_TRUE(plain.is_ok());
    EXPECT_EQ(plain->syntax(), TemplateSyntax::jinja);  // both parse: berth's TEMPLATE default
    auto go = PromptTemplate::parse("{{ .Prompt }}");
    ASSERT_TRUE(go.is_ok()) << go.status().message();
    EXPECT_EQ(go->syntax(), TemplateSyntax::go);
    auto neither = PromptTemplate::parse("{{ .System }} {{ end }}");
    ASSERT_FALSE(neither.is_ok());
    EXPECT_EQ(neither.status().message(),
              "template is neither valid Jinja (template syntax error: line 1: unexpected '.') nor a valid Go template "
              "(template: :1: unexpected {{end}})");
    auto forced = PromptTemplate::parse("{{ messages }}", TemplateSyntax::go);
    ASSERT_FALSE(forced.is_ok());
    EXPECT_EQ(forced.status().message(),
              "template is not a valid Go template (template: :1: function \"messages\" not defined)");
    // Ollama refuses {{template "x"}} without a pipeline in Vars ("undefined template specified").
    EXPECT_FALSE(PromptTemplate::parse(R"({{ define "x" }}x{{ end }}{{ template "x" }})", TemplateSyntax::go).is_ok());
}

// renderings-tools.json's kwargs are what `think` maps to: rendering from the Go reference's `think` values
// of the same conversations gives the same bytes.
TEST(PromptTemplate, ThinkMapsToTheJinjaVariablesOfTheReference) {
    ordered_json tools_ref = read_json(kTemplates + "/renderings-tools.json");
    ordered_json go_ref = read_json(kTemplates + "/gotmpl/renderings.json");
    int checked = 0;
    for (const auto& c : tools_ref["cases"]) {
        std::string conv = c["conversation"].get<std::string>();
        if (c.contains("error")) continue;
        auto t = PromptTemplate::parse(jinja_source(c["template"].get<std::string>()));
        ASSERT_TRUE(t.is_ok());
        ChatRenderInput in;
        in.messages = &tools_ref["conversations"][conv];
        if (tools_ref["tools"].contains(conv)) in.tools = &tools_ref["tools"][conv];
        const ordered_json& request = go_ref["conversations"][conv];
        if (request.contains("think")) in.think = *parse_think(request["think"]);
        in.add_generation_prompt = c["add_generation_prompt"].get<bool>();
        in.bos_token = c["bos_token"].get<std::string>();
        in.eos_token = c["eos_token"].get<std::string>();
        in.now_unix_s = 1795435200;
        auto out = t->render(in);
        ASSERT_TRUE(out.is_ok()) << c["template"] << " / " << conv << ": " << out.status().message();
        EXPECT_EQ(*out, c["expected"].get<std::string>()) << c["template"] << " / " << conv;
        ++checked;
    }
    EXPECT_EQ(checked, 392);
}

// The same cases from Ollama-shaped messages (tool_name, thinking, tool calls without "type"): the keys
// templates read are added, so the prompts are the reference's.
TEST(PromptTemplate, OllamaShapedMessagesRenderLikeTheReference) {
    ordered_json tools_ref = read_json(kTemplates + "/renderings-tools.json");
    ordered_json go_ref = read_json(kTemplates + "/gotmpl/renderings.json");
    int checked = 0;
    for (const auto& c : tools_ref["cases"]) {
        std::string conv = c["conversation"].get<std::string>();
        if (c.contains("error")) continue;
        ordered_json messages = ordered_json::array();
        for (const auto& m : tools_ref["conversations"][conv]) {
            ordered_json o = ordered_json::object();
            for (auto it = m.begin(); it != m.end(); ++it) {
                if (it.key() == "name")
                    o["tool_name"] = it.value();
                else if (it.key() == "reasoning_content")
                    o["thinking"] = it.value();
                else if (it.key() == "tool_calls") {
                    o["tool_calls"] = ordered_json::array();
                    for (auto call : it.value()) {
                        call.erase("type");
                        o["tool_calls"].push_back(call);
                    }
                } else
                    o[it.key()] = it.value();
            }
            messages.push_back(o);
        }
        auto t = PromptTemplate::parse(jinja_source(c["template"].get<std::string>()));
        ASSERT_TRUE(t.is_ok());
        ChatRenderInput in;
        in.messages = &messages;
        if (tools_ref["tools"].contains(conv)) in.tools = &tools_ref["tools"][conv];
        const ordered_json& request = go_ref["conversations"][conv];
        if (request.contains("think")) in.think = *parse_think(request["think"]);
        in.add_generation_prompt = c["add_generation_prompt"].get<bool>();
        in.bos_token = c["bos_token"].get<std::string>();
        in.eos_token = c["eos_token"].get<std::string>();
        in.now_unix_s = 1795435200;
        auto out = t->render(in);
        ASSERT_TRUE(out.is_ok()) << c["template"] << " / " << conv << ": " << out.status().message();
        EXPECT_EQ(*out, c["expected"].get<std::string>()) << c["template"] << " / " << conv;
        ++checked;
    }
    EXPECT_EQ(checked, 392);
}

TEST(PromptTemplate, ParseThink) {
    EXPECT_FALSE(parse_think(nullptr)->set);
    auto t = parse_think(true);
    EXPECT_TRUE(t->set && t->enabled && t->level.empty());
    t = parse_think(false);
    EXPECT_TRUE(t->set && !t->enabled);
    t = parse_think("max");
    EXPECT_TRUE(t->set && t->enabled && t->level == "max");
    EXPECT_EQ(parse_think("extreme").status().message(),
              "invalid think value: \"extreme\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)");
    EXPECT_FALSE(parse_think(1).is_ok());
}

TEST(PromptTemplate, ExtraJinjaVariablesWin) {
    auto t = PromptTemplate::parse("{{ enable_thinking }} {{ custom }} {{ strftime_now('%Y') }}");
    ASSERT_TRUE(t.is_ok());
    ordered_json messages = ordered_json::array(), extra = {{"enable_thinking", "kw"}, {"custom", 7}};
    ChatRenderInput in;
    in.messages = &messages;
    in.think = ThinkSetting{true, false, ""};
    in.extra = &extra;
    in.now_unix_s = 1795435200;
    EXPECT_EQ(*t->render(in), "kw 7 2026");
}

struct CapCase {
    const char* name;
    bool go, tools, thinking, levels;
};

TEST(PromptTemplate, CapabilitiesOfKnownTemplates) {
    const CapCase cases[] = {
        {"Qwen-Qwen3-0.6B.jinja", false, true, true, false},
        {"meta-llama-Llama-3.1-8B-Instruct.jinja", false, true, false, false},
        {"google-gemma-2-2b-it.jinja", false, false, false, false},
        {"openai-gpt-oss-120b.jinja", false, true, true, true},
        {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", false, false, true, false},
        {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", false, true, false, false},
        {"x-authored-qwen3-style", true, true, true, false},
        {"llama3-instruct", true, false, false, false},
        {"x-ollama-test-thinking", true, false, true, false},
        {"x-ollama-test-tools", true, true, false, false},
        {"x-authored-features", true, true, true, true},
    };
    for (const auto& c : cases) {
        auto t = PromptTemplate::parse(c.go ? go_source(c.name) : jinja_source(c.name));
        ASSERT_TRUE(t.is_ok()) << c.name << ": " << t.status().message();
        TemplateCapabilities caps = template_capabilities(*t);
        EXPECT_EQ(caps.tools, c.tools) << c.name;
        EXPECT_EQ(caps.thinking, c.thinking) << c.name;
        EXPECT_EQ(caps.think_levels, c.levels) << c.name;
    }
}

// Ollama's legacy path: one execution per turn, the last cut after .Response (so "</s>" after it goes), and
// none of its functions in that last execution.
TEST(PromptTemplate, LegacyGoTemplates) {
    auto t = PromptTemplate::parse("{{ if .System }}S:{{ .System }} {{ end }}U:{{ .Prompt }} A:{{ .Response }}</s>",
                                   TemplateSyntax::go);
    ASSERT_TRUE(t.is_ok());
    ordered_json messages =
        ordered_json::parse(R"([{"role": "system", "content": "sys"}, {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}])");
    ChatRenderInput in;
    in.messages = &messages;
    EXPECT_EQ(*t->render(in), "S:sys U:q1 A:a1</s>U:q2 A:");
    auto with_json = PromptTemplate::parse("{{ json .Prompt }}{{ .Response }}", TemplateSyntax::go);
    ASSERT_TRUE(with_json.is_ok());
    auto out = with_json->render(in);
    ASSERT_FALSE(out.is_ok());  // Ollama's last-turn template has no funcs
    EXPECT_NE(out.status().message().find("\"json\" is not a defined function"), std::string::npos);
    // Fill-in-the-middle: .Prompt and .Suffix.
    auto fim = PromptTemplate::parse("<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>", TemplateSyntax::go);
    ASSERT_TRUE(fim.is_ok());
    ordered_json none = ordered_json::array();
    ChatRenderInput f;
    f.messages = &none;
    f.prompt = "def f(";
    f.suffix = "):";
    EXPECT_EQ(*fim->render(f), "<PRE> def f( <SUF>): <MID>");
}

TEST(PromptTemplate, BadRequestShapesNameThePath) {
    auto t = PromptTemplate::parse(go_source("x-authored-features"));
    ASSERT_TRUE(t.is_ok());
    ordered_json messages = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
    ordered_json tools = ordered_json::parse(
        R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"city": {"type": 5}}}}}])");
    ChatRenderInput in;
    in.messages = &messages;
    in.tools = &tools;
    auto out = t->render(in);
    ASSERT_FALSE(out.is_ok());
    EXPECT_EQ(out.status().message(),
              "tools[0].function.parameters.properties.city.type: expected a string or an array of strings");
    ordered_json bad_content = ordered_json::parse(R"([{"role": "user", "content": ["a"]}])");
    in.messages = &bad_content;
    in.tools = nullptr;
    EXPECT_EQ(t->render(in).status().message(), "messages[0].content: expected a string");
    ordered_json not_array = ordered_json::object();
    in.messages = &not_array;
    EXPECT_EQ(t->render(in).status().message(), "messages must be an array");
    // Arguments sent as a JSON string (OpenAI's shape) are read as the object they hold.
    ordered_json call = ordered_json::parse(R"([{"role": "assistant", "content": "", "tool_calls": [{"function":
        {"name": "f", "arguments": "{\"b\": 1, \"a\": \"<x>\"}"}}]}])");
    in.messages = &call;
    auto rendered = t->render(in);
    ASSERT_TRUE(rendered.is_ok()) << rendered.status().message();
    EXPECT_NE(rendered->find(R"(args={"a":"\u003cx\u003e","b":1})"), std::string::npos) << *rendered;
}

}  // namespace
}  // namespace berth
