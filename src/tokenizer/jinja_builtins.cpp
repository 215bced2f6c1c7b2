// Jinja2 builtin filters and tests, and the Python str/list/dict methods templates call, with the argument
// conventions and edge cases of Jinja2 3.1 (filters.py, tests.py) and CPython.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "tokenizer/jinja.h"

namespace berth::jinja {
namespace {

// The filter's arguments after the value.
using FilterFn = Value (*)(Interp& in, Value v, CallArgs& a);
using TestFn = bool (*)(Interp& in, const Value& v, CallArgs& a);

Value S(std::string s) { return Value::string(std::move(s)); }
Value L(std::vector<Value> items) { return Value::new_list(std::move(items)); }
// dict.items()/keys()/values(): a list that prints like Python's view objects.
Value view(std::vector<Value> items, const char* name) {
    Value v = Value::new_list(std::move(items));
    v.list->view = name;
    return v;
}

int64_t arg_int(const Value& v, int line, const char* what) {
    if (v.is_int_like()) return v.as_int();
    if (v.kind == Kind::floating && std::isfinite(v.f) && std::fabs(v.f) < 9e18) return int64_t(v.f);
    fail(line, std::string(what) + ": expected an integer, got '" + type_name(v) + "'");
}

// str.splitlines() (keepends=False).
std::vector<std::string> splitlines(std::string_view s) {
    std::vector<std::string> lines;
    std::string cur;
    auto chars = utf8_chars(s);
    for (size_t k = 0; k < chars.size(); ++k) {
        std::string_view c = chars[k];
        bool nl = c == "\n" || c == "\r" || c == "\v" || c == "\f" || c == "\x1c" || c == "\x1d" || c == "\x1e" ||
                  c == "\xc2\x85" || c == "\xe2\x80\xa8" || c == "\xe2\x80\xa9";
        if (!nl) {
            cur += c;
            continue;
        }
        if (c == "\r" && k + 1 < chars.size() && chars[k + 1] == "\n") ++k;
        lines.push_back(std::move(cur));
        cur.clear();
    }
    if (!cur.empty()) lines.push_back(std::move(cur));
    return lines;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& with, int64_t count,
                       Interp& in, int line) {
    std::string out;
    if (old.empty()) {
        auto chars = utf8_chars(s);
        int64_t done = 0;
        for (size_t k = 0; k <= chars.size(); ++k) {
            if (count < 0 || done < count) {
                out += with;
                ++done;
            }
            if (k < chars.size()) out += chars[k];
            check_size(in, out.size(), line);
        }
        return out;
    }
    size_t pos = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        size_t f = s.find(old, pos);
        if (f == std::string::npos) break;
        out.append(s, pos, f - pos);
        out += with;
        pos = f + old.size();
        ++done;
        check_size(in, out.size(), line);
    }
    out.append(s, pos, std::string::npos);
    return out;
}

bool is_space_piece(std::string_view p) {
    if (p.size() == 1) return is_py_space(static_cast<unsigned char>(p[0]));
    std::string tmp = py_strip(p, true, true, Value());
    return tmp.empty();
}

// str.split(sep=None, maxsplit=-1)
Value py_split(const std::string& s, const Value& sep, int64_t maxsplit, int line) {
    std::vector<Value> parts;
    if (sep.is_none() || sep.is_undefined()) {
        auto chars = utf8_chars(s);
        size_t k = 0, n = chars.size();
        while (true) {
            while (k < n && is_space_piece(chars[k])) ++k;
            if (k >= n) break;
            if (maxsplit >= 0 && int64_t(parts.size()) >= maxsplit) {
                std::string rest;
                for (size_t j = k; j < n; ++j) rest += chars[j];
                size_t e = rest.size();
                // trailing whitespace stays with the remainder only when not at the end: Python strips it
                std::string r = py_strip(rest, false, true, Value());
                (void)e;
                parts.push_back(S(r));
                break;
            }
            std::string w;
            while (k < n && !is_space_piece(chars[k])) w += chars[k++];
            parts.push_back(S(w));
        }
        return L(std::move(parts));
    }
    if (!sep.is_string()) fail(line, std::string("must be str or None, not ") + type_name(sep));
    if (sep.s.empty()) fail(line, "empty separator");
    size_t pos = 0;
    while (maxsplit < 0 || int64_t(parts.size()) < maxsplit) {
        size_t f = s.find(sep.s, pos);
        if (f == std::string::npos) break;
        parts.push_back(S(s.substr(pos, f - pos)));
        pos = f + sep.s.size();
    }
    parts.push_back(S(s.substr(pos)));
    return L(std::move(parts));
}

std::string py_capitalize(const std::string& s) {
    auto chars = utf8_chars(s);
    if (chars.empty()) return "";
    std::string rest;
    for (size_t k = 1; k < chars.size(); ++k) rest += chars[k];
    return py_upper(chars[0]) + py_lower(rest);
}

// Cased letters: ASCII, and (approximately) the Latin, Greek and Cyrillic blocks.
bool is_alpha_piece(std::string_view p) {
    if (p.size() == 1) return isalpha((unsigned char)p[0]) != 0;
    if (py_lower(p) != py_upper(p)) return true;
    size_t k = 0;
    auto chars = utf8_chars(p);
    (void)k;
    if (chars.size() != 1 || p.size() != 2) return false;
    uint32_t cp = ((uint32_t(static_cast<unsigned char>(p[0])) & 0x1F) << 6) | (static_cast<unsigned char>(p[1]) & 0x3F);
    return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x370 && cp <= 0x4FF);
}

