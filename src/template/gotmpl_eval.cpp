// Executor of Go's text/template (text/template/exec.go's semantics: variables and their scopes, pipelines
// with the previous result as the last argument, field chains through maps and structs, range over slices,
// maps in key order and ints, break/continue, {{template}}), the builtin functions and Ollama's json,
// currentDate, yesterdayDate and toTypeScriptType. Bounded by ExecLimits.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include "template/gotmpl.h"

namespace berth::gotmpl {
namespace {

enum class Flow { normal, break_, continue_ };

// api.ToolProperty.ToTypeScriptType.
std::string ts_type(const Value& prop) {
    auto map_type = [](const std::string& t) -> std::string {
        if (t == "string") return "string";
        if (t == "number" || t == "integer") return "number";
        if (t == "boolean") return "boolean";
        if (t == "array") return "any[]";
        if (t == "object") return "Record<string, any>";
        if (t == "null") return "null";
        return "any";
    };
    const Field* any_of = prop.obj->field("AnyOf");
    if (any_of && any_of->value.kind == Kind::slice && !any_of->value.obj->items.empty()) {
        std::string out;
        for (const auto& p : any_of->value.obj->items) out += (out.empty() ? "" : " | ") + ts_type(p);
        return out;
    }
    const Field* type = prop.obj->field("Type");
    if (!type || type->value.kind != Kind::slice || type->value.obj->items.empty()) return "any";
    std::string out;
    for (const auto& t : type->value.obj->items) out += (out.empty() ? "" : " | ") + map_type(t.s);
    return out;
}

bool is_tool_property(const Value& v) { return v.kind == Kind::record && v.obj->type == "api.ToolProperty"; }

// basicKind of the comparison functions.
enum class Basic { invalid, boolean, integer, floating, string, other };
Basic basic(const Value& v) {
    switch (v.kind) {
        case Kind::invalid: return Basic::invalid;
        case Kind::boolean: return Basic::boolean;
        case Kind::integer: return Basic::integer;
        case Kind::floating: return Basic::floating;
        case Kind::string: return Basic::string;
        default: return Basic::other;
    }
}

class Exec {
  public:
    Exec(const Template& t, const ExecLimits& limits, std::string& out) : t_(t), limits_(limits), out_(out) {}

    void run(const List& list, const Value& data) {
        vars_.emplace_back("$", data);
        walk_list(data, list);
    }

  private:
    const Template& t_;
    const ExecLimits& limits_;
    std::string& out_;
    std::vector<std::pair<std::string, Value>> vars_;
    uint64_t steps_ = 0;
    int depth_ = 0;  // {{template}} calls
    int nest_ = 0;   // control structures and template calls being executed: bounds the native stack

    struct Nest {
        Exec& e;
        Nest(Exec& e_, int line) : e(e_) {
            if (++e.nest_ > kMaxNest) fail(line, "template nesting exceeds " + std::to_string(kMaxNest) + " levels");
        }
        ~Nest() { --e.nest_; }
    };
    static constexpr int kMaxNest = 1000;

    void step(int line) {
        if (++steps_ > limits_.max_steps) fail(line, "template exceeded the step limit");
    }
    void check_size(size_t n, int line) const {
        if (n > limits_.max_output_bytes) fail(line, "template output exceeds the size limit");
    }
    void emit(const std::string& s, int line) {
        check_size(out_.size() + s.size(), line);
        out_ += s;
    }

    Value var_value(const std::string& name, int line) const {
        for (size_t k = vars_.size(); k-- > 0;)
            if (vars_[k].first == name) return vars_[k].second;
        fail(line, "undefined variable: " + name);
    }
    void set_var(const std::string& name, Value v, int line) {
        for (size_t k = vars_.size(); k-- > 0;)
            if (vars_[k].first == name) {
                vars_[k].second = std::move(v);
                return;
            }
        fail(line, "undefined variable: " + name);
    }

    Flow walk_list(const Value& dot, const List& list) {
        for (const auto& n : list) {
            Flow f = walk(dot, *n);
            if (f != Flow::normal) return f;
        }
        return Flow::normal;
    }

