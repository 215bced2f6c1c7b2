// How each family writes one tool call (output_parser.h ToolCallSyntax): the literal pieces around the name
// and the arguments, as the family's chat template renders an assistant tool call.
#include "template/output_internal.h"

namespace berth {
namespace {

using nlohmann::ordered_json;

std::string dump(const ordered_json& v) { return v.dump(-1, ' ', false, ordered_json::error_handler_t::replace); }

void replace_index(std::string& s, int index) {
    for (size_t p; (p = s.find("{i}")) != std::string::npos;) s.replace(p, 3, std::to_string(index));
}

void write_gemma(const ordered_json& v, const std::string& delim, std::string& out) {
    if (v.is_string()) {
        out += delim + v.get<std::string>() + delim;
    } else if (v.is_object()) {
        out += '{';
        bool first = true;
        for (const auto& [k, item] : v.items()) {
            if (!first) out += ',';
            first = false;
            out += k + ':';
            write_gemma(item, delim, out);
        }
        out += '}';
    } else if (v.is_array()) {
        out += '[';
        for (size_t i = 0; i < v.size(); ++i) {
            if (i) out += ',';
            write_gemma(v[i], delim, out);
        }
        out += ']';
    } else {
        out += dump(v);
    }
}

ToolCallSyntax json_call(std::string prefix, std::string args_key, std::string suffix) {
    ToolCallSyntax s;
    s.call_prefix = std::move(prefix) + "{\"name\": \"";
    s.name_suffix = "\", \"" + args_key + "\": ";
    s.call_suffix = "}" + std::move(suffix);
    s.json_name = true;
    return s;
}

}  // namespace

std::string ToolCallSyntax::write_call(std::string_view name, const ordered_json& arguments, int index) const {
    std::string prefix = call_prefix, middle = name_suffix, suffix = call_suffix;
    replace_index(prefix, index);
    replace_index(middle, index);
    replace_index(suffix, index);
    std::string out = prefix;
    if (json_name) {
        std::string quoted = dump(ordered_json(std::string(name)));
        out += quoted.substr(1, quoted.size() - 2);
    } else {
        out += name;
    }
    out += middle;
    switch (args) {
        case Args::json: out += dump(arguments); break;
        case Args::gemma: write_gemma(arguments, string_delim, out); break;
        case Args::xml_params:
            for (const auto& [k, v] : arguments.items()) {
                out += param_prefix + k;
                if (v.is_string()) {
                    out += param_middle + v.get<std::string>();
                } else {
                    out += (param_middle_json.empty() ? param_middle : param_middle_json) + dump(v);
                }
                out += param_suffix;
            }
            break;
    }
    return out + suffix;
}

std::string ToolCallSyntax::write_calls(const std::vector<std::pair<std::string, ordered_json>>& calls) const {
    std::string out = before_calls;
    for (size_t i = 0; i < calls.size(); ++i) {
        if (i) out += between_calls;
        out += write_call(calls[i].first, calls[i].second, static_cast<int>(i));
    }
    return out + after_calls;
}

ToolCallSyntax tool_call_syntax(const OutputFormat& format) {
    ToolCallSyntax s;
    switch (format.family) {
        case ToolFamily::generic: {
            const std::string& tag = format.generic_tag;
            if (!tag.empty() && tag.back() == '[') {  // the tag opens a JSON list of calls
                s = json_call("", "arguments", "");
                s.before_calls = tag;
                s.between_calls = ", ";
                s.after_calls = "]";
            } else {
                s = json_call(tag == "{" ? "" : tag, "arguments", "");
                s.between_calls = "\n";
            }
            break;
        }
        case ToolFamily::llama3:
            s = json_call("", "parameters", "");
            s.parallel = false;  // Llama 3.1's template refuses several calls in one turn
            break;
        case ToolFamily::hermes:
            s = json_call("<tool_call>\n", "arguments", "\n</tool_call>");
            s.between_calls = "\n";
            break;
        case ToolFamily::qwen3_coder:
            s.call_prefix = "<tool_call>\n<function=";
            s.name_suffix = ">\n";
            s.call_suffix = "</function>\n</tool_call>";
            s.between_calls = "\n";
            s.args = ToolCallSyntax::Args::xml_params;
            s.param_prefix = "<parameter=";
            s.param_middle = ">\n";
            s.param_suffix = "\n</parameter>\n";
            break;
        case ToolFamily::glm: {
            bool compact = format.variant == "compact";
            std::string nl = compact ? "" : "\n";
            s.call_prefix = "<tool_call>";
            s.name_suffix = nl;
            s.call_suffix = "</tool_call>";
            s.between_calls = nl;
            s.args = ToolCallSyntax::Args::xml_params;
            s.param_prefix = "<arg_key>";
            s.param_middle = "</arg_key>" + nl + "<arg_value>";
            s.param_suffix = "</arg_value>" + nl;
            break;
        }
        case ToolFamily::mistral:
            if (format.variant == "nemo") {
                s = json_call("", "arguments", "");
                s.before_calls = "[TOOL_CALLS][";
                s.between_calls = ", ";
                s.after_calls = "]";
            } else {
                s.call_prefix = "[TOOL_CALLS]";
                s.name_suffix = "[ARGS]";
            }
            break;
        case ToolFamily::command_r:
            s.before_calls = "Action: ```json\n[\n";
            s.call_prefix = "    {\"tool_name\": \"";
            s.name_suffix = "\", \"parameters\": ";
            s.call_suffix = "}";
            s.json_name = true;
            s.between_calls = ",\n";
            s.after_calls = "\n]\n```";
            break;
        case ToolFamily::command_r7b:
            s.before_calls = "<|START_ACTION|>[\n";
            s.call_prefix = "    {\"tool_call_id\": \"{i}\", \"tool_name\": \"";
            s.name_suffix = "\", \"parameters\": ";
            s.call_suffix = "}";
            s.json_name = true;
            s.between_calls = ",\n";
            s.after_calls = "\n]<|END_ACTION|>";
            break;
        case ToolFamily::deepseek_r1:
            s.before_calls = "<｜tool▁calls▁begin｜>";
            s.call_prefix = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>";
            s.name_suffix = "\n```json\n";
            s.call_suffix = "\n```<｜tool▁call▁end｜>";
            s.between_calls = "\n";
            s.after_calls = "<｜tool▁calls▁end｜>";
            break;
        case ToolFamily::deepseek_v3:
            s.before_calls = "<｜tool▁calls▁begin｜>";
            s.call_prefix = "<｜tool▁call▁begin｜>";
            s.name_suffix = "<｜tool▁sep｜>";
            s.call_suffix = "<｜tool▁call▁end｜>";
            s.after_calls = "<｜tool▁calls▁end｜>";
            break;
        case ToolFamily::deepseek_dsml:
            s.before_calls = "<｜DSML｜function_calls>\n";
            s.call_prefix = "<｜DSML｜invoke name=\"";
            s.name_suffix = "\">\n";
            s.call_suffix = "</｜DSML｜invoke>\n";
            s.after_calls = "</｜DSML｜function_calls>";
            s.args = ToolCallSyntax::Args::xml_params;
            s.param_prefix = "<｜DSML｜parameter name=\"";
            s.param_middle = "\" string=\"true\">";
            s.param_middle_json = "\" string=\"false\">";
            s.param_suffix = "</｜DSML｜parameter>\n";
            break;
        case ToolFamily::functionary_v3_1:
            s.call_prefix = "<function=";
            s.name_suffix = ">";
            s.call_suffix = "</function>";
            s.parallel = false;  // the template asks for one call at a time
            break;
        case ToolFamily::functionary_v3_2:
            // The generation prompt ends with ">>>", so the first recipient follows directly.
            s.name_suffix = "\n";
            s.between_calls = ">>>";
            break;
        case ToolFamily::firefunction_v2:
            s = json_call("", "arguments", "");
            s.before_calls = " functools[";
            s.between_calls = ", ";
            s.after_calls = "]";
            break;
        case ToolFamily::harmony:
            s.call_prefix = "<|channel|>commentary to=functions.";
            s.name_suffix = " <|constrain|>json<|message|>";
            s.call_suffix = "<|call|>";
            s.parallel = false;  // <|call|> ends the turn
            break;
        case ToolFamily::gemma4:
            s.call_prefix = "<|tool_call>call:";
            s.call_suffix = "<tool_call|>";
            s.args = ToolCallSyntax::Args::gemma;
            s.string_delim = "<|\"|>";
            break;
        case ToolFamily::function_gemma:
            s.call_prefix = "<start_function_call>call:";
            s.call_suffix = "<end_function_call>";
            s.args = ToolCallSyntax::Args::gemma;
            s.string_delim = "<escape>";
            break;
        case ToolFamily::kimi_k2:
            s.before_calls = "<|tool_calls_section_begin|>";
            s.call_prefix = "<|tool_call_begin|>functions.";
            s.name_suffix = ":{i}<|tool_call_argument_begin|>";
            s.call_suffix = "<|tool_call_end|>";
            s.after_calls = "<|tool_calls_section_end|>";
            break;
        case ToolFamily::granite:
            s = json_call("", "arguments", "");
            s.before_calls = "<|tool_call|>[";
            s.between_calls = ", ";
            s.after_calls = "]";
            break;
    }
    s.family = format.family;
    return s;
}

}  // namespace berth
