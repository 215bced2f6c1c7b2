// Families whose calls are tagged text: Hermes / Qwen <tool_call> (JSON or XML inside), Qwen3-Coder /
// Qwen3.5 / Nemotron 3 XML parameters, Functionary v3.1 <function=f>{...}</function>, GLM 4.5-4.7
// <arg_key>/<arg_value>, DeepSeek V3.2 DSML. Values are read raw up to their closing marker (agents.md f.4)
// and typed by the tool's schema.
#include "template/output_internal.h"

namespace berth::outparse {

BlockEnd find_structured_end(std::string_view text, bool final, JsonScan& scan, std::string_view value_open,
                             std::string_view value_close, std::string_view block_close, std::string_view cut) {
    std::vector<std::string> marks{std::string(value_open), std::string(block_close)};
    if (!cut.empty()) marks.emplace_back(cut);
    size_t i = scan.pos;
    while (true) {
        MarkerHit h = find_marker(text, marks, i, final);
        if (h.index < 0 || h.partial) {
            if (h.index < 0 && final) return {true, text.size(), text.size()};
            scan.pos = i;
            return {};
        }
        if (h.index == 1) return {true, h.pos, h.pos + block_close.size()};
        if (h.index == 2) return {true, h.pos, h.pos};
        size_t from = h.pos + value_open.size();
        if (scan.pos == h.pos && scan.mark > from + value_close.size()) from = scan.mark - value_close.size();
        size_t c = text.find(value_close, from);
        if (c != std::string_view::npos) {
            i = c + value_close.size();
            continue;
        }
        if (!final) {
            scan.pos = h.pos;
            scan.mark = text.size();
            return {};
        }
        MarkerHit n = find_marker(text, marks, h.pos + value_open.size(), true);
        if (n.index < 0) return {true, text.size(), text.size()};
        i = n.pos;
    }
}

namespace {

constexpr std::string_view kFunction = "<function=", kFunctionEnd = "</function>";
constexpr std::string_view kParam = "<parameter=", kParamEnd = "</parameter>";
constexpr std::string_view kToolCall = "<tool_call>", kToolCallEnd = "</tool_call>";

std::string strip_one_newline(std::string_view v) {
    if (starts_with(v, "\n"))
        v.remove_prefix(1);
    else if (starts_with(v, "\r\n"))
        v.remove_prefix(2);
    if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
    if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
    return std::string(v);
}

// <function=NAME> then <parameter=K>V</parameter>... or a JSON object; `body` stops before </function>.
BodyResult parse_xml_function(std::string_view body, const ToolSet& tools, bool strict) {
    BodyResult r;
    size_t gt = body.find('>');
    if (!starts_with(body, kFunction) || gt == std::string_view::npos) {
        r.error = "malformed <function=...> tag";
        return r;
    }
    RawCall call;
    call.name = std::string(trim(body.substr(kFunction.size(), gt - kFunction.size())));
    if (call.name.empty() || call.name.find_first_of("<\n") != std::string::npos) {
        r.error = "malformed function name";
        return r;
    }
    std::string_view rest = body.substr(gt + 1);
    if (std::string_view t = trim(rest); !t.empty() && t[0] == '{')
        return one_call(call.name, t, strict, "", "JSON arguments");
    {
        int tool = tools.find(call.name);
        for (size_t i = 0;;) {
            size_t p = rest.find(kParam, i);
            if (p == std::string_view::npos) break;
            size_t g = rest.find('>', p);
            if (g == std::string_view::npos) {
                r.error = "malformed <parameter=...> tag";
                return r;
            }
            std::string key(trim(rest.substr(p + kParam.size(), g - p - kParam.size())));
            size_t c = rest.find(kParamEnd, g + 1), vend;
            if (c == std::string_view::npos) {
                size_t n = rest.find(kParam, g + 1);
                vend = n == std::string_view::npos ? rest.size() : n;
                i = vend;
                r.repaired = true;
            } else {
                vend = c;
                i = c + kParamEnd.size();
            }
            std::string value = strip_one_newline(rest.substr(g + 1, vend - g - 1));
            call.arguments[key] = typed_value(value, tools.property(tool, key));
        }
    }
    r.ok = true;
    r.calls.push_back(std::move(call));
    return r;
}

// <function=f>...</function>, also without the <tool_call> around it (agents.md f.2).
class XmlFunctionBlock : public BlockFormat {
  public:
    XmlFunctionBlock() { trailers = {std::string(kToolCallEnd)}; }
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_structured_end(text, final, scan, kParam, kParamEnd, kFunctionEnd);
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        return parse_xml_function(body, tools, strict);
    }
};

// <tool_call> ... </tool_call> with JSON (Hermes, Qwen) or an XML function (Qwen3-Coder) inside. The end is
// found structurally, so a "</tool_call>" inside a JSON string or a parameter value does not cut the call.
class ToolCallBlock : public BlockFormat {
  public:
    ToolCallBlock() = default;
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        size_t w = 0;
        while (w < text.size() && is_space(text[w])) ++w;
        if (w == text.size()) return final ? BlockEnd{true, w, w} : BlockEnd{};
        std::string_view rest = text.substr(w);
        if (starts_with(rest, kFunction)) {
            BlockEnd e = find_structured_end(rest, final, scan, kParam, kParamEnd, kFunctionEnd);
            if (!e.found) return {};
            return with_optional_closer(text, w + e.consumed, kToolCallEnd, final);
        }
        if (!final && starts_with(kFunction, rest)) return {};
        if (rest[0] == '{' || rest[0] == '[') return json_or_closer_end(text, w, kToolCallEnd, final, scan);
        return find_literal_end(text, final, closers_, scan, cuts_);
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        std::string_view t = trim(body);
        if (starts_with(t, kFunction)) {
            if (t.size() >= kFunctionEnd.size() && t.substr(t.size() - kFunctionEnd.size()) == kFunctionEnd)
                t.remove_suffix(kFunctionEnd.size());
            return parse_xml_function(t, tools, strict);
        }
        if (t.empty()) {
            BodyResult r;
            r.error = "empty tool call";
            return r;
        }
        return parse_json_calls(t, tools, strict);
    }

