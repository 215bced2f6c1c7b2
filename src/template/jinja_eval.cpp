// The evaluator: statements, expressions, scopes (Jinja2's: for loops and macros open a scope, if does not),
// macros, loop controls, and the bounds that keep a hostile template from running away.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <optional>
#include <unordered_map>

#include "template/jinja.h"

namespace berth::jinja {

using Scope = std::unordered_map<std::string, Value>;

class Interp {
  public:
    explicit Interp(const RenderLimits& limits) : limits_(limits) {}

    const RenderLimits& limits() const { return limits_; }
    void step(int line) {
        if (++steps_ > limits_.max_steps) fail(line, "template exceeded the step limit (endless loop?)");
    }
    void check_size(size_t n, int line) const {
        if (n > limits_.max_output_bytes) fail(line, "template output exceeds the size limit");
    }

    void run(const Body& body, Scope& globals, std::string& out) {
        scopes_.push_back(&globals);
        exec_body(body, out);
        scopes_.clear();
    }

    Value call_macro(const Stmt& m, CallArgs& a);

  private:
    enum class Ctrl { none, brk, cont };

    struct ScopeGuard {
        std::vector<Scope*>& s;
        size_t n;
        ScopeGuard(std::vector<Scope*>& scopes, Scope* push) : s(scopes), n(scopes.size()) { s.push_back(push); }
        ~ScopeGuard() { s.resize(n); }
    };

    Value lookup(const std::string& name) const {
        for (size_t k = scopes_.size(); k-- > 0;) {
            auto it = scopes_[k]->find(name);
            if (it != scopes_[k]->end()) return it->second;
        }
        return Value::undefined("'" + name + "' is undefined");
    }
    void assign(const std::string& name, Value v) { (*scopes_.back())[name] = std::move(v); }

    void exec_body(const Body& body, std::string& out) {
        for (const auto& s : body) {
            exec(*s, out);
            if (ctrl_ != Ctrl::none) return;
        }
    }
    void exec(const Stmt& s, std::string& out);
    void exec_for(const Stmt& s, std::string& out);
    void exec_call_block(const Stmt& s, std::string& out);
    void bind_targets(const std::vector<std::string>& targets, const Value& v, int line);
    Value apply_block_filter(const Expr& filter, std::string text);

    Value eval(const Expr& e);
    Value eval_binary(const std::string& op, const Value& a, const Value& b, int line);
    bool eval_compare(const std::string& op, const Value& a, const Value& b, int line);
    Value eval_slice(const Value& obj, const Value& start, const Value& stop, const Value& step, int line);
    CallArgs eval_args(const Expr& e);

