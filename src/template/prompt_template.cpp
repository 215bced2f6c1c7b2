// PromptTemplate: syntax detection, the Jinja context of a chat request (think → enable_thinking /
// reasoning_effort / thinking), dispatch to Ollama's Go pipeline (prompt_go.cpp), and the capabilities
// derived from Ollama's text rules checked against probe renders.
#include <cstring>

#include <nlohmann/json.hpp>

#include "template/prompt_go.h"
#include "template/template.h"

namespace berth {
namespace {

using nlohmann::ordered_json;

// An action only Go's syntax has: {{ .Field }}, {{ $x }}, {{ range / end / define / template / block / with /
// else }}, {{ if .X }} (with optional "- " trim markers).
bool has_go_only_action(std::string_view s) {
    static const char* const words[] = {"range", "end", "define", "template", "block", "with", "else", "if"};
    for (size_t k = s.find("{{"); k != std::string_view::npos; k = s.find("{{", k + 2)) {
        size_t p = k + 2;
        if (p < s.size() && s[p] == '-') ++p;
        while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) ++p;
        if (p >= s.size()) break;
        if (s[p] == '.' || s[p] == '$') return true;
        if (s.compare(p, 2, "/*") == 0) return true;
        for (const char* w : words) {
            size_t n = std::strlen(w);
            if (s.compare(p, n, w) == 0 && (p + n >= s.size() || !std::isalnum((unsigned char)s[p + n]))) return true;
        }
    }
    return false;
}

ordered_json probe_messages() { return ordered_json::array({{{"role", "user"}, {"content", "berth probe question"}}}); }

ordered_json probe_tools() {
    return ordered_json::parse(R"([{"type": "function", "function": {"name": "berth_probe_tool",
        "description": "berth probe tool", "parameters": {"type": "object", "properties": {"berth_probe_arg":
        {"type": "string", "description": "berth probe argument"}}, "required": ["berth_probe_arg"]}}}])");
}

// Ollama's server/images.go text rules.
bool jinja_mentions_tools(std::string_view s) {
    return s.find("tools") != std::string_view::npos || s.find("tool_call") != std::string_view::npos;
}
bool jinja_mentions_thinking(std::string_view s) {
    if (s.find("<think>") != std::string_view::npos && s.find("</think>") != std::string_view::npos) return true;
    return (s.find("content.split('</think>')") != std::string_view::npos ||
            s.find("content.split(\"</think>\")") != std::string_view::npos) &&
           s.find("reasoning_content") == std::string_view::npos && s.find("<SPECIAL_12>") == std::string_view::npos;
}

