// Internal pieces of the output parsers (output_parser.h): the registered tool set, lenient JSON, the
// block formats each family's tool calls are read with, and the marker tables (dialects) of the families.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/base.h"
#include "template/output_parser.h"

namespace berth::outparse {

using nlohmann::ordered_json;

// ---- registered tools -----------------------------------------------------------------------------------

// The request's tools: names (what counts as a call) and parameter schemas (what types XML values).
class ToolSet {
  public:
    explicit ToolSet(const ordered_json& tools);
    bool empty() const { return names_.empty(); }
    // Index of the registered tool the model meant by `name`: exact, then without a "functions." prefix,
    // then harmony's identifier form of a registered name (agents.md §b name mangling); -1 if none.
    int find(std::string_view name) const;
    const std::string& name(int i) const { return names_[i]; }
    // The schema of parameter `key` of tool i (nullptr when the tool or the property is not described).
    const ordered_json* property(int i, std::string_view key) const;
    size_t size() const { return names_.size(); }

  private:
    std::vector<std::string> names_;
    std::vector<ordered_json> params_;  // "parameters" per tool (null when absent)
    std::unordered_map<std::string, int> mangled_;
};

// harmony's identifier form of a tool name (space, '-', '.' -> '_', other symbols dropped, leading digit
// prefixed with '_', "unnamed" if empty); duplicates are suffixed _2, _3 by ToolSet.
std::string harmony_identifier(std::string_view name);

// ---- JSON -------------------------------------------------------------------------------------------------

// Nesting deeper than this is refused before parsing (nlohmann's parser recurses).
inline constexpr int kMaxJsonDepth = 256;

// Parses a JSON value; with `repair`, also the malformed forms models write (raw control characters in
// strings, single-quoted strings, Python True/False/None, trailing commas, missing closing brackets after a
// complete value, stray closing brackets, several values separated by commas -> an array). A string cut
// off in the middle is never completed (a truncated path must not become a call). *repaired tells whether
// the strict parse failed and a repair was needed.
std::optional<ordered_json> parse_json(std::string_view text, bool repair, bool* repaired = nullptr);

// Length of the JSON value (object or array) starting at text[0] ('{' or '['), string-aware; 0 when it does
// not close within text. Scanning state lets repeated calls on a growing text resume where they stopped.
struct JsonScan {
    size_t pos = 0;
    int depth = 0;
    bool in_string = false, escape = false;
    size_t mark = 0;    // free for block formats: where a literal search resumes
    bool done = false;  // the value closed at pos
};
size_t json_value_end(std::string_view text, JsonScan& scan);

// The JSON value for a raw XML parameter string typed by `schema` (agents.md §b, Ollama's rules): "null"
// first, then for each declared type in order boolean, integer, number, array, object, string; no schema:
// a string. anyOf/oneOf members' types count as a union.
ordered_json typed_value(std::string_view raw, const ordered_json* schema);

// ---- calls --------------------------------------------------------------------------------------------------

struct RawCall {
    std::string name;  // as written
    ordered_json arguments = ordered_json::object();
    std::string id;
};

// What a block body parsed to.
struct BodyResult {
    bool ok = false;  // the body has the family's call shape (possibly zero calls, e.g. >>>all)
    std::vector<RawCall> calls;
    bool repaired = false;
    std::string error;  // why not ok, for the warning
};

// Calls in JSON text: one value (repaired unless strict), or several well-formed values in a row (separated by
// whitespace, commas or semicolons).
BodyResult parse_json_calls(std::string_view body, const ToolSet& tools, bool strict);
// One call `name` whose arguments are the JSON object `args` (repaired unless strict); `what` names the format
// in the error.
BodyResult one_call(std::string name, std::string_view args, bool strict, std::string id, std::string_view what);

// Calls in a JSON value: {"name", "arguments"|"parameters"}, {"function": {...}}, {"tool_name",
// "parameters"}, {"tool_call": {...}}, {"tool_calls": [...]}, {"<registered name>": {...}}, arrays of these.
// Stringified argument objects are parsed. False when the value has no such shape.
bool calls_from_json(const ordered_json& value, const ToolSet& tools, std::vector<RawCall>& calls);

// ---- blocks -------------------------------------------------------------------------------------------------

// Where a block ends, found on the text after its opener (or from the opener, for implied openers).
struct BlockEnd {
    bool found = false;   // false: need more text (only when not final)
    size_t body = 0;      // the body is text[0, body)
    size_t consumed = 0;  // the block, closers included, is text[0, consumed)
};

// How the tool calls behind one opener are read: where they end and what they mean.
class BlockFormat {
  public:
    virtual ~BlockFormat() = default;
    // `final`: no more text will come; the end must then be found (at worst the whole text). `scan` is
    // zero-initialised per block and may hold resumable scanning state.
    virtual BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const = 0;
    virtual BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const = 0;
    // Swallowed (with whitespace) right after a parsed block, e.g. the </tool_call> after an implied opener.
    std::vector<std::string> trailers;
};

// Ends at the first of `closers` (consumed) or, not consumed, of `cuts` (the opener again: a model that forgot
// the closer), neither matched before `skip`; final without one: the whole text. scan.pos remembers how far
// the text has been searched.
BlockEnd find_literal_end(std::string_view text, bool final, const std::vector<std::string>& closers, JsonScan& scan,
                          const std::vector<std::string>& cuts = {}, size_t skip = 0);
// Ends after one JSON object or array, after optional whitespace; anything else ends it at once.
BlockEnd find_json_end(std::string_view text, bool final, JsonScan& scan);

// ---- dialects -------------------------------------------------------------------------------------------

enum class TriggerKind { think_open, think_close, block, drop };

struct Trigger {
    std::string text;
    TriggerKind kind = TriggerKind::drop;
    const BlockFormat* block = nullptr;
    bool keep = false;         // block: the marker is the start of the body (an implied opener)
    bool json_prefix = false;  // block: fires only where a JSON call starts ({ "name": ..., {"function" ...)
    bool warn_on_fail = true;  // a body that does not parse warns (explicit markers) or is plain text
};

// A trigger for `block`; `keep`: an implied opener (the marker starts the body, and a body that does not
// parse is plain text without a warning).
Trigger block_trigger(std::string text, const BlockFormat& block, bool keep = false);

// The markers of one family. Built once per parser from the OutputFormat.
struct Dialect {
    std::vector<Trigger> triggers;
    // functionary v3.2: the prompt ends with ">>>", so the output starts as if after that opener.
    const BlockFormat* initial_block = nullptr;
};

// Families' block formats and trigger tables (tool_parse_*.cpp).
void add_json_family_triggers(const OutputFormat& format, bool tools, Dialect& d);    // tool_parse_json.cpp
void add_xml_family_triggers(const OutputFormat& format, bool tools, Dialect& d);     // tool_parse_xml.cpp
void add_tagged_family_triggers(const OutputFormat& format, bool tools, Dialect& d);  // tool_parse_tagged.cpp
void add_gemma_family_triggers(const OutputFormat& format, bool tools, Dialect& d);   // tool_parse_gemma.cpp

// After a body that ended at body_end, an optional closer (whitespace before it allowed) is part of the block.
BlockEnd with_optional_closer(std::string_view text, size_t body_end, std::string_view closer, bool final);
// A JSON value starting at text[start], then an optional closer; a closer outside JSON strings before the
// value balances ends a malformed value there (and a "</tool_call>" inside a string does not cut a good one).
BlockEnd json_or_closer_end(std::string_view text, size_t start, std::string_view closer, bool final, JsonScan& scan);

// Where a block of tagged values ends: at block_close, reading each value (after value_open) raw up to
// value_close so values may hold code and markup (agents.md f.4). A value without value_close is read, at
// the end of the text only, up to the next value_open or block_close. Resumable through scan.
// `cut`, outside values, ends the block without being consumed.
BlockEnd find_structured_end(std::string_view text, bool final, JsonScan& scan, std::string_view value_open,
                             std::string_view value_close, std::string_view block_close, std::string_view cut = {});

// Gemma's object notation ({key:<|"|>v<|"|>,n:1}) as JSON; plain JSON is accepted too.
std::optional<ordered_json> parse_gemma_object(std::string_view text, std::string_view delim);

// ---- the parser implementations -------------------------------------------------------------------------

// Collects what a parser produces into a ParsedOutput (and the trace, when set).
class Emitter {
  public:
    void bind(ParsedOutput* out) { out_ = out; }
    std::vector<TraceSpan>* trace = nullptr;
    bool keep_thinking = true;

