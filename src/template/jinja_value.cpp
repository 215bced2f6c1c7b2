// Jinja values with Python semantics: truthiness, equality, ordering, str()/repr(), json.dumps, and the
// UTF-8 string helpers the filters need.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "template/jinja.h"

namespace berth::jinja {

void fail(int line, std::string msg) { throw Error(std::move(msg), line); }

Value Value::new_list(std::vector<Value> items, bool tuple) {
    Value v;
    v.kind = Kind::list;
    v.list = std::make_shared<ListObj>();
    v.list->items = std::move(items);
    v.list->is_tuple = tuple;
    return v;
}

Value Value::new_iterator(std::vector<Value> items, const char* type) {
    Value v = new_list(std::move(items));
    v.list->iterator = type;
    return v;
}

Value Value::new_dict() {
    Value v;
    v.kind = Kind::dict;
    v.dict = std::make_shared<DictObj>();
    return v;
}

Value Value::new_namespace() {
    Value v;
    v.kind = Kind::ns;
    v.dict = std::make_shared<DictObj>();
    return v;
}

Value Value::function(std::string name, std::function<Value(CallArgs&)> fn) {
    Value v;
    v.kind = Kind::func;
    v.fn = std::make_shared<FuncObj>(FuncObj{std::move(name), std::move(fn)});
    return v;
}

const Value* DictObj::find(const Value& key) const {
    for (const auto& [k, v] : items)
        if (equals(k, key)) return &v;
    return nullptr;
}

Value* DictObj::find(const Value& key) {
    for (auto& [k, v] : items)
        if (equals(k, key)) return &v;
    return nullptr;
}

const Value* DictObj::find(std::string_view key) const {
    for (const auto& [k, v] : items)
        if (k.kind == Kind::string && k.s == key) return &v;
    return nullptr;
}

void DictObj::set(Value key, Value value) {
    if (Value* v = find(key)) {
        *v = std::move(value);
        return;
    }
    items.emplace_back(std::move(key), std::move(value));
}

Value CallArgs::get(size_t idx, std::string_view name, Value def) const {
    if (idx < pos.size()) return pos[idx];
    for (const auto& [k, v] : kw)
        if (k == name) return v;
    return def;
}

bool CallArgs::has(size_t idx, std::string_view name) const {
    if (idx < pos.size()) return true;
    for (const auto& [k, v] : kw)
        if (k == name) return true;
    return false;
}

// ---- Python semantics ----------------------------------------------------------------------------------

bool truthy(const Value& v) {
    switch (v.kind) {
        case Kind::undefined:
        case Kind::none: return false;
        case Kind::boolean: return v.b;
        case Kind::integer: return v.i != 0;
        case Kind::floating: return v.f != 0.0;
        case Kind::string: return !v.s.empty();
        case Kind::list: return v.list->iterator || !v.list->items.empty();  // a generator object is true
        case Kind::dict: return !v.dict->items.empty();
        case Kind::ns:
        case Kind::func: return true;
    }
    return false;
}

bool equals(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_int_like() && b.is_int_like()) return a.as_int() == b.as_int();
        return a.as_double() == b.as_double();
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case Kind::undefined:
        case Kind::none: return true;
        case Kind::string: return a.s == b.s;
        case Kind::list: {
            if (a.list == b.list) return true;
            if (a.list->iterator || b.list->iterator) return false;  // iterators compare by identity
            const auto &x = a.list->items, &y = b.list->items;
            if (a.list->is_tuple != b.list->is_tuple || x.size() != y.size()) return false;
            for (size_t k = 0; k < x.size(); ++k)
                if (!equals(x[k], y[k])) return false;
            return true;
        }
        case Kind::dict: {
            if (a.dict == b.dict) return true;
            if (a.dict->items.size() != b.dict->items.size()) return false;
            for (const auto& [k, v] : a.dict->items) {
                const Value* w = b.dict->find(k);
                if (!w || !equals(v, *w)) return false;
            }
            return true;
        }
        case Kind::ns: return a.dict == b.dict;
        case Kind::func: return a.fn == b.fn;
        default: return false;
    }
}