    const RenderLimits& limits_;
    std::vector<Scope*> scopes_;  // [0]: globals and template-level variables
    uint64_t steps_ = 0;
    int call_depth_ = 0;
    Ctrl ctrl_ = Ctrl::none;
};

const RenderLimits& interp_limits(const Interp& in) { return in.limits(); }
void check_size(const Interp& in, size_t n, int line) { in.check_size(n, line); }

// ---- statements ----------------------------------------------------------------------------------------

void Interp::exec(const Stmt& s, std::string& out) {
    step(s.line);
    switch (s.kind) {
        case StmtKind::text:
            out += s.text;
            check_size(out.size(), s.line);
            return;
        case StmtKind::output: {
            Value v = eval(*s.expr);
            if (s.text == "do") return;
            out += to_str(v);
            check_size(out.size(), s.line);
            return;
        }
        case StmtKind::if_:
            for (size_t k = 0; k < s.bodies.size(); ++k) {
                if (k < s.conds.size() && !truthy(eval(*s.conds[k]))) continue;
                exec_body(s.bodies[k], out);
                return;
            }
            return;
        case StmtKind::for_: exec_for(s, out); return;
        case StmtKind::set: {
            Value v = eval(*s.expr);
            if (!s.attr.empty()) {
                Value ns = lookup(s.text);
                if (ns.kind != Kind::ns) fail(s.line, "cannot assign attribute on non-namespace object");
                ns.dict->set(Value::string(s.attr), std::move(v));
            } else if (s.targets.size() == 1) {
                assign(s.text, std::move(v));
            } else {
                bind_targets(s.targets, v, s.line);
            }
            return;
        }
        case StmtKind::set_block: {
            std::string body;
            exec_body(s.bodies[0], body);
            assign(s.text, s.filter ? apply_block_filter(*s.filter, std::move(body)) : Value::string(std::move(body)));
            return;
        }
        case StmtKind::filter_block: {
            std::string body;
            exec_body(s.bodies[0], body);
            out += to_str(apply_block_filter(*s.filter, std::move(body)));
            check_size(out.size(), s.line);
            return;
        }
        case StmtKind::macro: {
            const Stmt* m = &s;
            assign(s.text, Value::function(s.text, [m](CallArgs& a) { return a.interp->call_macro(*m, a); }));
            return;
        }
        case StmtKind::break_: ctrl_ = Ctrl::brk; return;
        case StmtKind::continue_: ctrl_ = Ctrl::cont; return;
        case StmtKind::call_block: exec_call_block(s, out); return;
        case StmtKind::scope: {
            if (s.targets.empty()) {
                exec_body(s.bodies[0], out);
                return;
            }
            std::vector<Value> values;  // evaluated in the outer scope, like Jinja2
            for (const auto& d : s.defaults) values.push_back(eval(*d));
            Scope scope;
            ScopeGuard g(scopes_, &scope);
            for (size_t k = 0; k < s.targets.size(); ++k) scope[s.targets[k]] = values[k];
            exec_body(s.bodies[0], out);
            return;
        }
    }
}

// The body becomes `caller`, passed to the called macro; it renders in the scopes of the call site, and
// fails (instead of dangling) if a template keeps it beyond the call.
void Interp::exec_call_block(const Stmt& s, std::string& out) {
    auto alive = std::make_shared<bool>(true);
    std::vector<Scope*> site = scopes_;
    const Stmt* body = &s;
    Value caller = Value::function("caller", [alive, site, body](CallArgs& a) -> Value {
        if (!*alive) fail(a.line, "caller() used after its call block ended");
        Interp& in = *a.interp;
        if (in.call_depth_ >= in.limits_.max_call_depth) fail(a.line, "macro calls nested too deeply (recursion?)");
        Scope local;
        for (size_t k = 0; k < body->targets.size(); ++k) {
            Value v = a.get(k, body->targets[k]);
            if (v.is_undefined() && body->defaults[k]) v = in.eval(*body->defaults[k]);
            local[body->targets[k]] = v;
        }
        std::vector<Scope*> saved = std::move(in.scopes_);
        in.scopes_ = site;
        in.scopes_.push_back(&local);
        ++in.call_depth_;
        std::string text;
        try {
            in.exec_body(body->bodies[0], text);
        } catch (...) {
            in.scopes_ = std::move(saved);
            --in.call_depth_;
            throw;
        }
        in.scopes_ = std::move(saved);
        --in.call_depth_;
        in.ctrl_ = Ctrl::none;
        return Value::string(std::move(text));
    });
    const Expr& call = *s.expr;
    Value fn = eval(*call.a);
    CallArgs a = eval_args(call);
    a.kw.emplace_back("caller", caller);
    Value v = call_value(*this, fn, a, call.line);
    *alive = false;
    out += to_str(v);
    check_size(out.size(), s.line);
}

Value Interp::apply_block_filter(const Expr& filter, std::string text) {
    Scope tmp;
    tmp["__body__"] = Value::string(std::move(text));
    ScopeGuard g(scopes_, &tmp);
    return eval(filter);
}

void Interp::bind_targets(const std::vector<std::string>& targets, const Value& v, int line) {
    if (targets.size() == 1) {
        assign(targets[0], v);
        return;
    }
    std::vector<Value> items = iterate(v, line);
    if (items.size() != targets.size())
        fail(line, items.size() > targets.size()
                       ? "too many values to unpack (expected " + std::to_string(targets.size()) + ")"
                       : "not enough values to unpack (expected " + std::to_string(targets.size()) + ", got " +
                             std::to_string(items.size()) + ")");
    for (size_t k = 0; k < targets.size(); ++k) assign(targets[k], items[k]);
}

void Interp::exec_for(const Stmt& s, std::string& out) {
    Value seq = eval(*s.expr);
    std::vector<Value> items = iterate(seq, s.line);
    if (s.cond) {
        std::vector<Value> kept;
        for (auto& item : items) {
            step(s.line);
            Scope scope;
            ScopeGuard g(scopes_, &scope);
            bind_targets(s.targets, item, s.line);
            if (truthy(eval(*s.cond))) kept.push_back(std::move(item));
        }
        items = std::move(kept);
    }
    const size_t n = items.size();
    for (size_t k = 0; k < n; ++k) {
        step(s.line);
        // Like Jinja2, every iteration starts from the enclosing scope: a {% set %} in the body lasts
        // until the end of the iteration (namespaces carry state across iterations).
        Scope scope;
        ScopeGuard g(scopes_, &scope);
        bind_targets(s.targets, items[k], s.line);
        Value loop = Value::new_dict();
        auto& d = *loop.dict;
        auto I = [](size_t x) { return Value::integer(int64_t(x)); };
        d.set(Value::string("index"), I(k + 1));
        d.set(Value::string("index0"), I(k));
        d.set(Value::string("revindex"), I(n - k));
        d.set(Value::string("revindex0"), I(n - k - 1));
        d.set(Value::string("first"), Value::boolean(k == 0));
        d.set(Value::string("last"), Value::boolean(k + 1 == n));
        d.set(Value::string("length"), I(n));
        d.set(Value::string("depth"), I(1));
        d.set(Value::string("depth0"), I(0));
        d.set(Value::string("previtem"), k > 0 ? items[k - 1] : Value::undefined("there is no previous item"));
        d.set(Value::string("nextitem"), k + 1 < n ? items[k + 1] : Value::undefined("there is no next item"));
        d.set(Value::string("cycle"), Value::function("cycle", [k](CallArgs& a) {
                  if (a.pos.empty()) fail(a.line, "no items for cycling given");
                  return a.pos[k % a.pos.size()];
              }));
        scope["loop"] = std::move(loop);
        exec_body(s.bodies[0], out);
        if (ctrl_ == Ctrl::brk) {
            ctrl_ = Ctrl::none;
            break;
        }
        ctrl_ = Ctrl::none;
    }
    if (n == 0 && s.bodies.size() > 1) exec_body(s.bodies[1], out);
}

Value Interp::call_macro(const Stmt& m, CallArgs& a) {
    if (call_depth_ >= limits_.max_call_depth) fail(a.line, "macro calls nested too deeply (recursion?)");
    step(a.line);
    if (a.pos.size() > m.targets.size())
        fail(a.line, "macro '" + m.text + "' takes not more than " + std::to_string(m.targets.size()) + " argument(s)");
    Scope local;
    for (const auto& [k, v] : a.kw) {
        bool known = k == "caller";  // from {% call %}
        for (const auto& t : m.targets) known = known || t == k;
        if (!known) fail(a.line, "macro '" + m.text + "' takes no keyword argument '" + k + "'");
    }
    // Parameters bind in the macro's own scope; defaults are evaluated there, left to right.
    std::vector<Scope*> saved = std::move(scopes_);
    scopes_ = {saved[0], &local};
    struct Restore {
        Interp* in;
        std::vector<Scope*>* saved;
        ~Restore() {
            in->scopes_ = std::move(*saved);
            --in->call_depth_;
        }
    } restore{this, &saved};
    ++call_depth_;
    for (size_t k = 0; k < m.targets.size(); ++k) {
        const std::string& p = m.targets[k];
        if (k < a.pos.size()) {
            local[p] = a.pos[k];
            continue;
        }
        bool found = false;
        for (const auto& [kn, v] : a.kw) {
            if (kn == p) {
                local[p] = v;
                found = true;
            }
        }
        if (found) continue;
        local[p] = m.defaults[k] ? eval(*m.defaults[k]) : Value::undefined("parameter '" + p + "' was not provided");
    }
    for (const auto& [k, v] : a.kw)
        if (k == "caller") local["caller"] = v;
    std::string out;
    exec_body(m.bodies[0], out);
    ctrl_ = Ctrl::none;
    return Value::string(std::move(out));
}

// ---- expressions ---------------------------------------------------------------------------------------

CallArgs Interp::eval_args(const Expr& e) {
    CallArgs a;
    a.line = e.line;
    a.interp = this;
    for (const auto& x : e.args) a.pos.push_back(eval(*x));
    for (const auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x));
    return a;
}