    Flow walk(const Value& dot, const Node& n) {
        step(n.line);
        switch (n.kind) {
            case NodeKind::text: emit(n.text, n.line); return Flow::normal;
            case NodeKind::action: {
                Value v = eval_pipeline(dot, *n.pipe);
                if (n.pipe->decl.empty()) emit(fmt_value(v, true), n.line);
                return Flow::normal;
            }
            case NodeKind::if_:
            case NodeKind::with: {
                Nest nest(*this, n.line);
                size_t mark = vars_.size();
                Value v = eval_pipeline(dot, *n.pipe);
                Flow f = Flow::normal;
                if (truth(v))
                    f = walk_list(n.kind == NodeKind::with ? v : dot, n.list);
                else if (n.has_else)
                    f = walk_list(dot, n.else_list);
                vars_.resize(mark);
                return f;
            }
            case NodeKind::range: {
                Nest nest(*this, n.line);
                size_t outer = vars_.size();
                Flow f = walk_range(dot, n);
                vars_.resize(outer);
                return f;
            }
            case NodeKind::template_call: {
                Nest nest(*this, n.line);
                return call_template(dot, n);
            }
            case NodeKind::break_: return Flow::break_;
            case NodeKind::continue_: return Flow::continue_;
        }
        return Flow::normal;
    }

    Flow walk_range(const Value& dot, const Node& n) {
        Value val = eval_pipeline(dot, *n.pipe);
        size_t mark = vars_.size();
        const auto& decl = n.pipe->decl;
        bool any = false;
        // Returns false when the loop ends ({{break}}).
        auto one = [&](const Value& index, const Value& elem) {
            step(n.line);
            any = true;
            if (!decl.empty()) {
                if (n.pipe->is_assign) {
                    set_var(decl[0], decl.size() > 1 ? index : elem, n.line);
                    if (decl.size() > 1) set_var(decl[1], elem, n.line);
                } else {
                    vars_[mark - 1].second = elem;
                    if (decl.size() > 1) vars_[mark - 2].second = index;
                }
            }
            Flow f = walk_list(elem, n.list);
            vars_.resize(mark);
            return f != Flow::break_;
        };
        switch (val.kind) {
            case Kind::slice:
                for (size_t k = 0; k < val.obj->items.size(); ++k)
                    if (!one(Value::integer(int64_t(k)), val.obj->items[k])) break;
                break;
            case Kind::map:
                for (const auto& [key, x] : val.obj->entries)
                    if (!one(Value::string(key), x)) break;
                break;
            case Kind::integer:
                if (decl.size() > 1)
                    fail(n.line, "can't use " + std::to_string(val.i) + " to iterate over more than one variable");
                for (int64_t k = 0; k < val.i; ++k)
                    if (!one(Value::integer(k), Value::integer(k))) break;
                break;
            case Kind::invalid: break;  // a nil map or missing value: no iterations, no error
            default: fail(n.line, "range can't iterate over " + fmt_value(val, false));
        }
        if (!any && n.has_else) return walk_list(dot, n.else_list);
        return Flow::normal;
    }

    Flow call_template(const Value& dot, const Node& n) {
        const List* body = nullptr;
        if (limits_.defines) {
            auto it = t_.defines.find(n.text);
            if (it != t_.defines.end())
                body = it->second.get();
            else if (n.text.empty())
                body = &t_.root;  // the unnamed root template, as Lookup("") finds it
        }
        if (!body) fail(n.line, "template \"" + n.text + "\" not defined");
        if (depth_ >= limits_.max_call_depth)
            fail(n.line, "exceeded maximum template depth (" + std::to_string(limits_.max_call_depth) + ")");
        Value new_dot = n.pipe ? eval_pipeline(dot, *n.pipe) : Value();
        auto saved = std::move(vars_);
        vars_.clear();
        vars_.emplace_back("$", new_dot);
        ++depth_;
        walk_list(new_dot, *body);
        --depth_;
        vars_ = std::move(saved);
        return Flow::normal;
    }

    Value eval_pipeline(const Value& dot, const Pipe& p) {
        Value value;
        bool have = false;
        for (const auto& cmd : p.cmds) {
            value = eval_command(dot, cmd, have ? &value : nullptr);
            have = true;
        }
        for (const auto& name : p.decl) {
            if (p.is_assign)
                set_var(name, value, p.line);
            else
                vars_.emplace_back(name, value);
        }
        return value;
    }

