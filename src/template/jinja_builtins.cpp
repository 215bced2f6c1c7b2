// Jinja2 builtin filters and tests, with the argument conventions and edge cases of Jinja2 3.1 (filters.py,
// tests.py).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "template/jinja.h"

namespace berth::jinja {
namespace {

// The filter's arguments after the value.
using FilterFn = Value (*)(Interp& in, Value v, CallArgs& a);
using TestFn = bool (*)(Interp& in, const Value& v, CallArgs& a);

Value S(std::string s) { return Value::string(std::move(s)); }
Value L(std::vector<Value> items) { return Value::new_list(std::move(items)); }
// What Jinja2's generator filters (map, select, reject, unique, items) return.
Value G(std::vector<Value> items) { return Value::new_iterator(std::move(items)); }

// make_attrgetter: "a.b.0" path through get_item; `def` replaces an undefined result when given.
Value attr_path(const Value& item, const Value& attribute, int line) {
    if (!attribute.is_string()) return get_item(item, attribute, line);
    Value v = item;
    size_t pos = 0;
    const std::string& path = attribute.s;
    while (true) {
        size_t dot = path.find('.', pos);
        std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        bool digits =
            !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return isdigit((unsigned char)c); });
        v = digits && part.size() < 18 ? get_item(v, Value::integer(std::atoll(part.c_str())), line)
                                       : get_item(v, S(part), line);
        if (dot == std::string::npos) break;
        pos = dot + 1;
    }
    return v;
}

Value lower_if_string(Value v) {
    if (v.is_string()) v.s = py_lower(v.s);
    return v;
}

CallArgs sub_args(CallArgs& a, size_t from) {
    CallArgs s;
    s.line = a.line;
    s.interp = a.interp;
    for (size_t k = from; k < a.pos.size(); ++k) s.pos.push_back(a.pos[k]);
    s.kw = a.kw;
    return s;
}

// select / reject / selectattr / rejectattr
Value select_impl(Interp& in, Value v, CallArgs& a, bool attr, bool keep_when) {
    size_t off = 0;
    Value attribute;
    if (attr) {
        if (a.pos.empty()) fail(a.line, "Missing parameter for attribute name");
        attribute = a.pos[0];
        off = 1;
    }
    bool has_test = a.pos.size() > off;
    std::string test = has_test ? to_str(a.pos[off]) : "";
    CallArgs targs = sub_args(a, off + 1);
    std::vector<Value> out;
    if (!truthy(v)) return G({});  // Jinja2: `if value:` guards the loop (none selects nothing)
    for (auto& item : iterate(v, a.line)) {
        Value x = attr ? attr_path(item, attribute, a.line) : item;
        bool ok = has_test ? apply_test(in, test, x, targs) : truthy(x);
        if (ok == keep_when) out.push_back(item);
    }
    return G(std::move(out));
}

Value f_map(Interp& in, Value v, CallArgs& a) {
    std::vector<Value> out;
    if (!truthy(v)) return G({});  // Jinja2: `if value:` guards the loop
    if (a.pos.empty()) {
        Value attribute = a.get(99, "attribute");
        if (attribute.is_undefined()) fail(a.line, "map requires a filter argument");
        Value def = a.get(99, "default", Value());
        bool has_def = a.has(99, "default");
        for (auto& item : iterate(v, a.line)) {
            Value x = attr_path(item, attribute, a.line);
            out.push_back(x.is_undefined() && has_def ? def : x);
        }
        return G(std::move(out));
    }
    std::string name = to_str(a.pos[0]);
    for (auto& item : iterate(v, a.line)) {
        CallArgs fa = sub_args(a, 1);
        out.push_back(apply_filter(in, name, item, fa));
    }
    return G(std::move(out));
}

