// Go values as text/template sees them: truth, type names, fmt's %v (and Sprintf's verbs), strconv's float
// and quote formatting, and encoding/json's Marshal (sorted map keys, struct tags, omitempty, HTML escaping).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "base/base.h"  // append_utf8
#include "template/gotmpl.h"

namespace berth::gotmpl {

const Field* Obj::field(std::string_view name) const {
    for (const auto& f : fields)
        if (f.name == name) return &f;
    return nullptr;
}

const Value* Obj::find(std::string_view key) const {
    for (const auto& [k, v] : entries)
        if (k == key) return &v;
    return nullptr;
}

Value make_slice(std::string type, std::vector<Value> items, Custom custom, bool nil) {
    auto o = std::make_shared<Obj>();
    o->type = std::move(type);
    o->custom = custom;
    o->nil = nil && items.empty();
    o->items = std::move(items);
    return Value::object(Kind::slice, std::move(o));
}

Value make_map(std::string type, std::vector<std::pair<std::string, Value>> entries, Custom custom, bool nil,
               Value zero) {
    auto o = std::make_shared<Obj>();
    o->type = std::move(type);
    o->custom = custom;
    o->nil = nil && entries.empty();
    if (custom != Custom::ordered_map) {
        // Go maps have no order: range, fmt and json all visit keys sorted. A repeated key keeps its last value.
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        std::vector<std::pair<std::string, Value>> unique;
        for (auto& e : entries) {
            if (!unique.empty() && unique.back().first == e.first)
                unique.back().second = std::move(e.second);
            else
                unique.push_back(std::move(e));
        }
        entries = std::move(unique);
    }
    o->entries = std::move(entries);
    o->zero = std::move(zero);
    return Value::object(Kind::map, std::move(o));
}

Value make_record(std::string type, std::vector<Field> fields, bool pointer, Custom custom) {
    auto o = std::make_shared<Obj>();
    o->type = std::move(type);
    o->custom = custom;
    o->pointer = pointer;
    o->fields = std::move(fields);
    return Value::object(Kind::record, std::move(o));
}

bool truth(const Value& v) {
    switch (v.kind) {
        case Kind::invalid:
        case Kind::nil: return false;
        case Kind::boolean: return v.b;
        case Kind::integer: return v.i != 0;
        case Kind::floating: return v.f != 0;
        case Kind::string: return !v.s.empty();
        case Kind::slice: return !v.obj->items.empty();
        case Kind::map: return !v.obj->entries.empty();
        case Kind::record: return true;
    }
    return false;
}

std::string type_name(const Value& v) {
    switch (v.kind) {
        case Kind::invalid: return "<nil>";
        case Kind::nil: return v.s;
        case Kind::boolean: return "bool";
        case Kind::integer: return "int";
        case Kind::floating: return "float64";
        case Kind::string: return "string";
        default: return v.obj->type;
    }
}

// ---- numbers -------------------------------------------------------------------------------------------

namespace {

// Shortest (prec < 0) or rounded decimal digits of |x| and the decimal point position: |x| = 0.DIGITS × 10^dp.
void decimal_digits(double x, int prec, std::string& digits, int& dp) {
    char buf[64];
    std::to_chars_result r =
        prec < 0
            ? std::to_chars(buf, buf + sizeof buf, std::fabs(x), std::chars_format::scientific)
            : std::to_chars(buf, buf + sizeof buf, std::fabs(x), std::chars_format::scientific, std::max(prec - 1, 0));
    std::string s(buf, r.ptr);
    size_t e = s.find('e');
    std::string mant = s.substr(0, e);
    int exp = std::atoi(s.c_str() + e + 1);
    digits.clear();
    for (char c : mant)
        if (c != '.') digits += c;
    dp = exp + 1;
    if (x == 0) dp = 1;
}

std::string exp_suffix(int exp, char e) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%c%c%02d", e, exp < 0 ? '-' : '+', std::abs(exp));
    return buf;
}

std::string fixed_from(const std::string& digits, int dp, int frac) {
    std::string out;
    if (dp <= 0) {
        out = "0";
    } else {
        for (int k = 0; k < dp; ++k) out += k < int(digits.size()) ? digits[size_t(k)] : '0';
    }
    if (frac > 0) {
        out += '.';
        for (int k = 0; k < frac; ++k) {
            int idx = dp + k;
            out += idx >= 0 && idx < int(digits.size()) ? digits[size_t(idx)] : '0';
        }
    }
    return out;
}

}  // namespace