    void not_a_function(const Command& cmd, const Value* final) const {
        if (cmd.args.size() > 1 || final) fail(cmd.line, "can't give argument to non-function");
    }

    Value eval_command(const Value& dot, const Command& cmd, const Value* final) {
        const Arg& first = cmd.args[0];
        switch (first.kind) {
            case ArgKind::field: return eval_field_chain(dot, dot, first.idents, 0, &cmd, final);
            case ArgKind::chain: {
                if (first.operand->kind == ArgKind::nil) fail(first.line, "indirection through explicit nil");
                Value receiver = eval_arg(dot, *first.operand);
                return eval_field_chain(dot, receiver, first.idents, 0, &cmd, final);
            }
            case ArgKind::identifier: return call_function(dot, first.text, cmd, final);
            case ArgKind::pipe: not_a_function(cmd, final); return eval_pipeline(dot, *first.pipe);
            case ArgKind::variable: {
                Value v = var_value(first.idents[0], first.line);
                if (first.idents.size() == 1) {
                    not_a_function(cmd, final);
                    return v;
                }
                return eval_field_chain(dot, v, first.idents, 1, &cmd, final);
            }
            default: break;
        }
        not_a_function(cmd, final);
        switch (first.kind) {
            case ArgKind::dot: return dot;
            case ArgKind::nil: fail(first.line, "nil is not a command");
            default: return first.constant;
        }
    }

    // An argument of a function: evaluated without arguments of its own.
    Value eval_arg(const Value& dot, const Arg& a) {
        switch (a.kind) {
            case ArgKind::dot: return dot;
            case ArgKind::nil: return Value();
            case ArgKind::field: return eval_field_chain(dot, dot, a.idents, 0, nullptr, nullptr);
            case ArgKind::variable: {
                Value v = var_value(a.idents[0], a.line);
                return a.idents.size() == 1 ? v : eval_field_chain(dot, v, a.idents, 1, nullptr, nullptr);
            }
            case ArgKind::chain: {
                if (a.operand->kind == ArgKind::nil) fail(a.line, "indirection through explicit nil");
                Value receiver = eval_arg(dot, *a.operand);
                return eval_field_chain(dot, receiver, a.idents, 0, nullptr, nullptr);
            }
            case ArgKind::pipe: return eval_pipeline(dot, *a.pipe);
            case ArgKind::identifier: {
                Command c;
                c.line = a.line;
                c.args.push_back(Arg{ArgKind::identifier, a.line, {}, a.text, {}, nullptr, nullptr});
                return call_function(dot, a.text, c, nullptr);
            }
            default: return a.constant;
        }
    }

    // Fields idents[from..] of `receiver`; the last one gets the command's arguments (an error: no methods).
    Value eval_field_chain(const Value& dot, Value receiver, const std::vector<std::string>& idents, size_t from,
                           const Command* cmd, const Value* final) {
        int line = cmd ? cmd->line : 0;
        bool has_args = cmd && (cmd->args.size() > 1 || final);
        for (size_t k = from; k < idents.size(); ++k) {
            // A missing key or nil inside the chain is a nil interface: Go cannot take its fields.
            if (k > from && receiver.kind == Kind::invalid)
                fail(line, "nil pointer evaluating interface {}." + idents[k]);
            receiver = eval_field(receiver, idents[k], k + 1 == idents.size() && has_args, line);
        }
        return receiver;
    }

    Value eval_field(const Value& receiver, const std::string& name, bool has_args, int line) {
        switch (receiver.kind) {
            case Kind::invalid: return Value();  // a missing value has no fields: still no value
            case Kind::nil: fail(line, "nil pointer evaluating " + receiver.s + "." + name);
            case Kind::map: {
                const Obj& o = *receiver.obj;
                if (name == "String" && o.custom != Custom::none) return Value::string(fmt_value(receiver, false));
                if (has_args) fail(line, name + " is not a method but has arguments");
                if (const Value* v = o.find(name)) return *v;
                return o.zero;
            }
            case Kind::slice:
                if (name == "String" && receiver.obj->custom != Custom::none)
                    return Value::string(fmt_value(receiver, false));
                break;
            case Kind::record: {
                const Obj& o = *receiver.obj;
                if (name == "String" && o.custom != Custom::none) return Value::string(fmt_value(receiver, false));
                if (name == "ToTypeScriptType" && is_tool_property(receiver)) return Value::string(ts_type(receiver));
                if (const Field* f = o.field(name)) {
                    if (has_args) fail(line, name + " has arguments but cannot be invoked as function");
                    return f->value;
                }
                break;
            }
            default: break;
        }
        fail(line, "can't evaluate field " + name + " in type " + type_name(receiver));
    }

