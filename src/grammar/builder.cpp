// GrammarBuilder: nodes of a byte-level grammar (an expression DAG; rules make recursion explicit), UTF-8
// code point ranges as byte sequences, and text_until's automaton.
#include <algorithm>

#include "grammar/grammar_impl.h"

namespace berth {

// ---- Impl: node constructors with light simplification ----------------------------------------------------

int GrammarBuilder::Impl::empty() { return add(BuilderNode{NodeKind::empty}); }

int GrammarBuilder::Impl::nothing() { return add(BuilderNode{NodeKind::nothing}); }

int GrammarBuilder::Impl::bytes(std::vector<ByteRange> ranges) {
    if (ranges.empty()) return nothing();
    BuilderNode n{NodeKind::bytes};
    n.ranges = std::move(ranges);
    return add(std::move(n));
}

int GrammarBuilder::Impl::literal(std::string_view s, bool is_literal) {
    if (s.empty()) return empty();
    BuilderNode n{NodeKind::literal};
    n.text = std::string(s);
    n.lit = is_literal;
    return add(std::move(n));
}

int GrammarBuilder::Impl::seq(std::vector<int> parts) {
    std::vector<int> flat;
    flat.reserve(parts.size());
    for (int p : parts) {
        const BuilderNode& n = nodes[size_t(p)];
        if (n.kind == NodeKind::empty) continue;
        if (n.kind == NodeKind::nothing) return nothing();
        if (n.kind == NodeKind::seq) {
            flat.insert(flat.end(), n.kids.begin(), n.kids.end());
        } else {
            flat.push_back(p);
        }
    }
    if (flat.empty()) return empty();
    if (flat.size() == 1) return flat[0];
    BuilderNode n{NodeKind::seq};
    n.kids = std::move(flat);
    return add(std::move(n));
}

int GrammarBuilder::Impl::alt(std::vector<int> options) {
    std::vector<int> flat;
    flat.reserve(options.size());
    for (int o : options) {
        const BuilderNode& n = nodes[size_t(o)];
        if (n.kind == NodeKind::nothing) continue;
        if (n.kind == NodeKind::alt) {
            flat.insert(flat.end(), n.kids.begin(), n.kids.end());
        } else {
            flat.push_back(o);
        }
    }
    if (flat.empty()) return nothing();
    if (flat.size() == 1) return flat[0];
    BuilderNode n{NodeKind::alt};
    n.kids = std::move(flat);
    return add(std::move(n));
}

int GrammarBuilder::Impl::repeat(int item, int min, int max, int separator) {
    CHECK(min >= 0 && (max < 0 || max >= min));
    if (max == 0) return empty();
    if (min == 1 && max == 1) return item;
    BuilderNode n{NodeKind::repeat};
    n.kids = {item};
    if (separator >= 0) n.kids.push_back(separator);
    n.min = min;
    n.max = max;
    return add(std::move(n));
}

int GrammarBuilder::Impl::automaton(ByteDfa dfa) {
    automata.push_back(std::move(dfa));
    BuilderNode n{NodeKind::automaton};
    n.index = int(automata.size()) - 1;
    return add(std::move(n));
}

int GrammarBuilder::Impl::intersect(int a, int b) {
    BuilderNode n{NodeKind::intersect};
    n.kids = {a, b};
    return add(std::move(n));
}

int GrammarBuilder::Impl::members(std::vector<int> kvs, std::vector<uint8_t> required, int extra, int separator) {
    CHECK(kvs.size() == required.size());
    BuilderNode n{NodeKind::members};
    n.kids = std::move(kvs);
    n.required = std::move(required);
    if (extra >= 0) n.kids.push_back(extra);
    n.max = extra >= 0;
    n.index = separator;
    return add(std::move(n));
}

int GrammarBuilder::Impl::counted_string(int body, int min, int max) {
    CHECK(min >= 0 && (max < 0 || max >= min));
    BuilderNode n{NodeKind::counted};
    if (body >= 0) n.kids = {body};
    n.min = min;
    n.max = max;
    return add(std::move(n));
}

int GrammarBuilder::Impl::call(int rule) {
    CHECK(rule >= 0 && rule < int(rules.size()));
    BuilderNode n{NodeKind::call};
    n.index = rule;
    return add(std::move(n));
}

// ---- UTF-8 ------------------------------------------------------------------------------------------------

namespace {

int utf8_encode(uint32_t cp, uint8_t* out) {
    if (cp < 0x80) {
        out[0] = uint8_t(cp);
        return 1;
    }
    if (cp < 0x800) {
        out[0] = uint8_t(0xC0 | (cp >> 6));
        out[1] = uint8_t(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = uint8_t(0xE0 | (cp >> 12));
        out[1] = uint8_t(0x80 | ((cp >> 6) & 0x3F));
        out[2] = uint8_t(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = uint8_t(0xF0 | (cp >> 18));
    out[1] = uint8_t(0x80 | ((cp >> 12) & 0x3F));
    out[2] = uint8_t(0x80 | ((cp >> 6) & 0x3F));
    out[3] = uint8_t(0x80 | (cp & 0x3F));
    return 4;
}

int utf8_length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

// Splits [lo, hi] (same encoded length) until each piece is a product of byte ranges: every continuation
// position below the first differing one must span its whole 0x80..0xBF range.
void utf8_split(uint32_t lo, uint32_t hi, std::vector<std::vector<ByteRange>>& out) {
    const int n = utf8_length(lo);
    for (int i = 1; i < n; ++i) {
        const uint32_t m = (uint32_t(1) << (6 * i)) - 1;  // the low i continuation bytes
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) {
                utf8_split(lo, lo | m, out);
                utf8_split((lo | m) + 1, hi, out);
                return;
            }
            if ((hi & m) != m) {
                utf8_split(lo, (hi & ~m) - 1, out);
                utf8_split(hi & ~m, hi, out);
                return;
            }
        }
    }
    uint8_t a[4], b[4];
    utf8_encode(lo, a);
    utf8_encode(hi, b);
    std::vector<ByteRange> pieces;
    for (int i = 0; i < n; ++i) pieces.push_back({a[i], b[i]});
    out.push_back(std::move(pieces));
}

}  // namespace

int GrammarBuilder::Impl::utf8_range(uint32_t lo, uint32_t hi) {
    hi = std::min<uint32_t>(hi, 0x10FFFF);
    std::vector<std::vector<ByteRange>> seqs;
    // Pieces of one encoded length, surrogates (U+D800..U+DFFF, not encodable) left out.
    const uint32_t bounds[][2] = {{0, 0x7F}, {0x80, 0x7FF}, {0x800, 0xD7FF}, {0xE000, 0xFFFF}, {0x10000, 0x10FFFF}};
    for (auto& b : bounds) {
        uint32_t l = std::max(lo, b[0]), h = std::min(hi, b[1]);
        if (l <= h) utf8_split(l, h, seqs);
    }
    std::vector<int> options;
    options.reserve(seqs.size());
    for (auto& s : seqs) {
        std::vector<int> parts;
        for (ByteRange r : s) parts.push_back(bytes({r}));
        options.push_back(seq(std::move(parts)));
    }
    return alt(std::move(options));
}

// ---- public API -------------------------------------------------------------------------------------------

GrammarBuilder::GrammarBuilder() : impl_(std::make_unique<Impl>()) {}
GrammarBuilder::~GrammarBuilder() = default;

GrammarBuilder::Node GrammarBuilder::literal(std::string_view bytes) { return impl_->literal(bytes); }

GrammarBuilder::Node GrammarBuilder::any_json_value() { return impl_->json_value(); }

GrammarBuilder::Node GrammarBuilder::any_json_object() { return impl_->json_object(); }

GrammarBuilder::Node GrammarBuilder::whitespace() { return impl_->whitespace(); }

GrammarBuilder::Node GrammarBuilder::seq(std::vector<Node> parts) {
    for (Node p : parts) CHECK(p >= 0 && p < int(impl_->nodes.size()));
    return impl_->seq(std::move(parts));
}

GrammarBuilder::Node GrammarBuilder::alt(std::vector<Node> options) {
    for (Node o : options) CHECK(o >= 0 && o < int(impl_->nodes.size()));
    return impl_->alt(std::move(options));
}

GrammarBuilder::Node GrammarBuilder::optional(Node n) {
    CHECK(n >= 0 && n < int(impl_->nodes.size()));
    return impl_->alt({impl_->empty(), n});
}

GrammarBuilder::Node GrammarBuilder::repeat(Node n, int min, int max, std::string_view separator) {
    CHECK(n >= 0 && n < int(impl_->nodes.size()));
    CHECK(min >= 0 && (max < 0 || max >= min));
    return impl_->repeat(n, min, max, separator.empty() ? -1 : impl_->literal(separator));
}

// KMP over the terminator: state k = bytes of the terminator matched so far. A byte completing the
// terminator has no edge; the text may end in state k only if appending the terminator there does not
// complete it early (for "abab" after "ab", "ab"+"abab" would hold it at offset 0).
GrammarBuilder::Node GrammarBuilder::text_until(std::string_view t) {
    ByteDfa d;
    if (t.empty()) {
        d.add_state(true);
        d.add(0, 0, 255, 0);
        return impl_->automaton(std::move(d));
    }
    const int n = int(t.size());
    std::vector<int> fail(size_t(n) + 1, 0);
    for (int i = 1, k = 0; i < n; ++i) {
        while (k > 0 && t[size_t(i)] != t[size_t(k)]) k = fail[size_t(k)];
        if (t[size_t(i)] == t[size_t(k)]) ++k;
        fail[size_t(i) + 1] = k;
    }
    auto next = [&](int k, uint8_t c) {
        while (k > 0 && (k == n || uint8_t(t[size_t(k)]) != c)) k = fail[size_t(k)];
        if (k < n && uint8_t(t[size_t(k)]) == c) ++k;
        return k;
    };
    for (int k = 0; k < n; ++k) {
        int s = k;
        bool early = false;
        for (int i = 0; i < n && !early; ++i) {
            s = next(s, uint8_t(t[size_t(i)]));
            early = s == n && i + 1 < n;
        }
        d.add_state(!early);
    }
    for (int k = 0; k < n; ++k) {
        int lo = 0;
        int prev = next(k, 0);
        for (int c = 1; c <= 256; ++c) {
            int to = c < 256 ? next(k, uint8_t(c)) : -2;
            if (to == prev) continue;
            if (prev < n) d.add(k, uint8_t(lo), uint8_t(c - 1), prev);
            lo = c;
            prev = to;
        }
    }
    return impl_->automaton(std::move(d));
}

Result<GrammarPtr> GrammarBuilder::build(Node root) {
    CHECK(root >= 0 && root < int(impl_->nodes.size()));
    return compile_grammar(*impl_, root);
}

std::string json_quote(std::string_view s) {
    return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace berth
