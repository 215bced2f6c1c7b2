// The output parsers (template/output_parser.h) on arbitrary model output in arbitrary pieces.
// Input: byte 0 picks the family (and variant), byte 1 the options, byte 2 seeds the split points; the rest is
// the text, where byte 0x01 followed by a byte k stands for the k-th marker of kMarkers (so the fuzzer reaches
// the formats' special tokens without a dictionary).
// Properties: no crash, no undefined behaviour, no hang; the result does not depend on the split; every byte
// is accounted for (the trace spans concatenate to the input, content and thinking are exactly their spans);
// every call names a registered tool and carries a JSON object.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "template/template.h"

using namespace berth;
using nlohmann::ordered_json;

namespace {

const char* const kMarkers[] = {
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<function=get_weather>",
    "</function>",
    "<parameter=city>",
    "</parameter>",
    "<arg_key>",
    "</arg_key>",
    "<arg_value>",
    "</arg_value>",
    "[TOOL_CALLS]",
    "[ARGS]",
    "[CALL_ID]",
    "[THINK]",
    "[/THINK]",
    "<|START_ACTION|>",
    "<|END_ACTION|>",
    "<|START_THINKING|>",
    "<|END_THINKING|>",
    "<|START_RESPONSE|>",
    "Action:",
    "```json",
    "```",
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁call▁begin｜>",
    "<｜tool▁sep｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁calls▁end｜>",
    "<｜DSML｜function_calls>",
    "<｜DSML｜invoke name=\"search\">",
    "<｜DSML｜parameter name=\"query\" string=\"true\">",
    "</｜DSML｜parameter>",
    "</｜DSML｜invoke>",
    "</｜DSML｜function_calls>",
    ">>>",
    "all\n",
    " functools",
    "<|channel|>",
    "<|message|>",
    "<|start|>",
    "<|end|>",
    "<|call|>",
    "<|return|>",
    "<|constrain|>",
    " to=functions.get_weather",
    "analysis",
    "commentary",
    "final",
    "<|tool_call>",
    "<tool_call|>",
    "call:",
    "<|\"|>",
    "<|channel>thought",
    "<channel|>",
    "<start_function_call>",
    "<end_function_call>",
    "<escape>",
    "<|tool_calls_section_begin|>",
    "<|tool_call_begin|>",
    "functions.search:0",
    "<|tool_call_argument_begin|>",
    "<|tool_call_end|>",
    "<|tool_calls_section_end|>",
    "<|tool_call|>",
    "<response>",
    "</response>",
    "<|python_tag|>",
    "<|eom_id|>",
    "brave_search.call(query=\"x\")",
    "{\"name\": \"get_weather\", ",
    "\"arguments\": {\"city\": \"Paris\"}}",
    "\"parameters\": {",
    "{\"name\": \"search\"",
    "\"",
    "{",
    "}",
    "[",
    "]",
    "\\",
    "\n",
    "  ",
    "<function=",
    "<parameter=",
    "set_options",
    "true",
    "null",
    "3.5",
};
constexpr size_t kMarkerCount = sizeof(kMarkers) / sizeof(kMarkers[0]);

const char* const kFamilies[] = {
    "generic",       "llama3",           "hermes",           "qwen3_coder",     "glm",
    "mistral",       "command_r",        "command_r7b",      "deepseek_r1",     "deepseek_v3",
    "deepseek_dsml", "functionary_v3_1", "functionary_v3_2", "firefunction_v2", "harmony",
    "gemma4",        "function_gemma",   "kimi_k2",          "granite",
};
constexpr size_t kFamilyCount = sizeof(kFamilies) / sizeof(kFamilies[0]);

const ordered_json& tools() {
    static const ordered_json t = ordered_json::parse(R"([
      {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}}}},
      {"type": "function", "function": {"name": "search", "parameters": {"type": "object",
        "properties": {"query": {"type": "string"}, "max_results": {"type": "integer"}}}}},
      {"type": "function", "function": {"name": "set_options", "parameters": {"type": "object", "properties": {
        "flag": {"type": "boolean"}, "ratio": {"type": "number"}, "tags": {"type": "array"},
        "config": {"type": "object"}, "limit": {"type": ["integer", "string"]}}}}},
      {"type": "function", "function": {"name": "python"}},
      {"type": "function", "function": {"name": "brave_search"}},
      {"type": "function", "function": {"name": "my-tool.v2"}}
    ])");
    return t;
}