// Ollama-shaped messages as chat templates expect them (the shape llama.cpp hands its templates, and what
// Ollama's native path sends it): a tool result's tool_name also as `name`, `thinking` also as
// `reasoning_content`, tool calls with `"type": "function"` first. Keys already there are kept as they are.
ordered_json jinja_messages(const ordered_json& messages) {
    ordered_json out = ordered_json::array();
    for (const auto& m : messages) {
        if (!m.is_object()) {
            out.push_back(m);
            continue;
        }
        ordered_json c = m;
        auto tool_name = m.find("tool_name");
        if (tool_name != m.end() && tool_name->is_string() && !m.contains("name")) c["name"] = *tool_name;
        auto thinking = m.find("thinking");
        if (thinking != m.end() && thinking->is_string() && !m.contains("reasoning_content"))
            c["reasoning_content"] = *thinking;
        auto calls = m.find("tool_calls");
        if (calls != m.end() && calls->is_array()) {
            ordered_json typed = ordered_json::array();
            for (const auto& call : *calls) {
                if (!call.is_object() || call.contains("type")) {
                    typed.push_back(call);
                    continue;
                }
                ordered_json t = {{"type", "function"}};
                for (auto it = call.begin(); it != call.end(); ++it) t[it.key()] = it.value();
                typed.push_back(std::move(t));
            }
            c["tool_calls"] = std::move(typed);
        }
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace

const char* template_syntax_name(TemplateSyntax s) { return s == TemplateSyntax::go ? "go" : "jinja"; }

Result<ThinkSetting> parse_think(const ordered_json& value) {
    ThinkSetting t;
    if (value.is_null()) return t;
    if (value.is_boolean()) {
        t.set = true;
        t.enabled = value.get<bool>();
        return t;
    }
    if (value.is_string()) {
        std::string s = value.get<std::string>();
        if (s != "high" && s != "medium" && s != "low" && s != "max")
            return invalid_argument(
                "invalid think value: \"%s\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)",
                s.c_str());
        t.set = t.enabled = true;
        t.level = s;
        return t;
    }
    return invalid_argument(
        "think must be a boolean or string (\"high\", \"medium\", \"low\", \"max\", true, or false)");
}

Result<PromptTemplate> PromptTemplate::parse(std::string_view source, std::optional<TemplateSyntax> syntax) {
    return parse(source, syntax, TemplateOptions{});
}

Result<PromptTemplate> PromptTemplate::parse(std::string_view source, std::optional<TemplateSyntax> syntax,
                                             const TemplateOptions& options) {
    PromptTemplate t;
    t.options_ = std::make_shared<const TemplateOptions>(options);
    Result<ChatTemplate> jinja = invalid_argument("not tried");
    Result<std::shared_ptr<const GoPrompt>> go = invalid_argument("not tried");
    if (!syntax || *syntax == TemplateSyntax::jinja) jinja = ChatTemplate::parse(source, options);
    if (!syntax || *syntax == TemplateSyntax::go) go = parse_go_prompt(source, options);
    if (syntax == TemplateSyntax::jinja && !jinja.is_ok()) return jinja.status();
    if (syntax == TemplateSyntax::go && !go.is_ok())
        return invalid_argument("template is not a valid Go template (%s)", go.status().message().c_str());
    bool use_go;
    if (syntax)
        use_go = *syntax == TemplateSyntax::go;
    else if (jinja.is_ok() != go.is_ok())
        use_go = go.is_ok();
    else if (!jinja.is_ok())
        return invalid_argument("template is neither valid Jinja (%s) nor a valid Go template (%s)",
                                jinja.status().message().c_str(), go.status().message().c_str());
    else
        use_go = source.find("{%") == std::string_view::npos && has_go_only_action(source);
    if (use_go) {
        t.syntax_ = TemplateSyntax::go;
        t.go_ = std::move(go).value();
    } else {
        t.syntax_ = TemplateSyntax::jinja;
        t.jinja_ = std::make_shared<const ChatTemplate>(std::move(jinja).value());
    }
    t.caps_ = t.probe_capabilities(source);
    return t;
}

Result<std::string> PromptTemplate::render(const ChatRenderInput& in) const {
    if (!in.messages || !in.messages->is_array()) return invalid_argument("messages must be an array");
    if (in.tools && !in.tools->is_null() && !in.tools->is_array()) return invalid_argument("tools must be an array");
    if (go_) return render_go_prompt(*go_, in, *options_);
    ordered_json ctx = ordered_json::object();
    ctx["messages"] = jinja_messages(*in.messages);
    if (in.tools && !in.tools->is_null()) ctx["tools"] = *in.tools;
    ctx["add_generation_prompt"] = in.add_generation_prompt;
    ctx["bos_token"] = in.bos_token;
    ctx["eos_token"] = in.eos_token;
    if (in.think.set) {
        ctx["enable_thinking"] = in.think.enabled;
        ctx["thinking"] = in.think.enabled;
        if (!in.think.level.empty()) ctx["reasoning_effort"] = in.think.level;
    }
    if (in.extra && !in.extra->is_null()) {
        if (!in.extra->is_object()) return invalid_argument("chat template variables must be an object");
        for (auto it = in.extra->begin(); it != in.extra->end(); ++it) ctx[it.key()] = it.value();
    }
    if (!in.now_unix_s) return jinja_->render(ctx);
    TemplateOptions pinned = *options_;
    pinned.now_unix_s = in.now_unix_s;
    return jinja_->render(ctx, pinned);
}

TemplateCapabilities template_capabilities(const PromptTemplate& t) { return t.capabilities(); }

TemplateCapabilities PromptTemplate::probe_capabilities(std::string_view source) const {
    const PromptTemplate& t = *this;
    TemplateCapabilities c;
    ordered_json messages = probe_messages(), tools = probe_tools();
    auto render = [&](bool with_tools, ThinkSetting think) -> Result<std::string> {
        ChatRenderInput in;
        in.messages = &messages;
        in.tools = with_tools ? &tools : nullptr;
        in.think = think;
        in.bos_token = "<s>";
        in.eos_token = "</s>";
        in.now_unix_s = 0;
        return t.render(in);
    };
    ThinkSetting unset, on{true, true, ""}, off{true, false, ""}, low{true, true, "low"}, high{true, true, "high"};
    Result<std::string> plain = render(false, unset), with_tools = render(true, unset);
    if (plain.is_ok() && with_tools.is_ok())
        c.tools = with_tools->find("berth_probe_tool") != std::string::npos &&
                  plain->find("berth_probe_tool") == std::string::npos;
    else if (t.go_)
        c.tools = std::binary_search(t.go_->vars.begin(), t.go_->vars.end(), std::string("tools"));
    else
        c.tools = jinja_mentions_tools(source);
    auto differ = [&](const ThinkSetting& a, const ThinkSetting& b) {
        Result<std::string> x = render(false, a), y = render(false, b);
        return x.is_ok() && y.is_ok() && *x != *y;
    };
    c.think_levels = differ(low, high);
    bool rule =
        t.go_ ? !t.go_->think_tags.first.empty() && !t.go_->think_tags.second.empty() : jinja_mentions_thinking(source);
    c.thinking = rule || differ(on, off) || c.think_levels;
    return c;
}

}  // namespace berth