std::string format_float(double x, char verb, int prec) {
    if (std::isnan(x)) return "NaN";
    if (std::isinf(x)) return x < 0 ? "-Inf" : "+Inf";
    std::string sign = std::signbit(x) ? "-" : "";
    std::string digits;
    int dp;
    bool upper = verb == 'E' || verb == 'G';
    char lower = char(std::tolower(verb));
    if (lower == 'f') {
        if (prec < 0) {
            decimal_digits(x, -1, digits, dp);
            return sign + fixed_from(digits, dp, std::max(int(digits.size()) - dp, 0));
        }
        char buf[512];
        auto r = std::to_chars(buf, buf + sizeof buf, std::fabs(x), std::chars_format::fixed, prec);
        return sign + std::string(buf, r.ptr);
    }
    if (lower == 'e') {
        decimal_digits(x, prec < 0 ? -1 : prec + 1, digits, dp);
        std::string m = digits.substr(0, 1);
        if (digits.size() > 1) m += "." + digits.substr(1);
        return sign + m + exp_suffix(x == 0 ? 0 : dp - 1, upper ? 'E' : 'e');
    }
    // 'g': %e when the exponent is < -4 or >= the precision (6 when shortest), else %f; no trailing zeros.
    bool shortest = prec < 0;
    if (prec == 0) prec = 1;
    decimal_digits(x, shortest ? -1 : prec, digits, dp);
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    int eprec = shortest ? 6 : prec;
    if (!shortest && eprec > int(digits.size()) && int(digits.size()) >= dp) eprec = int(digits.size());
    int exp = x == 0 ? 0 : dp - 1;
    if (exp < -4 || exp >= eprec) {
        std::string m = digits.substr(0, 1);
        if (digits.size() > 1) m += "." + digits.substr(1);
        return sign + m + exp_suffix(exp, upper ? 'E' : 'e');
    }
    return sign + fixed_from(digits, dp, std::max(int(digits.size()) - dp, 0));
}

// ---- strings -------------------------------------------------------------------------------------------

namespace {

// One UTF-8 sequence at s[k]: its code point and length, or 0xFFFD with length 1 when invalid.
uint32_t decode_rune(std::string_view s, size_t k, size_t& n) {
    unsigned char c = (unsigned char)s[k];
    n = 1;
    if (c < 0x80) return c;
    int len = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (c >= 0xF5 || len == 0 || k + size_t(len) > s.size()) return 0xFFFD;
    uint32_t cp = c & (0xFF >> (len + 1));
    for (int j = 1; j < len; ++j) {
        unsigned char d = (unsigned char)s[k + size_t(j)];
        if ((d & 0xC0) != 0x80) return 0xFFFD;
        cp = (cp << 6) | (d & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0xFFFD;
    n = size_t(len);
    return cp;
}

// unicode.IsPrint, approximated: controls, format characters, separators other than space, private use and
// noncharacters are not printable.
bool is_print(uint32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return false;
    if (cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
        (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) || cp == 0x1680 ||
        (cp >= 0x2000 && cp <= 0x200A) || cp == 0x3000 || cp == 0x205F || cp == 0xA0)
        return false;
    if ((cp >= 0xE000 && cp <= 0xF8FF) || (cp & 0xFFFE) == 0xFFFE || cp >= 0xF0000) return false;
    return true;
}

void hex_escape(std::string& out, const char* prefix, uint32_t v, int width) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%s%0*x", prefix, width, unsigned(v));
    out += buf;
}

}  // namespace

std::string go_quote(std::string_view s) {
    std::string out = "\"";
    for (size_t k = 0; k < s.size();) {
        size_t n;
        uint32_t cp = decode_rune(s, k, n);
        if (cp == 0xFFFD && n == 1 && (unsigned char)s[k] >= 0x80) {
            hex_escape(out, "\\x", (unsigned char)s[k], 2);
            k += 1;
            continue;
        }
        k += n;
        switch (cp) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\a': out += "\\a"; continue;
            case '\b': out += "\\b"; continue;
            case '\f': out += "\\f"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            case '\v': out += "\\v"; continue;
            default: break;
        }
        if (is_print(cp)) {
            append_utf8(cp, out);
        } else if (cp < 0x80) {
            hex_escape(out, "\\x", cp, 2);
        } else if (cp < 0x10000) {
            hex_escape(out, "\\u", cp, 4);
        } else {
            hex_escape(out, "\\U", cp, 8);
        }
    }
    return out + "\"";
}