const char* type_name(const Value& v) {
    switch (v.kind) {
        case Kind::undefined: return "Undefined";
        case Kind::none: return "NoneType";
        case Kind::boolean: return "bool";
        case Kind::integer: return "int";
        case Kind::floating: return "float";
        case Kind::string: return "str";
        case Kind::list: return v.list->iterator ? v.list->iterator : v.list->is_tuple ? "tuple" : "list";
        case Kind::dict: return "dict";
        case Kind::ns: return "Namespace";
        case Kind::func: return "function";
    }
    return "?";
}

int compare(const Value& a, const Value& b, int line) {
    if (a.is_undefined()) fail(line, a.s);
    if (b.is_undefined()) fail(line, b.s);
    if (a.is_number() && b.is_number()) {
        if (a.is_int_like() && b.is_int_like()) return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int();
        double x = a.as_double(), y = b.as_double();
        return x < y ? -1 : x > y;
    }
    if (a.is_string() && b.is_string()) return a.s < b.s ? -1 : a.s > b.s;  // byte order = code-point order
    if (a.is_sequence() && b.is_sequence() && a.list->is_tuple == b.list->is_tuple) {
        const auto &x = a.list->items, &y = b.list->items;
        for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
            if (equals(x[k], y[k])) continue;
            return compare(x[k], y[k], line);
        }
        return x.size() < y.size() ? -1 : x.size() > y.size();
    }
    fail(line, std::string("'<' not supported between instances of '") + type_name(a) + "' and '" + type_name(b) + "'");
}

std::string float_repr(double x) {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
    std::string sci(buf, r.ptr);  // "-d.ddde+XX" shortest round-trip digits
    bool neg = sci[0] == '-';
    size_t epos = sci.find('e');
    std::string mant = sci.substr(neg ? 1 : 0, epos - (neg ? 1 : 0));
    int exp10 = std::atoi(sci.c_str() + epos + 1);
    std::string digits;
    for (char c : mant)
        if (c != '.') digits += c;
    std::string out = neg ? "-" : "";
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            out += "0." + std::string(size_t(-exp10 - 1), '0') + digits;
        } else if (size_t(exp10) + 1 >= digits.size()) {
            out += digits + std::string(size_t(exp10) + 1 - digits.size(), '0') + ".0";
        } else {
            out += digits.substr(0, size_t(exp10) + 1) + "." + digits.substr(size_t(exp10) + 1);
        }
        return out;
    }
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof(e), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    return out + e;
}

std::string str_repr(std::string_view s) {
    char q = (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos) ? '"' : '\'';
    std::string out(1, q);
    for (unsigned char c : s) {
        if (c == q || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", c);
            out += buf;
        } else {
            out += char(c);
        }
    }
    out += q;
    return out;
}

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

static void repr_into(const Value& v, std::string& out, int depth) {
    if (depth > 200) {
        out += "...";
        return;
    }
    switch (v.kind) {
        case Kind::string: out += str_repr(v.s); return;
        case Kind::undefined: out += "Undefined"; return;
        case Kind::list: {
            if (v.list->iterator) {  // Python adds the address: <generator object sync_do_map at 0x7f...>
                out += std::string("<") + v.list->iterator + " object>";
                return;
            }
            const auto& items = v.list->items;
            if (v.list->view) out += std::string(v.list->view) + "(";
            out += v.list->is_tuple ? '(' : '[';
            for (size_t k = 0; k < items.size(); ++k) {
                if (k) out += ", ";
                repr_into(items[k], out, depth + 1);
            }
            if (v.list->is_tuple && items.size() == 1) out += ',';
            out += v.list->is_tuple ? ')' : ']';
            if (v.list->view) out += ')';
            return;
        }
        case Kind::dict:
        case Kind::ns: {
            if (v.kind == Kind::ns) out += "<Namespace ";
            out += '{';
            bool first = true;
            for (const auto& [k, x] : v.dict->items) {
                if (!first) out += ", ";
                first = false;
                repr_into(k, out, depth + 1);
                out += ": ";
                repr_into(x, out, depth + 1);
            }
            out += '}';
            if (v.kind == Kind::ns) out += '>';
            return;
        }
        default: out += to_str(v); return;
    }
}