[[noreturn]] void fail(const char* what, const std::string& text) {
    fprintf(stderr, "tool_parser_fuzz: %s\ninput (%zu bytes): %s\n", what, text.size(),
            ordered_json(text).dump(-1, ' ', true, ordered_json::error_handler_t::replace).c_str());
    abort();
}

struct Run {
    std::string content, thinking;
    std::vector<ParsedToolCall> calls;
    std::vector<std::string> warnings;
    std::vector<TraceSpan> trace;
};

Run run(const OutputFormat& f, const ParserOptions& o, const std::string& text, const std::vector<size_t>& cuts) {
    Run r;
    OutputParser parser(f, o);
    parser.set_trace(&r.trace);
    ParsedOutput out;
    size_t at = 0;
    for (size_t cut : cuts) {
        parser.push(std::string_view(text).substr(at, cut - at), out);
        at = cut;
    }
    parser.push(std::string_view(text).substr(at), out);
    parser.finish(out);
    r.content = std::move(out.content);
    r.thinking = std::move(out.thinking);
    r.calls = std::move(out.calls);
    r.warnings = std::move(out.warnings);
    return r;
}

void check(const Run& r, const std::string& text, bool thinking_kept) {
    std::string all, content, thinking;
    for (const auto& s : r.trace) {
        all += s.text;
        if (s.kind == TraceSpan::Kind::content) content += s.text;
        if (s.kind == TraceSpan::Kind::thinking) thinking += s.text;
        if (s.kind == TraceSpan::Kind::thinking && !thinking_kept) fail("kept thinking although it was off", text);
    }
    if (all != text) fail("the trace does not reconstruct the input", text);
    if (content != r.content) fail("content is not the content spans", text);
    if (thinking != r.thinking) fail("thinking is not the thinking spans", text);
    for (const auto& c : r.calls) {
        bool known = false;
        for (const auto& t : tools()) known = known || t["function"]["name"] == c.name;
        if (!known) fail("a call to an unregistered tool", text);
        auto v = ordered_json::parse(c.arguments, nullptr, false);
        if (v.is_discarded() || !v.is_object()) fail("call arguments are not a JSON object", text);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3 || size > 16384) return 0;
    uint8_t pick = data[0], opts = data[1], seed = data[2];
    std::string text;
    for (size_t i = 3; i < size; ++i) {
        if (data[i] == 0x01 && i + 1 < size)
            text += kMarkers[data[++i] % kMarkerCount];
        else
            text += static_cast<char>(data[i]);
    }

    OutputFormat f;
    if (!output_format_for_family(kFamilies[pick % kFamilyCount], &f)) abort();
    if (pick & 0x80) f.generic_tag = (pick & 0x40) ? "functools[" : "<functioncall>";
    ParserOptions o;
    o.thinking = opts & 1;
    o.starts_in_thinking = opts & 2;
    if (!(opts & 4)) o.tools = tools();
    o.max_calls = (opts >> 3) & 3 ? static_cast<int>((opts >> 3) & 3) - 1 : -1;  // -1, 0, 1, 2

    Run whole = run(f, o, text, {});
    check(whole, text, o.thinking);
    if (o.tools.is_null() && !whole.calls.empty()) fail("calls although no tools were given", text);
    if (o.max_calls >= 0 && whole.calls.size() > static_cast<size_t>(o.max_calls)) fail("max_calls exceeded", text);

    // Pieces: a pseudo-random split from the seed, and byte by byte for short inputs.
    std::vector<size_t> cuts;
    uint32_t state = seed * 2654435761u + 1;
    for (size_t i = 1; i < text.size(); ++i) {
        state = state * 1103515245u + 12345u;
        if ((state >> 16) % 5 == 0) cuts.push_back(i);
    }
    std::vector<std::vector<size_t>> splits{cuts};
    if (text.size() < 2048) {
        std::vector<size_t> bytes;
        for (size_t i = 1; i < text.size(); ++i) bytes.push_back(i);
        splits.push_back(bytes);
    }
    for (const auto& s : splits) {
        Run r = run(f, o, text, s);
        check(r, text, o.thinking);
        bool same = r.content == whole.content && r.thinking == whole.thinking && r.warnings == whole.warnings &&
                    r.calls.size() == whole.calls.size();
        for (size_t i = 0; same && i < r.calls.size(); ++i) {
            same = r.calls[i].name == whole.calls[i].name && r.calls[i].arguments == whole.calls[i].arguments &&
                   r.calls[i].id == whole.calls[i].id;
        }
        if (!same) fail("the result depends on how the text was split", text);
    }
    return 0;
}