    // ---- functions ---------------------------------------------------------------------------------------

    Value call_function(const Value& dot, const std::string& name, const Command& cmd, const Value* final) {
        step(cmd.line);
        int line = cmd.line;
        const bool ollama =
            name == "json" || name == "currentDate" || name == "yesterdayDate" || name == "toTypeScriptType";
        if (name == "call" || (ollama && !limits_.ollama_funcs))
            fail(line, "\"" + name + "\" is not a defined function");
        size_t n_args = cmd.args.size() - 1 + (final ? 1 : 0);
        auto arg = [&](size_t k) -> Value {
            if (k + 1 < cmd.args.size()) return eval_arg(dot, cmd.args[k + 1]);
            return *final;
        };
        auto want = [&](size_t n) {
            if (n_args != n)
                fail(line, "wrong number of args for " + name + ": want " + std::to_string(n) + " got " +
                               std::to_string(n_args));
        };
        auto want_at_least = [&](size_t n) {
            if (n_args < n)
                fail(line, "wrong number of args for " + name + ": want at least " + std::to_string(n) + " got " +
                               std::to_string(n_args));
        };
        auto all = [&]() {
            std::vector<Value> v;
            for (size_t k = 0; k < n_args; ++k) v.push_back(arg(k));
            return v;
        };
        auto checked = [&](std::string s) {
            check_size(s.size(), line);
            return Value::string(std::move(s));
        };
        if (name == "and" || name == "or") {
            want_at_least(1);
            Value v;
            for (size_t k = 0; k < n_args; ++k) {
                v = arg(k);
                if (truth(v) == (name == "or")) return v;
            }
            return v;
        }
        if (name == "not") {
            want(1);
            return Value::boolean(!truth(arg(0)));
        }
        if (name == "len") {
            want(1);
            Value v = arg(0);
            switch (v.kind) {
                case Kind::string: return Value::integer(int64_t(v.s.size()));
                case Kind::slice: return Value::integer(int64_t(v.obj->items.size()));
                case Kind::map: return Value::integer(int64_t(v.obj->entries.size()));
                case Kind::nil: fail(line, "error calling len: len of nil pointer");
                case Kind::invalid: fail(line, "error calling len: len of untyped nil");
                default: fail(line, "error calling len: len of type " + type_name(v));
            }
        }
        if (name == "index") return fn_index(all(), line);
        if (name == "slice") return fn_slice(all(), line);
        if (name == "eq" || name == "ne") {
            want_at_least(1);
            if (n_args == 1) fail(line, "error calling " + name + ": missing argument for comparison");
            if (name == "ne") want(2);
            std::vector<Value> v = all();
            bool eq = false;
            for (size_t k = 1; k < v.size() && !eq; ++k) eq = equal(v[0], v[k], name, line);
            return Value::boolean(name == "eq" ? eq : !eq);
        }
        if (name == "lt" || name == "le" || name == "gt" || name == "ge") {
            want(2);
            Value a = arg(0), b = arg(1);
            bool lt = less(a, b, name, line);
            bool le = lt || equal(a, b, name, line);
            if (name == "lt") return Value::boolean(lt);
            if (name == "le") return Value::boolean(le);
            if (name == "gt") return Value::boolean(!le);
            return Value::boolean(!lt);
        }
        if (name == "print") return checked(sprint(all(), false));
        if (name == "println") return checked(sprint(all(), true));
        if (name == "printf") {
            want_at_least(1);
            std::vector<Value> v = all();
            if (v[0].kind != Kind::string) fail(line, "wrong type for value; expected string; got " + type_name(v[0]));
            std::string format = v[0].s;
            v.erase(v.begin());
            return checked(sprintf(format, v));
        }
        if (name == "html" || name == "js" || name == "urlquery") {
            std::vector<Value> v = all();
            std::string s = v.size() == 1 && v[0].kind == Kind::string ? v[0].s : sprint(v, false);
            return checked(name == "html" ? html_escape(s) : name == "js" ? js_escape(s) : query_escape(s));
        }
        if (name == "json") {
            want(1);
            return checked(go_json(arg(0)));
        }
        if (name == "currentDate" || name == "yesterdayDate") {
            for (size_t k = 0; k < n_args; ++k) {
                Value v = arg(k);
                if (v.kind != Kind::string) fail(line, "wrong type for value; expected string; got " + type_name(v));
            }
            return Value::string(local_date(name == "yesterdayDate" ? -1 : 0));
        }
        if (name == "toTypeScriptType") {
            want(1);
            Value v = arg(0);
            return Value::string(is_tool_property(v) ? ts_type(v) : "any");
        }
        fail(line, "\"" + name + "\" is not a defined function");
    }