Value Interp::eval(const Expr& e) {
    switch (e.kind) {
        case ExprKind::literal: return e.value;
        case ExprKind::name: return lookup(e.name);
        case ExprKind::list:
        case ExprKind::tuple: {
            std::vector<Value> items;
            for (const auto& x : e.args) items.push_back(eval(*x));
            return Value::new_list(std::move(items), e.kind == ExprKind::tuple);
        }
        case ExprKind::dict: {
            Value d = Value::new_dict();
            for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
                Value key = eval(*e.args[k]);
                if (key.kind == Kind::list && !key.list->is_tuple) fail(e.line, "unhashable type: 'list'");
                if (key.kind == Kind::dict) fail(e.line, "unhashable type: 'dict'");
                d.dict->set(std::move(key), eval(*e.args[k + 1]));
            }
            return d;
        }
        case ExprKind::getattr: return get_attr(eval(*e.a), e.name, e.line);
        case ExprKind::getitem: {
            Value obj = eval(*e.a);
            return get_item(obj, eval(*e.b), e.line);
        }
        case ExprKind::slice: {
            Value obj = eval(*e.a);
            Value parts[3];
            for (int k = 0; k < 3; ++k) parts[k] = e.args[k] ? eval(*e.args[k]) : Value::none();
            return eval_slice(obj, parts[0], parts[1], parts[2], e.line);
        }
        case ExprKind::call: {
            Value fn = eval(*e.a);
            CallArgs a = eval_args(e);
            return call_value(*this, fn, a, e.line);
        }
        case ExprKind::filter: {
            Value v = eval(*e.a);
            CallArgs a = eval_args(e);
            return apply_filter(*this, e.name, std::move(v), a);
        }
        case ExprKind::test: {
            Value v = eval(*e.a);
            CallArgs a = eval_args(e);
            return Value::boolean(apply_test(*this, e.name, v, a) != e.negated);
        }
        case ExprKind::unary: {
            Value v = eval(*e.a);
            if (v.is_undefined()) fail(e.line, v.s);
            if (!v.is_number()) fail(e.line, "bad operand type for unary " + e.name + ": '" + type_name(v) + "'");
            if (e.name == "+") return v.kind == Kind::boolean ? Value::integer(v.as_int()) : v;
            if (v.kind == Kind::floating) return Value::floating(-v.f);
            if (v.as_int() == INT64_MIN) fail(e.line, "integer overflow");
            return Value::integer(-v.as_int());
        }
        case ExprKind::binary: {
            Value a = eval(*e.a);
            Value b = eval(*e.b);
            return eval_binary(e.name, a, b, e.line);
        }
        case ExprKind::compare: {
            Value left = eval(*e.a);
            for (size_t k = 0; k < e.ops.size(); ++k) {
                Value right = eval(*e.args[k]);
                if (!eval_compare(e.ops[k], left, right, e.line)) return Value::boolean(false);
                left = std::move(right);
            }
            return Value::boolean(true);
        }
        case ExprKind::and_: {
            Value a = eval(*e.a);
            return truthy(a) ? eval(*e.b) : a;
        }
        case ExprKind::or_: {
            Value a = eval(*e.a);
            return truthy(a) ? a : eval(*e.b);
        }
        case ExprKind::not_: return Value::boolean(!truthy(eval(*e.a)));
        case ExprKind::cond: {
            if (truthy(eval(*e.a))) return eval(*e.b);
            if (e.c) return eval(*e.c);
            return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                                    " evaluated to false and no else section was defined.");
        }
    }
    fail(e.line, "internal: bad expression");
}