// str.title(): a cased character after an uncased one is upper-cased, others lower-cased.
std::string py_title(const std::string& s) {
    std::string out;
    bool prev_cased = false;
    for (auto c : utf8_chars(s)) {
        bool cased = is_alpha_piece(c);
        out += cased ? (prev_cased ? py_lower(c) : py_upper(c)) : std::string(c);
        prev_cased = cased;
    }
    return out;
}

// Jinja's title filter: words start after "-", whitespace, "(", "{", "[", "<".
std::string jinja_title(const std::string& s) {
    std::string out;
    bool start = true;
    for (auto c : utf8_chars(s)) {
        bool sep = c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || is_space_piece(c);
        if (sep) {
            out += c;
            start = true;
        } else {
            out += start ? py_upper(c) : py_lower(c);
            start = false;
        }
    }
    return out;
}

// Python %-formatting for the format filter and `str % args`: %s %r %d %i %f %.Nf %%.
Value percent_format(const std::string& fmt, CallArgs& a) {
    std::string out;
    size_t next = 0;
    auto take = [&]() -> Value {
        if (next >= a.pos.size()) fail(a.line, "not enough arguments for format string");
        return a.pos[next++];
    };
    for (size_t k = 0; k < fmt.size(); ++k) {
        if (fmt[k] != '%') {
            out += fmt[k];
            continue;
        }
        if (++k >= fmt.size()) fail(a.line, "incomplete format");
        int prec = -1;
        if (fmt[k] == '.') {
            prec = 0;
            while (++k < fmt.size() && isdigit((unsigned char)fmt[k])) prec = prec * 10 + (fmt[k] - '0');
            if (k >= fmt.size()) fail(a.line, "incomplete format");
        }
        char c = fmt[k];
        if (c == '%') {
            out += '%';
        } else if (c == 's') {
            out += to_str(take());
        } else if (c == 'r') {
            out += repr(take());
        } else if (c == 'd' || c == 'i') {
            Value v = take();
            if (!v.is_number()) fail(a.line, std::string("%d format: a real number is required, not ") + type_name(v));
            out += std::to_string(v.kind == Kind::floating ? int64_t(v.f) : v.as_int());
        } else if (c == 'f') {
            Value v = take();
            if (!v.is_number()) fail(a.line, std::string("must be real number, not ") + type_name(v));
            char buf[64];
            std::snprintf(buf, sizeof(buf), "%.*f", prec < 0 ? 6 : std::min(prec, 30), v.as_double());
            out += buf;
        } else {
            fail(a.line, std::string("unsupported format character '") + c + "'");
        }
    }
    if (next < a.pos.size()) fail(a.line, "not all arguments converted during string formatting");
    return S(out);
}

