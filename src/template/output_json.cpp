// The pieces of output parsing that every family shares: registered tools and name matching, lenient JSON
// (the repairs agents.md f.3 asks for), typed XML values, and call shapes in JSON.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "template/output_internal.h"

namespace berth::outparse {

std::string_view trim(std::string_view s) {
    size_t a = 0, b = s.size();
    while (a < b && is_space(s[a])) ++a;
    while (b > a && is_space(s[b - 1])) --b;
    return s.substr(a, b - a);
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// ---- tools -----------------------------------------------------------------------------------------------

std::string harmony_identifier(std::string_view name) {
    std::string out;
    for (size_t i = 0; i < name.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(name[i]);
        if (c == ' ' || c == '-' || c == '.') {
            out += '_';
        } else if (std::isalnum(c) || c == '_' || c == '$' || c >= 0x80) {
            out += static_cast<char>(c);  // non-ASCII letters are kept whole (UTF-8 bytes pass through)
        }
    }
    if (out.empty()) return "unnamed";
    if (out[0] >= '0' && out[0] <= '9') out.insert(out.begin(), '_');
    return out;
}

ToolSet::ToolSet(const ordered_json& tools) {
    if (!tools.is_array()) return;
    for (const auto& t : tools) {
        if (!t.is_object()) continue;
        const ordered_json* fn = &t;
        if (t.contains("function") && t["function"].is_object()) fn = &t["function"];
        if (!fn->contains("name") || !(*fn)["name"].is_string()) continue;
        names_.push_back((*fn)["name"].get<std::string>());
        params_.push_back(fn->contains("parameters") ? (*fn)["parameters"] : ordered_json());
    }
    for (size_t i = 0; i < names_.size(); ++i) {
        std::string base = harmony_identifier(names_[i]), id = base;
        for (int n = 2; mangled_.count(id); ++n) id = base + "_" + std::to_string(n);
        mangled_.emplace(id, static_cast<int>(i));
    }
}

int ToolSet::find(std::string_view name) const {
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = 0; i < names_.size(); ++i) {
            if (names_[i] == name) return static_cast<int>(i);
        }
        auto it = mangled_.find(std::string(name));
        if (it != mangled_.end()) return it->second;
        if (!starts_with(name, "functions.")) break;
        name.remove_prefix(10);
    }
    return -1;
}

const ordered_json* ToolSet::property(int i, std::string_view key) const {
    if (i < 0 || static_cast<size_t>(i) >= params_.size()) return nullptr;
    const ordered_json& p = params_[i];
    if (!p.is_object() || !p.contains("properties") || !p["properties"].is_object()) return nullptr;
    auto it = p["properties"].find(std::string(key));
    return it == p["properties"].end() ? nullptr : &*it;
}

// ---- JSON ------------------------------------------------------------------------------------------------

