// Grammars for structured output and forced tool calls (agent.h): `format` / `response_format` and
// `tool_choice` "required" or a named function, in the model family's tool-call syntax, with the reasoning block
// of thinking templates allowed before them.
#include "server/agent.h"

namespace berth {

namespace {

using Node = GrammarBuilder::Node;

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

// Whether a reasoning block may come before the answer: the template marks reasoning with tags (harmony's
// channels are not expressed here), and the prompt left a block open or the request thinks.
bool has_reasoning_prefix(const OutputPlan& plan) {
    if (!plan.parse || plan.format.think_open.empty() || plan.format.think_close.empty()) return false;
    if (plan.format.family == ToolFamily::harmony) return false;
    return plan.parser.starts_in_thinking || plan.parser.thinking;
}

// The reasoning block before the answer: mandatory (and already opened) when the prompt ends inside it, optional
// when the request thinks. -1 when there is none.
Node reasoning_prefix(GrammarBuilder& b, const OutputPlan& plan) {
    if (!has_reasoning_prefix(plan)) return -1;
    const std::string& open = plan.format.think_open[0];
    const std::string& close = plan.format.think_close[0];
    Node body = b.seq({b.text_until(close), b.literal(close), b.whitespace()});
    if (plan.parser.starts_in_thinking) return body;
    return b.optional(b.seq({b.literal(open), body}));
}

// A cache key for what decides a grammar besides the request's schema or tools.
std::string prefix_key(const OutputPlan& plan) {
    if (!has_reasoning_prefix(plan)) return "-";
    return plan.format.think_open[0] + "\x1f" + plan.format.think_close[0] + "\x1f" +
           (plan.parser.starts_in_thinking ? "open"
            : plan.parser.thinking         ? "opt"
                                           : "off") +
           "\x1f" + plan.format.family_name();
}

const ojson& tool_function(const ojson& tool) { return tool.contains("function") ? tool["function"] : tool; }

// The arguments of one call in the family's notation.
Result<Node> call_arguments(GrammarBuilder& b, const ToolCallSyntax& syn, const ojson& fn) {
    static const ojson any_object = {{"type", "object"}};
    const ojson& params = fn.contains("parameters") && fn["parameters"].is_object() ? fn["parameters"] : any_object;
    switch (syn.args) {
        case ToolCallSyntax::Args::json: {
            Result<Node> n = b.json_schema(params);
            if (!n.is_ok())
                return invalid_argument("tools: the parameters of \"%s\": %s", fn["name"].get<std::string>().c_str(),
                                        n.status().message().c_str());
            return *n;
        }
        case ToolCallSyntax::Args::xml_params: {
            // One parameter block per property, in declaration order: required ones always, the rest optional.
            std::vector<Node> parts;
            if (!params.contains("properties") || !params["properties"].is_object()) return b.seq({});
            const ojson& required = params.contains("required") ? params["required"] : ojson::array();
            for (auto& [key, prop] : params["properties"].items()) {
                // String values are raw text: an enum or const of strings becomes its literals, any other string
                // runs to the closing marker (its length and pattern are not enforced in this notation).
                bool is_string = prop.is_object() && prop.value("type", ojson()) == "string";
                Node value;
                if (is_string && (prop.contains("enum") || prop.contains("const"))) {
                    std::vector<Node> options;
                    const ojson values = prop.contains("const") ? ojson::array({prop["const"]}) : prop["enum"];
                    for (auto& v : values) {
                        if (v.is_string()) options.push_back(b.literal(v.get<std::string>()));
                    }
                    value = b.alt(options);
                } else if (is_string) {
                    value = b.text_until(syn.param_suffix);
                } else {
                    Result<Node> v = b.json_schema(prop);
                    if (!v.is_ok())
                        return invalid_argument("tools: parameter \"%s\" of \"%s\": %s", key.c_str(),
                                                fn["name"].get<std::string>().c_str(), v.status().message().c_str());
                    value = *v;
                }
                const std::string& middle =
                    !is_string && !syn.param_middle_json.empty() ? syn.param_middle_json : syn.param_middle;
                Node block = b.seq({b.literal(syn.param_prefix + key + middle), value, b.literal(syn.param_suffix)});
                bool req = false;
                for (auto& r : required) req = req || r == key;
                parts.push_back(req ? block : b.optional(block));
            }
            return b.seq(parts);
        }
        case ToolCallSyntax::Args::gemma: break;
    }
    return invalid_argument("tool_choice: forcing a tool call is not supported for this model's tool-call format (%s)",
                            fn.value("name", "").c_str());
}

// One call of any of `tools` (index `i` where the syntax numbers calls).
Result<Node> one_call(GrammarBuilder& b, const ToolCallSyntax& syn, const ojson& tools, int i) {
    std::vector<Node> options;
    const std::string index = std::to_string(i);
    for (auto& t : tools) {
        const ojson& fn = tool_function(t);
        std::string name = fn["name"].get<std::string>();
        if (syn.json_name) {
            std::string quoted = ojson(name).dump();
            name = quoted.substr(1, quoted.size() - 2);
        }
        ASSIGN_OR_RETURN(Node args, call_arguments(b, syn, fn));
        options.push_back(b.seq(
            {b.literal(replace_all(syn.call_prefix, "{i}", index) + name + replace_all(syn.name_suffix, "{i}", index)),
             args, b.literal(replace_all(syn.call_suffix, "{i}", index))}));
    }
    return b.alt(options);
}

}  // namespace

Status check_format(GrammarCache& cache, const FormatSetting& format) {
    if (format.kind != FormatSetting::json_schema) return Status::ok();
    Result<GrammarPtr> g = cache.get_or_compile(format.schema);
    if (!g.is_ok()) return g.status();
    return Status::ok();
}

Status plan_grammar(GrammarCache& cache, const ChatRequest& req, OutputPlan& plan) {
    const bool forced = (req.tool_choice.kind == ToolChoice::required || req.tool_choice.kind == ToolChoice::named) &&
                        !req.tools.empty();
    if (req.format.kind != FormatSetting::none && forced)
        return invalid_argument(
            "format (or response_format) and a forced tool call (tool_choice \"%s\") cannot be "
            "combined: the answer is either a value of the schema or a tool call",
            req.tool_choice.kind == ToolChoice::required ? "required" : "function");
    if (req.format.kind == FormatSetting::none && !forced) return Status::ok();
    const std::string prefix = prefix_key(plan);
    if (req.format.kind != FormatSetting::none) {
        plan.trim_leading_whitespace = true;
        const bool any = req.format.kind == FormatSetting::json_object;
        if (prefix == "-") {
            if (any) {
                plan.grammar = json_object_grammar();
                return Status::ok();
            }
            ASSIGN_OR_RETURN(plan.grammar, cache.get_or_compile(req.format.schema));
            return Status::ok();
        }
        std::string key = "format\x1f" + prefix + "\x1f" + (any ? std::string("json") : req.format.schema.dump());
        ASSIGN_OR_RETURN(plan.grammar, cache.get_or_build(std::move(key), [&]() -> Result<GrammarPtr> {
            GrammarBuilder b;
            Node value;
            if (any) {
                value = b.any_json_object();
            } else {
                ASSIGN_OR_RETURN(value, b.json_schema(req.format.schema));
            }
            Node pre = reasoning_prefix(b, plan);
            return b.build(pre >= 0 ? b.seq({pre, b.whitespace(), value}) : b.seq({b.whitespace(), value}));
        }));
        return Status::ok();
    }
    // A forced call: the named function, or any of the tools; several when the request and the family allow it.
    ojson tools = ojson::array();
    for (auto& t : req.tools) {
        if (req.tool_choice.kind != ToolChoice::named || tool_function(t)["name"] == req.tool_choice.name)
            tools.push_back(t);
    }
    const ToolCallSyntax syn = tool_call_syntax(plan.format);
    const bool numbered = syn.call_prefix.find("{i}") != std::string::npos ||
                          syn.name_suffix.find("{i}") != std::string::npos ||
                          syn.call_suffix.find("{i}") != std::string::npos;
    const int max_calls = req.parallel_tool_calls && syn.parallel ? (numbered ? 4 : 8) : 1;
    std::string key = "tools\x1f" + prefix + "\x1f" + plan.format.family_name() + "\x1f" + plan.format.variant +
                      "\x1f" + std::to_string(max_calls) + "\x1f" + tools.dump();
    ASSIGN_OR_RETURN(plan.grammar, cache.get_or_build(std::move(key), [&]() -> Result<GrammarPtr> {
        GrammarBuilder b;
        Node calls;
        if (numbered) {
            // Calls carry their index: the i-th call is its own node; calls after the first are optional.
            ASSIGN_OR_RETURN(Node first, one_call(b, syn, tools, 0));
            std::vector<Node> rest;
            for (int i = max_calls - 1; i >= 1; --i) {
                ASSIGN_OR_RETURN(Node c, one_call(b, syn, tools, i));
                Node tail = rest.empty() ? b.seq({b.literal(syn.between_calls), c})
                                         : b.seq({b.literal(syn.between_calls), c, rest.back()});
                rest.push_back(b.optional(tail));
            }
            calls = rest.empty() ? first : b.seq({first, rest.back()});
        } else {
            ASSIGN_OR_RETURN(Node c, one_call(b, syn, tools, 0));
            calls = b.repeat(c, 1, max_calls, syn.between_calls);
        }
        Node body = b.seq({b.literal(syn.before_calls), calls, b.literal(syn.after_calls)});
        Node pre = reasoning_prefix(b, plan);
        return b.build(pre >= 0 ? b.seq({pre, body}) : body);
    }));
    return Status::ok();
}

}  // namespace berth
