// Public chat-template API: JSON → template values, parse/render with errors as Status, plain-text fallback.
#include "template/template.h"

#include <ctime>

#include <nlohmann/json.hpp>

#include "template/jinja.h"

namespace berth {
namespace {

template <typename Json>
jinja::Value from_json(const Json& j, int depth) {
    using jinja::Value;
    if (depth > 256) throw jinja::Error("input JSON nested too deeply");
    switch (j.type()) {
        case nlohmann::json::value_t::null: return Value::none();
        case nlohmann::json::value_t::boolean: return Value::boolean(j.template get<bool>());
        case nlohmann::json::value_t::number_integer: return Value::integer(j.template get<int64_t>());
        case nlohmann::json::value_t::number_unsigned: {
            uint64_t u = j.template get<uint64_t>();
            return u > uint64_t(INT64_MAX) ? Value::floating(double(u)) : Value::integer(int64_t(u));
        }
        case nlohmann::json::value_t::number_float: return Value::floating(j.template get<double>());
        case nlohmann::json::value_t::string: return Value::string(j.template get<std::string>());
        case nlohmann::json::value_t::array: {
            std::vector<Value> items;
            items.reserve(j.size());
            for (const auto& x : j) items.push_back(from_json(x, depth + 1));
            return Value::new_list(std::move(items));
        }
        case nlohmann::json::value_t::object: {
            Value d = Value::new_dict();
            d.dict->items.reserve(j.size());
            for (auto it = j.begin(); it != j.end(); ++it)
                d.dict->items.emplace_back(Value::string(it.key()), from_json(it.value(), depth + 1));
            return d;
        }
        default: return Value::none();  // binary / discarded: not produced by JSON text
    }
}

Status template_error(const char* what, const jinja::Error& e) {
    if (e.line > 0) return invalid_argument("%s: line %d: %s", what, e.line, e.what());
    return invalid_argument("%s: %s", what, e.what());
}

jinja::RenderLimits make_limits(const TemplateOptions& o) {
    jinja::RenderLimits l;
    l.max_steps = o.max_steps;
    l.max_output_bytes = o.max_output_bytes;
    l.max_call_depth = o.max_call_depth;
    l.now_unix_s = o.now_unix_s ? *o.now_unix_s : int64_t(std::time(nullptr));
    if (o.jinja_htmlsafe_tojson) {
        l.tojson_style.sort_keys = true;
        l.tojson_style.ensure_ascii = true;
        l.tojson_style.html_safe = true;
    }
    return l;
}

template <typename Json>
Result<std::string> render_impl(const jinja::Template* t, const Json& context, const TemplateOptions& options) {
    if (!t) return invalid_argument("template error: template was not parsed");
    if (!context.is_object()) return invalid_argument("template context must be a JSON object");
    try {
        std::vector<std::pair<std::string, jinja::Value>> globals;
        for (auto it = context.begin(); it != context.end(); ++it)
            globals.emplace_back(it.key(), from_json(it.value(), 0));
        return jinja::render(*t, std::move(globals), make_limits(options));
    } catch (const jinja::Error& e) { return template_error("template error", e); } catch (const std::bad_alloc&) {
        return resource_exhausted("template error: out of memory");
    } catch (const std::exception& e) { return internal_error("template error: %s", e.what()); }
}

}  // namespace

Result<ChatTemplate> ChatTemplate::parse(std::string_view source, const TemplateOptions& options) {
    try {
        ChatTemplate t;
        t.tmpl_ = jinja::parse_template(source, options.trim_blocks, options.lstrip_blocks);
        t.options_ = options;
        return t;
    } catch (const jinja::Error& e) {
        return template_error("template syntax error", e);
    } catch (const std::bad_alloc&) { return resource_exhausted("template syntax error: out of memory"); }
}

Result<std::string> ChatTemplate::render(const nlohmann::json& context) const {
    return render_impl(tmpl_.get(), context, options_);
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context) const {
    return render_impl(tmpl_.get(), context, options_);
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context, const TemplateOptions& options) const {
    return render_impl(tmpl_.get(), context, options);
}

Result<std::string> render_chat_template(std::string_view tmpl, const nlohmann::json& context,
                                         const TemplateOptions& options) {
    ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::parse(tmpl, options));
    return t.render(context);
}

Result<std::string> render_chat_template(std::string_view tmpl, const nlohmann::ordered_json& context,
                                         const TemplateOptions& options) {
    ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::parse(tmpl, options));
    return t.render(context);
}

Result<std::string> render_plain_chat(const nlohmann::json& messages, bool add_generation_prompt) {
    if (!messages.is_array()) return invalid_argument("messages must be an array");
    std::string out;
    for (const auto& m : messages) {
        if (!m.is_object()) return invalid_argument("each message must be an object");
        std::string role = m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "user";
        if (!role.empty() && role[0] >= 'a' && role[0] <= 'z') role[0] = char(role[0] - 'a' + 'A');
        std::string content;
        if (m.contains("content")) {
            const auto& c = m["content"];
            if (c.is_string())
                content = c.get<std::string>();
            else if (!c.is_null())
                content = c.dump();
        }
        out += role + ": " + content + "\n\n";
    }
    if (add_generation_prompt) out += "Assistant:";
    return out;
}

}  // namespace berth