    void content(std::string_view s);
    void thinking(std::string_view s);
    void markup(std::string_view s);
    void dropped(std::string_view s);
    void calls(std::string_view raw, std::vector<ParsedToolCall>&& calls);
    void warn(std::string message);

  private:
    void record(TraceSpan::Kind kind, std::string_view s);
    ParsedOutput* out_ = nullptr;
};

// Resolves raw calls against the tool set and max_calls; unregistered names and calls beyond max_calls are
// dropped with a warning. Returns the calls to emit.
std::vector<ParsedToolCall> resolve_calls(std::vector<RawCall>&& raw, const ToolSet& tools, int max_calls, int& emitted,
                                          std::vector<std::string>& warnings);

// Unconsumed generated text: appended by push(), consumed from the front, compacted now and then.
class TextBuffer {
  public:
    void append(std::string_view s) { buf_.append(s); }
    std::string_view rest() const { return std::string_view(buf_).substr(pos_); }
    void consume(size_t n) { pos_ += n; }
    bool empty() const { return pos_ == buf_.size(); }
    void compact() {
        if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
            buf_.erase(0, pos_);
            pos_ = 0;
        }
    }

  private:
    std::string buf_;
    size_t pos_ = 0;
};

// A parser over the unconsumed text: step() consumes what the text seen so far decides (with `final`, the end
// of the output, it must consume everything eventually) and returns whether it made progress.
class ParserCore {
  public:
    virtual ~ParserCore() = default;
    void push(std::string_view text, Emitter& em) {
        buf_.append(text);
        run(em, false);
        buf_.compact();
    }
    void finish(Emitter& em) {
        run(em, true);
        CHECK(buf_.empty());
    }

  protected:
    virtual bool step(Emitter& em, bool final) = 0;
    TextBuffer buf_;

  private:
    void run(Emitter& em, bool final) {
        for (int guard = 0; step(em, final); ++guard) CHECK(guard < 100'000'000);
    }
};
std::unique_ptr<ParserCore> make_marker_parser(const OutputFormat& format, const ParserOptions& options);
std::unique_ptr<ParserCore> make_harmony_parser(const OutputFormat& format, const ParserOptions& options);

// The earliest marker in s[from:]: a complete occurrence, or (unless final) a tail of s that a marker starts
// with (partial: wait for more text). At one position the longest complete marker wins, and a partial match
// there (necessarily of a longer marker) also means wait. index -1: none.
struct MarkerHit {
    size_t pos = std::string_view::npos;
    int index = -1;
    bool partial = false;
};
MarkerHit find_marker(std::string_view s, const std::vector<std::string>& markers, size_t from, bool final);

// Small text helpers.
inline bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
std::string_view trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);

}  // namespace berth::outparse
