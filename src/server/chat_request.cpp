// Decoding and validation of chat requests' messages, tools, format, think and tool_choice (chat_request.h).
#include "server/chat_request.h"

#include <httplib.h>

#include <cctype>
#include <unordered_map>

#include "server/server_internal.h"

namespace berth {

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// A tool call's arguments: an object, or a string holding one ("" and null mean no arguments).
Status decode_arguments(const ojson& v, const std::string& path, ojson& out) {
    if (v.is_null()) {
        out = ojson::object();
        return Status::ok();
    }
    if (v.is_object()) {
        out = v;
        return Status::ok();
    }
    if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        if (s.find_first_not_of(" \t\r\n") == std::string::npos) {
            out = ojson::object();
            return Status::ok();
        }
        if (json_nesting_depth(s, kMaxJsonDepth) > kMaxJsonDepth)
            return invalid_argument("invalid tool call arguments at %s: nested deeper than %d levels", path.c_str(),
                                    kMaxJsonDepth);
        out = ojson::parse(s, nullptr, false);
        if (out.is_discarded() || !out.is_object())
            return invalid_argument("invalid tool call arguments at %s: expected a JSON object", path.c_str());
        return Status::ok();
    }
    return invalid_argument("invalid tool call arguments at %s: expected a JSON object", path.c_str());
}

// One tool call of an assistant message, either API's shape, into {[id], function: {[index], name, arguments}}.
Status decode_tool_call(const ojson& call, const std::string& path, ojson& out) {
    if (!call.is_object()) return invalid_argument("%s must be an object", path.c_str());
    auto fn = call.find("function");
    if (fn == call.end() || !fn->is_object()) return invalid_argument("%s.function must be an object", path.c_str());
    auto name = fn->find("name");
    if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty())
        return invalid_argument("%s.function.name must be a non-empty string", path.c_str());
    out = ojson::object();
    if (auto id = call.find("id"); id != call.end() && !id->is_null()) {
        if (!id->is_string()) return invalid_argument("%s.id must be a string", path.c_str());
        out["id"] = *id;
    }
    ojson f = ojson::object();
    if (auto index = fn->find("index"); index != fn->end() && !index->is_null()) {
        if (!index->is_number_integer()) return invalid_argument("%s.function.index must be an integer", path.c_str());
        f["index"] = *index;
    }
    f["name"] = *name;
    ojson args;
    auto a = fn->find("arguments");
    RETURN_IF_ERROR(decode_arguments(a == fn->end() ? ojson() : *a, path + ".function.arguments", args));
    f["arguments"] = std::move(args);
    out["function"] = std::move(f);
    return Status::ok();
}

Status optional_string(const ojson& m, const char* key, const std::string& path, ojson& out, const char* as) {
    auto it = m.find(key);
    if (it == m.end() || it->is_null()) return Status::ok();
    if (!it->is_string()) return invalid_argument("%s.%s must be a string", path.c_str(), key);
    if (!it->get_ref<const std::string&>().empty()) out[as] = *it;
    return Status::ok();
}

// Tool results that name neither their call nor their tool get both from the calls of the assistant message
// before them, by position (LangChain sends neither, Open WebUI only the id); an id alone finds its call's name
// (the last call with that id wins, as in Ollama).
void pair_tool_results(ojson& messages) {
    std::unordered_map<std::string, std::string> name_of_id;
    const ojson* calls = nullptr;
    size_t next = 0;
    for (auto& m : messages) {
        const std::string& role = m["role"].get_ref<const std::string&>();
        if (role == "assistant") {
            calls = m.contains("tool_calls") ? &m["tool_calls"] : nullptr;
            next = 0;
            if (calls) {
                for (auto& c : *calls) {
                    if (c.contains("id"))
                        name_of_id[c["id"].get<std::string>()] = c["function"]["name"].get<std::string>();
                }
            }
        } else if (role == "tool") {
            const ojson* call = calls && next < calls->size() ? &(*calls)[next] : nullptr;
            ++next;
            if (!m.contains("tool_call_id") && call && call->contains("id")) m["tool_call_id"] = (*call)["id"];
            if (!m.contains("tool_name")) {
                auto id = m.find("tool_call_id");
                if (id != m.end() && name_of_id.count(id->get<std::string>()))
                    m["tool_name"] = name_of_id[id->get<std::string>()];
                else if (call)
                    m["tool_name"] = (*call)["function"]["name"];
            }
        } else if (role == "user" || role == "system") {
            calls = nullptr;
        }
    }
}