std::string repr(const Value& v) {
    std::string out;
    repr_into(v, out, 0);
    return out;
}

std::string to_str(const Value& v) {
    switch (v.kind) {
        case Kind::undefined: return "";
        case Kind::none: return "None";
        case Kind::boolean: return v.b ? "True" : "False";
        case Kind::integer: return std::to_string(v.i);
        case Kind::floating: return float_repr(v.f);
        case Kind::string: return v.s;
        case Kind::func: return "<function " + v.fn->name + ">";
        default: return repr(v);
    }
}

// ---- json.dumps ----------------------------------------------------------------------------------------

static size_t utf8_piece_len(std::string_view s, size_t k) {
    unsigned char c = s[k];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (k + n > s.size()) return 1;
    for (size_t j = 1; j < n; ++j)
        if ((static_cast<unsigned char>(s[k + j]) & 0xC0) != 0x80) return 1;
    return n;
}

// Decodes the code point at s[k] and advances k; an invalid byte decodes as U+FFFD.
static uint32_t decode_utf8(std::string_view s, size_t& k) {
    size_t n = utf8_piece_len(s, k);
    unsigned char c = s[k];
    if (n == 1) {
        ++k;
        return c < 0x80 ? c : 0xFFFD;
    }
    uint32_t cp = c & (0x7F >> n);
    for (size_t j = 1; j < n; ++j) cp = (cp << 6) | (static_cast<unsigned char>(s[k + j]) & 0x3F);
    k += n;
    return cp;
}

static void json_string(std::string_view s, const JsonStyle& st, std::string& out) {
    out += '"';
    for (size_t k = 0; k < s.size();) {
        unsigned char c = s[k];
        char buf[16];
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
            ++k;
        } else if (c == '\n') {
            out += "\\n", ++k;
        } else if (c == '\r') {
            out += "\\r", ++k;
        } else if (c == '\t') {
            out += "\\t", ++k;
        } else if (c == '\b') {
            out += "\\b", ++k;
        } else if (c == '\f') {
            out += "\\f", ++k;
        } else if (c < 0x20) {
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf, ++k;
        } else if (c < 0x80 || !st.ensure_ascii) {
            out += char(c), ++k;
        } else {
            uint32_t cp = decode_utf8(s, k);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
            }
            out += buf;
        }
    }
    out += '"';
}