  private:
    std::vector<std::string> closers_{std::string(kToolCallEnd)}, cuts_{std::string(kToolCall)};
};

// GLM: <tool_call>NAME\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>...</tool_call>. Non-string values are
// written as JSON by the template, strings raw.
class GlmBlock : public BlockFormat {
  public:
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_structured_end(text, final, scan, "<arg_value>", "</arg_value>", kToolCallEnd, kToolCall);
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        BodyResult r;
        std::string_view t = trim(body);
        if (!t.empty() && t[0] == '{') return parse_json_calls(t, tools, strict);
        size_t first = t.find("<arg_key>");
        RawCall call;
        call.name = std::string(trim(t.substr(0, first)));
        if (call.name.empty() || call.name.find_first_of("<>\n{") != std::string::npos) {
            r.error = "malformed GLM tool call";
            return r;
        }
        int tool = tools.find(call.name);
        for (size_t i = first; i != std::string_view::npos && i < t.size();) {
            size_t k = t.find("<arg_key>", i);
            if (k == std::string_view::npos) break;
            size_t ke = t.find("</arg_key>", k);
            size_t v = t.find("<arg_value>", k);
            if (ke == std::string_view::npos || v == std::string_view::npos || v < ke) {
                r.error = "malformed <arg_key>/<arg_value> pair";
                return r;
            }
            std::string key(trim(t.substr(k + 9, ke - k - 9)));
            size_t ve = t.find("</arg_value>", v), vend;
            if (ve == std::string_view::npos) {
                size_t n = t.find("<arg_key>", v);
                vend = n == std::string_view::npos ? t.size() : n;
                i = vend;
                r.repaired = true;
            } else {
                vend = ve;
                i = ve + 12;
            }
            std::string_view raw = t.substr(v + 11, vend - v - 11);
            const ordered_json* schema = tools.property(tool, key);
            ordered_json value;
            if (schema && schema->contains("type")) {
                value = typed_value(raw, schema);
            } else if (auto j = parse_json(trim(raw), false); j && !j->is_string()) {
                value = std::move(*j);
            } else {
                value = std::string(raw);
            }
            call.arguments[key] = std::move(value);
        }
        r.ok = true;
        r.calls.push_back(std::move(call));
        return r;
    }
};

// DeepSeek V3.2 DSML: <｜DSML｜invoke name="f"><｜DSML｜parameter name="k" string="true|false">v</｜DSML｜parameter>
constexpr std::string_view kDsmlInvoke = "<｜DSML｜invoke", kDsmlInvokeEnd = "</｜DSML｜invoke>";
constexpr std::string_view kDsmlParam = "<｜DSML｜parameter", kDsmlParamEnd = "</｜DSML｜parameter>";
constexpr std::string_view kDsmlCallsEnd = "</｜DSML｜function_calls>";

