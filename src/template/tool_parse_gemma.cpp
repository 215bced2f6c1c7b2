// Gemma 4 (<|tool_call>call:f{k:<|"|>v<|"|>}<tool_call|>) and FunctionGemma
// (<start_function_call>call:f{k:<escape>v<escape>}<end_function_call>): an object notation with bare keys
// and strings between two delimiter tokens, read here into JSON. Plain JSON objects are accepted as well.
#include "template/output_internal.h"

namespace berth::outparse {
namespace {

class GemmaReader {
  public:
    GemmaReader(std::string_view s, std::string_view delim, bool lenient) : s_(s), delim_(delim), lenient_(lenient) {}

    std::optional<ordered_json> value(int depth = 0) {
        skip_ws();
        if (depth > 64 || i_ >= s_.size()) return std::nullopt;
        if (starts_with(s_.substr(i_), delim_)) return delimited();
        char c = s_[i_];
        if (c == '"') return json_string();
        if (c == '{') return object(depth);
        if (c == '[') return array(depth);
        return literal();
    }

    size_t pos() const { return i_; }
    bool repaired() const { return repaired_; }

  private:
    void skip_ws() {
        while (i_ < s_.size() && is_space(s_[i_])) ++i_;
    }

    std::optional<ordered_json> delimited() {
        size_t start = i_ + delim_.size();
        size_t end = s_.find(delim_, start);
        if (end == std::string_view::npos) return std::nullopt;
        i_ = end + delim_.size();
        return ordered_json(std::string(s_.substr(start, end - start)));
    }

    std::optional<ordered_json> json_string() {
        size_t j = i_ + 1;
        for (; j < s_.size(); ++j) {
            if (s_[j] == '\\')
                ++j;
            else if (s_[j] == '"')
                break;
        }
        if (j >= s_.size()) return std::nullopt;
        auto v = parse_json(s_.substr(i_, j + 1 - i_), lenient_);
        if (!v || !v->is_string()) return std::nullopt;
        i_ = j + 1;
        return v;
    }

    // A number, true/false/null, or (leniently) bare text up to the next separator.
    std::optional<ordered_json> literal() {
        size_t j = i_;
        while (j < s_.size() && s_[j] != ',' && s_[j] != '}' && s_[j] != ']' && !starts_with(s_.substr(j), delim_)) ++j;
        std::string_view raw = trim(s_.substr(i_, j - i_));
        if (raw.empty()) return std::nullopt;
        i_ = j;
        if (auto v = parse_json(raw, false); v && !v->is_object() && !v->is_array()) return v;
        if (!lenient_) return std::nullopt;
        repaired_ = true;
        return ordered_json(std::string(raw));
    }

    std::optional<std::string> key() {
        skip_ws();
        if (i_ >= s_.size()) return std::nullopt;
        if (starts_with(s_.substr(i_), delim_)) {
            auto v = delimited();
            if (!v) return std::nullopt;
            return v->get<std::string>();
        }
        if (s_[i_] == '"') {
            auto v = json_string();
            if (!v) return std::nullopt;
            return v->get<std::string>();
        }
        size_t j = i_;
        while (j < s_.size() && s_[j] != ':' && s_[j] != ',' && s_[j] != '}' && s_[j] != '{') ++j;
        std::string_view k = trim(s_.substr(i_, j - i_));
        if (k.empty()) return std::nullopt;
        i_ = j;
        return std::string(k);
    }

    // End of input inside an object or array: closed when lenient (the model stopped before the brace).
    bool at_end_lenient() {
        skip_ws();
        if (i_ < s_.size() || !lenient_) return false;
        repaired_ = true;
        return true;
    }