static void json_into(const Value& v, const JsonStyle& st, int level, std::string& out, int line) {
    if (level > 200) fail(line, "tojson: value nested too deeply");
    const std::string item_sep = !st.item_sep.empty() ? st.item_sep : st.indent >= 0 ? "," : ", ";
    const std::string key_sep = !st.key_sep.empty() ? st.key_sep : ": ";
    auto newline = [&](int lvl) {
        if (st.indent < 0) return;
        out += '\n';
        out.append(size_t(st.indent) * size_t(lvl), ' ');
    };
    switch (v.kind) {
        case Kind::undefined: fail(line, v.s);
        case Kind::none: out += "null"; return;
        case Kind::boolean: out += v.b ? "true" : "false"; return;
        case Kind::integer: out += std::to_string(v.i); return;
        case Kind::floating:
            if (std::isnan(v.f))
                out += "NaN";
            else if (std::isinf(v.f))
                out += v.f < 0 ? "-Infinity" : "Infinity";
            else
                out += float_repr(v.f);
            return;
        case Kind::string: json_string(v.s, st, out); return;
        case Kind::list: {
            if (v.list->iterator)
                fail(line, std::string("Object of type ") + v.list->iterator + " is not JSON serializable");
            const auto& items = v.list->items;
            if (items.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t k = 0; k < items.size(); ++k) {
                if (k) out += item_sep;
                newline(level + 1);
                json_into(items[k], st, level + 1, out, line);
            }
            newline(level);
            out += ']';
            return;
        }
        case Kind::dict: {
            std::vector<std::pair<std::string, const Value*>> entries;
            for (const auto& [k, x] : v.dict->items) {
                std::string key;
                if (k.is_string())
                    key = k.s;
                else if (k.kind == Kind::none)
                    key = "null";
                else if (k.kind == Kind::boolean)
                    key = k.b ? "true" : "false";
                else if (k.is_number())
                    key = to_str(k);
                else
                    fail(line, std::string("keys must be str, int, float, bool or None, not ") + type_name(k));
                entries.emplace_back(std::move(key), &x);
            }
            if (st.sort_keys)
                std::stable_sort(entries.begin(), entries.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
            if (entries.empty()) {
                out += "{}";
                return;
            }
            out += '{';
            for (size_t k = 0; k < entries.size(); ++k) {
                if (k) out += item_sep;
                newline(level + 1);
                json_string(entries[k].first, st, out);
                out += key_sep;
                json_into(*entries[k].second, st, level + 1, out, line);
            }
            newline(level);
            out += '}';
            return;
        }
        default: fail(line, std::string("Object of type ") + type_name(v) + " is not JSON serializable");
    }
}

std::string to_json(const Value& v, const JsonStyle& style, int line) {
    std::string out;
    json_into(v, style, 0, out, line);
    if (!style.html_safe) return out;
    std::string safe;
    for (char c : out) {
        if (c == '<')
            safe += "\\u003c";
        else if (c == '>')
            safe += "\\u003e";
        else if (c == '&')
            safe += "\\u0026";
        else if (c == '\'')
            safe += "\\u0027";
        else
            safe += c;
    }
    return safe;
}

// ---- UTF-8 strings -------------------------------------------------------------------------------------

std::vector<std::string_view> utf8_chars(std::string_view s) {
    std::vector<std::string_view> out;
    for (size_t k = 0; k < s.size();) {
        size_t n = utf8_piece_len(s, k);
        out.push_back(s.substr(k, n));
        k += n;
    }
    return out;
}

size_t utf8_length(std::string_view s) {
    size_t n = 0;
    for (size_t k = 0; k < s.size(); k += utf8_piece_len(s, k)) ++n;
    return n;
}

static uint32_t piece_cp(std::string_view p) {
    size_t k = 0;
    return decode_utf8(p, k);
}

bool is_py_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

std::string py_strip(std::string_view s, bool left, bool right, const Value& chars) {
    bool ws = !chars.is_string();
    std::vector<std::string_view> set;
    if (!ws) set = utf8_chars(chars.s);
    auto strip_it = [&](std::string_view p) {
        if (ws) return is_py_space(piece_cp(p));
        return std::find(set.begin(), set.end(), p) != set.end();
    };
    auto pieces = utf8_chars(s);
    size_t b = 0, e = pieces.size();
    if (left)
        while (b < e && strip_it(pieces[b])) ++b;
    if (right)
        while (e > b && strip_it(pieces[e - 1])) --e;
    if (b == e) return "";
    const char* start = pieces[b].data();
    const char* end = pieces[e - 1].data() + pieces[e - 1].size();
    return std::string(start, end);
}

// Case mapping for ASCII, Latin-1, Greek and Cyrillic (what chat templates meet in role names and keys).
static uint32_t cp_lower(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3AB && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
        return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

static uint32_t cp_upper(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
    if ((c >= 0xE0 && c <= 0xFE && c != 0xF7) || (c >= 0x3B1 && c <= 0x3CB && c != 0x3C2) || (c >= 0x430 && c <= 0x44F))
        return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
}

static std::string map_case(std::string_view s, uint32_t (*f)(uint32_t)) {
    std::string out;
    out.reserve(s.size());
    for (std::string_view p : utf8_chars(s)) {
        if (p.size() == 1 && static_cast<unsigned char>(p[0]) >= 0x80) {
            out += p;  // invalid byte: keep as is
            continue;
        }
        uint32_t cp = piece_cp(p);
        if (cp == 0xDF && f == cp_upper) {  // "ß".upper() == "SS"
            out += "SS";
            continue;
        }
        append_utf8(f(cp), out);
    }
    return out;
}

std::string py_lower(std::string_view s) { return map_case(s, cp_lower); }
std::string py_upper(std::string_view s) { return map_case(s, cp_upper); }

}  // namespace berth::jinja
