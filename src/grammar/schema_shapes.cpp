// The shapes of a merged schema: objects (declared members in order, optional ones skippable, extra members
// after them), arrays (prefix items, then the rest, with counts) and strings (length, pattern, format).
#include "grammar/schema_internal.h"

namespace berth::schema {
namespace {

constexpr int kUnrolledLength = 32;  // longer minLength/maxLength are counted instead of unrolled
constexpr int kMaxItems = 1000;      // likewise for minItems/maxItems
constexpr int kMaxPrefixItems = 64;

bool is_nothing(const GrammarBuilder::Impl& b, int n) { return b.nodes[size_t(n)].kind == NodeKind::nothing; }

// Raw bytes of a key that needs no escaping in JSON, or "" when it needs some.
bool plain_key(const std::string& k) {
    for (unsigned char c : k)
        if (c < 0x20 || c == '"' || c == '\\') return false;
    return true;
}

// Bytes that are not one of `names` (a trie of the names, every other path falling into a free state).
ByteDfa excluding(const std::vector<std::string>& names) {
    ByteDfa d;
    d.add_state(true);  // root: "" is excluded below if it is a name
    std::vector<std::map<uint8_t, int>> kids(1);
    for (const std::string& n : names) {
        int s = 0;
        for (unsigned char c : n) {
            auto it = kids[size_t(s)].find(c);
            if (it == kids[size_t(s)].end()) {
                int t = d.add_state(true);
                kids.emplace_back();
                kids[size_t(s)][c] = t;
                s = t;
            } else {
                s = it->second;
            }
        }
        d.final[size_t(s)] = 0;
    }
    const int free_state = d.add_state(true);
    d.add(free_state, 0, 255, free_state);
    for (int s = 0; s < free_state; ++s) {
        int lo = 0;
        for (auto [c, t] : kids[size_t(s)]) {
            if (c > lo) d.add(s, uint8_t(lo), uint8_t(c - 1), free_state);
            d.add(s, c, c, t);
            lo = c + 1;
        }
        if (lo <= 255) d.add(s, uint8_t(lo), 255, free_state);
    }
    return d;
}

}  // namespace

Result<int> SchemaCompiler::any_value_of(const Conj& c, bool forbidden) {
    if (forbidden) return b_.nothing();
    if (c.empty()) return b_.json_value();
    return compile_conj(c);
}

Result<int> SchemaCompiler::object_node(const Merged& m) {
    const int ws = b_.whitespace();
    if (m.keys.empty() && m.required.empty() && m.additional.empty() && !m.additional_forbidden &&
        m.min_properties == 0 && m.max_properties < 0)
        return b_.json_object();
    std::vector<int> kvs;
    std::vector<uint8_t> required;
    std::vector<std::string> names;
    auto member = [&](const std::string& key, int value) {
        return b_.seq({b_.literal(json_quote(key)), ws, b_.byte(':'), ws, value});
    };
    auto add = [&](const std::string& key, const Conj& c, bool forbidden) -> Result<bool> {
        const bool req = std::find(m.required.begin(), m.required.end(), key) != m.required.end();
        names.push_back(key);
        ASSIGN_OR_RETURN(int value, any_value_of(c, forbidden || m.key_forbidden.count(key)));
        if (is_nothing(b_, value)) return !req;  // an optional key that can take no value is left out
        kvs.push_back(member(key, value));
        required.push_back(req);
        return true;
    };
    for (const std::string& key : m.keys) {
        ASSIGN_OR_RETURN(bool ok, add(key, m.key_schema.at(key), false));
        if (!ok) return b_.nothing();
    }
    for (const std::string& key : m.required) {
        if (m.key_schema.count(key)) continue;
        ASSIGN_OR_RETURN(bool ok, add(key, m.additional, m.additional_forbidden));
        if (!ok) return b_.nothing();
    }
    int extra = -1;
    if (!m.additional_forbidden) {
        ASSIGN_OR_RETURN(int value, any_value_of(m.additional, false));
        if (!is_nothing(b_, value)) {
            // Keys without escapes (so their bytes are their value) that differ from every declared key.
            std::vector<std::string> plain;
            for (const std::string& n : names)
                if (plain_key(n)) plain.push_back(n);
            int body = b_.repeat(b_.json_raw_char(), 0, -1);
            if (!plain.empty()) body = b_.intersect(body, b_.automaton(excluding(plain)));
            int quote = b_.byte('"');
            extra = b_.seq({quote, body, quote, ws, b_.byte(':'), ws, value});
        }
    }
    int n_required = 0;
    for (uint8_t r : required) n_required += r;
    if (m.min_properties > n_required) {
        return error("\"minProperties\"%s is only supported when the required properties alone satisfy it",
                     at(m.path).c_str());
    }
    if (m.max_properties >= 0 && (extra >= 0 || int(kvs.size()) > m.max_properties)) {
        return error(
            "\"maxProperties\"%s is only supported when the declared properties cannot exceed it "
            "(additionalProperties: false)",
            at(m.path).c_str());
    }
    const int sep = b_.seq({ws, b_.byte(','), ws});
    const int body = b_.members(std::move(kvs), std::move(required), extra, sep);
    return b_.seq({b_.byte('{'), ws, body, ws, b_.byte('}')});
}

Result<int> SchemaCompiler::array_node(const Merged& m) {
    const int ws = b_.whitespace();
    if (m.prefix.empty() && m.rest.empty() && !m.rest_forbidden && m.min_items == 0 && m.max_items < 0 &&
        !m.unique_items)
        return b_.json_array();
    int max = m.max_items;
    if (m.unique_items && !(max >= 0 && max <= 1)) {
        return error("\"uniqueItems\": true%s is not supported (a grammar cannot compare items)", at(m.path).c_str());
    }
    const int k = int(m.prefix.size());
    if (k > kMaxPrefixItems)
        return error("more than %d \"prefixItems\"%s are not supported", kMaxPrefixItems, at(m.path).c_str());
    if (m.min_items > kMaxItems || max > kMaxItems) {
        return error("\"minItems\"/\"maxItems\" above %d%s are not supported", kMaxItems, at(m.path).c_str());
    }
    std::vector<int> items;
    for (int i = 0; i < k && (max < 0 || i < max); ++i) {
        ASSIGN_OR_RETURN(int n, any_value_of(m.prefix[size_t(i)], m.prefix_forbidden[size_t(i)]));
        if (is_nothing(b_, n)) {
            max = i;  // no value at position i: the array ends before it
            break;
        }
        items.push_back(n);
    }
    int rest = -1;
    if (int(items.size()) == k && (max < 0 || max > k)) {
        ASSIGN_OR_RETURN(rest, any_value_of(m.rest, m.rest_forbidden));
        if (is_nothing(b_, rest)) {
            rest = -1;
            max = k;
        }
    }
    if (max >= 0 && m.min_items > max) return b_.nothing();
    const int sep = b_.seq({ws, b_.byte(','), ws});
    int body;
    if (k == 0) {
        body = rest < 0 ? b_.empty() : b_.repeat(rest, m.min_items, max, sep);
    } else {
        // One option per number of prefix items present; the last one continues with the rest.
        std::vector<int> options;
        const int lo = std::min(m.min_items, int(items.size()));
        const int hi = int(items.size());
        for (int j = lo; j <= hi; ++j) {
            std::vector<int> parts;
            for (int i = 0; i < j; ++i) {
                if (i > 0) parts.push_back(sep);
                parts.push_back(items[size_t(i)]);
            }
            if (j == k && rest >= 0) {
                const int tail_min = std::max(0, m.min_items - k), tail_max = max < 0 ? -1 : max - k;
                parts.push_back(b_.repeat(b_.seq({sep, rest}), tail_min, tail_max));
            } else if (j < m.min_items) {
                continue;
            }
            options.push_back(b_.seq(std::move(parts)));
        }
        body = b_.alt(std::move(options));
        if (is_nothing(b_, body)) return body;
    }
    return b_.seq({b_.byte('['), ws, body, ws, b_.byte(']')});
}

Result<int> SchemaCompiler::string_node(const Merged& m) {
    const int min = m.min_length, max = m.max_length;
    if (max >= 0 && min > max) return b_.nothing();
    int body = -1;
    for (const auto& [pattern, path] : m.patterns) {
        ASSIGN_OR_RETURN(int n, regex_body(b_, pattern, path));
        body = body < 0 ? n : b_.intersect(body, n);
    }
    for (const auto& [format, path] : m.formats) {
        ASSIGN_OR_RETURN(int n, format_body(b_, format, path));
        body = body < 0 ? n : b_.intersect(body, n);
    }
    const int quote = b_.byte('"');
    // Long bounds are counted by the matcher; short ones are unrolled (one automaton state per character).
    if (min > kUnrolledLength || max > kUnrolledLength) return b_.seq({quote, b_.counted_string(body, min, max)});
    const int chars = b_.repeat(b_.json_string_char(), min, max);
    if (body < 0) {
        body = chars;
    } else if (min > 0 || max >= 0) {
        body = b_.intersect(body, chars);
    }
    return b_.seq({quote, body, quote});
}

}  // namespace berth::schema