    // time.Now().AddDate(0, 0, days).Format("2006-01-02") in local time.
    std::string local_date(int days) const {
        time_t t = time_t(limits_.now_unix_s);
        struct tm tm;
        localtime_r(&t, &tm);
        tm.tm_mday += days;
        tm.tm_isdst = -1;
        time_t shifted = mktime(&tm);
        localtime_r(&shifted, &tm);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        return buf;
    }

    static int64_t index_arg(const Value& v, int64_t cap, int line, const char* what) {
        if (v.kind != Kind::integer)
            fail(line, std::string("error calling ") + what + ": cannot index slice/array with type " + type_name(v));
        if (v.i < 0 || v.i > cap)
            fail(line, std::string("error calling ") + what + ": index out of range: " + std::to_string(v.i));
        return v.i;
    }

    Value fn_index(std::vector<Value> v, int line) {
        if (v.empty()) fail(line, "wrong number of args for index: want at least 1 got 0");
        Value item = v[0];
        for (size_t k = 1; k < v.size(); ++k) {
            const Value& ix = v[k];
            switch (item.kind) {
                case Kind::slice: {
                    int64_t n = int64_t(item.obj->items.size());
                    int64_t x = index_arg(ix, n, line, "index");
                    if (x == n) fail(line, "error calling index: index out of range: " + std::to_string(x));
                    Value next = item.obj->items[size_t(x)];
                    item = next;
                    break;
                }
                case Kind::string: {
                    int64_t n = int64_t(item.s.size());
                    int64_t x = index_arg(ix, n, line, "index");
                    if (x == n) fail(line, "error calling index: index out of range: " + std::to_string(x));
                    item = Value::integer((unsigned char)item.s[size_t(x)]);  // a byte (uint8)
                    break;
                }
                case Kind::map: {
                    if (ix.kind != Kind::string)
                        fail(line, "error calling index: value has type " + type_name(ix) + "; should be string");
                    const Value* x = item.obj->find(ix.s);
                    Value next = x ? *x : item.obj->zero;
                    item = next;
                    break;
                }
                case Kind::invalid: fail(line, "error calling index: index of untyped nil");
                case Kind::nil: fail(line, "error calling index: index of nil pointer");
                default: fail(line, "error calling index: can't index item of type " + type_name(item));
            }
        }
        return item;
    }

    Value fn_slice(std::vector<Value> v, int line) {
        if (v.empty()) fail(line, "wrong number of args for slice: want at least 1 got 0");
        const Value& item = v[0];
        if (v.size() > 4) fail(line, "error calling slice: too many slice indexes: " + std::to_string(v.size() - 1));
        int64_t cap;
        if (item.kind == Kind::string) {
            cap = int64_t(item.s.size());
            if (v.size() == 4) fail(line, "error calling slice: cannot 3-index slice a string");
        } else if (item.kind == Kind::slice) {
            cap = int64_t(item.obj->items.size());
        } else if (item.kind == Kind::invalid) {
            fail(line, "error calling slice: slice of untyped nil");
        } else {
            fail(line, "error calling slice: can't slice item of type " + type_name(item));
        }
        int64_t idx[3] = {0, cap, cap};
        for (size_t k = 1; k < v.size(); ++k) idx[k - 1] = index_arg(v[k], cap, line, "slice");
        if (idx[0] > idx[1])
            fail(line, "error calling slice: invalid slice index: " + std::to_string(idx[0]) + " > " +
                           std::to_string(idx[1]));
        if (v.size() == 4 && idx[1] > idx[2])
            fail(line, "error calling slice: invalid slice index: " + std::to_string(idx[1]) + " > " +
                           std::to_string(idx[2]));
        if (item.kind == Kind::string) return Value::string(item.s.substr(size_t(idx[0]), size_t(idx[1] - idx[0])));
        const Obj& o = *item.obj;
        std::vector<Value> items(o.items.begin() + idx[0], o.items.begin() + idx[1]);
        return make_slice(o.type, std::move(items), o.custom, false);
    }