// Text of an OpenAI message content: a string, a list of parts (text parts are joined), or null.
Status openai_content(const ojson& m, const std::string& path, std::string& out, bool& images) {
    auto c = m.find("content");
    if (c == m.end() || c->is_null()) return Status::ok();
    if (c->is_string()) {
        out = c->get<std::string>();
        return Status::ok();
    }
    if (!c->is_array()) return invalid_argument("%s.content must be a string or a list of parts", path.c_str());
    for (size_t i = 0; i < c->size(); ++i) {
        const ojson& part = (*c)[i];
        if (!part.is_object()) return invalid_argument("%s.content[%zu] must be an object", path.c_str(), i);
        std::string type = part.value("type", ojson("")).is_string() ? part.value("type", "") : "";
        if (type == "text" && part.contains("text") && part["text"].is_string()) {
            out += part["text"].get<std::string>();
        } else if (type == "image_url") {
            images = true;
        } else {
            return invalid_argument("%s.content[%zu]: content parts of type \"%s\" are not supported", path.c_str(), i,
                                    type.c_str());
        }
    }
    return Status::ok();
}

// A message's `tool_calls` (both APIs): each call decoded into msg["tool_calls"]; absent, null or [] leaves none.
Status decode_tool_calls(const ojson& m, const std::string& path, ojson& msg) {
    auto calls = m.find("tool_calls");
    if (calls == m.end() || calls->is_null()) return Status::ok();
    if (!calls->is_array()) return invalid_argument("%s.tool_calls must be a list", path.c_str());
    ojson list = ojson::array();
    for (size_t j = 0; j < calls->size(); ++j) {
        ojson call;
        RETURN_IF_ERROR(decode_tool_call((*calls)[j], string_printf("%s.tool_calls[%zu]", path.c_str(), j), call));
        list.push_back(std::move(call));
    }
    if (!list.empty()) msg["tool_calls"] = std::move(list);
    return Status::ok();
}

}  // namespace

bool parse_body_ordered(const httplib::Request& req, httplib::Response& res, ojson& out, bool openai) {
    auto fail = [&](const std::string& m) {
        if (openai)
            reply_openai_error(res, 400, m);
        else
            reply_error(res, 400, m);
        return false;
    };
    if (req.body.empty()) return fail("missing request body");
    if (json_nesting_depth(req.body, kMaxJsonDepth) > kMaxJsonDepth)
        return fail(string_printf("the request body nests JSON deeper than %d levels", kMaxJsonDepth));
    out = ojson::parse(req.body, nullptr, false);
    if (out.is_discarded()) return fail("invalid JSON in the request body");
    if (!out.is_object()) return fail("the request body must be a JSON object");
    return true;
}

Status decode_tools(const ojson& value, ojson& out) {
    out = ojson::array();
    if (value.is_null()) return Status::ok();
    if (!value.is_array()) return invalid_argument("tools must be a list of tool definitions");
    for (size_t i = 0; i < value.size(); ++i) {
        const ojson& t = value[i];
        std::string path = string_printf("tools[%zu]", i);
        if (!t.is_object()) return invalid_argument("%s must be an object", path.c_str());
        if (auto type = t.find("type"); type != t.end() && !type->is_null() && *type != "function")
            return invalid_argument("%s.type must be \"function\"", path.c_str());
        auto fn = t.find("function");
        if (fn == t.end() || !fn->is_object()) return invalid_argument("%s.function must be an object", path.c_str());
        auto name = fn->find("name");
        if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty())
            return invalid_argument("%s.function.name must be a non-empty string", path.c_str());
        if (auto d = fn->find("description"); d != fn->end() && !d->is_null() && !d->is_string())
            return invalid_argument("%s.function.description must be a string", path.c_str());
        if (auto p = fn->find("parameters"); p != fn->end() && !p->is_null() && !p->is_object())
            return invalid_argument("%s.function.parameters must be a JSON Schema object", path.c_str());
        for (auto& prev : out) {
            if (prev["function"]["name"] == *name)
                return invalid_argument("%s.function.name \"%s\" is defined twice", path.c_str(),
                                        name->get<std::string>().c_str());
        }
        ojson tool = t;
        tool["type"] = "function";
        out.push_back(std::move(tool));
    }
    return Status::ok();
}

Status decode_native_format(const ojson& value, FormatSetting& out) {
    out = FormatSetting{};
    if (value.is_null() || (value.is_string() && value.get_ref<const std::string&>().empty())) return Status::ok();
    if (value.is_string() && value == "json") {
        out.kind = FormatSetting::json_object;
        return Status::ok();
    }
    if (value.is_object()) {
        out.kind = FormatSetting::json_schema;
        out.schema = value;
        return Status::ok();
    }
    std::string shown = value.dump(-1, ' ', false, ojson::error_handler_t::replace);
    if (shown.size() > 64) shown = shown.substr(0, 64) + "...";
    return invalid_argument("invalid format: %s; expected \"json\" or a valid JSON Schema object", shown.c_str());
}

