// Chat-template rendering: a Jinja2 subset sufficient for the chat templates that real models ship
// (Llama 3.x, Qwen 2.5, Mistral, Gemma, Phi, DeepSeek, Command R, Hermes, Functionary ...), rendering
// byte for byte what Python's Jinja2 renders with trim_blocks and lstrip_blocks on.
// Ollama's Go templates and one rendering API for chat requests of both syntaxes: PromptTemplate
// (template/prompt_template.h), and the output parsers (template/output_parser.h), both included at the end.
// Includes base and nlohmann/json (the output parsers' options hold the request's tools).
//
// Supported: {{ }}, {% if/elif/else %}, {% for ... in ... if ... %} with else, loop.* and break/continue,
// {% set %} (also block set, tuple unpacking, namespace attributes), {% macro %} and {% call %}, {% filter %},
// {% with %}, {% raw %}, {% do %}, {% generation %}; Python-semantics values and operators; the Jinja2
// filters and tests chat templates use; str/list/dict methods; namespace(), range(), dict(),
// raise_exception(msg), strftime_now(fmt); map/select/reject/unique/items/reverse return one-shot iterators as
// in Jinja2 (no len, no index, fail in tojson). Known differences from Jinja2: a loop that breaks early
// consumes the whole iterator, iterators print without an address ("<generator object>"); an unknown filter
// or test fails when reached (Jinja2: at compile time outside `if` blocks); lists may be mutated with
// append/pop (transformers' sandbox forbids it); a caller() kept past its {% call %} fails; integers are
// 64-bit (overflow fails); case mapping covers ASCII, Latin, Greek and Cyrillic; no include/extends/import,
// recursive loops or format specs in str.format.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "base/base.h"
#include "template/output_parser.h"

namespace berth {

namespace jinja {
struct Template;
}

struct TemplateOptions {
    // Jinja2 environment switches; chat templates are written for both on (as transformers renders them).
    bool trim_blocks = true;
    bool lstrip_blocks = true;
    // Time used by strftime_now(fmt) in seconds since the epoch (UTC); unset: the current time.
    std::optional<int64_t> now_unix_s;
    // tojson: false (default) renders like transformers' chat environment, json.dumps(x, ensure_ascii=False)
    // with insertion order and ", " / ": " separators; true renders like plain Jinja2's htmlsafe tojson
    // (sorted keys, ASCII-only, <>&' escaped as \u003c ...).
    bool jinja_htmlsafe_tojson = false;
    // Safety bounds: a template that exceeds them fails with a message instead of running away.
    uint64_t max_steps = 1'000'000;       // statements + loop iterations + macro calls
    size_t max_output_bytes = 64u << 20;  // rendered text and any intermediate string
    int max_call_depth = 256;             // nested macro calls
};

// A parsed template; parse once per model, render per request. Copies share the parsed tree (immutable).
class ChatTemplate {
  public:
    // Parses `source`; a syntax error returns invalid_argument "template syntax error: line N: ...".
    static Result<ChatTemplate> parse(std::string_view source, const TemplateOptions& options = {});
    // Renders with the top-level keys of `context` as variables: messages, add_generation_prompt,
    // bos_token, eos_token, tools, ... Template errors (raise_exception, undefined values, type errors,
    // bounds) return invalid_argument "template error: line N: ...".
    Result<std::string> render(const nlohmann::json& context) const;
    // Same with an insertion-ordered object: key order then follows the input (what Python's dicts keep),
    // which matters for tojson and for loops over dicts. Prefer this for request bodies.
    Result<std::string> render(const nlohmann::ordered_json& context) const;
    // Same with other options for this render (a pinned clock, other bounds); the parse is shared.
    Result<std::string> render(const nlohmann::ordered_json& context, const TemplateOptions& options) const;

  private:
    std::shared_ptr<const jinja::Template> tmpl_;
    TemplateOptions options_;
};

// One-shot parse + render of `tmpl` with `context` (see ChatTemplate::render).
Result<std::string> render_chat_template(std::string_view tmpl, const nlohmann::json& context,
                                         const TemplateOptions& options = {});
Result<std::string> render_chat_template(std::string_view tmpl, const nlohmann::ordered_json& context,
                                         const TemplateOptions& options = {});

// Plain-text fallback for models that ship no chat template. Each message renders as
// "<Role>: <content>\n\n" (role with its first letter upper-cased: "System", "User", "Assistant", "Tool";
// non-string content is rendered as JSON), and add_generation_prompt appends "Assistant:". No special
// tokens are added: BOS is the tokenizer's business. `messages` must be an array of objects.
Result<std::string> render_plain_chat(const nlohmann::json& messages, bool add_generation_prompt);

}  // namespace berth

#include "template/prompt_template.h"  // PromptTemplate: chat requests through Jinja or Ollama's Go templates
