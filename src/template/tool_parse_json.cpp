// Families whose calls are JSON behind a marker, or bare: generic (Ollama's generic parser), Llama 3.x,
// Mistral (Nemo's array and the newer [TOOL_CALLS]f[ARGS]{...}), Command R/R+ and R7B, Granite,
// FireFunction v2, Functionary v3.2.
#include "template/output_internal.h"

namespace berth::outparse {
namespace {

// A block's scanning state for a JSON value that starts `offset` bytes into the block, and back.
JsonScan local_scan(JsonScan s, size_t offset) {
    if (s.pos <= offset) return JsonScan{};
    s.pos -= offset;
    return s;
}
JsonScan global_scan(JsonScan s, size_t offset) {
    s.pos += offset;
    return s;
}

bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

// One JSON value (object or array of calls) behind an explicit marker: Granite's <|tool_call|>, FireFunction's
// functools, a generic tag.
class JsonBlock : public BlockFormat {
  public:
    explicit JsonBlock(std::vector<std::string> trail = {}) { trailers = std::move(trail); }
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_json_end(text, final, scan);
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        return parse_json_calls(body, tools, strict);
    }
};

// A bare JSON object that starts like a call ({"name": ...), anywhere in the text (agents.md f.5).
class ImpliedJsonBlock : public BlockFormat {
  public:
    explicit ImpliedJsonBlock(std::vector<std::string> trail) { trailers = std::move(trail); }
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_json_end(text, final, scan);
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        return parse_json_calls(body, tools, strict);
    }
};

// Llama 3.1 builtins: brave_search.call(query="...") -> {"query": "..."}; Python literal arguments.
bool parse_python_call(std::string_view s, RawCall& call) {
    size_t dot = s.find(".call(");
    if (dot == std::string_view::npos || dot == 0 || s.back() != ')') return false;
    for (size_t i = 0; i < dot; ++i) {
        if (!is_ident(s[i])) return false;
    }
    call.name = std::string(s.substr(0, dot));
    std::string_view args = s.substr(dot + 6, s.size() - dot - 7);
    // Rewrite k=v, ... into a JSON object text and let the lenient parser handle the literals.
    std::string obj = "{";
    size_t i = 0;
    bool first = true;
    while (true) {
        while (i < args.size() && (is_space(args[i]) || args[i] == ',')) ++i;
        if (i == args.size()) break;
        size_t k = i;
        while (i < args.size() && (std::isalnum(static_cast<unsigned char>(args[i])) || args[i] == '_')) ++i;
        if (i == k || i == args.size() || args[i] != '=') return false;
        std::string key(args.substr(k, i - k));
        size_t v = ++i;
        char quote = 0;
        int depth = 0;
        for (; i < args.size(); ++i) {
            char c = args[i];
            if (quote) {
                if (c == '\\')
                    ++i;
                else if (c == quote)
                    quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '(' || c == '[' || c == '{') {
                ++depth;
            } else if (c == ')' || c == ']' || c == '}') {
                --depth;
            } else if (c == ',' && depth == 0) {
                break;
            }
        }
        if (quote) return false;
        if (!first) obj += ",";
        first = false;
        obj += ordered_json(key).dump() + ":" + std::string(trim(args.substr(v, i - v)));
    }
    obj += "}";
    auto parsed = parse_json(obj, true);
    if (!parsed || !parsed->is_object()) return false;
    call.arguments = std::move(*parsed);
    return true;
}

// <|python_tag|> (Llama 3.1, Functionary v3.1): a builtin call, a JSON call, or code for the python tool.
class PythonTagBlock : public BlockFormat {
  public:
    PythonTagBlock() { trailers = {"<|eom_id|>", "<|eot_id|>"}; }
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_literal_end(text, final, closers_, scan);
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        BodyResult r;
        std::string_view t = trim(body);
        RawCall call;
        if (!t.empty() && (t[0] == '{' || t[0] == '[')) return parse_json_calls(t, tools, strict);
        if (parse_python_call(t, call)) {
            r.ok = true;
            r.calls.push_back(std::move(call));
            return r;
        }
        for (const char* name : {"python", "code_interpreter", "ipython"}) {
            if (tools.find(name) >= 0 && !t.empty()) {
                call.name = name;
                call.arguments = ordered_json::object({{"code", std::string(t)}});
                r.ok = true;
                r.calls.push_back(std::move(call));
                return r;
            }
        }
        r.error = "python_tag without a call or a python tool";
        return r;
    }

  private:
    std::vector<std::string> closers_{"<|eom_id|>", "<|eot_id|>"};
};

