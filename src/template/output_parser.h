// Output parsing: splits generated text into content, thinking (reasoning) and tool calls, incrementally, in
// the format of the model's family (chosen from its chat template), and describes how one tool call of the
// family is written (for the grammar that forces a call). Re-exported by template/template.h.
//
// Guarantees (tests and the tool_parser fuzz target check them):
// - Split independence: pushing the same text in any pieces gives the same concatenated content and
//   thinking, the same calls and the same warnings.
// - Nothing is lost or invented: every input byte is content, thinking, a recognised call, or markup
//   (markers and the whitespace next to them); content and thinking are verbatim slices of the input.
// - A recognised call never reaches content; reasoning never reaches content (it goes to `thinking`, or is
//   dropped when the request did not ask for thinking).
// - Malformed model output is repaired or returned as content with a warning; parsing never fails.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth {

// How a family writes tool calls (agents.md §b). Thinking markers are separate (OutputFormat).
enum class ToolFamily {
    generic,      // Ollama's generic parser: a tag from the template, else bare JSON objects
    llama3,       // {"name": f, "parameters": {…}}; <|python_tag|> builtins f.call(k="v") and code
    hermes,       // <tool_call>\n{"name": f, "arguments": {…}}\n</tool_call> (Hermes 2 Pro, Qwen 2.5/3, QwQ)
    qwen3_coder,  // <tool_call>\n<function=f>\n<parameter=k>\nv\n</parameter>\n</function>\n</tool_call>
    glm,          // <tool_call>f\n<arg_key>k</arg_key>\n<arg_value>v</arg_value>\n</tool_call> (GLM 4.5-4.7)
    mistral,      // [TOOL_CALLS][{…, "id": 9 chars}] (Nemo) and [TOOL_CALLS]f[CALL_ID]id[ARGS]{…} (newer)
    command_r,    // Command R/R+: Action: ```json [{"tool_name": f, "parameters": {…}}] ```
    command_r7b,  // <|START_ACTION|>[{"tool_call_id", "tool_name", "parameters"}]<|END_ACTION|>
    deepseek_r1,  // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{…}\n```…
    deepseek_v3,  // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{…}<｜tool▁call▁end｜>… (V3.1)
    deepseek_dsml,     // <｜DSML｜function_calls><｜DSML｜invoke name="f"><｜DSML｜parameter …> (V3.2)
    functionary_v3_1,  // <function=f>{…}</function>; <|python_tag|>code
    functionary_v3_2,  // >>>f\n{…} ; >>>all\ntext
    firefunction_v2,   //  functools[{"name": f, "arguments": {…}}, …]
    harmony,           // gpt-oss: <|channel|>commentary to=functions.f <|constrain|>json<|message|>{…}<|call|>
    gemma4,            // <|tool_call>call:f{k:<|"|>v<|"|>}<tool_call|>
    function_gemma,    // <start_function_call>call:f{k:<escape>v<escape>}<end_function_call>
    kimi_k2,  // <|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{…}…
    granite,  // <|tool_call|>[{"name": f, "arguments": {…}}]
};

// How a model writes tool calls and thoughts, chosen from its chat template source (Jinja or Ollama Go
// template) by marker substrings as llama.cpp and Ollama do (agents.md §b), with a generic fallback.
struct OutputFormat {
    ToolFamily family = ToolFamily::generic;
    // generic: the literal text that starts a call, from the Go template's {{ if .ToolCalls }} block as Ollama
    // finds it; "{" (no tag) means bare JSON objects. Other families ignore it.
    std::string generic_tag = "{";
    // A sub-format that changes how calls are written (tool_call_syntax), not how they are read:
    // mistral "nemo" ([TOOL_CALLS][{...}] instead of [TOOL_CALLS]f[ARGS]{...}), glm "compact" (GLM-4.7: no
    // newlines between the tags). Empty otherwise.
    std::string variant;
    // Reasoning block markers the parser recognises (harmony uses its channels instead and leaves these
    // empty). Families without markers of their own get <think> / </think>, so stray reasoning never lands
    // in content.
    std::vector<std::string> think_open, think_close;
    // The template shows reasoning blocks (the "thinking" capability, as Ollama infers it).
    bool template_thinks = false;

    // "hermes", "qwen3_coder", ... (the ToolFamily enumerator's name).
    std::string family_name() const;
};

// Picks the family from the template source; `model_name` (general.name or the model's tag) breaks ties
// where the template is silent (e.g. a chatml template on a gpt-oss model).
OutputFormat detect_output_format(std::string_view template_source, std::string_view model_name = {});

// The family with that name ("hermes", ...), with its default markers; used by tests and `berth debug`.
bool output_format_for_family(std::string_view family_name, OutputFormat* out);