Value f_tojson(Interp& in, Value v, CallArgs& a) {
    JsonStyle st = interp_limits(in).tojson_style;
    Value indent = a.get(0, "indent", Value::none());
    if (a.pos.size() > 0 && a.pos[0].kind == Kind::boolean) indent = a.get(1, "indent", Value::none());
    if (indent.is_int_like())
        st.indent = int(std::clamp<int64_t>(indent.as_int(), 0, 64));
    else if (!indent.is_none() && !indent.is_undefined())
        fail(a.line, "tojson: indent must be an integer");
    Value ea = a.get(99, "ensure_ascii");
    if (!ea.is_undefined()) st.ensure_ascii = truthy(ea);
    Value sk = a.get(99, "sort_keys");
    if (!sk.is_undefined()) st.sort_keys = truthy(sk);
    Value seps = a.get(99, "separators");
    if (seps.is_list() && seps.list->items.size() == 2) {
        st.item_sep = to_str(seps.list->items[0]);
        st.key_sep = to_str(seps.list->items[1]);
    }
    std::string out = to_json(v, st, a.line);
    check_size(in, out.size(), a.line);
    Value r = S(std::move(out));
    r.markup = st.html_safe;  // Jinja2's htmlsafe_json_dumps returns Markup; transformers' tojson a str
    return r;
}

Value f_indent(Interp& in, Value v, CallArgs& a) {
    Value w = a.get(0, "width", Value::integer(4));
    std::string ind =
        w.is_string() ? w.s : std::string(size_t(std::clamp<int64_t>(arg_int(w, a.line, "indent"), 0, 1024)), ' ');
    bool first = truthy(a.get(1, "first", Value::boolean(false)));
    bool blank = truthy(a.get(2, "blank", Value::boolean(false)));
    if (v.is_undefined()) fail(a.line, v.s);
    if (!v.is_string())
        fail(a.line, std::string("unsupported operand type(s) for +=: '") + type_name(v) + "' and 'str'");
    std::string s = to_str(v) + "\n";
    auto lines = splitlines(s);
    std::string rv;
    if (blank) {
        for (size_t k = 0; k < lines.size(); ++k) rv += (k ? "\n" + ind : "") + lines[k];
    } else if (!lines.empty()) {
        rv = lines[0];
        for (size_t k = 1; k < lines.size(); ++k) rv += "\n" + (lines[k].empty() ? "" : ind) + lines[k];
    }
    if (first) rv = ind + rv;
    check_size(in, rv.size(), a.line);
    return S(rv);
}

Value f_join(Interp& in, Value v, CallArgs& a) {
    std::string d = to_str(a.get(0, "d", S("")));
    Value attribute = a.get(1, "attribute", Value::none());
    std::string out;
    bool first = true;
    for (auto& item : iterate(v, a.line)) {
        if (!first) out += d;
        first = false;
        out += to_str(attribute.is_none() ? item : attr_path(item, attribute, a.line));
        check_size(in, out.size(), a.line);
    }
    return S(out);
}

Value f_length(Interp&, Value v, CallArgs& a) {
    switch (v.kind) {
        case Kind::undefined: return Value::integer(0);
        case Kind::string: return Value::integer(int64_t(utf8_length(v.s)));
        case Kind::list:
            if (v.list->iterator) fail(a.line, std::string("object of type '") + v.list->iterator + "' has no len()");
            return Value::integer(int64_t(v.list->items.size()));
        case Kind::dict:
        case Kind::ns: return Value::integer(int64_t(v.dict->items.size()));
        default: fail(a.line, std::string("object of type '") + type_name(v) + "' has no len()");
    }
}

Value f_int(Interp&, Value v, CallArgs& a) {
    if (v.is_undefined()) fail(a.line, v.s);  // int(Undefined) raises in Jinja2
    Value def = a.get(0, "default", Value::integer(0));
    if (v.is_int_like()) return Value::integer(v.as_int());
    if (v.kind == Kind::floating)
        return std::isfinite(v.f) && std::fabs(v.f) < 9.2e18 ? Value::integer(int64_t(v.f)) : def;
    if (v.is_string()) {
        std::string t = py_strip(v.s, true, true, Value());
        int64_t base = arg_int(a.get(1, "base", Value::integer(10)), a.line, "int");
        if (base < 2 || base > 36) base = 10;
        char* end = nullptr;
        errno = 0;
        long long x = std::strtoll(t.c_str(), &end, int(base));
        if (!t.empty() && end && *end == 0 && errno == 0) return Value::integer(x);
        double d = std::strtod(t.c_str(), &end);
        if (!t.empty() && end && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18)
            return Value::integer(int64_t(d));
    }
    return def;
}

