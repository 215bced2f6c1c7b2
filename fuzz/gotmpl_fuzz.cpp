// libFuzzer target: arbitrary bytes as one of Ollama's Go templates. Parsing (with the capability probes it
// runs) and rendering a small chat request with tools, a tool call and thinking must either succeed or fail
// with a Status, within the step and output budgets: no crash, no hang, no unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "template/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using nlohmann::ordered_json;
    static const ordered_json messages = ordered_json::parse(R"([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "thinking": "use the tool",
         "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
        {"role": "tool", "content": "{\"temp\": 12}", "tool_name": "get_weather"},
        {"role": "user", "content": "Thanks"}])");
    static const ordered_json tools = ordered_json::parse(R"([{"type": "function", "function": {"name":
        "get_weather", "description": "Weather", "parameters": {"type": "object", "required": ["city"],
        "properties": {"city": {"type": "string"}, "days": {"type": ["integer", "null"]}}}}}])");
    berth::TemplateOptions options;
    options.max_steps = 20'000;
    options.max_output_bytes = 1 << 20;
    options.max_call_depth = 32;
    options.now_unix_s = 1795435200;
    std::string_view source(reinterpret_cast<const char*>(data), size);
    auto t = berth::PromptTemplate::parse(source, berth::TemplateSyntax::go, options);
    if (!t.is_ok()) return 0;
    berth::ChatRenderInput in;
    in.messages = &messages;
    in.tools = &tools;
    in.think = berth::ThinkSetting{true, true, "high"};
    (void)t->render(in);
    in.prompt = "def f(";
    in.suffix = "):";
    (void)t->render(in);
    return 0;
}