// str.format with {} / {0} / {name} fields (no format specs).
Value brace_format(const std::string& fmt, CallArgs& a) {
    std::string out;
    size_t auto_idx = 0;
    for (size_t k = 0; k < fmt.size(); ++k) {
        char c = fmt[k];
        if (c == '}' ) {
            if (k + 1 < fmt.size() && fmt[k + 1] == '}') ++k;
            else fail(a.line, "Single '}' encountered in format string");
            out += '}';
            continue;
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (k + 1 < fmt.size() && fmt[k + 1] == '{') {
            out += '{';
            ++k;
            continue;
        }
        size_t e = fmt.find('}', k);
        if (e == std::string::npos) fail(a.line, "Single '{' encountered in format string");
        std::string field = fmt.substr(k + 1, e - k - 1);
        if (field.find(':') != std::string::npos || field.find('!') != std::string::npos)
            fail(a.line, "format specs are not supported in str.format");
        Value v;
        if (field.empty()) {
            if (auto_idx >= a.pos.size()) fail(a.line, "Replacement index out of range for positional args tuple");
            v = a.pos[auto_idx++];
        } else if (isdigit((unsigned char)field[0])) {
            size_t idx = size_t(std::atoi(field.c_str()));
            if (idx >= a.pos.size()) fail(a.line, "Replacement index out of range for positional args tuple");
            v = a.pos[idx];
        } else {
            bool found = false;
            for (const auto& [kn, kv] : a.kw)
                if (kn == field) v = kv, found = true;
            if (!found) fail(a.line, "KeyError: '" + field + "'");
        }
        out += to_str(v);
        k = e;
    }
    return S(out);
}

// make_attrgetter: "a.b.0" path through get_item; `def` replaces an undefined result when given.
Value attr_path(const Value& item, const Value& attribute, int line) {
    if (!attribute.is_string()) return get_item(item, attribute, line);
    Value v = item;
    size_t pos = 0;
    const std::string& path = attribute.s;
    while (true) {
        size_t dot = path.find('.', pos);
        std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return isdigit((unsigned char)c); });
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
    if (!truthy(v)) return L({});  // Jinja2: `if value:` guards the loop (none selects nothing)
    for (auto& item : iterate(v, a.line)) {
        Value x = attr ? attr_path(item, attribute, a.line) : item;
        bool ok = has_test ? apply_test(in, test, x, targs) : truthy(x);
        if (ok == keep_when) out.push_back(item);
    }
    return L(std::move(out));
}

Value f_map(Interp& in, Value v, CallArgs& a) {
    std::vector<Value> out;
    if (!truthy(v)) return L({});  // Jinja2: `if value:` guards the loop
    if (a.pos.empty()) {
        Value attribute = a.get(99, "attribute");
        if (attribute.is_undefined()) fail(a.line, "map requires a filter argument");
        Value def = a.get(99, "default", Value());
        bool has_def = a.has(99, "default");
        for (auto& item : iterate(v, a.line)) {
            Value x = attr_path(item, attribute, a.line);
            out.push_back(x.is_undefined() && has_def ? def : x);
        }
        return L(std::move(out));
    }
    std::string name = to_str(a.pos[0]);
    for (auto& item : iterate(v, a.line)) {
        CallArgs fa = sub_args(a, 1);
        out.push_back(apply_filter(in, name, item, fa));
    }
    return L(std::move(out));
}