    static bool equal(const Value& a, const Value& b, const std::string& fn, int line) {
        Basic ka = basic(a), kb = basic(b);
        if (ka != kb) {
            if (a.kind != Kind::invalid && b.kind != Kind::invalid)
                fail(line, "error calling " + fn + ": incompatible types for comparison");
            return false;
        }
        switch (ka) {
            case Basic::invalid: return true;
            case Basic::boolean: return a.b == b.b;
            case Basic::integer: return a.i == b.i;
            case Basic::floating: return a.f == b.f;
            case Basic::string: return a.s == b.s;
            case Basic::other: break;
        }
        // Pointers compare by identity; nil pointers equal each other; slices and maps are not comparable.
        bool a_ptr = a.kind == Kind::nil || (a.kind == Kind::record && a.obj->pointer);
        bool b_ptr = b.kind == Kind::nil || (b.kind == Kind::record && b.obj->pointer);
        if (a_ptr && b_ptr) {
            if (a.kind == Kind::nil || b.kind == Kind::nil) return a.kind == b.kind;
            return a.obj == b.obj;
        }
        fail(line, "error calling " + fn + ": non-comparable types " + type_name(a) + ", " + type_name(b));
    }

    static bool less(const Value& a, const Value& b, const std::string& fn, int line) {
        Basic ka = basic(a), kb = basic(b);
        if (ka == Basic::invalid || ka == Basic::other || kb == Basic::invalid || kb == Basic::other)
            fail(line, "error calling " + fn + ": invalid type for comparison");
        if (ka != kb) fail(line, "error calling " + fn + ": incompatible types for comparison");
        switch (ka) {
            case Basic::integer: return a.i < b.i;
            case Basic::floating: return a.f < b.f;
            case Basic::string: return a.s < b.s;
            default: fail(line, "error calling " + fn + ": invalid type for comparison");
        }
    }

    // template.HTMLEscapeString.
    static std::string html_escape(const std::string& s) {
        std::string out;
        for (char c : s) {
            switch (c) {
                case '<': out += "&lt;"; break;
                case '>': out += "&gt;"; break;
                case '&': out += "&amp;"; break;
                case '\'': out += "&#39;"; break;
                case '"': out += "&#34;"; break;
                case '\0': out += "\xEF\xBF\xBD"; break;
                default: out += c;
            }
        }
        return out;
    }

    // template.JSEscapeString (ASCII part; other runes pass through).
    static std::string js_escape(const std::string& s) {
        std::string out;
        for (char c : s) {
            unsigned char u = (unsigned char)c;
            switch (c) {
                case '\\': out += "\\\\"; continue;
                case '\'': out += "\\'"; continue;
                case '"': out += "\\\""; continue;
                case '<': out += "\\u003C"; continue;
                case '>': out += "\\u003E"; continue;
                case '&': out += "\\u0026"; continue;
                case '=': out += "\\u003D"; continue;
                default: break;
            }
            if (u < ' ') {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04X", unsigned(u));
                out += buf;
            } else {
                out += c;
            }
        }
        return out;
    }

    // url.QueryEscape.
    static std::string query_escape(const std::string& s) {
        std::string out;
        for (unsigned char c : s) {
            if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
                out += char(c);
            } else if (c == ' ') {
                out += '+';
            } else {
                char buf[4];
                std::snprintf(buf, sizeof buf, "%%%02X", unsigned(c));
                out += buf;
            }
        }
        return out;
    }
};

}  // namespace

void execute(const Template& t, const List& list, const Value& data, const ExecLimits& limits, std::string& out) {
    Exec(t, limits, out).run(list, data);
}

}  // namespace berth::gotmpl
