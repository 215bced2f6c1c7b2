// Output plans (tools, thinking) and tool-call shapes for both APIs (agent.h).
#include "server/agent.h"

#include <random>

namespace berth {

namespace {

// berth's `tool_choice` model parameter (a Modelfile PARAMETER or /api/create's parameters), for clients that
// cannot send tool_choice (LangChain's ChatOllama, hence n8n's AI Agent).
Status tool_choice_parameter(const nlohmann::json& params, const ojson& tools, ToolChoice& choice) {
    auto it = params.find("tool_choice");
    if (it == params.end() || it->is_null()) return Status::ok();
    ojson body = {{"tool_choice", ojson(*it)}};
    bool parallel = true;
    Status s = decode_tool_choice(body, tools, choice, parallel);
    if (!s.is_ok()) return invalid_argument("the model's tool_choice parameter: %s", s.message().c_str());
    return Status::ok();
}

}  // namespace

Status plan_output(const std::string& model, const ModelTemplate* t, const nlohmann::json& params, ChatRequest& req,
                   OutputPlan& plan) {
    plan = OutputPlan{};
    const TemplateCapabilities caps = t ? t->tmpl.capabilities() : TemplateCapabilities{};
    if (req.tool_choice.kind == ToolChoice::automatic && !req.tools.empty())
        RETURN_IF_ERROR(tool_choice_parameter(params, req.tools, req.tool_choice));
    const bool tools = !req.tools.empty() && req.tool_choice.kind != ToolChoice::none;
    if (!req.tools.empty() && !caps.tools) {
        if (tools) {
            return invalid_argument(
                "\"%s\" does not support tools: %s", model.c_str(),
                t ? "its chat template does not render tool definitions" : "it has no chat template");
        }
        req.tools = ojson::array();  // tool_choice "none" on a model that cannot render them: leave them out
    }
    if (req.think.set && req.think.enabled && !caps.thinking) {
        return invalid_argument("\"%s\" does not support thinking: %s", model.c_str(),
                                t ? "its chat template has no reasoning block" : "it has no chat template");
    }
    // Unset on a thinking model means on, as in Ollama, whose templates then see .IsThinkSet true.
    if (!req.think.set && caps.thinking) req.think.set = req.think.enabled = true;
    if (!t || (!tools && !caps.thinking && !t->format.template_thinks)) return Status::ok();
    plan.parse = true;
    plan.format = t->format;
    // Off still parses, so reasoning never reaches content.
    plan.parser.thinking = req.think.set ? req.think.enabled : true;
    if (tools) plan.parser.tools = req.tools;
    plan.parser.max_calls = req.parallel_tool_calls ? -1 : 1;
    plan.render_special = true;
    return Status::ok();
}

void plan_after_render(OutputPlan& plan, std::string_view rendered_prompt) {
    if (plan.parse) plan.parser.starts_in_thinking = prompt_opens_thinking(plan.format, rendered_prompt);
}

OutputSplitter::OutputSplitter(const OutputPlan& plan) : trimming_(plan.trim_leading_whitespace) {
    if (plan.parse) parser_.emplace(plan.format, plan.parser);
}

void OutputSplitter::trim(ParsedOutput& out, size_t content_from) {
    if (!trimming_) return;
    size_t keep = out.content.find_first_not_of(" \t\r\n", content_from);
    if (keep == std::string::npos) keep = out.content.size();
    out.content.erase(content_from, keep - content_from);
    if (out.content.size() > content_from) trimming_ = false;
}

void OutputSplitter::assign_ids(ParsedOutput& out, size_t from) {
    for (size_t i = from; i < out.calls.size(); ++i) {
        if (out.calls[i].id.empty()) out.calls[i].id = new_tool_call_id();
        ++n_calls_;
    }
    for (auto& w : out.warnings) LOG_INFO("output parser: %s", w.c_str());
    out.warnings.clear();
}

void OutputSplitter::push(std::string_view text, ParsedOutput& out) {
    const size_t content_from = out.content.size();
    if (!parser_) {
        out.content.append(text);
        trim(out, content_from);
        return;
    }
    size_t from = out.calls.size();
    parser_->push(text, out);
    trim(out, content_from);
    assign_ids(out, from);
}

void OutputSplitter::finish(ParsedOutput& out) {
    if (!parser_) return;
    const size_t content_from = out.content.size();
    size_t from = out.calls.size();
    parser_->finish(out);
    trim(out, content_from);
    assign_ids(out, from);
}

std::string new_tool_call_id() {
    static thread_local std::mt19937_64 rng(std::random_device{}());
    static const char* chars = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s = "call_";
    for (int i = 0; i < 8; ++i) s.push_back(chars[rng() % 36]);
    return s;
}

ojson call_arguments(const ParsedToolCall& call) {
    ojson args = ojson::parse(call.arguments, nullptr, false);
    if (args.is_discarded() || !args.is_object()) return ojson::object();  // the parser hands out objects only
    return args;
}

ojson native_tool_call(const ParsedToolCall& call, int index) {
    return {{"id", call.id},
            {"function", {{"index", index}, {"name", call.name}, {"arguments", call_arguments(call)}}}};
}

ojson openai_tool_call(const ParsedToolCall& call, int index) {
    // arguments as compact JSON text in the model's key order
    return {{"id", call.id},
            {"index", index},
            {"type", "function"},
            {"function", {{"name", call.name}, {"arguments", call_arguments(call).dump()}}}};
}

}  // namespace berth