// The value of attribute `name` in a tag's text (name="value"); nullopt when absent.
std::optional<std::string> attribute(std::string_view tag, std::string_view name) {
    std::string key = std::string(name) + "=\"";
    size_t p = tag.find(key);
    if (p == std::string_view::npos) return std::nullopt;
    size_t q = tag.find('"', p + key.size());
    if (q == std::string_view::npos) return std::nullopt;
    return std::string(tag.substr(p + key.size(), q - p - key.size()));
}

class DsmlBlock : public BlockFormat {
  public:
    BlockEnd find_end(std::string_view text, bool final, JsonScan& scan) const override {
        return find_structured_end(text, final, scan, kDsmlParam, kDsmlParamEnd, kDsmlCallsEnd);
    }
    BodyResult parse(std::string_view body, const ToolSet& tools, bool strict) const override {
        BodyResult r;
        for (size_t i = 0;;) {
            size_t p = body.find(kDsmlInvoke, i);
            if (p == std::string_view::npos) break;
            size_t g = body.find('>', p);
            if (g == std::string_view::npos) break;
            RawCall call;
            auto name = attribute(body.substr(p, g - p), "name");
            if (!name || name->empty()) {
                r.error = "invoke without a name";
                return r;
            }
            call.name = *name;
            int tool = tools.find(call.name);
            size_t end = body.find(kDsmlInvokeEnd, g);
            std::string_view inv = body.substr(g + 1, (end == std::string_view::npos ? body.size() : end) - g - 1);
            for (size_t j = 0;;) {
                size_t q = inv.find(kDsmlParam, j);
                if (q == std::string_view::npos) break;
                size_t qg = inv.find('>', q);
                if (qg == std::string_view::npos) break;
                std::string_view tag = inv.substr(q, qg - q);
                auto key = attribute(tag, "name");
                auto is_string = attribute(tag, "string");
                size_t ve = inv.find(kDsmlParamEnd, qg);
                if (!key || ve == std::string_view::npos) {
                    r.error = "malformed DSML parameter";
                    return r;
                }
                std::string_view raw = inv.substr(qg + 1, ve - qg - 1);
                ordered_json value;
                if (is_string && *is_string == "true") {
                    value = std::string(raw);
                } else if (auto v = parse_json(trim(raw), !strict); v && is_string) {
                    value = std::move(*v);
                } else {
                    value = typed_value(raw, tools.property(tool, *key));
                }
                call.arguments[*key] = std::move(value);
                j = ve + kDsmlParamEnd.size();
            }
            r.calls.push_back(std::move(call));
            if (end == std::string_view::npos) break;
            i = end + kDsmlInvokeEnd.size();
        }
        r.ok = !r.calls.empty();
        if (!r.ok) r.error = "no invoke in function_calls";
        return r;
    }
};

}  // namespace

void add_xml_family_triggers(const OutputFormat& format, bool tools, Dialect& d) {
    static const XmlFunctionBlock function;
    static const ToolCallBlock tool_call;
    static const GlmBlock glm;
    static const DsmlBlock dsml;
    if (!tools) return;
    switch (format.family) {
        case ToolFamily::hermes:
        case ToolFamily::qwen3_coder: {
            d.triggers.push_back(block_trigger(std::string(kToolCall), tool_call, false));
            d.triggers.push_back(block_trigger(std::string(kFunction), function, true));
            // A bare {"name": ...} object followed by </tool_call> is read by the JSON families' implied
            // opener; Hermes models write it when they drop the opening tag.
            Trigger bare;
            bare.text = "{";
            bare.kind = TriggerKind::block;
            bare.block = &tool_call;
            bare.keep = true;
            bare.json_prefix = true;
            bare.warn_on_fail = false;
            d.triggers.push_back(bare);
            break;
        }
        case ToolFamily::functionary_v3_1:
            d.triggers.push_back(block_trigger(std::string(kFunction), function, true));
            break;
        case ToolFamily::glm: d.triggers.push_back(block_trigger(std::string(kToolCall), glm, false)); break;
        case ToolFamily::deepseek_dsml:
            d.triggers.push_back(block_trigger("<｜DSML｜function_calls>", dsml, false));
            break;
        default: break;
    }
}

}  // namespace berth::outparse