Status decode_response_format(const ojson& value, FormatSetting& out) {
    out = FormatSetting{};
    if (value.is_null()) return Status::ok();
    if (!value.is_object()) return invalid_argument("response_format must be an object");
    auto type = value.find("type");
    if (type == value.end() || !type->is_string())
        return invalid_argument("response_format.type must be \"text\", \"json_object\" or \"json_schema\"");
    const std::string& t = type->get_ref<const std::string&>();
    if (t == "text") return Status::ok();
    if (t == "json_object") {
        out.kind = FormatSetting::json_object;
        return Status::ok();
    }
    if (t != "json_schema")
        return invalid_argument(
            "response_format.type \"%s\" is not supported; use \"text\", \"json_object\" or "
            "\"json_schema\"",
            t.c_str());
    auto js = value.find("json_schema");
    if (js == value.end() || !js->is_object())
        return invalid_argument("response_format.json_schema must be an object with a \"schema\"");
    auto schema = js->find("schema");
    if (schema == js->end() || !schema->is_object())
        return invalid_argument("response_format.json_schema.schema must be a JSON Schema object");
    out.kind = FormatSetting::json_schema;
    out.schema = *schema;
    return Status::ok();
}

Status decode_native_think(const ojson& value, ThinkSetting& out) {
    out = ThinkSetting{};
    if (value.is_null()) return Status::ok();
    if (value.is_boolean()) {
        out.set = true;
        out.enabled = value.get<bool>();
        return Status::ok();
    }
    if (value.is_string()) {
        const std::string& s = value.get_ref<const std::string&>();
        if (s == "low" || s == "medium" || s == "high" || s == "max") {
            out.set = out.enabled = true;
            out.level = s;
            return Status::ok();
        }
        if (s == "true" || s == "false") {
            out.set = true;
            out.enabled = s == "true";
            return Status::ok();
        }
    }
    return invalid_argument("think must be true, false, \"low\", \"medium\", \"high\" or \"max\"");
}

Status decode_reasoning_effort(const ojson& body, ThinkSetting& out) {
    out = ThinkSetting{};
    const ojson* effort = nullptr;
    if (auto r = body.find("reasoning"); r != body.end() && r->is_object() && r->contains("effort"))
        effort = &(*r)["effort"];  // the object wins over reasoning_effort, as in Ollama
    else if (auto e = body.find("reasoning_effort"); e != body.end())
        effort = &*e;
    if (!effort || effort->is_null()) return Status::ok();
    if (!effort->is_string()) return invalid_argument("invalid reasoning value: must be a string");
    const std::string s = lower(effort->get<std::string>());
    if (s.empty()) return Status::ok();
    out.set = true;
    if (s == "none") return Status::ok();
    out.enabled = true;
    if (s == "minimal")
        out.level = "low";
    else if (s == "low" || s == "medium" || s == "high" || s == "max")
        out.level = s;
    else if (s == "xhigh" || s == "ultra")
        out.level = "max";
    else
        return invalid_argument("invalid reasoning value: \"%s\" (use none, minimal, low, medium, high or max)",
                                s.c_str());
    return Status::ok();
}

Status decode_tool_choice(const ojson& body, const ojson& tools, ToolChoice& choice, bool& parallel_tool_calls) {
    choice = ToolChoice{};
    parallel_tool_calls = true;
    if (auto p = body.find("parallel_tool_calls"); p != body.end() && !p->is_null()) {
        if (!p->is_boolean()) return invalid_argument("parallel_tool_calls must be true or false");
        parallel_tool_calls = p->get<bool>();
    }
    auto tc = body.find("tool_choice");
    if (tc == body.end() || tc->is_null()) return Status::ok();
    if (tc->is_string()) {
        const std::string& s = tc->get_ref<const std::string&>();
        if (s == "auto")
            choice.kind = ToolChoice::automatic;
        else if (s == "none")
            choice.kind = ToolChoice::none;
        else if (s == "required")
            choice.kind = ToolChoice::required;
        else
            return invalid_argument("tool_choice must be \"auto\", \"none\", \"required\" or a named function");
    } else if (tc->is_object()) {
        auto fn = tc->find("function");
        if (fn == tc->end() || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string())
            return invalid_argument("tool_choice.function.name must be a string");
        choice.kind = ToolChoice::named;
        choice.name = (*fn)["name"].get<std::string>();
        bool found = false;
        for (auto& t : tools) found = found || t["function"]["name"] == choice.name;
        if (!found)
            return invalid_argument("tool_choice names the function \"%s\", which is not among the request's tools",
                                    choice.name.c_str());
    } else {
        return invalid_argument("tool_choice must be \"auto\", \"none\", \"required\" or a named function");
    }
    if ((choice.kind == ToolChoice::required || choice.kind == ToolChoice::named) && tools.empty())
        return invalid_argument("tool_choice \"%s\" needs tools",
                                choice.kind == ToolChoice::required ? "required" : "function");
    return Status::ok();
}