Value f_tojson(Interp& in, Value v, CallArgs& a) {
    JsonStyle st = interp_limits(in).tojson_style;
    Value indent = a.get(0, "indent", Value::none());
    if (a.pos.size() > 0 && a.pos[0].kind == Kind::boolean) indent = a.get(1, "indent", Value::none());
    if (indent.is_int_like()) st.indent = int(std::clamp<int64_t>(indent.as_int(), 0, 64));
    else if (!indent.is_none() && !indent.is_undefined()) fail(a.line, "tojson: indent must be an integer");
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
    std::string ind = w.is_string() ? w.s : std::string(size_t(std::clamp<int64_t>(arg_int(w, a.line, "indent"), 0, 1024)), ' ');
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
        case Kind::list: return Value::integer(int64_t(v.list->items.size()));
        case Kind::dict:
        case Kind::ns: return Value::integer(int64_t(v.dict->items.size()));
        default: fail(a.line, std::string("object of type '") + type_name(v) + "' has no len()");
    }
}

Value f_int(Interp&, Value v, CallArgs& a) {
    if (v.is_undefined()) fail(a.line, v.s);  // int(Undefined) raises in Jinja2
    Value def = a.get(0, "default", Value::integer(0));
    if (v.is_int_like()) return Value::integer(v.as_int());
    if (v.kind == Kind::floating) return std::isfinite(v.f) && std::fabs(v.f) < 9.2e18 ? Value::integer(int64_t(v.f)) : def;
    if (v.is_string()) {
        std::string t = py_strip(v.s, true, true, Value());
        int64_t base = arg_int(a.get(1, "base", Value::integer(10)), a.line, "int");
        if (base < 2 || base > 36) base = 10;
        char* end = nullptr;
        errno = 0;
        long long x = std::strtoll(t.c_str(), &end, int(base));
        if (!t.empty() && end && *end == 0 && errno == 0) return Value::integer(x);
        double d = std::strtod(t.c_str(), &end);
        if (!t.empty() && end && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18) return Value::integer(int64_t(d));
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
    if (v.is_undefined()) return L({});
    if (!v.is_dict()) fail(a.line, "Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto& [k, x] : v.dict->items) out.push_back(Value::new_list({k, x}, true));
    return L(std::move(out));
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
    return L(std::move(out));
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
                         truthy(a.get(1, "case_sensitive", Value::boolean(false))), a.get(2, "attribute", Value::none()));
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
            fail(a.line, std::string("unsupported operand type(s) for +: '") + type_name(acc) + "' and '" + type_name(x) + "'");
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
    auto items = iterate(v, a.line);
    std::reverse(items.begin(), items.end());
    return L(std::move(items));
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
        {"abs", [](Interp&, Value v, CallArgs& a) -> Value {
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
        {"default", [](Interp&, Value v, CallArgs& a) {
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
        {"replace", [](Interp& in, Value v, CallArgs& a) {
             Value count = a.get(2, "count", Value::none());
             return S(py_replace(to_str(v), to_str(a.get(0, "old")), to_str(a.get(1, "new")),
                                 count.is_none() ? -1 : arg_int(count, a.line, "replace"), in, a.line));
         }},
        {"reverse", f_reverse},
        {"round", f_round},
        {"safe", [](Interp&, Value v, CallArgs&) {
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
        {"trim", [](Interp&, Value v, CallArgs& a) {
             return S(py_strip(to_str(v), true, true, a.get(0, "chars", Value::none())));
         }},
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
        {"iterable", [](Interp&, const Value& v, CallArgs&) {
             return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
         }},
        {"sequence", [](Interp&, const Value& v, CallArgs&) {
             return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
         }},
        {"callable", [](Interp&, const Value& v, CallArgs&) { return v.kind == Kind::func; }},
        {"escaped", [](Interp&, const Value& v, CallArgs&) { return v.is_string() && v.markup; }},
        {"lower", [](Interp&, const Value& v, CallArgs&) {
             std::string s = to_str(v);
             return py_lower(s) == s && py_upper(s) != s;
         }},
        {"upper", [](Interp&, const Value& v, CallArgs&) {
             std::string s = to_str(v);
             return py_upper(s) == s && py_lower(s) != s;
         }},
        {"odd", [](Interp&, const Value& v, CallArgs& a) { return arg_int(v, a.line, "odd") % 2 != 0; }},
        {"even", [](Interp&, const Value& v, CallArgs& a) { return arg_int(v, a.line, "even") % 2 == 0; }},
        {"divisibleby", [](Interp&, const Value& v, CallArgs& a) {
             int64_t d = arg_int(a.get(0, "num"), a.line, "divisibleby");
             if (d == 0) fail(a.line, "integer division or modulo by zero");
             if (d == -1) return true;
             return arg_int(v, a.line, "divisibleby") % d == 0;
         }},
        {"sameas", [](Interp&, const Value& v, CallArgs& a) {
             Value o = a.get(0, "other");
             if (v.kind != o.kind) return false;
             if (v.is_list()) return v.list == o.list;
             if (v.is_dict() || v.kind == Kind::ns) return v.dict == o.dict;
             return equals(v, o);
         }},
        {"in", [](Interp&, const Value& v, CallArgs& a) {
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

// ---- methods -------------------------------------------------------------------------------------------

Value bind(const Value& self, const std::string& name, Value (*fn)(const Value& self, CallArgs& a)) {
    return Value::function(name, [self, fn](CallArgs& a) { return fn(self, a); });
}

bool prefix_match(const Value& self, CallArgs& a, bool suffix) {
    Value p = a.get(0, "prefix");
    std::vector<Value> options = p.is_list() ? p.list->items : std::vector<Value>{p};
    for (const auto& o : options) {
        if (!o.is_string())
            fail(a.line, std::string(suffix ? "endswith" : "startswith") + " first arg must be str or a tuple of str");
        const std::string& s = self.s;
        if (suffix ? (s.size() >= o.s.size() && s.compare(s.size() - o.s.size(), o.s.size(), o.s) == 0)
                   : s.compare(0, o.s.size(), o.s) == 0)
            return true;
    }
    return false;
}

Value str_method(const Value& self, const std::string& name) {
    using F = Value (*)(const Value&, CallArgs&);
    static const std::unordered_map<std::string, F> m = {
        {"strip", [](const Value& s, CallArgs& a) { return S(py_strip(s.s, true, true, a.get(0, "chars", Value::none()))); }},
        {"lstrip", [](const Value& s, CallArgs& a) { return S(py_strip(s.s, true, false, a.get(0, "chars", Value::none()))); }},
        {"rstrip", [](const Value& s, CallArgs& a) { return S(py_strip(s.s, false, true, a.get(0, "chars", Value::none()))); }},
        {"upper", [](const Value& s, CallArgs&) { return S(py_upper(s.s)); }},
        {"lower", [](const Value& s, CallArgs&) { return S(py_lower(s.s)); }},
        {"title", [](const Value& s, CallArgs&) { return S(py_title(s.s)); }},
        {"capitalize", [](const Value& s, CallArgs&) { return S(py_capitalize(s.s)); }},
        {"startswith", [](const Value& s, CallArgs& a) { return Value::boolean(prefix_match(s, a, false)); }},
        {"endswith", [](const Value& s, CallArgs& a) { return Value::boolean(prefix_match(s, a, true)); }},
        {"split", [](const Value& s, CallArgs& a) {
             Value mx = a.get(1, "maxsplit", Value::integer(-1));
             return py_split(s.s, a.get(0, "sep", Value::none()), arg_int(mx, a.line, "split"), a.line);
         }},
        {"splitlines", [](const Value& s, CallArgs&) {
             std::vector<Value> out;
             for (auto& l : splitlines(s.s)) out.push_back(S(l));
             return L(std::move(out));
         }},
        {"replace", [](const Value& s, CallArgs& a) {
             Value count = a.get(2, "count", Value::integer(-1));
             Value o = a.get(0, "old"), n = a.get(1, "new");
             if (!o.is_string() || !n.is_string()) fail(a.line, "replace() arguments must be str");
             return S(py_replace(s.s, o.s, n.s, arg_int(count, a.line, "replace"), *a.interp, a.line));
         }},
        {"find", [](const Value& s, CallArgs& a) {
             Value sub = a.get(0, "sub");
             if (!sub.is_string()) fail(a.line, "must be str");
             size_t f = s.s.find(sub.s);
             return Value::integer(f == std::string::npos ? -1 : int64_t(utf8_length(s.s.substr(0, f))));
         }},
        {"count", [](const Value& s, CallArgs& a) {
             Value sub = a.get(0, "sub");
             if (!sub.is_string()) fail(a.line, "must be str");
             if (sub.s.empty()) return Value::integer(int64_t(utf8_length(s.s)) + 1);
             int64_t n = 0;
             for (size_t p = s.s.find(sub.s); p != std::string::npos; p = s.s.find(sub.s, p + sub.s.size())) ++n;
             return Value::integer(n);
         }},
        {"join", [](const Value& s, CallArgs& a) {
             std::string out;
             size_t k = 0;
             for (auto& item : iterate(a.get(0, "iterable"), a.line)) {
                 if (!item.is_string())
                     fail(a.line, "sequence item " + std::to_string(k) + ": expected str instance, " + type_name(item) + " found");
                 if (k++) out += s.s;
                 out += item.s;
                 check_size(*a.interp, out.size(), a.line);
             }
             return S(out);
         }},
        {"format", [](const Value& s, CallArgs& a) { return brace_format(s.s, a); }},
        {"isdigit", [](const Value& s, CallArgs&) {
             return Value::boolean(!s.s.empty() && std::all_of(s.s.begin(), s.s.end(), [](char c) { return isdigit((unsigned char)c); }));
         }},
        {"isalpha", [](const Value& s, CallArgs&) {
             return Value::boolean(!s.s.empty() && std::all_of(s.s.begin(), s.s.end(), [](char c) { return isalpha((unsigned char)c); }));
         }},
        {"isalnum", [](const Value& s, CallArgs&) {
             return Value::boolean(!s.s.empty() && std::all_of(s.s.begin(), s.s.end(), [](char c) { return isalnum((unsigned char)c); }));
         }},
        {"isspace", [](const Value& s, CallArgs&) {
             return Value::boolean(!s.s.empty() && py_strip(s.s, true, true, Value()).empty());
         }},
        {"islower", [](const Value& s, CallArgs&) { return Value::boolean(py_lower(s.s) == s.s && py_upper(s.s) != s.s); }},
        {"isupper", [](const Value& s, CallArgs&) { return Value::boolean(py_upper(s.s) == s.s && py_lower(s.s) != s.s); }},
    };
    auto it = m.find(name);
    return it == m.end() ? Value() : bind(self, name, it->second);
}

Value list_method(const Value& self, const std::string& name) {
    using F = Value (*)(const Value&, CallArgs&);
    static const std::unordered_map<std::string, F> m = {
        {"append", [](const Value& l, CallArgs& a) {
             if (l.list->is_tuple) fail(a.line, "'tuple' object has no attribute 'append'");
             if (a.pos.size() != 1) fail(a.line, "append() takes exactly one argument");
             if (l.list->items.size() >= interp_limits(*a.interp).max_output_bytes / sizeof(Value))
                 fail(a.line, "list exceeds the size limit");
             l.list->items.push_back(a.pos[0]);
             return Value::none();
         }},
        {"extend", [](const Value& l, CallArgs& a) {
             for (auto& x : iterate(a.get(0, "iterable"), a.line)) l.list->items.push_back(x);
             return Value::none();
         }},
        {"pop", [](const Value& l, CallArgs& a) {
             auto& items = l.list->items;
             if (items.empty()) fail(a.line, "pop from empty list");
             int64_t k = arg_int(a.get(0, "index", Value::integer(-1)), a.line, "pop");
             if (k < 0) k += int64_t(items.size());
             if (k < 0 || k >= int64_t(items.size())) fail(a.line, "pop index out of range");
             Value v = items[size_t(k)];
             items.erase(items.begin() + k);
             return v;
         }},
        {"insert", [](const Value& l, CallArgs& a) {
             auto& items = l.list->items;
             int64_t k = arg_int(a.get(0, "index"), a.line, "insert"), n = int64_t(items.size());
             if (k < 0) k = std::max<int64_t>(0, k + n);
             k = std::min(k, n);
             items.insert(items.begin() + k, a.get(1, "object", Value::none()));
             return Value::none();
         }},
        {"index", [](const Value& l, CallArgs& a) {
             Value x = a.get(0, "value");
             for (size_t k = 0; k < l.list->items.size(); ++k)
                 if (equals(l.list->items[k], x)) return Value::integer(int64_t(k));
             fail(a.line, repr(x) + " is not in list");
         }},
        {"count", [](const Value& l, CallArgs& a) {
             Value x = a.get(0, "value");
             int64_t n = 0;
             for (const auto& y : l.list->items) n += equals(x, y);
             return Value::integer(n);
         }},
        {"copy", [](const Value& l, CallArgs&) { return Value::new_list(l.list->items, l.list->is_tuple); }},
    };
    auto it = m.find(name);
    return it == m.end() ? Value() : bind(self, name, it->second);
}

Value dict_method(const Value& self, const std::string& name) {
    using F = Value (*)(const Value&, CallArgs&);
    static const std::unordered_map<std::string, F> m = {
        {"items", [](const Value& d, CallArgs&) {
             std::vector<Value> out;
             for (const auto& [k, v] : d.dict->items) out.push_back(Value::new_list({k, v}, true));
             return view(std::move(out), "dict_items");
         }},
        {"keys", [](const Value& d, CallArgs&) {
             std::vector<Value> out;
             for (const auto& [k, v] : d.dict->items) out.push_back(k);
             return view(std::move(out), "dict_keys");
         }},
        {"values", [](const Value& d, CallArgs&) {
             std::vector<Value> out;
             for (const auto& [k, v] : d.dict->items) out.push_back(v);
             return view(std::move(out), "dict_values");
         }},
        {"get", [](const Value& d, CallArgs& a) {
             const Value* v = d.dict->find(a.get(0, "key"));
             return v ? *v : a.get(1, "default", Value::none());
         }},
        {"pop", [](const Value& d, CallArgs& a) {
             Value key = a.get(0, "key");
             auto& items = d.dict->items;
             for (size_t k = 0; k < items.size(); ++k) {
                 if (equals(items[k].first, key)) {
                     Value v = items[k].second;
                     items.erase(items.begin() + int64_t(k));
                     return v;
                 }
             }
             if (a.has(1, "default")) return a.get(1, "default");
             fail(a.line, "KeyError: " + repr(key));
         }},
        {"setdefault", [](const Value& d, CallArgs& a) {
             Value key = a.get(0, "key");
             if (const Value* v = d.dict->find(key)) return *v;
             Value def = a.get(1, "default", Value::none());
             d.dict->set(key, def);
             return def;
         }},
        {"update", [](const Value& d, CallArgs& a) {
             for (const auto& p : a.pos) {
                 if (!p.is_dict()) fail(a.line, "update() argument must be a mapping");
                 for (const auto& [k, v] : p.dict->items) d.dict->set(k, v);
             }
             for (const auto& [k, v] : a.kw) d.dict->set(S(k), v);
             return Value::none();
         }},
        {"copy", [](const Value& d, CallArgs&) {
             Value c = Value::new_dict();
             c.dict->items = d.dict->items;
             return c;
         }},
    };
    auto it = m.find(name);
    return it == m.end() ? Value() : bind(self, name, it->second);
}

}  // namespace

Value get_method(const Value& obj, const std::string& name) {
    switch (obj.kind) {
        case Kind::string: return str_method(obj, name);
        case Kind::list: return list_method(obj, name);
        case Kind::dict: return dict_method(obj, name);
        default: return Value();
    }
}

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
