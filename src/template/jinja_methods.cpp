// The Python str/list/dict methods templates call (CPython semantics on UTF-8 strings), and the string
// helpers the filters share with them.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "template/jinja.h"

namespace berth::jinja {
namespace {

Value S(std::string s) { return Value::string(std::move(s)); }
Value L(std::vector<Value> items) { return Value::new_list(std::move(items)); }
// dict.items()/keys()/values(): a list that prints like Python's view objects.
Value view(std::vector<Value> items, const char* name) {
    Value v = Value::new_list(std::move(items));
    v.list->view = name;
    return v;
}

}  // namespace

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

std::string py_replace(const std::string& s, const std::string& old, const std::string& with, int64_t count, Interp& in,
                       int line) {
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

static bool is_space_piece(std::string_view p) {
    if (p.size() == 1) return is_py_space(static_cast<unsigned char>(p[0]));
    std::string tmp = py_strip(p, true, true, Value());
    return tmp.empty();
}

// str.split(sep=None, maxsplit=-1)
static Value py_split(const std::string& s, const Value& sep, int64_t maxsplit, int line) {
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
static bool is_alpha_piece(std::string_view p) {
    if (p.size() == 1) return isalpha((unsigned char)p[0]) != 0;
    if (py_lower(p) != py_upper(p)) return true;
    size_t k = 0;
    auto chars = utf8_chars(p);
    (void)k;
    if (chars.size() != 1 || p.size() != 2) return false;
    uint32_t cp =
        ((uint32_t(static_cast<unsigned char>(p[0])) & 0x1F) << 6) | (static_cast<unsigned char>(p[1]) & 0x3F);
    return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x370 && cp <= 0x4FF);
}

// str.title(): a cased character after an uncased one is upper-cased, others lower-cased.
static std::string py_title(const std::string& s) {
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
static Value brace_format(const std::string& fmt, CallArgs& a) {
    std::string out;
    size_t auto_idx = 0;
    for (size_t k = 0; k < fmt.size(); ++k) {
        char c = fmt[k];
        if (c == '}') {
            if (k + 1 < fmt.size() && fmt[k + 1] == '}')
                ++k;
            else
                fail(a.line, "Single '}' encountered in format string");
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

namespace {

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
        {"strip",
         [](const Value& s, CallArgs& a) { return S(py_strip(s.s, true, true, a.get(0, "chars", Value::none()))); }},
        {"lstrip",
         [](const Value& s, CallArgs& a) { return S(py_strip(s.s, true, false, a.get(0, "chars", Value::none()))); }},
        {"rstrip",
         [](const Value& s, CallArgs& a) { return S(py_strip(s.s, false, true, a.get(0, "chars", Value::none()))); }},
        {"upper", [](const Value& s, CallArgs&) { return S(py_upper(s.s)); }},
        {"lower", [](const Value& s, CallArgs&) { return S(py_lower(s.s)); }},
        {"title", [](const Value& s, CallArgs&) { return S(py_title(s.s)); }},
        {"capitalize", [](const Value& s, CallArgs&) { return S(py_capitalize(s.s)); }},
        {"startswith", [](const Value& s, CallArgs& a) { return Value::boolean(prefix_match(s, a, false)); }},
        {"endswith", [](const Value& s, CallArgs& a) { return Value::boolean(prefix_match(s, a, true)); }},
        {"split",
         [](const Value& s, CallArgs& a) {
             Value mx = a.get(1, "maxsplit", Value::integer(-1));
             return py_split(s.s, a.get(0, "sep", Value::none()), arg_int(mx, a.line, "split"), a.line);
         }},
        {"splitlines",
         [](const Value& s, CallArgs&) {
             std::vector<Value> out;
             for (auto& l : splitlines(s.s)) out.push_back(S(l));
             return L(std::move(out));
         }},
        {"replace",
         [](const Value& s, CallArgs& a) {
             Value count = a.get(2, "count", Value::integer(-1));
             Value o = a.get(0, "old"), n = a.get(1, "new");
             if (!o.is_string() || !n.is_string()) fail(a.line, "replace() arguments must be str");
             return S(py_replace(s.s, o.s, n.s, arg_int(count, a.line, "replace"), *a.interp, a.line));
         }},
        {"find",
         [](const Value& s, CallArgs& a) {
             Value sub = a.get(0, "sub");
             if (!sub.is_string()) fail(a.line, "must be str");
             size_t f = s.s.find(sub.s);
             return Value::integer(f == std::string::npos ? -1 : int64_t(utf8_length(s.s.substr(0, f))));
         }},
        {"count",
         [](const Value& s, CallArgs& a) {
             Value sub = a.get(0, "sub");
             if (!sub.is_string()) fail(a.line, "must be str");
             if (sub.s.empty()) return Value::integer(int64_t(utf8_length(s.s)) + 1);
             int64_t n = 0;
             for (size_t p = s.s.find(sub.s); p != std::string::npos; p = s.s.find(sub.s, p + sub.s.size())) ++n;
             return Value::integer(n);
         }},
        {"join",
         [](const Value& s, CallArgs& a) {
             std::string out;
             size_t k = 0;
             for (auto& item : iterate(a.get(0, "iterable"), a.line)) {
                 if (!item.is_string())
                     fail(a.line, "sequence item " + std::to_string(k) + ": expected str instance, " + type_name(item) +
                                      " found");
                 if (k++) out += s.s;
                 out += item.s;
                 check_size(*a.interp, out.size(), a.line);
             }
             return S(out);
         }},
        {"format", [](const Value& s, CallArgs& a) { return brace_format(s.s, a); }},
        {"isdigit",
         [](const Value& s, CallArgs&) {
             return Value::boolean(
                 !s.s.empty() && std::all_of(s.s.begin(), s.s.end(), [](char c) { return isdigit((unsigned char)c); }));
         }},
        {"isalpha",
         [](const Value& s, CallArgs&) {
             return Value::boolean(
                 !s.s.empty() && std::all_of(s.s.begin(), s.s.end(), [](char c) { return isalpha((unsigned char)c); }));
         }},
        {"isalnum",
         [](const Value& s, CallArgs&) {
             return Value::boolean(
                 !s.s.empty() && std::all_of(s.s.begin(), s.s.end(), [](char c) { return isalnum((unsigned char)c); }));
         }},
        {"isspace",
         [](const Value& s, CallArgs&) {
             return Value::boolean(!s.s.empty() && py_strip(s.s, true, true, Value()).empty());
         }},
        {"islower",
         [](const Value& s, CallArgs&) { return Value::boolean(py_lower(s.s) == s.s && py_upper(s.s) != s.s); }},
        {"isupper",
         [](const Value& s, CallArgs&) { return Value::boolean(py_upper(s.s) == s.s && py_lower(s.s) != s.s); }},
    };
    auto it = m.find(name);
    return it == m.end() ? Value() : bind(self, name, it->second);
}

Value list_method(const Value& self, const std::string& name) {
    using F = Value (*)(const Value&, CallArgs&);
    static const std::unordered_map<std::string, F> m = {
        {"append",
         [](const Value& l, CallArgs& a) {
             if (l.list->is_tuple) fail(a.line, "'tuple' object has no attribute 'append'");
             if (a.pos.size() != 1) fail(a.line, "append() takes exactly one argument");
             if (l.list->items.size() >= interp_limits(*a.interp).max_output_bytes / sizeof(Value))
                 fail(a.line, "list exceeds the size limit");
             l.list->items.push_back(a.pos[0]);
             return Value::none();
         }},
        {"extend",
         [](const Value& l, CallArgs& a) {
             for (auto& x : iterate(a.get(0, "iterable"), a.line)) {
                 if (l.list->items.size() >= interp_limits(*a.interp).max_output_bytes / sizeof(Value))
                     fail(a.line, "list exceeds the size limit");
                 l.list->items.push_back(x);
             }
             return Value::none();
         }},
        {"pop",
         [](const Value& l, CallArgs& a) {
             auto& items = l.list->items;
             if (items.empty()) fail(a.line, "pop from empty list");
             int64_t k = arg_int(a.get(0, "index", Value::integer(-1)), a.line, "pop");
             if (k < 0) k += int64_t(items.size());
             if (k < 0 || k >= int64_t(items.size())) fail(a.line, "pop index out of range");
             Value v = items[size_t(k)];
             items.erase(items.begin() + k);
             return v;
         }},
        {"insert",
         [](const Value& l, CallArgs& a) {
             auto& items = l.list->items;
             int64_t k = arg_int(a.get(0, "index"), a.line, "insert"), n = int64_t(items.size());
             if (k < 0) k = std::max<int64_t>(0, k + n);
             k = std::min(k, n);
             items.insert(items.begin() + k, a.get(1, "object", Value::none()));
             return Value::none();
         }},
        {"index",
         [](const Value& l, CallArgs& a) {
             Value x = a.get(0, "value");
             for (size_t k = 0; k < l.list->items.size(); ++k)
                 if (equals(l.list->items[k], x)) return Value::integer(int64_t(k));
             fail(a.line, repr(x) + " is not in list");
         }},
        {"count",
         [](const Value& l, CallArgs& a) {
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
        {"items",
         [](const Value& d, CallArgs&) {
             std::vector<Value> out;
             for (const auto& [k, v] : d.dict->items) out.push_back(Value::new_list({k, v}, true));
             return view(std::move(out), "dict_items");
         }},
        {"keys",
         [](const Value& d, CallArgs&) {
             std::vector<Value> out;
             for (const auto& [k, v] : d.dict->items) out.push_back(k);
             return view(std::move(out), "dict_keys");
         }},
        {"values",
         [](const Value& d, CallArgs&) {
             std::vector<Value> out;
             for (const auto& [k, v] : d.dict->items) out.push_back(v);
             return view(std::move(out), "dict_values");
         }},
        {"get",
         [](const Value& d, CallArgs& a) {
             const Value* v = d.dict->find(a.get(0, "key"));
             return v ? *v : a.get(1, "default", Value::none());
         }},
        {"pop",
         [](const Value& d, CallArgs& a) {
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
        {"setdefault",
         [](const Value& d, CallArgs& a) {
             Value key = a.get(0, "key");
             if (const Value* v = d.dict->find(key)) return *v;
             Value def = a.get(1, "default", Value::none());
             d.dict->set(key, def);
             return def;
         }},
        {"update",
         [](const Value& d, CallArgs& a) {
             for (const auto& p : a.pos) {
                 if (!p.is_dict()) fail(a.line, "update() argument must be a mapping");
                 for (const auto& [k, v] : p.dict->items) d.dict->set(k, v);
             }
             for (const auto& [k, v] : a.kw) d.dict->set(S(k), v);
             return Value::none();
         }},
        {"copy",
         [](const Value& d, CallArgs&) {
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
        case Kind::list: return obj.list->iterator ? Value() : list_method(obj, name);
        case Kind::dict: return dict_method(obj, name);
        default: return Value();
    }
}

}  // namespace berth::jinja
