// JSON Schema → grammar. A position of the document is a conjunction of schema objects: $ref targets and
// allOf members join it, anyOf/oneOf are distributed over it (each alternative together with its siblings),
// and what is left is merged keyword by keyword (schema_shapes.cpp turns the result into objects, arrays and
// strings). Recursion ($ref cycles) becomes a grammar rule. Choices, all of which keep every generated value
// valid under the specification's semantics:
//   - properties are written in declaration order, each optional one may be left out; undeclared properties
//     (allowed unless additionalProperties is false, the specification's default) come after the declared
//     ones, with keys that need no escapes and differ from every declared name;
//   - a schema without "type" takes the types its keywords are about (properties → object, ...), any type
//     when it has none;
//   - oneOf is enforced when its alternatives provably exclude each other (different types, different
//     enum/const values, or a required property with different const values), otherwise it is refused;
//   - keywords that cannot be enforced (patternProperties, propertyNames, not, if/then/else, contains,
//     uniqueItems, dependent*, unevaluated*, remote $ref, unknown ones) are refused with their path: nothing
//     is silently ignored except annotations (title, description, default, examples, ...).
#include <cstdarg>
#include <unordered_set>

#include "grammar/schema_internal.h"

namespace berth::schema {

std::string at(const std::string& path) { return path.empty() ? " at the root" : " at " + path; }

Status error(const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return Status(StatusCode::invalid_argument, std::string("format: ") + buf);
}

namespace {

const std::unordered_set<std::string_view> kAnnotations = {
    "title",   "description", "default",         "examples",         "example",    "$schema",
    "$id",     "$comment",    "readOnly",        "writeOnly",        "deprecated", "discriminator",
    "$anchor", "$vocabulary", "contentEncoding", "contentMediaType", "$defs",      "definitions",
};

const std::unordered_set<std::string_view> kHandled = {
    "$ref",
    "allOf",
    "anyOf",
    "oneOf",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "minProperties",
    "maxProperties",
    "items",
    "prefixItems",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
};

std::string pointer_escape(std::string_view key) {
    std::string out;
    for (char c : key) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

// Non-negative integer keyword value (integral floats such as 3.0 too).
Result<int64_t> count_value(const Json& v, const char* key, const std::string& path) {
    if (v.is_number_unsigned()) return int64_t(std::min<uint64_t>(v.get<uint64_t>(), uint64_t(1) << 40));
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return std::min<int64_t>(v.get<int64_t>(), int64_t(1) << 40);
    if (v.is_number_float()) {
        double d = v.get<double>();
        if (d >= 0 && d == double(int64_t(std::min(d, 1e12)))) return int64_t(std::min(d, 1e12));
    }
    return error("\"%s\"%s must be a non-negative integer", key, at(path).c_str());
}

uint8_t type_bit(std::string_view t) {
    if (t == "null") return kNull;
    if (t == "boolean") return kBool;
    if (t == "object") return kObject;
    if (t == "array") return kArray;
    if (t == "string") return kString;
    if (t == "integer") return kInteger;
    if (t == "number") return kInteger | kNumber;
    return 0;
}

// The type bits a JSON value belongs to (an integral float is an integer, as the specification says).
uint8_t value_types(const Json& v) {
    switch (v.type()) {
        case Json::value_t::null: return kNull;
        case Json::value_t::boolean: return kBool;
        case Json::value_t::object: return kObject;
        case Json::value_t::array: return kArray;
        case Json::value_t::string: return kString;
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned: return kInteger;
        case Json::value_t::number_float: {
            double d = v.get<double>();
            return d == double(int64_t(d)) && std::abs(d) < 9e15 ? kInteger : kNumber;
        }
        default: return 0;
    }
}

bool values_equal(const Json& a, const Json& b) { return a == b; }

}  // namespace

SchemaCompiler::SchemaCompiler(GrammarBuilder::Impl& b, const Json& root) : b_(b), root_(root) { set_path(&root, ""); }

const std::string& SchemaCompiler::path_of(const Json* s) {
    static const std::string unknown = "(unknown)";
    auto it = paths_.find(s);
    return it == paths_.end() ? unknown : it->second;
}

void SchemaCompiler::set_path(const Json* s, std::string path) { paths_.emplace(s, std::move(path)); }

Result<int> SchemaCompiler::compile(const Json& s) { return compile_conj({Part{&s, 0}}); }

Result<int> SchemaCompiler::compile_conj(Conj c) {
    if (++distributed_ > 5000) return error("the schema has too many anyOf/oneOf/$ref combinations to compile");
    Conj key = c;
    std::sort(key.begin(), key.end());
    key.erase(std::unique(key.begin(), key.end()), key.end());
    if (auto it = done_.find(key); it != done_.end()) return it->second;
    if (active_.count(key)) {
        auto [it, fresh] = rule_of_.emplace(key, -1);
        if (fresh) it->second = b_.new_rule();
        return b_.call(it->second);
    }
    if (depth_ >= 64) return error("the schema is nested more than 64 levels deep%s", at(path_of(c[0].s)).c_str());
    active_.insert(key);
    ++depth_;
    Result<int> r = compile_body(c);
    --depth_;
    active_.erase(key);
    if (!r.is_ok()) return r;
    if (auto it = rule_of_.find(key); it != rule_of_.end()) b_.define_rule(it->second, *r);
    done_.emplace(std::move(key), *r);
    return r;
}

Status SchemaCompiler::check_keywords(const Json& s) {
    if (!checked_.insert(&s).second) return Status::ok();
    for (auto it = s.begin(); it != s.end(); ++it) {
        const std::string& k = it.key();
        if (kHandled.count(k) || kAnnotations.count(k) || k.rfind("x-", 0) == 0) continue;
        const char* hint = "";
        if (k == "nullable") hint = " (write anyOf [..., {\"type\": \"null\"}] or a type list with \"null\")";
        return error("\"%s\"%s is not supported%s", k.c_str(), at(path_of(&s)).c_str(), hint);
    }
    return Status::ok();
}

Result<const Json*> SchemaCompiler::resolve(const std::string& ref, const std::string& path) {
    if (ref.empty() || ref[0] != '#')
        return error("$ref \"%s\"%s: only local references (\"#\", \"#/$defs/Name\") are supported", ref.c_str(),
                     at(path).c_str());
    // Percent-decoding, then JSON pointer tokens.
    std::string ptr;
    for (size_t i = 1; i < ref.size(); ++i) {
        auto hex = [](char c) {
            return c >= '0' && c <= '9' ? c - '0' : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
        };
        if (ref[i] == '%' && i + 2 < ref.size() && hex(ref[i + 1]) >= 0 && hex(ref[i + 2]) >= 0) {
            ptr += char(hex(ref[i + 1]) * 16 + hex(ref[i + 2]));
            i += 2;
        } else {
            ptr += ref[i];
        }
    }
    const Json* cur = &root_;
    if (!ptr.empty() && ptr[0] != '/')
        return error("$ref \"%s\"%s: anchors are not supported, use a JSON pointer", ref.c_str(), at(path).c_str());
    size_t pos = 1;
    while (!ptr.empty() && pos <= ptr.size()) {
        size_t end = ptr.find('/', pos);
        if (end == std::string::npos) end = ptr.size();
        std::string token;
        for (size_t i = pos; i < end; ++i) {
            if (ptr[i] == '~' && i + 1 < end && (ptr[i + 1] == '0' || ptr[i + 1] == '1')) {
                token += ptr[i + 1] == '0' ? '~' : '/';
                ++i;
            } else {
                token += ptr[i];
            }
        }
        if (cur->is_object() && cur->contains(token)) {
            cur = &(*cur)[token];
        } else if (cur->is_array() && !token.empty() && token.find_first_not_of("0123456789") == std::string::npos &&
                   token.size() < 9 && std::stoul(token) < cur->size()) {
            cur = &(*cur)[std::stoul(token)];
        } else {
            return error("$ref \"%s\"%s does not resolve", ref.c_str(), at(path).c_str());
        }
        pos = end + 1;
    }
    set_path(cur, ptr);
    return cur;
}

Status SchemaCompiler::expand(const Conj& c, Conj& out, bool& unsatisfiable) {
    std::vector<Part> work(c.begin(), c.end());
    std::set<Part> seen;
    for (size_t w = 0; w < work.size(); ++w) {
        const Part p = work[w];
        if (!seen.insert(p).second) continue;
        const Json& s = *p.s;
        const std::string path = path_of(p.s);
        if (s.is_boolean()) {
            if (!s.get<bool>()) unsatisfiable = true;
            continue;
        }
        if (!s.is_object()) return error("the schema%s must be an object or a boolean", at(path).c_str());
        RETURN_IF_ERROR(check_keywords(s));
        out.push_back(p);
        // Its $ref target and allOf members are in the conjunction already (with their anyOf/oneOf perhaps
        // distributed): fresh copies would distribute those once more, and the alternative being compiled
        // would become a rule that calls itself before any input.
        if (p.skip & kExpanded) continue;
        if (auto it = s.find("$ref"); it != s.end()) {
            if (!it->is_string()) return error("\"$ref\"%s must be a string", at(path).c_str());
            ASSIGN_OR_RETURN(const Json* target, resolve(it->get<std::string>(), path));
            work.push_back({target, 0});
        }
        if (auto it = s.find("allOf"); it != s.end()) {
            if (!it->is_array() || it->empty())
                return error("\"allOf\"%s must be a non-empty array of schemas", at(path).c_str());
            for (size_t i = 0; i < it->size(); ++i) {
                set_path(&(*it)[i], path + "/allOf/" + std::to_string(i));
                work.push_back({&(*it)[i], 0});
            }
        }
    }
    return Status::ok();
}

Result<int> SchemaCompiler::compile_body(const Conj& c) {
    Conj parts;
    bool unsatisfiable = false;
    RETURN_IF_ERROR(expand(c, parts, unsatisfiable));
    if (unsatisfiable) return b_.nothing();
    // Distribute the first anyOf/oneOf still there: each alternative with everything else of the conjunction.
    for (size_t i = 0; i < parts.size(); ++i) {
        const Json& s = *parts[i].s;
        const std::string path = path_of(parts[i].s);
        for (auto [bit, kw] : {std::pair<uint8_t, const char*>{1, "anyOf"}, {2, "oneOf"}}) {
            if ((parts[i].skip & bit) || !s.contains(kw)) continue;
            const Json& arr = s[kw];
            if (!arr.is_array() || arr.empty())
                return error("\"%s\"%s must be a non-empty array of schemas", kw, at(path).c_str());
            std::vector<const Json*> alternatives;
            for (size_t k = 0; k < arr.size(); ++k) {
                set_path(&arr[k], path + "/" + kw + "/" + std::to_string(k));
                alternatives.push_back(&arr[k]);
            }
            if (bit == 2) RETURN_IF_ERROR(check_one_of_disjoint(s, alternatives));
            std::vector<int> options;
            for (const Json* a : alternatives) {
                Conj next = parts;
                for (Part& q : next) q.skip |= kExpanded;
                next[i].skip |= bit;
                next.push_back({a, 0});
                ASSIGN_OR_RETURN(int n, compile_conj(std::move(next)));
                options.push_back(n);
            }
            return b_.alt(std::move(options));
        }
    }
    Merged m;
    RETURN_IF_ERROR(merge(parts, m));
    return compile_merged(m);
}

Status SchemaCompiler::merge(const Conj& parts, Merged& m) {
    m.path = parts.empty() ? std::string() : path_of(parts[0].s);
    for (const Part& p : parts) {
        const Json& s = *p.s;
        const std::string path = path_of(p.s);
        for (auto it = s.begin(); it != s.end(); ++it) {
            const std::string& k = it.key();
            const Json& v = it.value();
            if (k == "type") {
                uint8_t t = 0;
                if (v.is_string()) {
                    t = type_bit(v.get<std::string>());
                    if (!t)
                        return error("type \"%s\"%s is not a JSON Schema type", v.get<std::string>().c_str(),
                                     at(path).c_str());
                } else if (v.is_array() && !v.empty()) {
                    for (const Json& x : v) {
                        uint8_t b = x.is_string() ? type_bit(x.get<std::string>()) : 0;
                        if (!b) return error("\"type\"%s must list JSON Schema type names", at(path).c_str());
                        t |= b;
                    }
                } else {
                    return error("\"type\"%s must be a type name or a non-empty array of them", at(path).c_str());
                }
                m.types &= t;
                m.has_type = true;
            } else if (k == "enum" || k == "const") {
                std::vector<const Json*> vals;
                if (k == "const") {
                    vals.push_back(&v);
                } else {
                    if (!v.is_array()) return error("\"enum\"%s must be an array", at(path).c_str());
                    for (const Json& x : v) vals.push_back(&x);
                }
                if (!m.has_enum) {
                    m.enum_values = vals;
                } else {
                    std::vector<const Json*> keep;
                    for (const Json* a : m.enum_values)
                        for (const Json* x : vals)
                            if (values_equal(*a, *x)) {
                                keep.push_back(a);
                                break;
                            }
                    m.enum_values = keep;
                }
                m.has_enum = true;
            } else if (k == "properties") {
                if (!v.is_object()) return error("\"properties\"%s must be an object", at(path).c_str());
                for (auto pit = v.begin(); pit != v.end(); ++pit) {
                    set_path(&pit.value(), path + "/properties/" + pointer_escape(pit.key()));
                    if (!m.key_schema.count(pit.key())) {
                        m.keys.push_back(pit.key());
                        m.key_schema[pit.key()];
                    }
                }
                m.keyword_types |= kObject;
            } else if (k == "required") {
                if (!v.is_array()) return error("\"required\"%s must be an array of strings", at(path).c_str());
                for (const Json& x : v) {
                    if (!x.is_string()) return error("\"required\"%s must be an array of strings", at(path).c_str());
                    const std::string name = x.get<std::string>();
                    if (std::find(m.required.begin(), m.required.end(), name) == m.required.end())
                        m.required.push_back(name);
                }
                m.keyword_types |= kObject;
            } else if (k == "additionalProperties") {
                if (!v.is_object() && !v.is_boolean())
                    return error("\"additionalProperties\"%s must be a schema", at(path).c_str());
                set_path(&v, path + "/additionalProperties");
                m.keyword_types |= kObject;
            } else if (k == "minProperties" || k == "maxProperties") {
                ASSIGN_OR_RETURN(int64_t n, count_value(v, k.c_str(), path));
                if (k == "minProperties") {
                    m.min_properties = std::max<int64_t>(m.min_properties, n);
                } else {
                    m.max_properties = m.max_properties < 0 ? int(n) : std::min<int64_t>(m.max_properties, n);
                }
                m.keyword_types |= kObject;
            } else if (k == "items" || k == "prefixItems" || k == "additionalItems") {
                if (k == "prefixItems" && !v.is_array())
                    return error("\"prefixItems\"%s must be an array of schemas", at(path).c_str());
                if (!v.is_object() && !v.is_boolean() && !v.is_array())
                    return error("\"%s\"%s must be a schema", k.c_str(), at(path).c_str());
                m.keyword_types |= kArray;
            } else if (k == "minItems" || k == "maxItems") {
                ASSIGN_OR_RETURN(int64_t n, count_value(v, k.c_str(), path));
                if (k == "minItems") {
                    m.min_items = std::max(m.min_items, int(std::min<int64_t>(n, 1 << 20)));
                } else {
                    const int c = int(std::min<int64_t>(n, 1 << 20));
                    m.max_items = m.max_items < 0 ? c : std::min(m.max_items, c);
                }
                m.keyword_types |= kArray;
            } else if (k == "uniqueItems") {
                if (!v.is_boolean()) return error("\"uniqueItems\"%s must be a boolean", at(path).c_str());
                if (v.get<bool>()) m.unique_items = true;
                m.keyword_types |= kArray;
            } else if (k == "minLength" || k == "maxLength") {
                ASSIGN_OR_RETURN(int64_t n, count_value(v, k.c_str(), path));
                n = std::min<int64_t>(n, 1 << 24);
                if (k == "minLength") {
                    m.min_length = int(std::max<int64_t>(m.min_length, n));
                } else {
                    m.max_length = m.max_length < 0 ? int(n) : std::min(m.max_length, int(n));
                }
                m.keyword_types |= kString;
            } else if (k == "pattern") {
                if (!v.is_string()) return error("\"pattern\"%s must be a string", at(path).c_str());
                m.patterns.push_back({v.get<std::string>(), path});
                m.keyword_types |= kString;
            } else if (k == "format") {
                if (!v.is_string()) return error("\"format\"%s must be a string", at(path).c_str());
                const std::string f = v.get<std::string>();
                if (is_number_format(f)) {
                    if (f == "int32") {
                        Decimal lo{true, "2147483648", ""}, hi{false, "2147483647", ""};
                        if (!m.number.lo || compare(lo, *m.number.lo) > 0) m.number.lo = lo, m.number.lo_excl = false;
                        if (!m.number.hi || compare(hi, *m.number.hi) < 0) m.number.hi = hi, m.number.hi_excl = false;
                    }
                    m.keyword_types |= kInteger | kNumber;
                } else {
                    m.formats.push_back({f, path});
                    m.keyword_types |= kString;
                }
            } else if (k == "minimum" || k == "maximum" || k == "exclusiveMinimum" || k == "exclusiveMaximum") {
                m.keyword_types |= kInteger | kNumber;
                if (v.is_boolean()) {
                    // Draft 4: a boolean exclusiveMinimum makes this schema's minimum exclusive.
                    const char* base = k == "exclusiveMinimum"   ? "minimum"
                                       : k == "exclusiveMaximum" ? "maximum"
                                                                 : nullptr;
                    if (!base || !s.contains(base))
                        return error("\"%s\"%s must be a number", k.c_str(), at(path).c_str());
                    continue;
                }
                std::optional<Decimal> d = to_decimal(v);
                if (!d) return error("\"%s\"%s must be a number", k.c_str(), at(path).c_str());
                const bool lower = k == "minimum" || k == "exclusiveMinimum";
                bool excl = k[0] == 'e';
                if (!excl) {
                    auto e = s.find(lower ? "exclusiveMinimum" : "exclusiveMaximum");
                    excl = e != s.end() && e->is_boolean() && e->get<bool>();
                }
                if (lower) {
                    int c = m.number.lo ? compare(*d, *m.number.lo) : 1;
                    if (c > 0 || (c == 0 && excl)) m.number.lo = d, m.number.lo_excl = excl;
                } else {
                    int c = m.number.hi ? compare(*d, *m.number.hi) : -1;
                    if (c < 0 || (c == 0 && excl)) m.number.hi = d, m.number.hi_excl = excl;
                }
            } else if (k == "multipleOf") {
                std::optional<Decimal> d = to_decimal(v);
                if (!d || d->neg || d->is_zero())
                    return error("\"multipleOf\"%s must be a number greater than 0", at(path).c_str());
                if (m.number.multiple_of && compare(*m.number.multiple_of, *d) != 0)
                    return error("several different \"multipleOf\" values%s are not supported", at(path).c_str());
                m.number.multiple_of = d;
                m.keyword_types |= kInteger | kNumber;
            }
            static const std::unordered_set<std::string_view> kNotConstraints = {"type",  "enum",  "const", "$ref",
                                                                                 "allOf", "anyOf", "oneOf"};
            if (kHandled.count(k) && !kNotConstraints.count(k)) m.other_constraints = true;
        }
    }
    // Per-key and per-position schemas: a part constrains a key it does not declare through its
    // additionalProperties, and a position beyond its prefix through its rest schema.
    for (const std::string& key : m.keys) {
        Conj& conj = m.key_schema[key];
        for (const Part& p : parts) {
            const Json& s = *p.s;
            auto props = s.find("properties");
            if (props != s.end() && props->contains(key)) {
                conj.push_back({&(*props)[key], 0});
            } else if (auto ap = s.find("additionalProperties"); ap != s.end()) {
                if (ap->is_boolean() && !ap->get<bool>()) m.key_forbidden.insert(key);
                if (ap->is_object()) conj.push_back({&*ap, 0});
            }
        }
    }
    size_t n_prefix = 0;
    struct ArrayPart {
        const Json* prefix = nullptr;  // array of schemas
        const Json* rest = nullptr;    // schema or bool; null: anything
        std::string path;
    };
    std::vector<ArrayPart> aps;
    for (const Part& p : parts) {
        const Json& s = *p.s;
        ArrayPart a;
        a.path = path_of(p.s);
        auto items = s.find("items"), prefix = s.find("prefixItems"), extra = s.find("additionalItems");
        if (prefix != s.end()) {
            a.prefix = &*prefix;
            if (items != s.end()) {
                if (items->is_array())
                    return error("\"items\"%s must be a schema when \"prefixItems\" is present", at(a.path).c_str());
                a.rest = &*items;
            }
        } else if (items != s.end() && items->is_array()) {
            a.prefix = &*items;  // draft 4-7 tuple form
            if (extra != s.end()) a.rest = &*extra;
        } else if (items != s.end()) {
            a.rest = &*items;
        }
        if (a.prefix) {
            for (size_t i = 0; i < a.prefix->size(); ++i)
                set_path(&(*a.prefix)[i],
                         a.path + (prefix != s.end() ? "/prefixItems/" : "/items/") + std::to_string(i));
            n_prefix = std::max(n_prefix, a.prefix->size());
        }
        if (a.rest) set_path(a.rest, a.path + (a.prefix && prefix == s.end() ? "/additionalItems" : "/items"));
        aps.push_back(a);
    }
    m.prefix.assign(n_prefix, {});
    m.prefix_forbidden.assign(n_prefix, 0);
    for (const ArrayPart& a : aps) {
        auto add = [](Conj& c, uint8_t& forbidden, const Json* s) {
            if (!s) return;
            if (s->is_boolean()) {
                if (!s->get<bool>()) forbidden = 1;
                return;
            }
            c.push_back({s, 0});
        };
        for (size_t i = 0; i < n_prefix; ++i)
            add(m.prefix[i], m.prefix_forbidden[i], a.prefix && i < a.prefix->size() ? &(*a.prefix)[i] : a.rest);
        uint8_t f = 0;
        add(m.rest, f, a.rest);
        if (f) m.rest_forbidden = true;
    }
    for (const Part& p : parts) {
        auto ap = p.s->find("additionalProperties");
        if (ap == p.s->end()) continue;
        if (ap->is_boolean()) {
            if (!ap->get<bool>()) m.additional_forbidden = true;
        } else {
            m.additional.push_back({&*ap, 0});
        }
    }
    return Status::ok();
}

// oneOf allows a value that matches exactly one alternative; generating from their union is correct only when
// no value can match two. Proven here from types (the specification's: a schema without "type" admits every
// type), enum/const values, or a required property whose enum/const values differ.
Status SchemaCompiler::check_one_of_disjoint(const Json& owner, const std::vector<const Json*>& alternatives) {
    struct Summary {
        uint8_t types = kAllTypes;
        bool known = true;  // no nested anyOf/oneOf (only the type bound is then trusted)
        Merged m;
    };
    std::vector<Summary> sums(alternatives.size());
    for (size_t i = 0; i < alternatives.size(); ++i) {
        Summary& s = sums[i];
        Conj parts;
        bool unsat = false;
        RETURN_IF_ERROR(expand({Part{alternatives[i], 0}}, parts, unsat));
        for (const Part& p : parts)
            if (p.s->contains("anyOf") || p.s->contains("oneOf")) s.known = false;
        RETURN_IF_ERROR(merge(parts, s.m));
        s.types = unsat ? uint8_t(0) : s.m.has_type ? s.m.types : uint8_t(kAllTypes);
        if (s.m.has_enum) {
            uint8_t t = 0;
            for (const Json* v : s.m.enum_values) t |= value_types(*v);
            s.types &= t;
        }
    }
    auto key_values = [&](const Merged& m, const std::string& key) -> std::optional<std::vector<const Json*>> {
        if (std::find(m.required.begin(), m.required.end(), key) == m.required.end()) return std::nullopt;
        auto it = m.key_schema.find(key);
        if (it == m.key_schema.end()) return std::nullopt;
        Conj parts;
        bool unsat = false;
        Merged km;
        if (!expand(it->second, parts, unsat).is_ok() || !merge(parts, km).is_ok() || !km.has_enum) return std::nullopt;
        return km.enum_values;
    };
    auto disjoint_values = [](const std::vector<const Json*>& a, const std::vector<const Json*>& b) {
        for (const Json* x : a)
            for (const Json* y : b)
                if (*x == *y) return false;
        return true;
    };
    for (size_t i = 0; i < sums.size(); ++i) {
        for (size_t j = i + 1; j < sums.size(); ++j) {
            const Summary &a = sums[i], &b = sums[j];
            if ((a.types & b.types) == 0) continue;
            if (a.known && b.known) {
                if (a.m.has_enum && b.m.has_enum && disjoint_values(a.m.enum_values, b.m.enum_values)) continue;
                if (a.types == kObject && b.types == kObject) {
                    bool found = false;
                    for (const std::string& key : a.m.required) {
                        auto x = key_values(a.m, key), y = key_values(b.m, key);
                        if (x && y && disjoint_values(*x, *y)) {
                            found = true;
                            break;
                        }
                    }
                    if (found) continue;
                }
            }
            return error(
                "\"oneOf\"%s: alternatives %zu and %zu may both match one value, which oneOf forbids; use anyOf, or "
                "make them differ in type or in the const value of a required property",
                at(path_of(&owner)).c_str(), i, j);
        }
    }
    return Status::ok();
}

Result<int> SchemaCompiler::compile_merged(const Merged& m) {
    const uint8_t types = m.has_type ? m.types : (m.keyword_types ? m.keyword_types : uint8_t(kAllTypes));
    if (m.has_enum) {
        std::vector<int> options;
        for (const Json* v : m.enum_values) {
            if (!(value_types(*v) & types)) continue;
            if (m.other_constraints) {
                ASSIGN_OR_RETURN(bool ok, value_allowed(*v, m));
                if (!ok) continue;
            }
            options.push_back(b_.literal(v->dump(-1, ' ', false, Json::error_handler_t::replace)));
        }
        return b_.alt(std::move(options));
    }
    std::vector<int> options;
    if (types & kNull) options.push_back(b_.literal("null"));
    if (types & kBool) options.push_back(b_.alt({b_.literal("true"), b_.literal("false")}));
    if (types & kObject) {
        ASSIGN_OR_RETURN(int n, object_node(m));
        options.push_back(n);
    }
    if (types & kArray) {
        ASSIGN_OR_RETURN(int n, array_node(m));
        options.push_back(n);
    }
    if (types & kString) {
        ASSIGN_OR_RETURN(int n, string_node(m));
        options.push_back(n);
    }
    if (types & (kInteger | kNumber)) {
        NumberBounds nb = m.number;
        nb.integer = !(types & kNumber);
        ASSIGN_OR_RETURN(int n, number_node(b_, nb, m.path));
        options.push_back(n);
    }
    return b_.alt(std::move(options));
}

// Whether an enum/const value also satisfies the other keywords of its schema: the value's JSON text is run
// through the grammar of those keywords (a value written in another key order than the schema declares is
// left out, which keeps every generated value valid).
Result<bool> SchemaCompiler::value_allowed(const Json& v, const Merged& m) {
    Merged rest = m;
    rest.has_enum = false;
    rest.enum_values.clear();
    rest.other_constraints = false;
    ASSIGN_OR_RETURN(int node, compile_merged(rest));
    if (b_.nodes[size_t(node)].kind == NodeKind::nothing) return false;
    Result<GrammarPtr> g = compile_grammar(b_, node);
    if (!g.is_ok()) {
        return error("\"enum\"/\"const\"%s together with other keywords cannot be checked here (%s)",
                     at(m.path).c_str(), g.status().message().c_str());
    }
    GrammarMatcher matcher(1);
    matcher.start(*g, nullptr);
    return matcher.accept_bytes(v.dump(-1, ' ', false, Json::error_handler_t::replace)) && matcher.is_complete();
}

}  // namespace berth::schema

namespace berth {

Result<GrammarBuilder::Node> GrammarBuilder::json_schema(const nlohmann::ordered_json& schema) {
    schema::SchemaCompiler c(*impl_, schema);
    ASSIGN_OR_RETURN(int n, c.compile(schema));
    if (impl_->nodes[size_t(n)].kind == NodeKind::nothing)
        return schema::error("the schema allows no value (its constraints contradict each other)");
    return n;
}

}  // namespace berth