// Python ints are unbounded; ours are int64 and overflow is a template error (never UB).
static int64_t checked_op(char op, int64_t x, int64_t y, int line) {
    int64_t r = 0;
    bool overflow = op == '+'   ? __builtin_add_overflow(x, y, &r)
                    : op == '-' ? __builtin_sub_overflow(x, y, &r)
                                : __builtin_mul_overflow(x, y, &r);
    if (overflow) fail(line, "integer overflow");
    return r;
}

Value Interp::eval_binary(const std::string& op, const Value& a, const Value& b, int line) {
    if (op == "~") {
        std::string s = to_str(a);
        s += to_str(b);
        check_size(s.size(), line);
        return Value::string(std::move(s));
    }
    if (a.is_undefined()) fail(line, a.s);
    if (b.is_undefined()) fail(line, b.s);
    auto unsupported = [&]() -> Value {
        if (op == "+" && a.is_string())
            fail(line, std::string("can only concatenate str (not \"") + type_name(b) + "\") to str");
        if (op == "+" && a.is_sequence() && !a.list->is_tuple)
            fail(line, std::string("can only concatenate list (not \"") + type_name(b) + "\") to list");
        fail(line, "unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
    };
    if (a.is_number() && b.is_number()) {
        bool ints = a.is_int_like() && b.is_int_like();
        int64_t x = a.as_int(), y = b.as_int();
        double fx = a.as_double(), fy = b.as_double();
        if (op == "+") return ints ? Value::integer(checked_op('+', x, y, line)) : Value::floating(fx + fy);
        if (op == "-") return ints ? Value::integer(checked_op('-', x, y, line)) : Value::floating(fx - fy);
        if (op == "*") return ints ? Value::integer(checked_op('*', x, y, line)) : Value::floating(fx * fy);
        if (op == "/") {
            if (fy == 0) fail(line, "division by zero");
            return Value::floating(fx / fy);
        }
        if (op == "//" || op == "%") {
            if (ints ? y == 0 : fy == 0)
                fail(line, op == "%" ? "integer modulo by zero" : "integer division or modulo by zero");
            if (ints) {
                if (x == INT64_MIN && y == -1) fail(line, "integer overflow");
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) {
                    q -= 1;
                    m += y;
                }
                return Value::integer(op == "//" ? q : m);
            }
            double m = std::fmod(fx, fy);
            if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
            return Value::floating(op == "//" ? std::floor(fx / fy) : m);
        }
        if (op == "**") {
            if (ints && y >= 0) {
                int64_t acc = 1, base = x;
                for (int64_t e = y; e > 0; e >>= 1) {
                    if (e & 1) acc = checked_op('*', acc, base, line);
                    if (e > 1) base = checked_op('*', base, base, line);
                }
                return Value::integer(acc);
            }
            if (fx == 0 && fy < 0) fail(line, "0.0 cannot be raised to a negative power");
            return Value::floating(std::pow(fx, fy));
        }
        return unsupported();
    }
    if (op == "+") {
        if (a.is_string() && b.is_string()) {
            check_size(a.s.size() + b.s.size(), line);
            if (!a.markup && !b.markup) return Value::string(a.s + b.s);
            // markupsafe: Markup + str escapes the plain operand and stays Markup.
            Value r = Value::string((a.markup ? a.s : html_escape(a.s)) + (b.markup ? b.s : html_escape(b.s)));
            r.markup = true;
            return r;
        }
        if (a.is_sequence() && b.is_sequence() && a.list->is_tuple == b.list->is_tuple) {
            if ((a.list->items.size() + b.list->items.size()) * sizeof(Value) > limits_.max_output_bytes)
                fail(line, "list exceeds the size limit");
            std::vector<Value> items = a.list->items;
            items.insert(items.end(), b.list->items.begin(), b.list->items.end());
            return Value::new_list(std::move(items), a.list->is_tuple);
        }
        return unsupported();
    }
    if (op == "*" && (a.is_int_like() || b.is_int_like()) &&
        (a.is_string() || b.is_string() || a.is_sequence() || b.is_sequence())) {
        const Value& seq = a.is_int_like() ? b : a;
        int64_t n = std::max<int64_t>(0, (a.is_int_like() ? a : b).as_int());
        size_t unit = seq.is_string() ? seq.s.size() : seq.list->items.size() * sizeof(Value);
        if (unit && uint64_t(n) > limits_.max_output_bytes / unit) fail(line, "repetition exceeds the size limit");
        if (seq.is_string()) {
            std::string s;
            for (int64_t k = 0; k < n; ++k) s += seq.s;
            return Value::string(std::move(s));
        }
        std::vector<Value> items;
        for (int64_t k = 0; k < n; ++k) items.insert(items.end(), seq.list->items.begin(), seq.list->items.end());
        return Value::new_list(std::move(items), seq.list->is_tuple);
    }
    if (op == "%" && a.is_string()) {
        CallArgs args;
        args.line = line;
        args.interp = this;
        if (b.is_list() && b.list->is_tuple)
            args.pos = b.list->items;
        else
            args.pos.push_back(b);
        return apply_filter(*this, "format", a, args);
    }
    return unsupported();
}