namespace {

// Nesting depth of brackets outside double-quoted strings, stopping early past the limit.
int max_depth(std::string_view s) {
    int depth = 0, worst = 0;
    bool in_str = false, esc = false;
    for (char c : s) {
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[')
            worst = std::max(worst, ++depth);
        else if ((c == '}' || c == ']') && depth > 0)
            --depth;
        if (worst > kMaxJsonDepth) break;
    }
    return worst;
}

std::optional<ordered_json> strict_parse(std::string_view s) {
    if (max_depth(s) > kMaxJsonDepth) return std::nullopt;
    ordered_json v = ordered_json::parse(s.begin(), s.end(), nullptr, false);
    if (v.is_discarded()) return std::nullopt;
    return v;
}

bool word_at(std::string_view s, size_t i, std::string_view w) {
    if (s.compare(i, w.size(), w) != 0) return false;
    auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if (i > 0 && ident(s[i - 1])) return false;
    return i + w.size() >= s.size() || !ident(s[i + w.size()]);
}

// Rewrites the usual model mistakes into JSON; nullopt when the text is cut inside a string or ends in a way
// that closing brackets would guess at.
std::optional<std::string> rewrite(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 8);
    std::string stack;
    bool in_str = false;
    char quote = '"';
    auto drop_trailing_comma = [&] {
        size_t k = out.size();
        while (k > 0 && is_space(out[k - 1])) --k;
        if (k > 0 && out[k - 1] == ',') out.erase(k - 1, 1);
    };
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (in_str) {
            if (c == quote) {
                in_str = false;
                out += '"';
            } else if (c == '\\' && i + 1 < s.size()) {
                char n = s[++i];
                if (n == '\'')
                    out += '\'';
                else if (std::string_view("\"\\/bfnrtu").find(n) != std::string_view::npos)
                    (out += '\\') += n;
                else
                    (out += "\\\\") += n;
            } else if (c == '"') {
                out += "\\\"";  // a double quote inside a single-quoted string
            } else if (static_cast<unsigned char>(c) < 0x20) {
                if (c == '\n')
                    out += "\\n";
                else if (c == '\t')
                    out += "\\t";
                else if (c == '\r')
                    out += "\\r";
                else
                    out += string_printf("\\u%04x", c);
            } else {
                out += c;
            }
            continue;
        }
        if (c == '"' || c == '\'') {
            in_str = true;
            quote = c;
            out += '"';
        } else if (c == '{' || c == '[') {
            stack += c;
            out += c;
        } else if (c == '}' || c == ']') {
            char open = c == '}' ? '{' : '[';
            size_t at = stack.rfind(open);
            if (at == std::string::npos) continue;  // stray closer
            while (stack.size() > at + 1) {         // closes what the model left open inside it
                drop_trailing_comma();
                out += stack.back() == '{' ? '}' : ']';
                stack.pop_back();
            }
            stack.pop_back();
            drop_trailing_comma();
            out += c;
        } else if (word_at(s, i, "True")) {
            out += "true", i += 3;
        } else if (word_at(s, i, "False")) {
            out += "false", i += 4;
        } else if (word_at(s, i, "None")) {
            out += "null", i += 3;
        } else {
            out += c;
        }
    }
    if (in_str) return std::nullopt;
    if (!stack.empty()) {
        drop_trailing_comma();
        size_t k = out.size();
        while (k > 0 && is_space(out[k - 1])) --k;
        char last = k > 0 ? out[k - 1] : 0;
        if (last != '}' && last != ']' && last != '"') return std::nullopt;
        out.resize(k);
        for (size_t j = stack.size(); j-- > 0;) out += stack[j] == '{' ? '}' : ']';
    }
    return out;
}

}  // namespace

std::optional<ordered_json> parse_json(std::string_view text, bool repair, bool* repaired) {
    if (repaired) *repaired = false;
    if (auto v = strict_parse(text)) return v;
    if (!repair) return std::nullopt;
    auto fixed = rewrite(text);
    if (!fixed) return std::nullopt;
    auto v = strict_parse(*fixed);
    if (!v) v = strict_parse("[" + *fixed + "]");  // {...}, {...} without the array brackets
    if (v && repaired) *repaired = true;
    return v;
}

size_t json_value_end(std::string_view text, JsonScan& scan) {
    if (scan.done) return scan.pos;
    for (; scan.pos < text.size(); ++scan.pos) {
        char c = text[scan.pos];
        if (scan.in_string) {
            if (scan.escape)
                scan.escape = false;
            else if (c == '\\')
                scan.escape = true;
            else if (c == '"')
                scan.in_string = false;
            continue;
        }
        if (c == '"') {
            scan.in_string = true;
        } else if (c == '{' || c == '[') {
            ++scan.depth;
        } else if (c == '}' || c == ']') {
            if (--scan.depth <= 0) {
                scan.done = true;
                return ++scan.pos;
            }
        } else if (scan.depth <= 0) {
            return 0;  // not at a bracket: the caller checks text[0]
        }
    }
    return 0;
}

// ---- typed XML values --------------------------------------------------------------------------------------

namespace {

void collect_types(const ordered_json& schema, std::vector<std::string>& types, int depth = 0) {
    if (!schema.is_object() || depth > 8) return;
    if (auto it = schema.find("type"); it != schema.end()) {
        if (it->is_string()) types.push_back(it->get<std::string>());
        if (it->is_array()) {
            for (const auto& t : *it) {
                if (t.is_string()) types.push_back(t.get<std::string>());
            }
        }
    }
    for (const char* key : {"anyOf", "oneOf"}) {
        if (auto it = schema.find(key); it != schema.end() && it->is_array()) {
            for (const auto& m : *it) collect_types(m, types, depth + 1);
        }
    }
}

bool lower_equals(std::string_view s, std::string_view lower) {
    if (s.size() != lower.size()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[i])) != lower[i]) return false;
    }
    return true;
}