Value f_float(Interp&, Value v, CallArgs& a) {
    if (v.is_undefined()) fail(a.line, v.s);
    Value def = a.get(0, "default", Value::floating(0.0));
    if (v.is_number()) return Value::floating(v.as_double());
    if (v.is_string()) {
        std::string t = py_strip(v.s, true, true, Value());
        char* end = nullptr;
        double d = std::strtod(t.c_str(), &end);
        if (!t.empty() && end && *end == 0) return Value::floating(d);
    }
    return def;
}

Value f_items(Interp&, Value v, CallArgs& a) {
    if (v.is_undefined()) return G({});
    if (!v.is_dict()) fail(a.line, "Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto& [k, x] : v.dict->items) out.push_back(Value::new_list({k, x}, true));
    return G(std::move(out));
}

Value f_unique(Interp&, Value v, CallArgs& a) {
    bool cs = truthy(a.get(0, "case_sensitive", Value::boolean(false)));
    Value attribute = a.get(1, "attribute", Value::none());
    std::vector<Value> out, seen;
    for (auto& item : iterate(v, a.line)) {
        Value key = attribute.is_none() ? item : attr_path(item, attribute, a.line);
        if (!cs) key = lower_if_string(key);
        bool dup = false;
        for (const auto& s : seen) dup = dup || equals(s, key);
        if (dup) continue;
        seen.push_back(key);
        out.push_back(item);
    }
    return G(std::move(out));
}

Value sorted_values(Value v, CallArgs& a, bool reverse, bool cs, const Value& attribute) {
    std::vector<Value> items = iterate(v, a.line);
    auto key = [&](const Value& x) {
        Value k = attribute.is_none() || attribute.is_undefined() ? x : attr_path(x, attribute, a.line);
        return cs ? k : lower_if_string(k);
    };
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        int c = compare(key(x), key(y), a.line);
        return reverse ? c > 0 : c < 0;
    });
    return L(std::move(items));
}

Value f_sort(Interp&, Value v, CallArgs& a) {
    return sorted_values(v, a, truthy(a.get(0, "reverse", Value::boolean(false))),
                         truthy(a.get(1, "case_sensitive", Value::boolean(false))),
                         a.get(2, "attribute", Value::none()));
}

Value f_dictsort(Interp&, Value v, CallArgs& a) {
    if (!v.is_dict()) fail(a.line, "You can only sort by either \"key\" or \"value\"");
    bool cs = truthy(a.get(0, "case_sensitive", Value::boolean(false)));
    bool by_value = to_str(a.get(1, "by", S("key"))) == "value";
    bool reverse = truthy(a.get(2, "reverse", Value::boolean(false)));
    std::vector<Value> pairs;
    for (const auto& [k, x] : v.dict->items) pairs.push_back(Value::new_list({k, x}, true));
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& p, const Value& q) {
        Value x = p.list->items[by_value ? 1 : 0], y = q.list->items[by_value ? 1 : 0];
        if (!cs) x = lower_if_string(x), y = lower_if_string(y);
        int c = compare(x, y, a.line);
        return reverse ? c > 0 : c < 0;
    });
    return L(std::move(pairs));
}

Value min_max(Value v, CallArgs& a, bool want_max) {
    bool cs = truthy(a.get(0, "case_sensitive", Value::boolean(false)));
    Value attribute = a.get(1, "attribute", Value::none());
    std::vector<Value> items = iterate(v, a.line);
    if (items.empty()) return Value::undefined(std::string("No aggregated item, sequence was empty."));
    size_t best = 0;
    auto key = [&](const Value& x) {
        Value k = attribute.is_none() ? x : attr_path(x, attribute, a.line);
        return cs ? k : lower_if_string(k);
    };
    for (size_t k = 1; k < items.size(); ++k) {
        int c = compare(key(items[k]), key(items[best]), a.line);
        if (want_max ? c > 0 : c < 0) best = k;
    }
    return items[best];
}

Value f_sum(Interp& in, Value v, CallArgs& a) {
    Value attribute = a.get(0, "attribute", Value::none());
    Value acc = a.get(1, "start", Value::integer(0));
    for (auto& item : iterate(v, a.line)) {
        Value x = attribute.is_none() ? item : attr_path(item, attribute, a.line);
        if (!x.is_number() || !acc.is_number())
            fail(a.line,
                 std::string("unsupported operand type(s) for +: '") + type_name(acc) + "' and '" + type_name(x) + "'");
        if (acc.is_int_like() && x.is_int_like()) {
            int64_t r;
            if (__builtin_add_overflow(acc.as_int(), x.as_int(), &r)) fail(a.line, "integer overflow");
            acc = Value::integer(r);
        } else {
            acc = Value::floating(acc.as_double() + x.as_double());
        }
    }
    return acc;
}