static bool contains(const Value& container, const Value& item, int line) {
    switch (container.kind) {
        case Kind::string:
            if (!item.is_string())
                fail(line, std::string("'in <string>' requires string as left operand, not ") + type_name(item));
            return container.s.find(item.s) != std::string::npos;
        case Kind::list: {
            auto& items = container.list->items;
            for (size_t k = 0; k < items.size(); ++k) {
                if (!equals(items[k], item)) continue;
                // Python's `in` consumes an iterator up to and including the match.
                if (container.list->iterator) items.erase(items.begin(), items.begin() + ptrdiff_t(k + 1));
                return true;
            }
            if (container.list->iterator) items.clear();
            return false;
        }
        case Kind::dict: return container.dict->find(item) != nullptr;
        case Kind::undefined: return false;
        default: fail(line, std::string("argument of type '") + type_name(container) + "' is not iterable");
    }
}

bool Interp::eval_compare(const std::string& op, const Value& a, const Value& b, int line) {
    if (op == "==") return equals(a, b);
    if (op == "!=") return !equals(a, b);
    if (op == "in") return contains(b, a, line);
    if (op == "notin") return !contains(b, a, line);
    int c = compare(a, b, line);
    if (op == "<") return c < 0;
    if (op == ">") return c > 0;
    if (op == "<=") return c <= 0;
    return c >= 0;
}