namespace {

void json_string(std::string_view s, std::string& out) {
    out += '"';
    for (size_t k = 0; k < s.size();) {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x80) {
            ++k;
            switch (c) {
                case '"': out += "\\\""; continue;
                case '\\': out += "\\\\"; continue;
                case '\b': out += "\\b"; continue;
                case '\f': out += "\\f"; continue;
                case '\n': out += "\\n"; continue;
                case '\r': out += "\\r"; continue;
                case '\t': out += "\\t"; continue;
                default: break;
            }
            if (c < 0x20 || c == '<' || c == '>' || c == '&')
                hex_escape(out, "\\u00", c, 2);
            else
                out += char(c);
            continue;
        }
        size_t n;
        uint32_t cp = decode_rune(s, k, n);
        if (cp == 0xFFFD && n == 1) {
            out += "\\ufffd";
        } else if (cp == 0x2028 || cp == 0x2029) {
            hex_escape(out, "\\u", cp, 4);
        } else {
            out.append(s.substr(k, n));
        }
        k += n;
    }
    out += '"';
}

// encoding/json's isEmptyValue, for omitempty.
bool json_empty(const Value& v) {
    switch (v.kind) {
        case Kind::invalid:
        case Kind::nil: return true;
        case Kind::boolean: return !v.b;
        case Kind::integer: return v.i == 0;
        case Kind::floating: return v.f == 0;
        case Kind::string: return v.s.empty();
        case Kind::slice: return v.obj->items.empty();
        case Kind::map: return v.obj->entries.empty();
        case Kind::record: return false;
    }
    return false;
}

void json_into(const Value& v, std::string& out, bool& ok, int depth) {
    if (depth > 512) {
        ok = false;
        return;
    }
    switch (v.kind) {
        case Kind::invalid:
        case Kind::nil: out += "null"; return;
        case Kind::boolean: out += v.b ? "true" : "false"; return;
        case Kind::integer: out += std::to_string(v.i); return;
        case Kind::floating: {
            if (!std::isfinite(v.f)) {
                ok = false;
                return;
            }
            double a = std::fabs(v.f);
            std::string s = format_float(v.f, a != 0 && (a < 1e-6 || a >= 1e21) ? 'e' : 'f', -1);
            // encoding/json writes e-07 as e-7.
            size_t n = s.size();
            if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
            out += s;
            return;
        }
        case Kind::string: json_string(v.s, out); return;
        case Kind::slice: {
            const Obj& o = *v.obj;
            if (o.custom == Custom::property_type && o.items.size() == 1)
                return json_into(o.items[0], out, ok, depth + 1);
            if (o.nil) {
                out += "null";
                return;
            }
            out += '[';
            for (size_t k = 0; k < o.items.size(); ++k) {
                if (k) out += ',';
                json_into(o.items[k], out, ok, depth + 1);
            }
            out += ']';
            return;
        }
        case Kind::map: {
            const Obj& o = *v.obj;
            if (o.nil) {
                out += "null";
                return;
            }
            out += '{';
            bool first = true;
            for (const auto& [k, x] : o.entries) {
                if (!first) out += ',';
                first = false;
                json_string(k, out);
                out += ':';
                json_into(x, out, ok, depth + 1);
            }
            out += '}';
            return;
        }
        case Kind::record: {
            out += '{';
            bool first = true;
            for (const auto& f : v.obj->fields) {
                if (f.json == "-" || (f.omitempty && json_empty(f.value))) continue;
                if (!first) out += ',';
                first = false;
                json_string(f.json.empty() ? f.name : f.json, out);
                out += ':';
                json_into(f.value, out, ok, depth + 1);
            }
            out += '}';
            return;
        }
    }
}

