// Choosing the output format from a chat template: marker substrings, in an order where the more specific
// formats come first (agents.md §b), the thinking markers, and for Ollama Go templates without a known family
// the generic parser's tag (the first text inside {{ if .ToolCalls }}, as Ollama's tools/template.go finds it).
#include <algorithm>

#include "template/output_internal.h"

namespace berth {
namespace {

constexpr std::pair<ToolFamily, std::string_view> kFamilyNames[] = {
    {ToolFamily::generic, "generic"},
    {ToolFamily::llama3, "llama3"},
    {ToolFamily::hermes, "hermes"},
    {ToolFamily::qwen3_coder, "qwen3_coder"},
    {ToolFamily::glm, "glm"},
    {ToolFamily::mistral, "mistral"},
    {ToolFamily::command_r, "command_r"},
    {ToolFamily::command_r7b, "command_r7b"},
    {ToolFamily::deepseek_r1, "deepseek_r1"},
    {ToolFamily::deepseek_v3, "deepseek_v3"},
    {ToolFamily::deepseek_dsml, "deepseek_dsml"},
    {ToolFamily::functionary_v3_1, "functionary_v3_1"},
    {ToolFamily::functionary_v3_2, "functionary_v3_2"},
    {ToolFamily::firefunction_v2, "firefunction_v2"},
    {ToolFamily::harmony, "harmony"},
    {ToolFamily::gemma4, "gemma4"},
    {ToolFamily::function_gemma, "function_gemma"},
    {ToolFamily::kimi_k2, "kimi_k2"},
    {ToolFamily::granite, "granite"},
};

// The family's own reasoning markers; <think> for the rest, so stray reasoning never reaches content.
void set_think_markers(OutputFormat& f) {
    f.think_open.clear();
    f.think_close.clear();
    switch (f.family) {
        case ToolFamily::harmony: return;  // channels
        case ToolFamily::gemma4:
            f.think_open = {"<|channel>thought", "<|channel>"};
            f.think_close = {"<channel|>"};
            return;
        case ToolFamily::command_r7b:
            f.think_open = {"<|START_THINKING|>"};
            f.think_close = {"<|END_THINKING|>"};
            return;
        case ToolFamily::mistral:
            f.think_open = {"[THINK]"};
            f.think_close = {"[/THINK]"};
            return;
        default:
            f.think_open = {"<think>"};
            f.think_close = {"</think>"};
            return;
    }
}

// ---- the generic tag of an Ollama Go template ----------------------------------------------------------------

struct GoNode {
    enum class Kind { text, action, branch };
    Kind kind = Kind::text;
    std::string keyword;  // branch: if / range / with / define / block
    std::string text;     // text, or the branch's pipeline
    std::vector<GoNode> list, else_list;
};

class GoTreeBuilder {
  public:
    explicit GoTreeBuilder(std::string_view src) {
        size_t i = 0;
        while (i < src.size()) {
            size_t open = src.find("{{", i);
            if (open == std::string_view::npos) open = src.size();
            if (open > i) tokens_.push_back({false, std::string(src.substr(i, open - i))});
            if (open == src.size()) break;
            size_t close = src.find("}}", open + 2);
            if (close == std::string_view::npos) break;
            std::string_view a = src.substr(open + 2, close - open - 2);
            if (starts_with_dash(a)) a.remove_prefix(1);
            if (!a.empty() && a.back() == '-') a.remove_suffix(1);
            a = outparse::trim(a);
            if (!(a.size() >= 2 && a.substr(0, 2) == "/*")) tokens_.push_back({true, std::string(a)});
            i = close + 2;
        }
    }

    std::vector<GoNode> build() {
        std::string term;
        return list(term);
    }

  private:
    static bool starts_with_dash(std::string_view a) { return !a.empty() && a[0] == '-'; }
    static std::string first_word(std::string_view a) {
        size_t e = 0;
        while (e < a.size() && !outparse::is_space(a[e])) ++e;
        return std::string(a.substr(0, e));
    }

