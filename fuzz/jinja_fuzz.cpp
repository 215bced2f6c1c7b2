// The Jinja chat-template engine: parse a template, render it with a context (a JSON object of messages,
// tools, flags). Input: the template, then optionally "\n#####\n" and the context as JSON (a default chat
// otherwise).
// Properties: no crash; rendering stops within its step and output budgets (smaller here than the server's, so
// that each input runs in milliseconds), and what it returns is never longer than the output budget.
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "template/template.h"

using namespace berth;

namespace {

const char* kDefaultContext = R"({"messages": [
  {"role": "system", "content": "Be brief."},
  {"role": "user", "content": "Hello <b>&amp;</b> \u00e9"},
  {"role": "assistant", "content": "Hi!", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1, "b": [true, null]}}}]},
  {"role": "tool", "content": "{\"ok\": 1}"},
  {"role": "user", "content": ""}],
 "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
 "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "enable_thinking": false})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Input in(data, size);
    std::string_view source = in.take_until("\n#####\n");
    nlohmann::ordered_json context = nlohmann::ordered_json::parse(in.rest(), nullptr, false);
    if (context.is_discarded() || !context.is_object()) context = nlohmann::ordered_json::parse(kDefaultContext);

    TemplateOptions opt;
    opt.now_unix_s = 1795478400;  // strftime_now is deterministic
    opt.max_steps = 20000;
    opt.max_output_bytes = 1 << 20;
    opt.max_call_depth = 64;
    Result<ChatTemplate> t = ChatTemplate::parse(source, opt);
    if (!t.is_ok()) return 0;
    Result<std::string> out = t->render(context);
    if (out.is_ok() && out->size() > opt.max_output_bytes) fuzz::fail("rendered past the output budget");
    return 0;
}