struct Spec;
std::string format_one(char verb, const Spec& sp, const Value& v);
const Spec& no_flags();

// fmt's %v (or `verb`, applied to every element of a container); `depth` 0 is the operand itself.
void fmt_into(const Value& v, std::string& out, int depth, char verb = 'v') {
    if (depth > 512) {
        out += "...";
        return;
    }
    if (verb != 'v' && v.kind != Kind::invalid && v.kind != Kind::nil && !v.obj) {
        out += format_one(verb, no_flags(), v);
        return;
    }
    switch (v.kind) {
        case Kind::invalid:
        case Kind::nil: out += "<nil>"; return;
        case Kind::boolean: out += v.b ? "true" : "false"; return;
        case Kind::integer: out += std::to_string(v.i); return;
        case Kind::floating: out += format_float(v.f, 'g', -1); return;
        case Kind::string: out += v.s; return;
        default: break;
    }
    const Obj& o = *v.obj;
    switch (o.custom) {  // String() methods
        case Custom::json_string:
        case Custom::json_string_nil_braces:
            if (o.custom == Custom::json_string_nil_braces && o.nil) {
                out += "{}";
            } else {
                bool ok = true;
                json_into(v, out, ok, 0);
            }
            return;
        case Custom::property_type:
            if (o.items.size() == 1) {
                out += o.items[0].s;
                return;
            }
            if (o.items.empty()) return;
            break;
        default: break;
    }
    if (v.kind == Kind::slice) {
        out += '[';
        for (size_t k = 0; k < o.items.size(); ++k) {
            if (k) out += ' ';
            fmt_into(o.items[k], out, depth + 1, verb);
        }
        out += ']';
        return;
    }
    if (v.kind == Kind::map) {
        out += "map[";
        bool first = true;
        for (const auto& [k, x] : o.entries) {
            if (!first) out += ' ';
            first = false;
            out += k;
            out += ':';
            fmt_into(x, out, depth + 1, verb);
        }
        out += ']';
        return;
    }
    // A struct: {field field ...}; Go prints the address of a pointer inside a container, berth its fields.
    if (o.pointer) out += '&';
    out += '{';
    for (size_t k = 0; k < o.fields.size(); ++k) {
        if (k) out += ' ';
        fmt_into(o.fields[k].value, out, depth + 1, verb);
    }
    out += '}';
}

}  // namespace

std::string go_json(const Value& v, bool* ok) {
    std::string out;
    bool good = true;
    json_into(v, out, good, 0);
    if (ok) *ok = good;
    return good ? out : std::string();
}

std::string fmt_value(const Value& v, bool top) {
    std::string out;
    if (top && v.kind == Kind::invalid) return "<no value>";
    if (top && v.kind == Kind::record && v.obj->pointer && v.obj->custom == Custom::none) {
        // text/template dereferences a pointer before printing it.
        Value copy = v;
        auto o = std::make_shared<Obj>(*v.obj);
        o->pointer = false;
        copy.obj = std::move(o);
        fmt_into(copy, out, 0);
        return out;
    }
    fmt_into(v, out, 0);
    return out;
}