Value f_round(Interp&, Value v, CallArgs& a) {
    if (!v.is_number()) fail(a.line, std::string("type ") + type_name(v) + " doesn't define __round__ method");
    int64_t prec = arg_int(a.get(0, "precision", Value::integer(0)), a.line, "round");
    std::string method = to_str(a.get(1, "method", S("common")));
    double p = std::pow(10.0, double(std::clamp<int64_t>(prec, -300, 300)));
    double x = v.as_double() * p;
    double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);
    if (method != "common" && method != "ceil" && method != "floor")
        fail(a.line, "method must be common, ceil or floor");
    if (v.is_int_like() && method == "common") return Value::integer(v.as_int());
    return Value::floating(r / p);
}

Value f_first(Interp&, Value v, CallArgs& a) {
    auto items = iterate(v, a.line);
    if (items.empty()) return Value::undefined("No first item, sequence was empty.");
    return items.front();
}

Value f_last(Interp&, Value v, CallArgs& a) {
    if (v.is_iterator()) fail(a.line, std::string("'") + type_name(v) + "' object is not reversible");
    auto items = iterate(v, a.line);
    if (items.empty()) return Value::undefined("No last item, sequence was empty.");
    return items.back();
}

Value f_escape(Interp&, Value v, CallArgs&) {
    if (v.is_string() && v.markup) return v;  // escape() leaves Markup alone
    Value r = S(html_escape(to_str(v)));
    r.markup = true;
    return r;
}

Value f_forceescape(Interp&, Value v, CallArgs&) {
    Value r = S(html_escape(to_str(v)));
    r.markup = true;
    return r;
}

Value f_list(Interp&, Value v, CallArgs& a) { return L(iterate(v, a.line)); }

Value f_reverse(Interp&, Value v, CallArgs& a) {
    if (v.is_string()) {
        auto chars = utf8_chars(v.s);
        std::string out;
        for (size_t k = chars.size(); k-- > 0;) out += chars[k];
        return S(out);
    }
    // Jinja2 returns reversed(value), an iterator, and a reversed list where reversed() fails (generators).
    bool was_iterator = v.is_iterator();
    auto items = iterate(v, a.line);
    std::reverse(items.begin(), items.end());
    if (was_iterator || v.is_undefined()) return L(std::move(items));
    const char* type = v.is_dict() ? "dict_reversekeyiterator" : v.list->is_tuple ? "reversed" : "list_reverseiterator";
    return Value::new_iterator(std::move(items), type);
}

Value f_wordcount(Interp&, Value v, CallArgs&) {
    int64_t n = 0;
    bool in_word = false;
    for (auto c : utf8_chars(to_str(v))) {
        bool w = c.size() > 1 || isalnum((unsigned char)c[0]) || c[0] == '_';
        if (w && !in_word) ++n;
        in_word = w;
    }
    return Value::integer(n);
}