// True when the rendered prompt ends inside an open reasoning block (Qwen3.5 / DeepSeek-R1 / GLM-4.7 end the
// generation prompt with "<think>\n"): set ParserOptions::starts_in_thinking from it.
bool prompt_opens_thinking(const OutputFormat& format, std::string_view rendered_prompt);

struct ParsedToolCall {
    std::string name;       // the registered tool's name (harmony's mangled names are mapped back)
    std::string arguments;  // a JSON object as text, keys in the order the model wrote them (never re-sorted)
    std::string id;         // the id the model wrote, if its format has one ("" otherwise; the server makes one)
};

struct ParsedOutput {  // what one push()/finish() produced (appended; the caller clears it between calls)
    std::string content, thinking;
    std::vector<ParsedToolCall> calls;
    std::vector<std::string> warnings;  // e.g. "repaired tool call JSON", "unparsable tool call returned as content"
};

struct ParserOptions {
    // The request asked for thinking (think true/level, or unset on a thinking model). When false, reasoning
    // the model writes anyway is dropped (Ollama's behaviour); it never goes to content either way.
    bool thinking = true;
    bool starts_in_thinking = false;  // the rendered prompt ends inside an open reasoning block ("forced open")
    // The request's tools, OpenAI shape ([{type, function: {name, parameters}}] or bare {name, parameters}).
    // Names are what counts as a registered call; schemas type XML parameter values. Empty: no tool parsing
    // at all (tool_choice none); tool markup then stays in content.
    nlohmann::ordered_json tools;
    int max_calls = -1;  // parallel_tool_calls false -> 1; calls beyond it are dropped with a warning
};

// One classified piece of the input, for tests and the fuzz target (see OutputParser::set_trace).
struct TraceSpan {
    enum class Kind { content, thinking, markup, calls, dropped };
    Kind kind;
    std::string text;
};

// Incremental: push() takes generated text in arbitrary pieces (special tokens rendered as their text),
// emits content and thinking as soon as they are certain (holding back only a suffix that may start a
// marker, and whitespace that may turn out to sit next to one), and each tool call whole, once it is closed.
// finish() at end of generation flushes, closes or repairs what is open. Memory: the unconsumed text only.
class OutputParser {
  public:
    OutputParser(const OutputFormat& format, const ParserOptions& options);
    ~OutputParser();
    OutputParser(OutputParser&&) noexcept;
    OutputParser& operator=(OutputParser&&) noexcept;

    void push(std::string_view text, ParsedOutput& out);
    void finish(ParsedOutput& out);
    // Records how every input byte was classified (spans in input order; their texts concatenate to the
    // input). For tests and fuzzing; off (nullptr) by default.
    void set_trace(std::vector<TraceSpan>* trace);

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

// How one call of a family is written, as data for a grammar (tool_choice "required" or a named function)
// and for writing calls back (tests, prefill). The text of n calls is
//     before_calls  call(0)  between_calls  call(1) ...  after_calls
// where call(i) = call_prefix NAME name_suffix ARGS call_suffix. "{i}" inside call_prefix, name_suffix or
// call_suffix stands for the call's 0-based index (Kimi's functions.f:0 ids). ARGS is, by `args`:
//   json:       a JSON object matching the tool's "parameters" schema;
//   xml_params: zero or more  param_prefix KEY param_middle VALUE param_suffix  (one per argument, any
//               order); VALUE is raw text for string-typed properties (it must not contain param_suffix),
//               the JSON text of the value otherwise; param_middle_json replaces param_middle for JSON
//               values where the family marks them (DeepSeek DSML's string="false");
//   gemma:      an object in Gemma's notation: {key:value,...} with bare keys and strings written between
//               two string_delim (no escapes); numbers, booleans, null, arrays and nested objects as in JSON.
//               The parser also accepts plain JSON here.
// The parser accepts everything this writes (tests round-trip every family), and more.
struct ToolCallSyntax {
    enum class Args { json, xml_params, gemma };
    ToolFamily family = ToolFamily::generic;
    std::string before_calls, between_calls, after_calls;
    bool parallel = true;  // the family can write several calls in one turn
    std::string call_prefix, name_suffix, call_suffix;
    bool json_name = false;  // NAME is written JSON-escaped (it sits inside a JSON string)
    Args args = Args::json;
    std::string param_prefix, param_middle, param_middle_json, param_suffix;
    std::string string_delim;

    // The text of one call (index i) with `arguments` (a JSON object), written as the model would.
    std::string write_call(std::string_view name, const nlohmann::ordered_json& arguments, int index) const;
    // before_calls + the calls (name, arguments) joined by between_calls + after_calls.
    std::string write_calls(const std::vector<std::pair<std::string, nlohmann::ordered_json>>& calls) const;
};
ToolCallSyntax tool_call_syntax(const OutputFormat& format);

}  // namespace berth
