// Prompt rendering for chat requests with either kind of template a model can carry: a Jinja chat template
// (GGUF tokenizer.chat_template, berth's TEMPLATE) or one of Ollama's Go templates (an Ollama store's
// TEMPLATE layer, a Modelfile). One API for the server: parse once, render an Ollama-shaped chat request,
// ask what the template can do. Included by template/template.h; use that header.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "base/base.h"

namespace berth {

enum class TemplateSyntax { jinja, go };

const char* template_syntax_name(TemplateSyntax s);  // "jinja" / "go"

// The request's `think`: absent, true/false, or a level. Ollama accepts "low", "medium", "high", "max".
struct ThinkSetting {
    bool set = false;      // the request carried `think` (Go: .IsThinkSet)
    bool enabled = false;  // true or any level (Go: .Think)
    std::string level;     // the level sent; "" for booleans
};

// Reads `think` like Ollama's decoder: null = absent, a boolean, or "low" | "medium" | "high" | "max";
// anything else is invalid_argument with Ollama's message.
Result<ThinkSetting> parse_think(const nlohmann::ordered_json& value);

// An Ollama /api/chat request as the template sees it. The JSON stays the caller's (pointers, not copies).
//
// messages: [{role, content, thinking?, tool_calls?: [{id?, function: {index?, name, arguments: {...}}}],
//   tool_name?, tool_call_id?}, ...]. tools: [{type, function: {name, description, parameters}}] or null.
//
// Jinja: the variables are messages and tools as given (raw JSON, key order kept, so a prompt is byte-identical
// turn after turn and the prefix cache hits; `tools` is left undefined when absent or null), with the keys
// chat templates read added where missing (tool_name also as `name`, thinking also as `reasoning_content`,
// tool calls with "type": "function", as llama.cpp and Ollama's native path hand them to templates),
// add_generation_prompt, bos_token, eos_token; `think`, when set, becomes enable_thinking = thinking =
// enabled, plus reasoning_effort = level for a level; then every key of `extra` (chat_template_kwargs),
// which wins over the above. strftime_now uses `now_unix_s`.
//
// Go (Ollama's template.Execute): roles lower-cased, messages collated (system messages joined with "\n\n"
// into .System, consecutive messages of one role merged with "\n\n" except tool results), tool-call arguments
// and top-level tool property keys sorted (Go maps), unknown tool schema keywords dropped (Ollama's typed
// decode), .Think = enabled, .ThinkLevel = level ("medium" for true, "" for false or absent), .IsThinkSet =
// set; templates that never use .Messages render turn by turn through .System/.Prompt/.Response with the last
// turn cut after .Response; `prompt` + `suffix` (both set) select Ollama's fill-in-the-middle path. bos/eos,
// add_generation_prompt and `extra` do not apply (Ollama's templates end with the assistant's turn). Images
// are not passed (Ollama tags them into content before rendering: the caller's business).
struct ChatRenderInput {
    const nlohmann::ordered_json* messages = nullptr;  // required: an array
    const nlohmann::ordered_json* tools = nullptr;     // optional: an array or null
    ThinkSetting think;
    bool add_generation_prompt = true;
    std::string bos_token, eos_token;
    const nlohmann::ordered_json* extra = nullptr;  // optional: an object of more Jinja variables
    std::string prompt, suffix;                     // Go only: fill-in-the-middle
    std::optional<int64_t> now_unix_s;  // pins strftime_now / currentDate (seconds since the epoch); else the
                                        // parse options' value, else the current time
};

// What a template can do, for /api/show's capabilities and the 400s for tools / think it cannot take.
struct TemplateCapabilities {
    bool tools = false;         // tool definitions reach the prompt
    bool thinking = false;      // it has a reasoning block or a thinking switch
    bool think_levels = false;  // "low" and "high" render differently (reasoning_effort / .ThinkLevel)
};

struct TemplateOptions;
class ChatTemplate;
struct GoPrompt;

// A parsed template of either syntax; immutable, cheap to copy (copies share the parse), safe to render
// from many threads.
class PromptTemplate {
  public:
    // Parses `source` as `syntax`, or detects it: the syntax that parses (Jinja when both do and the text has
    // "{%" or no Go-only action such as {{ .Field }}, {{ $x }}, {{ range }}, {{ end }}). Fails with
    // invalid_argument naming the parse error(s): "template is neither valid Jinja (...) nor a valid Go
    // template (...)". Capabilities are derived here, once.
    static Result<PromptTemplate> parse(std::string_view source, std::optional<TemplateSyntax> syntax = {});
    static Result<PromptTemplate> parse(std::string_view source, std::optional<TemplateSyntax> syntax,
                                        const TemplateOptions& options);

    TemplateSyntax syntax() const { return syntax_; }
    const TemplateCapabilities& capabilities() const { return caps_; }

    // Renders a chat request (see ChatRenderInput); bad request shapes and template errors are
    // invalid_argument ("template error: ..." for the template's own failures).
    Result<std::string> render(const ChatRenderInput& in) const;

    // The Jinja template (null for Go), for callers that build their own Jinja context.
    const ChatTemplate* jinja() const { return jinja_.get(); }

  private:
    TemplateCapabilities probe_capabilities(std::string_view source) const;

    TemplateSyntax syntax_ = TemplateSyntax::jinja;
    std::shared_ptr<const ChatTemplate> jinja_;
    std::shared_ptr<const GoPrompt> go_;
    std::shared_ptr<const TemplateOptions> options_;
    TemplateCapabilities caps_;
};

// The capabilities derived at parse: Ollama's rules (a Jinja template mentioning tools / tool_call or
// <think>...</think>; a Go template using .Tools or wrapping .Thinking in tags, agents.md §a.2) checked
// against what renders: tools only when a probe tool's definition reaches the prompt (Ollama's text test
// where the probe cannot render), thinking also when enable_thinking / .Think changes the prompt, levels when
// reasoning_effort / .ThinkLevel "low" and "high" render differently.
TemplateCapabilities template_capabilities(const PromptTemplate& t);

}  // namespace berth