const std::unordered_map<std::string, FilterFn>& filters() {
    static const std::unordered_map<std::string, FilterFn> m = {
        {"abs",
         [](Interp&, Value v, CallArgs& a) -> Value {
             if (v.kind == Kind::floating) return Value::floating(std::fabs(v.f));
             if (v.is_int_like()) {
                 if (v.as_int() == INT64_MIN) fail(a.line, "integer overflow");
                 return Value::integer(std::llabs(v.as_int()));
             }
             fail(a.line, std::string("bad operand type for abs(): '") + type_name(v) + "'");
         }},
        {"attr", [](Interp&, Value v, CallArgs& a) { return get_attr(v, to_str(a.get(0, "name")), a.line); }},
        {"capitalize", [](Interp&, Value v, CallArgs&) { return S(py_capitalize(to_str(v))); }},
        {"count", f_length},
        {"default",
         [](Interp&, Value v, CallArgs& a) {
             bool boolean = truthy(a.get(1, "boolean", Value::boolean(false)));
             if (v.is_undefined() || (boolean && !truthy(v))) return a.get(0, "default_value", S(""));
             return v;
         }},
        {"dictsort", f_dictsort},
        {"escape", f_escape},
        {"first", f_first},
        {"float", f_float},
        {"forceescape", f_forceescape},
        {"format", [](Interp&, Value v, CallArgs& a) { return percent_format(to_str(v), a); }},
        {"indent", f_indent},
        {"int", f_int},
        {"items", f_items},
        {"join", f_join},
        {"last", f_last},
        {"length", f_length},
        {"list", f_list},
        {"lower", [](Interp&, Value v, CallArgs&) { return S(py_lower(to_str(v))); }},
        {"map", f_map},
        {"max", [](Interp&, Value v, CallArgs& a) { return min_max(v, a, true); }},
        {"min", [](Interp&, Value v, CallArgs& a) { return min_max(v, a, false); }},
        {"pprint", [](Interp&, Value v, CallArgs&) { return S(repr(v)); }},
        {"reject", [](Interp& in, Value v, CallArgs& a) { return select_impl(in, v, a, false, false); }},
        {"rejectattr", [](Interp& in, Value v, CallArgs& a) { return select_impl(in, v, a, true, false); }},
        {"replace",
         [](Interp& in, Value v, CallArgs& a) {
             Value count = a.get(2, "count", Value::none());
             return S(py_replace(to_str(v), to_str(a.get(0, "old")), to_str(a.get(1, "new")),
                                 count.is_none() ? -1 : arg_int(count, a.line, "replace"), in, a.line));
         }},
        {"reverse", f_reverse},
        {"round", f_round},
        {"safe",
         [](Interp&, Value v, CallArgs&) {
             Value r = v.is_string() ? v : S(to_str(v));
             r.markup = true;
             return r;
         }},
        {"select", [](Interp& in, Value v, CallArgs& a) { return select_impl(in, v, a, false, true); }},
        {"selectattr", [](Interp& in, Value v, CallArgs& a) { return select_impl(in, v, a, true, true); }},
        {"sort", f_sort},
        {"string", [](Interp&, Value v, CallArgs&) { return S(to_str(v)); }},
        {"sum", f_sum},
        {"title", [](Interp&, Value v, CallArgs&) { return S(jinja_title(to_str(v))); }},
        {"tojson", f_tojson},
        {"trim", [](Interp&, Value v,
                    CallArgs& a) { return S(py_strip(to_str(v), true, true, a.get(0, "chars", Value::none()))); }},
        {"unique", f_unique},
        {"upper", [](Interp&, Value v, CallArgs&) { return S(py_upper(to_str(v))); }},
        {"wordcount", f_wordcount},
    };
    return m;
}

bool t_compare(const Value& v, CallArgs& a, int want) {  // want: -2 <, -1 <=, 1 >=, 2 >
    int c = compare(v, a.get(0, "other"), a.line);
    switch (want) {
        case -2: return c < 0;
        case -1: return c <= 0;
        case 1: return c >= 0;
        default: return c > 0;
    }
}