// Python slice semantics (negative indices, negative steps, clamping).
Value Interp::eval_slice(const Value& obj, const Value& start, const Value& stop, const Value& step_v, int line) {
    if (obj.is_undefined()) fail(line, obj.s);
    auto as_index = [&](const Value& v) -> std::optional<int64_t> {
        if (v.is_none()) return std::nullopt;
        if (!v.is_int_like()) fail(line, "slice indices must be integers or None");
        return v.as_int();
    };
    int64_t step = as_index(step_v).value_or(1);
    if (step == 0) fail(line, "slice step cannot be zero");
    std::vector<std::string_view> chars;
    int64_t len;
    if (obj.is_string()) {
        chars = utf8_chars(obj.s);
        len = int64_t(chars.size());
    } else if (obj.is_sequence()) {
        len = int64_t(obj.list->items.size());
    } else {
        fail(line, std::string("'") + type_name(obj) + "' object is not subscriptable");
    }
    auto clamp = [&](std::optional<int64_t> v, int64_t def) {
        if (!v) return def;
        int64_t x = *v;
        if (x < 0) x += len;
        if (step > 0) return std::clamp<int64_t>(x, 0, len);
        return std::clamp<int64_t>(x, -1, len - 1);
    };
    int64_t b = clamp(as_index(start), step > 0 ? 0 : len - 1);
    int64_t e = clamp(as_index(stop), step > 0 ? len : -1);
    std::vector<int64_t> idx;
    for (int64_t k = b; step > 0 ? k < e : k > e; k += step) idx.push_back(k);
    if (obj.is_string()) {
        std::string s;
        for (int64_t k : idx) s += chars[size_t(k)];
        return Value::string(std::move(s));
    }
    std::vector<Value> items;
    for (int64_t k : idx) items.push_back(obj.list->items[size_t(k)]);
    return Value::new_list(std::move(items), obj.list->is_tuple);
}

