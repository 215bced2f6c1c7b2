// Ollama's prompt pipeline for Go templates (template/template.go at fb30760): Parse (append {{ .Response }}
// when the template uses neither .Messages nor .Response), collate, the typed values of the request as its
// templates see them (templateMessage, templateTool, api.ToolProperty, ...), Execute's three paths
// (fill-in-the-middle, .Messages, and the legacy per-turn .System/.Prompt/.Response loop with the last turn
// cut after .Response).
#include "template/prompt_go.h"

#include <algorithm>
#include <ctime>

#include <nlohmann/json.hpp>

#include "template/gotmpl.h"

namespace berth {
namespace {

using gotmpl::Custom;
using gotmpl::Field;
using gotmpl::Kind;
using gotmpl::Value;
using nlohmann::ordered_json;

// A request value that Ollama's typed decoder would refuse; `path` names it ("messages[1].content").
struct BadInput {
    std::string path, what;
};

[[noreturn]] void bad(const std::string& path, const std::string& what) { throw BadInput{path, what}; }

const ordered_json* member(const ordered_json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string str_member(const ordered_json& obj, const char* key, const std::string& path) {
    const ordered_json* v = member(obj, key);
    if (!v) return "";
    if (!v->is_string()) bad(path + "." + key, "expected a string");
    return v->get<std::string>();
}

Value str_slice(const ordered_json* v, const std::string& path) {
    if (!v) return gotmpl::make_slice("[]string", {}, Custom::none, true);
    if (!v->is_array()) bad(path, "expected an array of strings");
    std::vector<Value> items;
    for (size_t k = 0; k < v->size(); ++k) {
        if (!(*v)[k].is_string()) bad(path + "[" + std::to_string(k) + "]", "expected a string");
        items.push_back(Value::string((*v)[k].get<std::string>()));
    }
    return gotmpl::make_slice("[]string", std::move(items));
}

// A JSON value decoded into Go's `any`: objects are map[string]interface {}, arrays []interface {}, every
// number float64, null no value.
Value any_value(const ordered_json& j, int depth) {
    if (depth > 256) bad("", "JSON nested too deeply");
    switch (j.type()) {
        case ordered_json::value_t::null: return Value();
        case ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
        case ordered_json::value_t::number_integer:
        case ordered_json::value_t::number_unsigned:
        case ordered_json::value_t::number_float: return Value::floating(j.get<double>());
        case ordered_json::value_t::string: return Value::string(j.get<std::string>());
        case ordered_json::value_t::array: {
            std::vector<Value> items;
            for (const auto& x : j) items.push_back(any_value(x, depth + 1));
            return gotmpl::make_slice("[]interface {}", std::move(items));
        }
        case ordered_json::value_t::object: {
            std::vector<std::pair<std::string, Value>> entries;
            for (auto it = j.begin(); it != j.end(); ++it)
                entries.emplace_back(it.key(), any_value(it.value(), depth + 1));
            return gotmpl::make_map("map[string]interface {}", std::move(entries));
        }
        default: return Value();
    }
}

Value any_member(const ordered_json& obj, const char* key) {
    const ordered_json* v = member(obj, key);
    return v ? any_value(*v, 0) : Value();
}

Value tool_property(const ordered_json& p, const std::string& path, int depth);

// *api.ToolPropertiesMap: nil when absent; marshals in insertion order.
Value properties_map(const ordered_json* v, const std::string& path, int depth, bool sorted) {
    if (!v) {
        if (sorted)  // templateProperties(nil): a nil map
            return gotmpl::make_map("template.templateProperties", {}, Custom::json_string_nil_braces, true,
                                    tool_property(ordered_json::object(), path, depth));
        return Value::nil_pointer("*api.ToolPropertiesMap");
    }
    if (!v->is_object()) bad(path, "expected an object");
    std::vector<std::pair<std::string, Value>> entries;
    for (auto it = v->begin(); it != v->end(); ++it)
        entries.emplace_back(it.key(), tool_property(it.value(), path + "." + it.key(), depth + 1));
    if (sorted)
        return gotmpl::make_map("template.templateProperties", std::move(entries), Custom::json_string_nil_braces,
                                false, tool_property(ordered_json::object(), path, depth));
    return gotmpl::make_map("*api.ToolPropertiesMap", std::move(entries), Custom::ordered_map);
}

// api.ToolProperty: the keywords Ollama keeps (anyOf, type, items, description, enum, properties, required).
Value tool_property(const ordered_json& p, const std::string& path, int depth) {
    if (depth > 64) bad(path, "tool schema nested too deeply");
    if (!p.is_object()) bad(path, "expected an object");
    std::vector<Value> any_of;
    if (const ordered_json* a = member(p, "anyOf")) {
        if (!a->is_array()) bad(path + ".anyOf", "expected an array");
        for (size_t k = 0; k < a->size(); ++k)
            any_of.push_back(tool_property((*a)[k], path + ".anyOf[" + std::to_string(k) + "]", depth + 1));
    }
    std::vector<Value> types;
    if (const ordered_json* t = member(p, "type")) {
        if (t->is_string()) {
            types.push_back(Value::string(t->get<std::string>()));
        } else if (t->is_array()) {
            for (size_t k = 0; k < t->size(); ++k) {
                if (!(*t)[k].is_string()) bad(path + ".type", "expected a string or an array of strings");
                types.push_back(Value::string((*t)[k].get<std::string>()));
            }
        } else {
            bad(path + ".type", "expected a string or an array of strings");
        }
    }
    Value enum_v = gotmpl::make_slice("[]interface {}", {}, Custom::none, true);
    if (const ordered_json* e = member(p, "enum")) {
        if (!e->is_array()) bad(path + ".enum", "expected an array");
        enum_v = any_value(*e, 0);
    }
    bool any_of_nil = any_of.empty() && !member(p, "anyOf");
    std::vector<Field> f;
    f.push_back({"AnyOf", "anyOf", true,
                 gotmpl::make_slice("[]api.ToolProperty", std::move(any_of), Custom::none, any_of_nil)});
    f.push_back({"Type", "type", true,
                 gotmpl::make_slice("api.PropertyType", std::move(types), Custom::property_type, !member(p, "type"))});
    f.push_back({"Items", "items", true, any_member(p, "items")});
    f.push_back({"Description", "description", true, Value::string(str_member(p, "description", path))});
    f.push_back({"Enum", "enum", true, std::move(enum_v)});
    f.push_back({"Properties", "properties", true,
                 properties_map(member(p, "properties"), path + ".properties", depth, false)});
    f.push_back({"Required", "required", true, str_slice(member(p, "required"), path + ".required")});
    return gotmpl::make_record("api.ToolProperty", std::move(f));
}

// convertToolsForTemplate: templateTools of templateTool / templateToolFunction / templateToolFunctionParameters.
Value go_tools(const ordered_json* tools) {
    if (!tools) return gotmpl::make_slice("template.templateTools", {}, Custom::json_string, true);
    if (!tools->is_array()) bad("tools", "expected an array");
    std::vector<Value> items;
    for (size_t k = 0; k < tools->size(); ++k) {
        std::string path = "tools[" + std::to_string(k) + "]";
        const ordered_json& t = (*tools)[k];
        if (!t.is_object()) bad(path, "expected an object");
        const ordered_json* fn = member(t, "function");
        static const ordered_json empty = ordered_json::object();
        if (fn && !fn->is_object()) bad(path + ".function", "expected an object");
        const ordered_json& f = fn ? *fn : empty;
        std::string fpath = path + ".function";
        const ordered_json* params = member(f, "parameters");
        if (params && !params->is_object()) bad(fpath + ".parameters", "expected an object");
        const ordered_json& p = params ? *params : empty;
        std::string ppath = fpath + ".parameters";
        std::vector<Field> pf;
        pf.push_back({"Type", "type", false, Value::string(str_member(p, "type", ppath))});
        pf.push_back({"Defs", "$defs", true, any_member(p, "$defs")});
        pf.push_back({"Items", "items", true, any_member(p, "items")});
        pf.push_back({"Required", "required", true, str_slice(member(p, "required"), ppath + ".required")});
        pf.push_back({"Properties", "properties", false,
                      properties_map(member(p, "properties"), ppath + ".properties", 0, true)});
        std::vector<Field> ff;
        ff.push_back({"Name", "name", false, Value::string(str_member(f, "name", fpath))});
        ff.push_back({"Description", "description", false, Value::string(str_member(f, "description", fpath))});
        ff.push_back({"Parameters", "parameters", false,
                      gotmpl::make_record("template.templateToolFunctionParameters", std::move(pf))});
        std::vector<Field> tf;
        tf.push_back({"Type", "type", false, Value::string(str_member(t, "type", path))});
        tf.push_back({"Items", "items", true, any_member(t, "items")});
        tf.push_back(
            {"Function", "function", false, gotmpl::make_record("template.templateToolFunction", std::move(ff))});
        items.push_back(gotmpl::make_record("template.templateTool", std::move(tf), false, Custom::json_string));
    }
    return gotmpl::make_slice("template.templateTools", std::move(items), Custom::json_string);
}

// One api.Message after decoding (role lower-cased), before collation.
struct Message {
    std::string role, content, thinking, tool_name, tool_call_id;
    Value tool_calls;  // []template.templateToolCall
};

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower((unsigned char)c));
    return s;
}

Value tool_calls(const ordered_json* calls, const std::string& path) {
    std::vector<Value> items;
    if (calls) {
        if (!calls->is_array()) bad(path, "expected an array");
        for (size_t k = 0; k < calls->size(); ++k) {
            std::string cpath = path + "[" + std::to_string(k) + "]";
            const ordered_json& c = (*calls)[k];
            if (!c.is_object()) bad(cpath, "expected an object");
            static const ordered_json empty = ordered_json::object();
            const ordered_json* fn = member(c, "function");
            if (fn && !fn->is_object()) bad(cpath + ".function", "expected an object");
            const ordered_json& f = fn ? *fn : empty;
            std::string fpath = cpath + ".function";
            int64_t index = 0;
            if (const ordered_json* ix = member(f, "index")) {
                if (!ix->is_number_integer()) bad(fpath + ".index", "expected an integer");
                index = ix->get<int64_t>();
            }
            // Arguments: an object (OpenAI's JSON string is parsed too); Go maps print and marshal sorted.
            Value args = gotmpl::make_map("template.templateArgs", {}, Custom::json_string_nil_braces, true);
            if (const ordered_json* a = member(f, "arguments")) {
                ordered_json parsed;
                const ordered_json* obj = a;
                if (a->is_string()) {
                    parsed = ordered_json::parse(a->get<std::string>(), nullptr, false);
                    obj = &parsed;
                }
                if (!obj->is_object()) bad(fpath + ".arguments", "expected an object");
                std::vector<std::pair<std::string, Value>> entries;
                for (auto it = obj->begin(); it != obj->end(); ++it)
                    entries.emplace_back(it.key(), any_value(it.value(), 0));
                args = gotmpl::make_map("template.templateArgs", std::move(entries), Custom::json_string_nil_braces);
            }
            std::vector<Field> ff = {{"Index", "", false, Value::integer(index)},
                                     {"Name", "", false, Value::string(str_member(f, "name", fpath))},
                                     {"Arguments", "", false, std::move(args)}};
            std::vector<Field> cf = {
                {"ID", "", false, Value::string(str_member(c, "id", cpath))},
                {"Function", "", false, gotmpl::make_record("template.templateToolCallFunction", std::move(ff))}};
            items.push_back(gotmpl::make_record("template.templateToolCall", std::move(cf)));
        }
    }
    bool nil = items.empty();  // a nil slice unless there are calls (Ollama appends to a nil slice)
    return gotmpl::make_slice("[]template.templateToolCall", std::move(items), Custom::none, nil);
}

std::vector<Message> decode_messages(const ordered_json* messages) {
    if (!messages || !messages->is_array()) bad("messages", "expected an array");
    std::vector<Message> out;
    for (size_t k = 0; k < messages->size(); ++k) {
        std::string path = "messages[" + std::to_string(k) + "]";
        const ordered_json& m = (*messages)[k];
        if (!m.is_object()) bad(path, "expected an object");
        Message msg;
        msg.role = lower(str_member(m, "role", path));
        msg.content = str_member(m, "content", path);
        msg.thinking = str_member(m, "thinking", path);
        msg.tool_name = str_member(m, "tool_name", path);
        msg.tool_call_id = str_member(m, "tool_call_id", path);
        msg.tool_calls = tool_calls(member(m, "tool_calls"), path + ".tool_calls");
        out.push_back(std::move(msg));
    }
    return out;
}

// collate: system messages joined into one string; consecutive messages of one role (other than tool)
// merged, the later content appended after "\n\n".
std::string collate(std::vector<Message>& msgs) {
    std::string system;
    bool first_system = true;
    std::vector<Message> out;
    for (auto& m : msgs) {
        if (m.role == "system") {
            system += (first_system ? "" : "\n\n") + m.content;
            first_system = false;
        }
        if (!out.empty() && out.back().role == m.role && m.role != "tool")
            out.back().content += "\n\n" + m.content;
        else
            out.push_back(std::move(m));
    }
    msgs = std::move(out);
    return system;
}

Value go_message(const Message& m) {
    std::vector<Field> f = {{"Role", "", false, Value::string(m.role)},
                            {"Content", "", false, Value::string(m.content)},
                            {"Thinking", "", false, Value::string(m.thinking)},
                            {"Images", "", false, gotmpl::make_slice("[]api.ImageData", {}, Custom::none, true)},
                            {"ToolCalls", "", false, m.tool_calls},
                            {"ToolName", "", false, Value::string(m.tool_name)},
                            {"ToolCallID", "", false, Value::string(m.tool_call_id)}};
    return gotmpl::make_record("*template.templateMessage", std::move(f), true);
}

using Entries = std::vector<std::pair<std::string, Value>>;

void add_think(Entries& e, const ThinkSetting& t) {
    e.emplace_back("Think", Value::boolean(t.enabled));
    e.emplace_back("ThinkLevel", Value::string(!t.level.empty() ? t.level : t.enabled ? "medium" : ""));
    e.emplace_back("IsThinkSet", Value::boolean(t.set));
}

Value data_map(Entries e) { return gotmpl::make_map("map[string]interface {}", std::move(e)); }

gotmpl::ExecLimits exec_limits(const TemplateOptions& o, const ChatRenderInput& in) {
    gotmpl::ExecLimits l;
    l.max_steps = o.max_steps;
    l.max_output_bytes = o.max_output_bytes;
    l.max_call_depth = o.max_call_depth;
    l.now_unix_s = in.now_unix_s ? *in.now_unix_s : o.now_unix_s ? *o.now_unix_s : int64_t(std::time(nullptr));
    return l;
}

Status exec_error(const gotmpl::Error& e) {
    return invalid_argument("template error: template: :%d: %s", e.line, e.what());
}

}  // namespace