    std::optional<ordered_json> object(int depth) {
        ++i_;
        ordered_json obj = ordered_json::object();
        skip_ws();
        if (i_ < s_.size() && s_[i_] == '}') return ++i_, obj;
        while (true) {
            auto k = key();
            skip_ws();
            if (!k || i_ >= s_.size() || s_[i_] != ':') return std::nullopt;
            ++i_;
            auto v = value(depth + 1);
            if (!v) return std::nullopt;
            obj[*k] = std::move(*v);
            if (at_end_lenient()) return obj;
            if (s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (s_[i_] == '}') return ++i_, obj;
            return std::nullopt;
        }
    }

    std::optional<ordered_json> array(int depth) {
        ++i_;
        ordered_json arr = ordered_json::array();
        skip_ws();
        if (i_ < s_.size() && s_[i_] == ']') return ++i_, arr;
        while (true) {
            auto v = value(depth + 1);
            if (!v) return std::nullopt;
            arr.push_back(std::move(*v));
            if (at_end_lenient()) return arr;
            if (s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (s_[i_] == ']') return ++i_, arr;
            return std::nullopt;
        }
    }

    std::string_view s_, delim_;
    bool lenient_;
    size_t i_ = 0;
    bool repaired_ = false;
};

// call:NAME{...} repeated.
BodyResult parse_gemma_calls(std::string_view body, std::string_view delim, bool strict) {
    BodyResult r;
    std::string_view t = trim(body);
    while (!t.empty()) {
        if (!starts_with(t, "call:")) {
            r.calls.clear();
            r.error = "expected call:NAME{...}";
            return r;
        }
        size_t brace = t.find('{');
        RawCall call;
        call.name = std::string(trim(t.substr(5, brace == std::string_view::npos ? t.size() - 5 : brace - 5)));
        if (call.name.empty() || brace == std::string_view::npos) {
            r.calls.clear();
            r.error = "malformed call:NAME{...}";
            return r;
        }
        GemmaReader reader(t.substr(brace), delim, !strict);
        auto v = reader.value();
        if (!v || !v->is_object()) {
            r.calls.clear();
            r.error = "malformed Gemma arguments";
            return r;
        }
        r.repaired = r.repaired || reader.repaired();
        call.arguments = std::move(*v);
        r.calls.push_back(std::move(call));
        t = trim(t.substr(brace + reader.pos()));
    }
    r.ok = !r.calls.empty();
    if (!r.ok) r.error = "empty tool call";
    return r;
}

class GemmaBlock : public BlockFormat {
  public:
    GemmaBlock(std::string close, std::string open, std::string delim, std::vector<std::string> trail)
        : closers_{std::move(close)}, cuts_{std::move(open)}, delim_(std::move(delim)) {
        trailers = std::move(trail);
    }
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_literal_end(text, final, closers_, scan, cuts_);
    }
    BodyResult parse(std::string_view body, const ToolSet&, bool strict) const override {
        return parse_gemma_calls(body, delim_, strict);
    }

  private:
    std::vector<std::string> closers_, cuts_;
    std::string delim_;
};

// call:NAME{...} without the opening token (agents.md f.2): the object's end, found with strings between
// delimiters (or JSON quotes) skipped, ends the call. Resumable: scan.pos/depth hold the brace scan.
class GemmaImpliedBlock : public BlockFormat {
  public:
    GemmaImpliedBlock(std::string delim, std::vector<std::string> trail) : delim_(std::move(delim)) {
        trailers = std::move(trail);
    }
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        const BlockEnd all{true, text.size(), text.size()};
        if (scan.pos == 0) {
            size_t i = 5;  // after "call:"
            while (i < text.size() && i < 133 && text[i] != '{' && !is_space(text[i]) && text[i] != '<') ++i;
            if (i == text.size()) return final ? all : BlockEnd{};
            if (text[i] != '{' || i == 5) return {true, i, i};  // not a call: the parse refuses it
            scan.pos = i;
        }
        size_t j = scan.pos;
        while (j < text.size()) {
            std::string_view t = text.substr(j);
            if (!final && t.size() < delim_.size() && starts_with(delim_, t)) break;  // a delimiter may follow
            if (starts_with(t, delim_)) {
                size_t e = text.find(delim_, j + delim_.size());
                if (e == std::string_view::npos) break;
                j = e + delim_.size();
            } else if (t[0] == '"') {
                size_t k = j + 1;
                while (k < text.size() && text[k] != '"') k += text[k] == '\\' ? 2 : 1;
                if (k >= text.size()) break;
                j = k + 1;
            } else {
                if (t[0] == '{' || t[0] == '[') ++scan.depth;
                if ((t[0] == '}' || t[0] == ']') && --scan.depth == 0) return {true, j + 1, j + 1};
                ++j;
            }
            scan.pos = j;
        }
        return final ? all : BlockEnd{};
    }
    BodyResult parse(std::string_view body, const ToolSet&, bool strict) const override {
        return parse_gemma_calls(body, delim_, strict);
    }

  private:
    std::string delim_;
};

}  // namespace

std::optional<ordered_json> parse_gemma_object(std::string_view text, std::string_view delim) {
    GemmaReader reader(trim(text), delim, false);
    auto v = reader.value();
    if (!v || !v->is_object() || reader.pos() != trim(text).size()) return std::nullopt;
    return v;
}

void add_gemma_family_triggers(const OutputFormat& format, bool tools, Dialect& d) {
    // Gemma 4 sometimes repeats the closing token or writes the tool-response opener after a call (Ollama
    // strips both): swallowed as trailers.
    static const GemmaBlock gemma4("<tool_call|>", "<|tool_call>", "<|\"|>", {"<tool_call|>", "<|tool_response>"});
    static const GemmaBlock function_gemma("<end_function_call>", "<start_function_call>", "<escape>",
                                           {"<end_function_call>", "<start_function_response>"});
    static const GemmaImpliedBlock gemma4_implied("<|\"|>", {"<tool_call|>", "<|tool_response>"});
    static const GemmaImpliedBlock function_gemma_implied("<escape>", {"<end_function_call>"});
    if (!tools) return;
    if (format.family == ToolFamily::gemma4) {
        d.triggers.push_back(block_trigger("<|tool_call>", gemma4));
        d.triggers.push_back(block_trigger("call:", gemma4_implied, true));
    }
    if (format.family == ToolFamily::function_gemma) {
        d.triggers.push_back(block_trigger("<start_function_call>", function_gemma));
        d.triggers.push_back(block_trigger("call:", function_gemma_implied, true));
    }
}

}  // namespace berth::outparse