std::optional<ordered_json> as_integer(std::string_view s) {
    int64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return ordered_json(v);
}

std::optional<ordered_json> as_number(std::string_view s) {
    if (auto i = as_integer(s)) return i;
    if (s.empty() || s.size() > 64) return std::nullopt;
    std::string buf(s);
    char* end = nullptr;
    double d = std::strtod(buf.c_str(), &end);
    if (end != buf.c_str() + buf.size() || !std::isfinite(d)) return std::nullopt;
    // Reject what JSON would not call a number (hex, "inf" was excluded above).
    for (char c : buf) {
        if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+'))
            return std::nullopt;
    }
    if (d == std::floor(d) && std::fabs(d) < 9.0e15) return ordered_json(static_cast<int64_t>(d));
    return ordered_json(d);
}

}  // namespace

ordered_json typed_value(std::string_view raw, const ordered_json* schema) {
    std::string_view t = trim(raw);
    if (lower_equals(t, "null")) return nullptr;
    std::vector<std::string> types;
    if (schema) collect_types(*schema, types);
    if (types.empty()) return std::string(raw);
    auto has = [&](std::string_view name) {
        for (const auto& x : types) {
            if (x == name) return true;
        }
        return false;
    };
    bool only = types.size() == 1;
    if (has("boolean")) {
        if (lower_equals(t, "true")) return true;
        if (lower_equals(t, "false")) return false;
        if (only) return false;  // the reference parsers' choice for a non-boolean in a boolean parameter
    }
    if (has("integer")) {
        if (auto v = as_integer(t)) return *v;
    }
    if (has("number")) {
        if (auto v = as_number(t)) return *v;
    }
    if (has("array")) {
        if (auto v = parse_json(t, true); v && v->is_array()) return *v;
    }
    if (has("object")) {
        if (auto v = parse_json(t, true); v && v->is_object()) return *v;
    }
    return std::string(raw);
}

// ---- call shapes -------------------------------------------------------------------------------------------

namespace {

// Arguments given as an object, a stringified object, or nothing; false for anything else.
bool arguments_of(const ordered_json& obj, std::initializer_list<const char*> keys, ordered_json& args) {
    for (const char* k : keys) {
        auto it = obj.find(k);
        if (it == obj.end()) continue;
        if (it->is_object()) {
            args = *it;
            return true;
        }
        if (it->is_null()) {
            args = ordered_json::object();
            return true;
        }
        if (it->is_string()) {
            const std::string& s = it->get_ref<const std::string&>();
            if (trim(s).empty()) {
                args = ordered_json::object();
                return true;
            }
            auto v = parse_json(s, true);
            if (v && v->is_object()) {
                args = std::move(*v);
                return true;
            }
        }
        return false;
    }
    args = ordered_json::object();
    return true;
}

std::string id_of(const ordered_json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end()) return {};
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
    return {};
}

