// Test helpers for the output parsers: run a parser over a text in given pieces, check the trace invariants
// (every byte classified once, content and thinking verbatim), and compare runs over different splits.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "template/template.h"

namespace berth::testing_output {

using nlohmann::ordered_json;

// Everything one parse produced, concatenated.
struct Parsed {
    std::string content, thinking;
    std::vector<ParsedToolCall> calls;
    std::vector<std::string> warnings;
    std::vector<TraceSpan> trace;

    bool operator==(const Parsed& o) const {
        if (content != o.content || thinking != o.thinking || warnings != o.warnings) return false;
        if (calls.size() != o.calls.size()) return false;
        for (size_t i = 0; i < calls.size(); ++i) {
            if (calls[i].name != o.calls[i].name || calls[i].arguments != o.calls[i].arguments ||
                calls[i].id != o.calls[i].id)
                return false;
        }
        return true;
    }
};

inline std::string describe(const Parsed& p) {
    std::string s = "content=" + ordered_json(p.content).dump() + " thinking=" + ordered_json(p.thinking).dump();
    for (const auto& c : p.calls) s += " call=" + c.name + c.arguments + (c.id.empty() ? "" : " id=" + c.id);
    for (const auto& w : p.warnings) s += " warning=" + ordered_json(w).dump();
    return s;
}

// Runs the parser over `text` cut at `cuts` (sorted positions), then finish().
inline Parsed run_pieces(const OutputFormat& format, const ParserOptions& options, std::string_view text,
                         const std::vector<size_t>& cuts) {
    Parsed p;
    OutputParser parser(format, options);
    parser.set_trace(&p.trace);
    size_t at = 0;
    auto take = [&](const ParsedOutput& out) {
        p.content += out.content;
        p.thinking += out.thinking;
        for (const auto& c : out.calls) p.calls.push_back(c);
        for (const auto& w : out.warnings) p.warnings.push_back(w);
    };
    for (size_t cut : cuts) {
        ParsedOutput out;
        parser.push(text.substr(at, cut - at), out);
        take(out);
        at = cut;
    }
    ParsedOutput out;
    parser.push(text.substr(at), out);
    take(out);
    ParsedOutput last;
    parser.finish(last);
    take(last);
    return p;
}

// The trace covers the input exactly once, in order, and content/thinking are the verbatim spans.
inline ::testing::AssertionResult trace_accounts(const Parsed& p, std::string_view text) {
    std::string all, content, thinking;
    size_t calls_spans = 0;
    for (const auto& s : p.trace) {
        all += s.text;
        if (s.kind == TraceSpan::Kind::content) content += s.text;
        if (s.kind == TraceSpan::Kind::thinking) thinking += s.text;
        if (s.kind == TraceSpan::Kind::calls) ++calls_spans;
    }
    if (all != text) return ::testing::AssertionFailure() << "trace does not reconstruct the input";
    if (content != p.content) return ::testing::AssertionFailure() << "content is not the content spans";
    if (thinking != p.thinking) return ::testing::AssertionFailure() << "thinking is not the thinking spans";
    if ((calls_spans == 0) != p.calls.empty()) return ::testing::AssertionFailure() << "calls without a calls span";
    for (const auto& c : p.calls) {
        auto v = ordered_json::parse(c.arguments, nullptr, false);
        if (v.is_discarded() || !v.is_object()) return ::testing::AssertionFailure() << "arguments not an object";
    }
    return ::testing::AssertionSuccess();
}

// Parses whole, at every single split point, byte by byte and in random pieces; every run must agree with
// the whole one and account for every byte. Returns the whole run.
inline Parsed parse_all_ways(const OutputFormat& format, const ParserOptions& options, std::string_view text,
                             const std::string& label) {
    Parsed whole = run_pieces(format, options, text, {});
    EXPECT_TRUE(trace_accounts(whole, text)) << label;
    for (size_t cut = 1; cut < text.size(); ++cut) {
        Parsed p = run_pieces(format, options, text, {cut});
        if (!(p == whole)) {
            ADD_FAILURE() << label << ": split at " << cut << " gives " << describe(p) << "\n whole gives "
                          << describe(whole);
            return whole;
        }
        EXPECT_TRUE(trace_accounts(p, text)) << label << " split at " << cut;
    }
    std::vector<size_t> bytes;
    for (size_t i = 1; i < text.size(); ++i) bytes.push_back(i);
    Parsed b = run_pieces(format, options, text, bytes);
    EXPECT_TRUE(b == whole) << label << ": byte by byte gives " << describe(b) << "\n whole gives " << describe(whole);
    EXPECT_TRUE(trace_accounts(b, text)) << label << " byte by byte";
    std::mt19937 rng(static_cast<uint32_t>(text.size() * 7919 + 17));
    for (int round = 0; round < 20 && text.size() > 2; ++round) {
        std::vector<size_t> cuts;
        for (size_t i = 1; i < text.size(); ++i) {
            if (rng() % 4 == 0) cuts.push_back(i);
        }
        Parsed r = run_pieces(format, options, text, cuts);
        EXPECT_TRUE(r == whole) << label << ": random pieces give " << describe(r);
    }
    return whole;
}

// The tools the canned outputs call.
inline ordered_json standard_tools() {
    return ordered_json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "required": ["city"], "properties": {
      "city": {"type": "string", "description": "City name"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Unit"}}}}},
  {"type": "function", "function": {"name": "search", "description": "Search the web",
    "parameters": {"type": "object", "properties": {
      "query": {"type": "string", "description": "Query"},
      "max_results": {"type": "integer", "description": "Result count"}}}}},
  {"type": "function", "function": {"name": "run_code", "description": "Run code",
    "parameters": {"type": "object", "properties": {"code": {"type": "string", "description": "Source"},
      "language": {"type": "string", "description": "Language"}}}}},
  {"type": "function", "function": {"name": "set_options", "description": "Typed values",
    "parameters": {"type": "object", "properties": {
      "flag": {"type": "boolean", "description": "d"}, "ratio": {"type": "number", "description": "d"},
      "count": {"type": "integer", "description": "d"},
      "tags": {"type": "array", "items": {"type": "string"}, "description": "d"},
      "config": {"type": "object", "description": "d"},
      "limit": {"type": ["integer", "string"], "description": "d"},
      "maybe": {"anyOf": [{"type": "null"}, {"type": "number"}], "description": "d"},
      "note": {"type": "string", "description": "d"}}}}},
  {"type": "function", "function": {"name": "python", "description": "Run Python",
    "parameters": {"type": "object", "properties": {"code": {"type": "string", "description": "d"}}}}},
  {"type": "function", "function": {"name": "brave_search", "description": "Builtin search",
    "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "d"}}}}},
  {"type": "function", "function": {"name": "my-tool.v2", "description": "A name that is no identifier",
    "parameters": {"type": "object", "properties": {"x": {"type": "integer", "description": "d"}}}}}
])");
}

}  // namespace berth::testing_output