// ---- shared helpers ------------------------------------------------------------------------------------

static std::string object_type_repr(const Value& v) {
    if (v.is_none()) return "None";
    if (v.kind == Kind::ns) return "jinja2.utils.Namespace object";
    return std::string(type_name(v)) + " object";
}

Value get_attr(const Value& obj, const std::string& name, int line) {
    if (obj.is_undefined()) fail(line, obj.s);
    if (obj.kind == Kind::ns) {
        if (const Value* v = obj.dict->find(std::string_view(name))) return *v;
    } else if (obj.is_dict()) {
        Value m = get_method(obj, name);
        if (!m.is_undefined()) return m;
        if (const Value* v = obj.dict->find(std::string_view(name))) return *v;
    } else {
        Value m = get_method(obj, name);
        if (!m.is_undefined()) return m;
    }
    return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + name + "'");
}

Value get_item(const Value& obj, const Value& key, int line) {
    if (obj.is_undefined()) fail(line, obj.s);
    if (obj.is_dict()) {
        if (const Value* v = obj.dict->find(key)) return *v;
    } else if ((obj.is_sequence() || obj.is_string()) && key.is_int_like()) {
        int64_t k = key.as_int();
        if (obj.is_list()) {
            int64_t n = int64_t(obj.list->items.size());
            if (k < 0) k += n;
            if (k >= 0 && k < n) return obj.list->items[size_t(k)];
        } else {
            auto chars = utf8_chars(obj.s);
            int64_t n = int64_t(chars.size());
            if (k < 0) k += n;
            if (k >= 0 && k < n) return Value::string(std::string(chars[size_t(k)]));
        }
        return Value::undefined(object_type_repr(obj) + " has no element " + std::to_string(key.as_int()));
    }
    if (key.is_string()) return get_attr(obj, key.s, line);
    return Value::undefined(object_type_repr(obj) + " has no element " + repr(key));
}

std::vector<Value> iterate(const Value& v, int line) {
    switch (v.kind) {
        case Kind::undefined: return {};
        case Kind::list: {
            if (!v.list->iterator) return v.list->items;
            std::vector<Value> items = std::move(v.list->items);  // one pass consumes an iterator
            v.list->items.clear();
            return items;
        }
        case Kind::dict: {
            std::vector<Value> keys;
            for (const auto& [k, x] : v.dict->items) keys.push_back(k);
            return keys;
        }
        case Kind::string: {
            std::vector<Value> chars;
            for (auto c : utf8_chars(v.s)) chars.push_back(Value::string(std::string(c)));
            return chars;
        }
        default: fail(line, std::string("'") + type_name(v) + "' object is not iterable");
    }
}