    // Nodes up to {{end}} or {{else ...}}; `term` receives the terminating action ("" at the end of input).
    std::vector<GoNode> list(std::string& term) {
        std::vector<GoNode> out;
        term.clear();
        while (next_ < tokens_.size()) {
            auto [is_action, text] = tokens_[next_++];
            if (!is_action) {
                out.push_back({GoNode::Kind::text, "", text, {}, {}});
                continue;
            }
            std::string word = first_word(text);
            if (word == "end" || word == "else") {
                term = text;
                return out;
            }
            if (word == "if" || word == "range" || word == "with" || word == "define" || word == "block") {
                out.push_back(branch(word, outparse::trim(std::string_view(text).substr(word.size()))));
                continue;
            }
            out.push_back({GoNode::Kind::action, "", text, {}, {}});
        }
        return out;
    }

    GoNode branch(const std::string& keyword, std::string_view pipe) {
        GoNode n{GoNode::Kind::branch, keyword, std::string(pipe), {}, {}};
        std::string term;
        n.list = list(term);
        if (first_word(term) == "else") {
            std::string_view rest = outparse::trim(std::string_view(term).substr(4));
            std::string w = first_word(rest);
            if (w == "if" || w == "with") {
                // {{else if X}} is {{else}}{{if X}} sharing the outer {{end}}.
                n.else_list.push_back(branch(w, outparse::trim(rest.substr(w.size()))));
            } else {
                n.else_list = list(term);
            }
        }
        return n;
    }