Result<std::shared_ptr<const GoPrompt>> parse_go_prompt(std::string_view source, const TemplateOptions& options) {
    try {
        // Ollama normalizes nothing here (its library files are read with \r\n → \n; a TEMPLATE is taken as is).
        std::unique_ptr<gotmpl::Template> t = gotmpl::parse(source);
        auto p = std::make_shared<GoPrompt>();
        p->vars = gotmpl::vars(*t);
        auto has = [&](const char* v) { return std::binary_search(p->vars.begin(), p->vars.end(), std::string(v)); };
        p->uses_messages = has("messages");
        if (!p->uses_messages && !has("response")) {  // Parse appends {{ .Response }}
            auto n = std::make_unique<gotmpl::Node>();
            n->kind = gotmpl::NodeKind::action;
            n->pipe = std::make_unique<gotmpl::Pipe>();
            gotmpl::Command cmd;
            gotmpl::Arg a;
            a.kind = gotmpl::ArgKind::field;
            a.idents = {"Response"};
            cmd.args.push_back(std::move(a));
            n->pipe->cmds.push_back(std::move(cmd));
            t->root.push_back(std::move(n));
        }
        p->think_tags = gotmpl::infer_think_tags(*t);
        auto cut = std::make_shared<gotmpl::Template>();
        cut->root = gotmpl::cut_after_response(t->root);
        p->cut = std::move(cut);
        p->tmpl = std::move(t);
        (void)options;
        return std::shared_ptr<const GoPrompt>(std::move(p));
    } catch (const gotmpl::Error& e) {
        return invalid_argument("template: :%d: %s", e.line, e.what());
    } catch (const std::bad_alloc&) { return resource_exhausted("template: out of memory"); }
}