// [TOOL_CALLS]: Nemo's [{"name", "arguments", "id"}, ...] or the newer f[CALL_ID]id[ARGS]{...}.
class MistralBlock : public BlockFormat {
  public:
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        size_t w = 0;
        while (w < text.size() && is_space(text[w])) ++w;
        if (w < text.size() && (text[w] == '[' || text[w] == '{')) return find_json_end(text, final, scan);
        size_t args = text.find("[ARGS]");
        if (args == std::string_view::npos || args > 512) {
            if (text.size() > 512 + 6 || final)
                return {true, std::min(text.size(), size_t{512}), std::min(text.size(), size_t{512})};
            return {};
        }
        std::string_view after = text.substr(args + 6);
        JsonScan inner = local_scan(scan, args + 6);
        BlockEnd e = find_json_end(after, final, inner);
        scan = global_scan(inner, args + 6);
        if (!e.found) return {};
        return {true, args + 6 + e.body, args + 6 + e.consumed};
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        std::string_view t = trim(body);
        size_t args = t.find("[ARGS]");
        if (args == std::string_view::npos) return parse_json_calls(t, tools, strict);
        std::string_view head = t.substr(0, args);
        size_t cid = head.find("[CALL_ID]");
        std::string id = cid == std::string_view::npos ? "" : std::string(trim(head.substr(cid + 9)));
        return one_call(std::string(trim(head.substr(0, cid))), t.substr(args + 6), strict, id, "[TOOL_CALLS] call");
    }
};

// Command R/R+: Action: ```json [{"tool_name": f, "parameters": {...}}] ``` ; "directly-answer" is the
// format's way of calling nothing and is dropped.
class CommandRBlock : public BlockFormat {
  public:
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        size_t i = 0;
        while (i < text.size() && is_space(text[i])) ++i;
        for (std::string_view fence : {"```json", "```"}) {
            std::string_view t = text.substr(i);
            if (starts_with(t, fence)) {
                i += fence.size();
                break;
            }
            if (!final && starts_with(fence, t)) return {};
        }
        while (i < text.size() && is_space(text[i])) ++i;
        if (i == text.size()) return final ? BlockEnd{true, i, i} : BlockEnd{};
        if (text[i] != '[' && text[i] != '{') return {true, i, i};  // no JSON: the parse refuses it
        return json_or_closer_end(text, i, "```", final, scan);
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        std::string_view t = trim(body);
        if (starts_with(t, "```json"))
            t.remove_prefix(7);
        else if (starts_with(t, "```"))
            t.remove_prefix(3);
        BodyResult r = parse_json_calls(t, tools, strict);
        std::erase_if(r.calls, [&](const RawCall& c) {
            return (c.name == "directly-answer" || c.name == "directly_answer") && tools.find(c.name) < 0;
        });
        return r;
    }
};

// Functionary v3.2: >>>recipient\n then JSON arguments, code for "python", or text for "all".
class FunctionaryV32Block : public BlockFormat {
  public:
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        size_t i = 0;
        while (i < text.size() && is_ident(text[i]) && i < 128) ++i;
        if (i == text.size()) return final ? BlockEnd{true, i, i} : BlockEnd{};
        if (text[i] != '\n' || i == 0) return {true, i, i};  // not a recipient line: the parse refuses it
        std::string_view name = text.substr(0, i);
        if (name == "all") return {true, i + 1, i + 1};
        if (name == "python") {
            size_t next = text.find(">>>", i + 1);
            if (next != std::string_view::npos) return {true, next, next};
            return final ? BlockEnd{true, text.size(), text.size()} : BlockEnd{};
        }
        std::string_view rest = text.substr(i + 1);
        JsonScan inner = local_scan(scan, i + 1);
        BlockEnd e = find_json_end(rest, final, inner);
        scan = global_scan(inner, i + 1);
        if (!e.found) return {};
        return {true, i + 1 + e.body, i + 1 + e.consumed};
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        BodyResult r;
        size_t nl = body.find('\n');
        if (nl == std::string_view::npos || nl == 0) {
            r.error = "no recipient line";
            return r;
        }
        std::string_view name = body.substr(0, nl), rest = body.substr(nl + 1);
        if (name == "all") {
            r.ok = true;  // markup only: the text after it is content
            return r;
        }
        if (name == "python" && !starts_with(trim(rest), "{")) {
            r.ok = true;
            r.calls.push_back({"python", ordered_json::object({{"code", std::string(rest)}}), ""});
            return r;
        }
        return one_call(std::string(name), rest, strict, "", "JSON arguments");
    }
};

