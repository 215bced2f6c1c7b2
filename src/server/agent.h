// What agents ask of a generation beyond text: tool calls, thinking and structured output. Checks a decoded chat
// request against what the model's chat template can do (a 400 naming the reason when it cannot), decides how the
// generated text is split into content, thinking and tool calls (the template module's output parsers), and shapes
// tool calls for either API. Internal to the server module.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "grammar/grammar.h"
#include "server/chat_request.h"
#include "template/template.h"

namespace berth {

// A chat template as a model carries it (a Modelfile TEMPLATE, Jinja or Go, or the GGUF's Jinja
// tokenizer.chat_template), parsed once, with the output format its markers imply.
struct ModelTemplate {
    PromptTemplate tmpl;
    std::string source;
    OutputFormat format;  // detect_output_format(source)
};

// How a generation's output is handled.
struct OutputPlan {
    bool parse = false;   // run the output parser (the template thinks, or tools are offered)
    OutputFormat format;  // when parse
    ParserOptions parser;
    bool render_special = false;  // markers may be special tokens: the engine renders them as text for the parser
    GrammarPtr grammar;           // null: unconstrained
    // A format's value may start after whitespace (SentencePiece tokens carry a leading space); the answer's
    // content starts at the value.
    bool trim_leading_whitespace = false;
};

// Decides the output plan for `req` on a model named `model` with template `t` (null: the plain fallback, which
// renders neither tools nor thinking). invalid_argument, worded for a 400, when the request asks for tools or
// thinking the template cannot render. `params` are the model's Modelfile parameters (berth's `tool_choice`
// parameter applies when the request sets none).
Status plan_output(const std::string& model, const ModelTemplate* t, const nlohmann::json& params, ChatRequest& req,
                   OutputPlan& plan);

// Sets what only the rendered prompt tells: whether it ends inside an open reasoning block.
void plan_after_render(OutputPlan& plan, std::string_view rendered_prompt);

// Compiles the format's schema through `cache` (before a model is loaded, so a bad schema is a quick 400 that
// names the keyword's path).
Status check_format(GrammarCache& cache, const FormatSetting& format);
// The grammar of `format` and of tool_choice required / a named function, after plan_after_render: the template's
// reasoning block comes first where the request thinks (or the prompt left it open), then the value or the calls.
// invalid_argument (a 400) when a schema cannot be enforced, or both a format and a forced tool call are asked.
Status plan_grammar(GrammarCache& cache, const ChatRequest& req, OutputPlan& plan);

// Turns generated text into content, thinking and tool calls per an OutputPlan, assigning each call an id
// ("call_" + 8 of [a-z0-9], unless the model wrote one) and a running index. Without a parser every byte is
// content.
class OutputSplitter {
  public:
    explicit OutputSplitter(const OutputPlan& plan);
    void push(std::string_view text, ParsedOutput& out);
    void finish(ParsedOutput& out);
    // Calls emitted so far; the i-th call of the response has index i (after a push that produced k calls, they
    // are calls() - k ... calls() - 1).
    int calls() const { return n_calls_; }

  private:
    void assign_ids(ParsedOutput& out, size_t from);
    void trim(ParsedOutput& out, size_t content_from);
    std::optional<OutputParser> parser_;
    bool trimming_ = false;  // still before the first content byte that is not whitespace
    int n_calls_ = 0;
};

// A call's arguments as a JSON object (the parser's text keeps the model's key order).
ojson call_arguments(const ParsedToolCall& call);
// {id, function: {index, name, arguments: {...}}} (Ollama) and {id, index, type, function: {name, arguments: "..."}}
// (OpenAI).
ojson native_tool_call(const ParsedToolCall& call, int index);
ojson openai_tool_call(const ParsedToolCall& call, int index);
std::string new_tool_call_id();

}  // namespace berth