// ---- fmt.Sprint / Sprintln / Sprintf -------------------------------------------------------------------

std::string sprint(const std::vector<Value>& args, bool ln) {
    std::string out;
    for (size_t k = 0; k < args.size(); ++k) {
        // Sprint adds a space between operands when neither is a string; Sprintln always.
        if (k > 0 && (ln || (args[k].kind != Kind::string && args[k - 1].kind != Kind::string))) out += ' ';
        fmt_into(args[k], out, 0);
    }
    if (ln) out += '\n';
    return out;
}

namespace {

struct Spec {
    bool minus = false, plus = false, sharp = false, zero = false, space = false;
    int width = -1, prec = -1;
};

const Spec& no_flags() {
    static const Spec s;
    return s;
}

std::string container(const Value& v, char verb) {
    std::string out;
    fmt_into(v, out, 0, verb);
    return out;
}

std::string pad(std::string s, const Spec& sp, bool numeric) {
    size_t len = 0;  // in runes
    for (unsigned char c : s) len += (c & 0xC0) != 0x80;
    if (sp.width < 0 || len >= size_t(sp.width)) return s;
    size_t n = size_t(sp.width) - len;
    if (sp.minus) return s + std::string(n, ' ');
    if (sp.zero && numeric) {
        size_t at = (!s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) ? 1 : 0;
        return s.insert(at, std::string(n, '0'));
    }
    return std::string(n, ' ') + s;
}

std::string bad_verb(char verb, const Value& v) {
    if (v.kind == Kind::invalid) return std::string("%!") + verb + "(<nil>)";
    return std::string("%!") + verb + "(" + type_name(v) + "=" + fmt_value(v, false) + ")";
}

std::string format_int(int64_t i, char verb, const Spec& sp) {
    std::string digits;
    uint64_t u = i < 0 ? uint64_t(0) - uint64_t(i) : uint64_t(i);
    int base = verb == 'x' || verb == 'X' ? 16 : verb == 'o' || verb == 'O' ? 8 : verb == 'b' ? 2 : 10;
    const char* set = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        digits.insert(digits.begin(), set[u % uint64_t(base)]);
        u /= uint64_t(base);
    } while (u);
    if (sp.prec >= 0 && int(digits.size()) < sp.prec) digits.insert(0, size_t(sp.prec) - digits.size(), '0');
    if (sp.sharp && base == 16) digits.insert(0, verb == 'X' ? "0X" : "0x");
    if (verb == 'O') digits.insert(0, "0o");
    std::string sign = i < 0 ? "-" : sp.plus ? "+" : sp.space ? " " : "";
    return pad(sign + digits, sp, sp.prec < 0);
}