// Explicit markers followed by calls in JSON (Command R7B's <|START_ACTION|> list up to <|END_ACTION|>).
class LiteralJsonBlock : public BlockFormat {
  public:
    explicit LiteralJsonBlock(std::vector<std::string> closers, std::vector<std::string> cuts = {})
        : closers_(std::move(closers)), cuts_(std::move(cuts)) {}
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_literal_end(text, final, closers_, scan, cuts_);
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        return parse_json_calls(body, tools, strict);
    }

  private:
    std::vector<std::string> closers_, cuts_;
};

Trigger implied_json(const BlockFormat& block) {
    Trigger t = block_trigger("{", block, true);
    t.json_prefix = true;
    return t;
}

}  // namespace

void add_json_family_triggers(const OutputFormat& format, bool tools, Dialect& d) {
    static const ImpliedJsonBlock bare({});
    static const ImpliedJsonBlock llama_bare({";", "<|eom_id|>", "<|eot_id|>"});
    static const PythonTagBlock python_tag;
    static const MistralBlock mistral;
    static const CommandRBlock command_r;
    static const LiteralJsonBlock command_r7b({"<|END_ACTION|>"}, {"<|START_ACTION|>"});
    static const FunctionaryV32Block functionary;
    static const JsonBlock json;
    static const JsonBlock fenced_json({"```"});
    auto drop = [&](std::string text) { d.triggers.push_back({std::move(text), TriggerKind::drop}); };
    auto ends_thinking = [&](std::string text) { d.triggers.push_back({std::move(text), TriggerKind::think_close}); };
    switch (format.family) {
        case ToolFamily::generic: {
            if (!tools) break;
            d.triggers.push_back(implied_json(bare));
            Trigger array = implied_json(bare);
            array.text = "[";
            d.triggers.push_back(array);
            // A tag that opens the JSON ("functools[", "[TOOL_CALL] [") leaves its bracket to the value.
            std::string tag = format.generic_tag;
            while (!tag.empty() && (tag.back() == '[' || is_space(tag.back()))) tag.pop_back();
            if (!tag.empty() && tag != "{") d.triggers.push_back(block_trigger(tag, fenced_json));
            break;
        }
        case ToolFamily::llama3:
            drop("<|eom_id|>");
            drop("<|eot_id|>");
            if (!tools) break;
            d.triggers.push_back(implied_json(llama_bare));
            d.triggers.push_back(block_trigger("<|python_tag|>", python_tag));
            break;
        case ToolFamily::functionary_v3_1:
            if (tools) d.triggers.push_back(block_trigger("<|python_tag|>", python_tag));
            break;
        case ToolFamily::mistral:
            if (tools) d.triggers.push_back(block_trigger("[TOOL_CALLS]", mistral));
            break;
        case ToolFamily::command_r:
            if (!tools) break;
            d.triggers.push_back(block_trigger("Action:", command_r));
            d.triggers.back().warn_on_fail = false;  // "Action:" is also an English word
            break;
        case ToolFamily::command_r7b:
            ends_thinking("<|START_RESPONSE|>");
            ends_thinking("<|START_TEXT|>");
            drop("<|END_RESPONSE|>");
            drop("<|END_TEXT|>");
            if (tools) d.triggers.push_back(block_trigger("<|START_ACTION|>", command_r7b));
            break;
        case ToolFamily::granite:
            ends_thinking("<response>");
            drop("</response>");
            if (tools) d.triggers.push_back(block_trigger("<|tool_call|>", json));
            break;
        case ToolFamily::firefunction_v2:
            if (tools) d.triggers.push_back(block_trigger("functools", json));
            break;
        case ToolFamily::functionary_v3_2:
            if (!tools) break;
            d.triggers.push_back(block_trigger(">>>", functionary));
            d.triggers.back().warn_on_fail = false;  // ">>>" is also a Python prompt
            d.initial_block = &functionary;
            break;
        default: break;
    }
}

}  // namespace berth::outparse