Value call_value(Interp& in, const Value& fn, CallArgs& args, int line) {
    if (fn.is_undefined()) fail(line, fn.s);
    if (fn.kind != Kind::func) fail(line, std::string("'") + type_name(fn) + "' object is not callable");
    args.line = line;
    args.interp = &in;
    return fn.fn->call(args);
}

// ---- entry ---------------------------------------------------------------------------------------------

static Value global_namespace(CallArgs& a) {
    Value ns = Value::new_namespace();
    for (const auto& p : a.pos) {
        if (!p.is_dict()) fail(a.line, "namespace() positional arguments must be mappings");
        for (const auto& [k, v] : p.dict->items) ns.dict->set(k, v);
    }
    for (const auto& [k, v] : a.kw) ns.dict->set(Value::string(k), v);
    return ns;
}

static Value global_range(CallArgs& a) {
    int64_t start = 0, stop = 0, step = 1;
    for (const auto& p : a.pos)
        if (!p.is_int_like())
            fail(a.line, std::string("'") + type_name(p) + "' object cannot be interpreted as an integer");
    if (a.pos.size() == 1) {
        stop = a.pos[0].as_int();
    } else if (a.pos.size() == 2 || a.pos.size() == 3) {
        start = a.pos[0].as_int();
        stop = a.pos[1].as_int();
        if (a.pos.size() == 3) step = a.pos[2].as_int();
    } else {
        fail(a.line, "range expected 1 to 3 arguments");
    }
    if (step == 0) fail(a.line, "range() arg 3 must not be zero");
    std::vector<Value> items;
    const int64_t kMaxRange = 100'000;
    for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
        if (int64_t(items.size()) >= kMaxRange) fail(a.line, "range too large");
        items.push_back(Value::integer(k));
        if ((step > 0 && k > INT64_MAX - step) || (step < 0 && k < INT64_MIN - step)) break;
    }
    return Value::new_list(std::move(items));
}

std::string render(const Template& t, std::vector<std::pair<std::string, Value>> globals, const RenderLimits& limits) {
    Scope scope;
    scope["namespace"] = Value::function("namespace", global_namespace);
    scope["range"] = Value::function("range", global_range);
    scope["dict"] = Value::function("dict", [](CallArgs& a) {
        Value d = Value::new_dict();
        for (const auto& p : a.pos) {
            if (!p.is_dict()) fail(a.line, "dict() positional arguments must be mappings");
            for (const auto& [k, v] : p.dict->items) d.dict->set(k, v);
        }
        for (const auto& [k, v] : a.kw) d.dict->set(Value::string(k), v);
        return d;
    });
    scope["raise_exception"] = Value::function("raise_exception", [](CallArgs& a) -> Value {
        fail(a.line, a.pos.empty() ? std::string("raise_exception called") : to_str(a.pos[0]));
    });
    int64_t now = limits.now_unix_s;
    scope["strftime_now"] = Value::function("strftime_now", [now](CallArgs& a) {
        std::string fmt = to_str(a.get(0, "format", Value::string("")));
        time_t tt = time_t(now);
        struct tm tm_utc;
        gmtime_r(&tt, &tm_utc);
        if (fmt.empty() || fmt.size() > 256) return Value::string("");
        char buf[1024];
        size_t n = std::strftime(buf, sizeof(buf), fmt.c_str(), &tm_utc);
        return Value::string(std::string(buf, n));
    });
    for (auto& [k, v] : globals) scope[k] = std::move(v);
    Interp in(limits);
    std::string out;
    in.run(t.body, scope, out);
    return out;
}

}  // namespace berth::jinja