const std::unordered_map<std::string, TestFn>& tests() {
    static const std::unordered_map<std::string, TestFn> m = {
        {"defined", [](Interp&, const Value& v, CallArgs&) { return !v.is_undefined(); }},
        {"undefined", [](Interp&, const Value& v, CallArgs&) { return v.is_undefined(); }},
        {"none", [](Interp&, const Value& v, CallArgs&) { return v.is_none(); }},
        {"boolean", [](Interp&, const Value& v, CallArgs&) { return v.kind == Kind::boolean; }},
        {"true", [](Interp&, const Value& v, CallArgs&) { return v.kind == Kind::boolean && v.b; }},
        {"false", [](Interp&, const Value& v, CallArgs&) { return v.kind == Kind::boolean && !v.b; }},
        {"integer", [](Interp&, const Value& v, CallArgs&) { return v.kind == Kind::integer; }},
        {"float", [](Interp&, const Value& v, CallArgs&) { return v.kind == Kind::floating; }},
        {"number", [](Interp&, const Value& v, CallArgs&) { return v.is_number(); }},
        {"string", [](Interp&, const Value& v, CallArgs&) { return v.is_string(); }},
        {"mapping", [](Interp&, const Value& v, CallArgs&) { return v.is_dict(); }},
        {"iterable", [](Interp&, const Value& v,
                        CallArgs&) { return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict(); }},
        {"sequence", [](Interp&, const Value& v,
                        CallArgs&) { return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict(); }},
        {"callable", [](Interp&, const Value& v, CallArgs&) { return v.kind == Kind::func; }},
        {"filter", [](Interp&, const Value& v, CallArgs&) { return v.is_string() && has_filter(v.s); }},
        {"test", [](Interp&, const Value& v, CallArgs&) { return v.is_string() && has_test(v.s); }},
        {"escaped", [](Interp&, const Value& v, CallArgs&) { return v.is_string() && v.markup; }},
        {"lower",
         [](Interp&, const Value& v, CallArgs&) {
             std::string s = to_str(v);
             return py_lower(s) == s && py_upper(s) != s;
         }},
        {"upper",
         [](Interp&, const Value& v, CallArgs&) {
             std::string s = to_str(v);
             return py_upper(s) == s && py_lower(s) != s;
         }},
        {"odd", [](Interp&, const Value& v, CallArgs& a) { return arg_int(v, a.line, "odd") % 2 != 0; }},
        {"even", [](Interp&, const Value& v, CallArgs& a) { return arg_int(v, a.line, "even") % 2 == 0; }},
        {"divisibleby",
         [](Interp&, const Value& v, CallArgs& a) {
             int64_t d = arg_int(a.get(0, "num"), a.line, "divisibleby");
             if (d == 0) fail(a.line, "integer division or modulo by zero");
             if (d == -1) return true;
             return arg_int(v, a.line, "divisibleby") % d == 0;
         }},
        {"sameas",
         [](Interp&, const Value& v, CallArgs& a) {
             Value o = a.get(0, "other");
             if (v.kind != o.kind) return false;
             if (v.is_list()) return v.list == o.list;
             if (v.is_dict() || v.kind == Kind::ns) return v.dict == o.dict;
             return equals(v, o);
         }},
        {"in",
         [](Interp&, const Value& v, CallArgs& a) {
             Value seq = a.get(0, "seq");
             if (seq.is_string()) return v.is_string() && seq.s.find(v.s) != std::string::npos;
             if (seq.is_dict()) return seq.dict->find(v) != nullptr;
             for (const auto& x : iterate(seq, a.line))
                 if (equals(x, v)) return true;
             return false;
         }},
        {"eq", [](Interp&, const Value& v, CallArgs& a) { return equals(v, a.get(0, "other")); }},
        {"ne", [](Interp&, const Value& v, CallArgs& a) { return !equals(v, a.get(0, "other")); }},
        {"lt", [](Interp&, const Value& v, CallArgs& a) { return t_compare(v, a, -2); }},
        {"le", [](Interp&, const Value& v, CallArgs& a) { return t_compare(v, a, -1); }},
        {"ge", [](Interp&, const Value& v, CallArgs& a) { return t_compare(v, a, 1); }},
        {"gt", [](Interp&, const Value& v, CallArgs& a) { return t_compare(v, a, 2); }},
    };
    return m;
}

std::string canonical_test(const std::string& name) {
    if (name == "==" || name == "equalto") return "eq";
    if (name == "!=") return "ne";
    if (name == "<" || name == "lessthan") return "lt";
    if (name == "<=") return "le";
    if (name == ">" || name == "greaterthan") return "gt";
    if (name == ">=") return "ge";
    return name;
}

std::string canonical_filter(const std::string& name) {
    if (name == "d") return "default";
    if (name == "e") return "escape";
    return name;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(canonical_filter(name)) > 0; }
bool has_test(const std::string& name) { return tests().count(canonical_test(name)) > 0; }

Value apply_filter(Interp& in, const std::string& name, Value v, CallArgs& args) {
    auto it = filters().find(canonical_filter(name));
    if (it == filters().end()) fail(args.line, "No filter named '" + name + "'.");
    return it->second(in, std::move(v), args);
}

bool apply_test(Interp& in, const std::string& name, const Value& v, CallArgs& args) {
    auto it = tests().find(canonical_test(name));
    if (it == tests().end()) fail(args.line, "No test named '" + name + "'.");
    return it->second(in, v, args);
}

}  // namespace berth::jinja