Status decode_native_chat(const ojson& body, ChatRequest& out) {
    out = ChatRequest{};
    if (auto it = body.find("messages"); it != body.end() && !it->is_null()) {
        if (!it->is_array()) return invalid_argument("messages must be a list");
        for (size_t i = 0; i < it->size(); ++i) {
            const ojson& m = (*it)[i];
            std::string path = string_printf("messages[%zu]", i);
            if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
                return invalid_argument("%s needs a string role", path.c_str());
            ojson msg = {{"role", lower(m["role"].get<std::string>())}, {"content", ""}};
            if (auto c = m.find("content"); c != m.end() && !c->is_null()) {
                if (!c->is_string()) return invalid_argument("%s.content must be a string", path.c_str());
                msg["content"] = *c;
            }
            if (auto im = m.find("images"); im != m.end() && im->is_array() && !im->empty()) out.has_images = true;
            RETURN_IF_ERROR(optional_string(m, "thinking", path, msg, "thinking"));
            RETURN_IF_ERROR(decode_tool_calls(m, path, msg));
            RETURN_IF_ERROR(optional_string(m, "tool_name", path, msg, "tool_name"));
            RETURN_IF_ERROR(optional_string(m, "tool_call_id", path, msg, "tool_call_id"));
            out.messages.push_back(std::move(msg));
        }
    }
    pair_tool_results(out.messages);
    RETURN_IF_ERROR(decode_tools(body.contains("tools") ? body["tools"] : ojson(), out.tools));
    // berth's extension: tool_choice and parallel_tool_calls as on the OpenAI API.
    RETURN_IF_ERROR(decode_tool_choice(body, out.tools, out.tool_choice, out.parallel_tool_calls));
    RETURN_IF_ERROR(decode_native_format(body.contains("format") ? body["format"] : ojson(), out.format));
    RETURN_IF_ERROR(decode_native_think(body.contains("think") ? body["think"] : ojson(), out.think));
    return Status::ok();
}

Status decode_openai_chat(const ojson& body, ChatRequest& out) {
    out = ChatRequest{};
    auto it = body.find("messages");
    if (it == body.end() || !it->is_array()) return invalid_argument("messages must be a list of messages");
    if (it->empty()) return invalid_argument("[] is too short - 'messages'");
    for (size_t i = 0; i < it->size(); ++i) {
        const ojson& m = (*it)[i];
        std::string path = string_printf("messages[%zu]", i);
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
            return invalid_argument("%s needs a string role", path.c_str());
        std::string role = lower(m["role"].get<std::string>());
        if (role == "developer") role = "system";
        if (role == "function") role = "tool";
        std::string content;
        RETURN_IF_ERROR(openai_content(m, path, content, out.has_images));
        ojson msg = {{"role", role}, {"content", content}};
        // Prior reasoning: Ollama reads `reasoning`; llama.cpp and DeepSeek clients send `reasoning_content`.
        RETURN_IF_ERROR(optional_string(m, "reasoning_content", path, msg, "thinking"));
        RETURN_IF_ERROR(optional_string(m, "reasoning", path, msg, "thinking"));
        RETURN_IF_ERROR(decode_tool_calls(m, path, msg));
        if (role == "tool") RETURN_IF_ERROR(optional_string(m, "name", path, msg, "tool_name"));
        RETURN_IF_ERROR(optional_string(m, "tool_call_id", path, msg, "tool_call_id"));
        out.messages.push_back(std::move(msg));
    }
    pair_tool_results(out.messages);
    RETURN_IF_ERROR(decode_tools(body.contains("tools") ? body["tools"] : ojson(), out.tools));
    RETURN_IF_ERROR(decode_tool_choice(body, out.tools, out.tool_choice, out.parallel_tool_calls));
    RETURN_IF_ERROR(
        decode_response_format(body.contains("response_format") ? body["response_format"] : ojson(), out.format));
    RETURN_IF_ERROR(decode_reasoning_effort(body, out.think));
    return Status::ok();
}

}  // namespace berth