    std::vector<std::pair<bool, std::string>> tokens_;
    size_t next_ = 0;
};

// A pipeline that names the .ToolCalls field (not $.ToolCalls or $m.ToolCalls: Ollama looks at field nodes).
bool names_tool_calls(std::string_view pipe) {
    for (size_t p = pipe.find(".ToolCalls"); p != std::string_view::npos; p = pipe.find(".ToolCalls", p + 1)) {
        char before = p == 0 ? ' ' : pipe[p - 1];
        size_t after = p + 10;
        bool word_end = after >= pipe.size() || !(std::isalnum(static_cast<unsigned char>(pipe[after])));
        if ((outparse::is_space(before) || before == '(') && word_end) return true;
    }
    return false;
}

const GoNode* find_tool_call_node(const std::vector<GoNode>& nodes) {
    for (const auto& n : nodes) {
        if (n.kind != GoNode::Kind::branch) continue;
        if (n.keyword == "if" && names_tool_calls(n.text)) return &n;
        if (auto* r = find_tool_call_node(n.list)) return r;
        if (auto* r = find_tool_call_node(n.else_list)) return r;
    }
    return nullptr;
}

// The first non-blank text, not looking past an action or into a second branch.
const GoNode* find_text_node(const std::vector<GoNode>& nodes) {
    for (const auto& n : nodes) {
        if (n.kind == GoNode::Kind::text) {
            if (!outparse::trim(n.text).empty()) return &n;
            continue;
        }
        if (n.kind == GoNode::Kind::action) return nullptr;
        if (auto* t = find_text_node(n.list)) return t;
        if (auto* t = find_text_node(n.else_list)) return t;
        if (n.keyword != "define" && n.keyword != "block") return nullptr;
    }
    return nullptr;
}

std::string go_tool_tag(std::string_view src) {
    GoTreeBuilder builder(src);
    auto tree = builder.build();
    const GoNode* tc = find_tool_call_node(tree);
    if (!tc) return "{";
    const GoNode* text = find_text_node(tc->list);
    if (!text) return "{";
    std::string tag = text->text;
    for (size_t p; (p = tag.find("\r\n")) != std::string::npos;) tag.replace(p, 2, "\n");
    tag = tag.substr(0, tag.find('{'));
    tag = std::string(outparse::trim(tag));
    return tag.empty() ? "{" : tag;
}

ToolFamily family_from_markers(std::string_view src) {
    auto has = [&](std::string_view m) { return src.find(m) != std::string_view::npos; };
    if (has("<|channel|>") && has("<|message|>")) return ToolFamily::harmony;
    if (has("<|tool_call>") || (has("<|channel>") && has("<channel|>"))) return ToolFamily::gemma4;
    if (has("<start_function_call>")) return ToolFamily::function_gemma;
    if (has("<|tool_calls_section_begin|>") || has("<|tool_call_begin|>")) return ToolFamily::kimi_k2;
    if (has("DSML") && (has("function_calls") || has("invoke"))) return ToolFamily::deepseek_dsml;
    if (has("<｜tool▁calls▁begin｜>") || has("<｜tool▁call▁begin｜>"))
        return has("```json") ? ToolFamily::deepseek_r1 : ToolFamily::deepseek_v3;
    if (has("<|START_ACTION|>")) return ToolFamily::command_r7b;
    if (has("<|START_OF_TURN_TOKEN|>") && has("Action:")) return ToolFamily::command_r;
    if (has("<arg_key>")) return ToolFamily::glm;
    if (has("<function=") && has("<parameter=")) return ToolFamily::qwen3_coder;
    if (has(">>>all")) return ToolFamily::functionary_v3_2;
    if (has("<function=")) return ToolFamily::functionary_v3_1;
    if (has("functools[")) return ToolFamily::firefunction_v2;
    if (has("<|tool_call|>")) return ToolFamily::granite;
    if (has("<tool_call>")) return ToolFamily::hermes;
    if (has("[TOOL_CALLS]")) return ToolFamily::mistral;
    if (has("<|start_header_id|>") && (has("ipython") || has("<|python_tag|>"))) return ToolFamily::llama3;
    if (has("<｜Assistant｜>") && has("</think>")) return ToolFamily::deepseek_r1;
    return ToolFamily::generic;
}

// Where the template says nothing, the model's name: families whose models are known to write their format.
ToolFamily family_from_name(std::string_view name) {
    std::string n(name);
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    auto has = [&](std::string_view m) { return n.find(m) != std::string::npos; };
    if (has("gpt-oss")) return ToolFamily::harmony;
    if (has("qwen3-coder") || has("qwen3.5") || has("nemotron-3")) return ToolFamily::qwen3_coder;
    if (has("qwen") || has("qwq") || has("hermes")) return ToolFamily::hermes;
    if (has("deepseek-r1")) return ToolFamily::deepseek_r1;
    if (has("glm-4")) return ToolFamily::glm;
    if (has("mistral") || has("magistral") || has("devstral") || has("ministral")) return ToolFamily::mistral;
    if (has("command-r7b")) return ToolFamily::command_r7b;
    if (has("granite")) return ToolFamily::granite;
    if (has("kimi-k2")) return ToolFamily::kimi_k2;
    if (has("gemma4") || has("gemma-4")) return ToolFamily::gemma4;
    return ToolFamily::generic;
}

}  // namespace

std::string OutputFormat::family_name() const {
    for (const auto& [f, name] : kFamilyNames) {
        if (f == family) return std::string(name);
    }
    return "generic";
}

bool output_format_for_family(std::string_view family_name, OutputFormat* out) {
    for (const auto& [f, name] : kFamilyNames) {
        if (name == family_name) {
            *out = OutputFormat{};
            out->family = f;
            set_think_markers(*out);
            out->template_thinks = f == ToolFamily::harmony;
            return true;
        }
    }
    return false;
}

OutputFormat detect_output_format(std::string_view src, std::string_view model_name) {
    OutputFormat f;
    f.family = family_from_markers(src);
    if (f.family == ToolFamily::generic && !model_name.empty()) f.family = family_from_name(model_name);
    set_think_markers(f);
    auto has = [&](std::string_view m) { return src.find(m) != std::string_view::npos; };
    switch (f.family) {
        case ToolFamily::harmony: f.template_thinks = true; break;
        case ToolFamily::gemma4: f.template_thinks = has("<|channel>"); break;
        case ToolFamily::command_r7b: f.template_thinks = has("<|START_THINKING|>"); break;
        case ToolFamily::mistral: f.template_thinks = has("[THINK]"); break;
        default: f.template_thinks = has("<think>") && has("</think>"); break;
    }
    if (f.family == ToolFamily::generic && has(".ToolCalls")) f.generic_tag = go_tool_tag(src);
    if (f.family == ToolFamily::mistral && !src.empty() && !has("[ARGS]")) f.variant = "nemo";
    if (f.family == ToolFamily::glm && !has("\n<arg_key>")) f.variant = "compact";
    return f;
}

bool prompt_opens_thinking(const OutputFormat& format, std::string_view prompt) {
    std::string_view p = prompt;
    while (!p.empty() && outparse::is_space(p.back())) p.remove_suffix(1);
    for (const auto& m : format.think_open) {
        if (p.size() >= m.size() && p.substr(p.size() - m.size()) == m) return true;
    }
    return false;
}

}  // namespace berth