Result<std::string> render_go_prompt(const GoPrompt& p, const ChatRenderInput& in, const TemplateOptions& options) {
    gotmpl::ExecLimits limits = exec_limits(options, in);
    std::string out;
    try {
        std::vector<Message> msgs = decode_messages(in.messages);
        Value tools = go_tools(in.tools);
        if (!in.prompt.empty() && !in.suffix.empty()) {
            Entries e = {{"Prompt", Value::string(in.prompt)},
                         {"Suffix", Value::string(in.suffix)},
                         {"Response", Value::string("")}};
            add_think(e, in.think);
            gotmpl::execute(*p.tmpl, p.tmpl->root, data_map(std::move(e)), limits, out);
            return out;
        }
        std::string system = collate(msgs);
        if (p.uses_messages) {
            std::vector<Value> items;
            for (const auto& m : msgs) items.push_back(go_message(m));
            Entries e = {{"System", Value::string(system)},
                         {"Messages", gotmpl::make_slice("[]*template.templateMessage", std::move(items))},
                         {"Tools", std::move(tools)},
                         {"Response", Value::string("")}};
            add_think(e, in.think);
            gotmpl::execute(*p.tmpl, p.tmpl->root, data_map(std::move(e)), limits, out);
            return out;
        }
        // Legacy templates: one execution per system/user/assistant turn, the last one cut after .Response.
        std::string sys, prompt, response;
        auto turn = [&](const gotmpl::Template& t, const gotmpl::ExecLimits& l) {
            Entries e = {{"System", Value::string(sys)},
                         {"Prompt", Value::string(prompt)},
                         {"Response", Value::string(response)}};
            add_think(e, in.think);
            gotmpl::execute(t, t.root, data_map(std::move(e)), l, out);
            sys.clear(), prompt.clear(), response.clear();
        };
        for (const auto& m : msgs) {
            if (m.role == "system") {
                if (!prompt.empty() || !response.empty()) turn(*p.tmpl, limits);
                sys = m.content;
            } else if (m.role == "user") {
                if (!response.empty()) turn(*p.tmpl, limits);
                prompt = m.content;
            } else if (m.role == "assistant") {
                response = m.content;
            }
        }
        // Ollama executes the cut tree as a new template: without its functions and {{define}}s.
        gotmpl::ExecLimits last = limits;
        last.ollama_funcs = false;
        last.defines = false;
        turn(*p.cut, last);
        return out;
    } catch (const BadInput& b) {
        return invalid_argument("%s%s%s", b.path.c_str(), b.path.empty() ? "" : ": ", b.what.c_str());
    } catch (const gotmpl::Error& e) { return exec_error(e); } catch (const std::bad_alloc&) {
        return resource_exhausted("template error: out of memory");
    }
}

}  // namespace berth