std::string format_one(char verb, const Spec& sp, const Value& v) {
    switch (verb) {
        case 'v':
            if (v.kind == Kind::floating) return pad(format_float(v.f, 'g', sp.prec), sp, true);
            if (v.kind == Kind::string && sp.prec >= 0) break;
            return pad(fmt_value(v, false), sp, false);
        case 's':
            if (v.kind == Kind::string) {
                std::string s = v.s;
                if (sp.prec >= 0) {  // precision counts runes
                    size_t k = 0, runes = 0;
                    while (k < s.size() && runes < size_t(sp.prec)) {
                        ++k;
                        while (k < s.size() && ((unsigned char)s[k] & 0xC0) == 0x80) ++k;
                        ++runes;
                    }
                    s.resize(k);
                }
                return pad(s, sp, false);
            }
            if (v.obj) return pad(container(v, 's'), sp, false);
            return bad_verb(verb, v);
        case 'q':
            if (v.kind == Kind::string) return pad(go_quote(v.s), sp, false);
            if (v.kind == Kind::integer) {
                std::string ch;
                append_utf8(uint32_t(v.i), ch);
                std::string q = go_quote(ch);
                return pad("'" + q.substr(1, q.size() - 2) + "'", sp, false);
            }
            return bad_verb(verb, v);
        case 'd':
        case 'x':
        case 'X':
        case 'o':
        case 'O':
        case 'b':
            if (v.kind == Kind::integer) return format_int(v.i, verb, sp);
            if (v.obj) return pad(container(v, verb), sp, false);
            if (v.kind == Kind::string && (verb == 'x' || verb == 'X')) {
                std::string out;
                for (unsigned char c : v.s) hex_escape(out, "", c, 2);
                if (verb == 'X')
                    for (auto& c : out) c = char(std::toupper((unsigned char)c));
                return pad(out, sp, false);
            }
            if (v.kind == Kind::floating && (verb == 'x' || verb == 'X' || verb == 'b')) break;
            return bad_verb(verb, v);
        case 'c':
            if (v.kind == Kind::integer) {
                std::string ch;
                append_utf8(v.i >= 0 && v.i <= 0x10FFFF ? uint32_t(v.i) : 0xFFFD, ch);
                return pad(ch, sp, false);
            }
            return bad_verb(verb, v);
        case 't':
            if (v.kind == Kind::boolean) return pad(v.b ? "true" : "false", sp, false);
            return bad_verb(verb, v);
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
            if (v.kind == Kind::floating) {
                char vb = verb == 'F' ? 'f' : verb;
                int prec = sp.prec >= 0 ? sp.prec : (vb == 'g' || vb == 'G') ? -1 : 6;
                std::string s = format_float(v.f, vb, prec);
                if (sp.plus && s[0] != '-') s = "+" + s;
                return pad(s, sp, true);
            }
            return bad_verb(verb, v);
        case 'T': return pad(type_name(v), sp, false);
        default: break;
    }
    return bad_verb(verb, v);
}

}  // namespace

std::string sprintf(const std::string& format, const std::vector<Value>& args) {
    std::string out;
    size_t argi = 0;
    for (size_t k = 0; k < format.size();) {
        char c = format[k];
        if (c != '%') {
            out += c;
            ++k;
            continue;
        }
        ++k;
        Spec sp;
        for (; k < format.size(); ++k) {
            char f = format[k];
            if (f == '-')
                sp.minus = true;
            else if (f == '+')
                sp.plus = true;
            else if (f == '#')
                sp.sharp = true;
            else if (f == '0')
                sp.zero = !sp.minus;
            else if (f == ' ')
                sp.space = true;
            else
                break;
        }
        auto number = [&](int& into) {
            if (k < format.size() && format[k] == '*') {
                ++k;
                if (argi < args.size() && args[argi].kind == Kind::integer)
                    into = int(std::clamp<int64_t>(args[argi].i, -1000000, 1000000));
                ++argi;
                return;
            }
            int n = -1;
            while (k < format.size() && format[k] >= '0' && format[k] <= '9') {
                n = (n < 0 ? 0 : n) * 10 + (format[k] - '0');
                n = std::min(n, 1000000);
                ++k;
            }
            into = n;
        };
        number(sp.width);
        if (sp.width < -1) sp.minus = true, sp.width = -sp.width;
        if (k < format.size() && format[k] == '.') {
            ++k;
            number(sp.prec);
            if (sp.prec < 0) sp.prec = 0;
        }
        if (k >= format.size()) {
            out += "%!(NOVERB)";
            break;
        }
        char verb = format[k++];
        if (verb == '%') {
            out += '%';
            continue;
        }
        if (argi >= args.size()) {
            out += std::string("%!") + verb + "(MISSING)";
            continue;
        }
        out += format_one(verb, sp, args[argi++]);
    }
    if (argi < args.size()) {
        out += "%!(EXTRA ";
        for (size_t k = argi; k < args.size(); ++k) {
            if (k > argi) out += ", ";
            out += args[k].kind == Kind::invalid ? "<nil>" : type_name(args[k]) + "=" + fmt_value(args[k], false);
        }
        out += ")";
    }
    return out;
}

}  // namespace berth::gotmpl