bool extract(const ordered_json& v, const ToolSet& tools, std::vector<RawCall>& calls, int depth) {
    if (depth > 8) return false;
    if (v.is_array()) {
        if (v.empty()) return false;
        for (const auto& e : v) {
            if (!extract(e, tools, calls, depth + 1)) return false;
        }
        return true;
    }
    if (!v.is_object()) return false;
    RawCall call;
    if (auto it = v.find("name"); it != v.end() && it->is_string()) {
        if (!arguments_of(v, {"arguments", "parameters", "args"}, call.arguments)) return false;
        call.name = it->get<std::string>();
        call.id = id_of(v, "id");
        calls.push_back(std::move(call));
        return true;
    }
    if (auto it = v.find("function"); it != v.end()) {
        if (it->is_object()) {
            size_t before = calls.size();
            if (!extract(*it, tools, calls, depth + 1) || calls.size() != before + 1) return false;
            if (calls.back().id.empty()) calls.back().id = id_of(v, "id");
            return true;
        }
        if (it->is_string()) {
            if (!arguments_of(v, {"arguments", "parameters"}, call.arguments)) return false;
            call.name = it->get<std::string>();
            call.id = id_of(v, "id");
            calls.push_back(std::move(call));
            return true;
        }
    }
    if (auto it = v.find("tool_name"); it != v.end() && it->is_string()) {
        if (!arguments_of(v, {"parameters", "arguments", "tool_input"}, call.arguments)) return false;
        call.name = it->get<std::string>();
        call.id = id_of(v, "tool_call_id");
        calls.push_back(std::move(call));
        return true;
    }
    if (auto it = v.find("tool_call"); it != v.end() && it->is_object()) return extract(*it, tools, calls, depth + 1);
    if (auto it = v.find("tool_calls"); it != v.end() && it->is_array()) return extract(*it, tools, calls, depth + 1);
    if (v.size() == 1 && v.begin().value().is_object() && tools.find(v.begin().key()) >= 0) {
        call.name = v.begin().key();
        call.arguments = v.begin().value();
        calls.push_back(std::move(call));
        return true;
    }
    return false;
}

}  // namespace

bool calls_from_json(const ordered_json& value, const ToolSet& tools, std::vector<RawCall>& calls) {
    size_t before = calls.size();
    if (extract(value, tools, calls, 0)) return true;
    calls.resize(before);
    return false;
}

BodyResult parse_json_calls(std::string_view body, const ToolSet& tools, bool strict) {
    BodyResult r;
    std::string_view t = trim(body);
    if (t.empty()) {
        r.error = "empty tool call";
        return r;
    }
    // One value first (with repairs), then a sequence of well-formed values.
    if (auto v = parse_json(t, false)) {
        r.ok = calls_from_json(*v, tools, r.calls);
        if (!r.ok) r.error = "JSON without a tool call shape";
        return r;
    }
    size_t i = 0;
    std::vector<RawCall> calls;
    while (i < t.size() && (t[i] == '{' || t[i] == '[')) {
        JsonScan scan{i};
        size_t end = json_value_end(t, scan);
        if (end == 0) break;
        auto v = parse_json(t.substr(i, end - i), false);
        if (!v || !calls_from_json(*v, tools, calls)) break;
        i = end;
        while (i < t.size() && (is_space(t[i]) || t[i] == ',' || t[i] == ';')) ++i;
    }
    if (i == t.size() && !calls.empty()) {
        r.ok = true;
        r.calls = std::move(calls);
        return r;
    }
    auto v = parse_json(t, !strict, &r.repaired);
    if (!v) {
        r.error = "malformed JSON";
        return r;
    }
    r.ok = calls_from_json(*v, tools, r.calls);
    if (!r.ok) r.error = "JSON without a tool call shape";
    return r;
}

BodyResult one_call(std::string name, std::string_view args, bool strict, std::string id, std::string_view what) {
    BodyResult r;
    auto v = parse_json(trim(args), !strict, &r.repaired);
    if (name.empty() || !v || !v->is_object()) {
        r.error = "malformed " + std::string(what);
        return r;
    }
    r.ok = true;
    r.calls.push_back({std::move(name), std::move(*v), std::move(id)});
    return r;
}

std::vector<ParsedToolCall> resolve_calls(std::vector<RawCall>&& raw, const ToolSet& tools, int max_calls, int& emitted,
                                          std::vector<std::string>& warnings) {
    std::vector<ParsedToolCall> out;
    for (auto& c : raw) {
        int idx = tools.find(c.name);
        if (idx < 0) {
            warnings.push_back("call to unknown tool '" + c.name + "' dropped");
            continue;
        }
        if (max_calls >= 0 && emitted >= max_calls) {
            warnings.push_back(string_printf("tool call beyond the limit of %d dropped", max_calls));
            continue;
        }
        ++emitted;
        out.push_back({tools.name(idx), c.arguments.dump(-1, ' ', false, ordered_json::error_handler_t::replace),
                       std::move(c.id)});
    }
    return out;
}

}  // namespace berth::outparse
