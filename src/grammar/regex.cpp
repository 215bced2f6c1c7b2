// ECMA-262 regular expressions as JSON Schema patterns use them, compiled to grammar nodes over the JSON
// encoding of the string: literals, classes (with ranges, negation, \d \w \s and their negations), '.',
// groups (capturing, non-capturing, named), alternation, quantifiers (* + ? {n} {n,} {n,m}, lazy or not),
// escapes (\t \n \r \f \v \0 \xHH \uHHHH \u{H..} \cX, punctuation) and ^ / $ at the start or end of a
// branch. A pattern is unanchored: the match may be anywhere in the string. Backreferences, lookaround,
// word boundaries and Unicode property escapes are refused.
//
// Validators read patterns with their own regex dialect; where dialects differ in which characters a class
// holds (Python's \d and \w are Unicode-wide, its \s differs from ECMA's in a few code points), the generated
// characters are those both dialects accept.
#include "grammar/schema_internal.h"

namespace berth::schema {
namespace {

constexpr uint32_t kMaxCp = 0x10FFFF;
constexpr int kMaxRepeat = 1000;

CodeRanges normalize(CodeRanges r) {
    std::sort(r.begin(), r.end());
    CodeRanges out;
    for (auto [lo, hi] : r) {
        if (lo > hi) continue;
        if (!out.empty() && lo <= out.back().second + 1) {
            out.back().second = std::max(out.back().second, hi);
        } else {
            out.push_back({lo, hi});
        }
    }
    return out;
}

CodeRanges complement(const CodeRanges& r) {
    CodeRanges n = normalize(r), out;
    uint32_t next = 0;
    for (auto [lo, hi] : n) {
        if (lo > next) out.push_back({next, lo - 1});
        next = hi + 1;
    }
    if (next <= kMaxCp) out.push_back({next, kMaxCp});
    return out;
}

CodeRanges unite(CodeRanges a, const CodeRanges& b) {
    a.insert(a.end(), b.begin(), b.end());
    return normalize(std::move(a));
}

const CodeRanges kDigit = {{'0', '9'}};
const CodeRanges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const CodeRanges kNonAscii = {{0x80, kMaxCp}};
const CodeRanges kAscii = {{0, 0x7F}};
// Whitespace both ECMA-262 and Python's re accept, and whitespace either accepts.
const CodeRanges kSpaceBoth = {{0x09, 0x0D},     {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
                               {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}};
const CodeRanges kSpaceEither = {{0x09, 0x0D},     {0x1C, 0x20},     {0x85, 0x85},     {0xA0, 0xA0},
                                 {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
                                 {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};

CodeRanges intersect_ranges(const CodeRanges& a, const CodeRanges& b) {
    return complement(unite(complement(a), complement(b)));
}

// A class item: `lower` is what may be generated when the class is positive, `upper` bounds what any dialect
// may count as a member (its complement is generated when the class is negated).
struct ClassItem {
    CodeRanges lower, upper;
};

ClassItem class_escape(char e) {
    switch (e) {
        case 'd': return {kDigit, unite(kDigit, kNonAscii)};
        case 'D': return {intersect_ranges(complement(kDigit), kAscii), complement(kDigit)};
        case 'w': return {kWord, unite(kWord, kNonAscii)};
        case 'W': return {intersect_ranges(complement(kWord), kAscii), complement(kWord)};
        case 's': return {kSpaceBoth, kSpaceEither};
        default: return {complement(kSpaceEither), complement(kSpaceBoth)};  // 'S'
    }
}

struct RNode {
    enum Kind { kClass, kConcat, kAlt, kRepeat, kStart, kEnd };
    explicit RNode(Kind k = kConcat) : kind(k) {}
    Kind kind;
    CodeRanges ranges;
    std::vector<RNode> kids;
    int min = 0, max = 0;
};

class Parser {
  public:
    explicit Parser(std::string_view p) {
        // Decode UTF-8 (invalid bytes stand for themselves).
        for (size_t i = 0; i < p.size();) {
            unsigned char c = uint8_t(p[i]);
            int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
            if (i + size_t(n) > p.size()) n = 1;
            uint32_t cp = n == 1 ? c : c & (0x7F >> n);
            for (int k = 1; k < n; ++k) cp = cp << 6 | (uint8_t(p[i + size_t(k)]) & 0x3F);
            cps_.push_back(cp);
            i += size_t(n);
        }
    }

    Result<RNode> parse() {
        RNode r = alternation();
        if (err_.empty() && pos_ < cps_.size()) err_ = "unmatched ')'";
        if (!err_.empty()) return Status(StatusCode::invalid_argument, err_);
        return r;
    }

  private:
    bool more() const { return pos_ < cps_.size() && err_.empty(); }
    uint32_t peek(size_t k = 0) const { return pos_ + k < cps_.size() ? cps_[pos_ + k] : 0; }
    bool eat(uint32_t c) {
        if (pos_ < cps_.size() && cps_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    void fail(const char* what) {
        if (err_.empty()) err_ = what;
    }

    RNode alternation() {
        RNode alt{RNode::kAlt};
        alt.kids.push_back(concatenation());
        while (err_.empty() && eat('|')) alt.kids.push_back(concatenation());
        return alt.kids.size() == 1 ? std::move(alt.kids[0]) : alt;
    }

    RNode concatenation() {
        RNode cat{RNode::kConcat};
        while (more() && peek() != '|' && peek() != ')') cat.kids.push_back(quantified());
        return cat.kids.size() == 1 ? std::move(cat.kids[0]) : cat;
    }

    // Reads "{n}", "{n,}" or "{n,m}" at pos_; false (pos_ unchanged) when it is not a quantifier.
    bool braces(int& lo, int& hi) {
        size_t p = pos_ + 1;
        auto number = [&](int& out) {
            size_t start = p;
            long v = 0;
            while (p < cps_.size() && cps_[p] >= '0' && cps_[p] <= '9')
                v = std::min<long>(v * 10 + long(cps_[p++] - '0'), 1 << 30);
            out = int(v);
            return p > start;
        };
        if (!number(lo)) return false;
        hi = lo;
        if (p < cps_.size() && cps_[p] == ',') {
            ++p;
            if (!number(hi)) hi = -1;
        }
        if (p >= cps_.size() || cps_[p] != '}') return false;
        pos_ = p + 1;
        return true;
    }

    RNode quantified() {
        RNode atom_node = atom();
        for (;;) {
            int lo, hi;
            const uint32_t c = peek();
            if (c == '*') {
                lo = 0, hi = -1, ++pos_;
            } else if (c == '+') {
                lo = 1, hi = -1, ++pos_;
            } else if (c == '?') {
                lo = 0, hi = 1, ++pos_;
            } else if (c == '{' && braces(lo, hi)) {
            } else {
                return atom_node;
            }
            eat('?');  // lazy: the same language
            if (atom_node.kind == RNode::kStart || atom_node.kind == RNode::kEnd) fail("a quantifier after an anchor");
            if ((hi >= 0 && hi < lo) || lo > kMaxRepeat || hi > kMaxRepeat)
                fail("a repetition count above 1000 or out of order");
            if (peek() == '*' || peek() == '+' || peek() == '?') fail("nothing to repeat");
            RNode r{RNode::kRepeat};
            r.min = lo;
            r.max = hi;
            r.kids.push_back(std::move(atom_node));
            atom_node = std::move(r);
        }
    }

    RNode cls(CodeRanges r) {
        RNode n{RNode::kClass};
        n.ranges = normalize(std::move(r));
        return n;
    }

    RNode atom() {
        const uint32_t c = peek();
        ++pos_;
        switch (c) {
            case '^': return RNode{RNode::kStart};
            case '$': return RNode{RNode::kEnd};
            case '.': return cls(complement({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}));
            case '(': {
                if (eat('?')) {
                    if (eat(':')) {
                    } else if (peek() == '<' && peek(1) != '=' && peek(1) != '!') {
                        ++pos_;
                        while (more() && peek() != '>') ++pos_;
                        if (!eat('>')) fail("an unterminated group name");
                    } else {
                        fail("lookahead and lookbehind are not supported");
                    }
                }
                RNode inner = alternation();
                if (!eat(')')) fail("a missing ')'");
                return inner;
            }
            case '[': return char_class();
            case '\\': return escape();
            case '*':
            case '+':
            case '?': fail("nothing to repeat"); return RNode{};
            case ')': fail("unmatched ')'"); return RNode{};
            default: return cls({{c, c}});
        }
    }

    // A single code point escape (\t, \xHH, \uHHHH, ...), or -1 when `e` is not one.
    int64_t char_escape(uint32_t e) {
        auto hex = [&](int n) -> int64_t {
            int64_t v = 0;
            for (int i = 0; i < n; ++i) {
                uint32_t h = peek();
                int d = h >= '0' && h <= '9'                 ? int(h - '0')
                        : (h | 32) >= 'a' && (h | 32) <= 'f' ? int((h | 32) - 'a' + 10)
                                                             : -1;
                if (d < 0) {
                    fail("a malformed hexadecimal escape");
                    return 0;
                }
                v = v * 16 + d;
                ++pos_;
            }
            return v;
        };
        switch (e) {
            case 't': return '\t';
            case 'n': return '\n';
            case 'r': return '\r';
            case 'f': return '\f';
            case 'v': return '\v';
            case '0':
                if (peek() >= '0' && peek() <= '9') fail("octal escapes are not supported");
                return 0;
            case 'x': return hex(2);
            case 'c': {
                uint32_t l = peek();
                if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z'))) {
                    fail("a malformed \\c escape");
                    return 0;
                }
                ++pos_;
                return l % 32;
            }
            case 'u': {
                if (eat('{')) {
                    int64_t v = 0;
                    int n = 0;
                    while (more() && peek() != '}' && n < 7) v = v * 16 + hex(1), ++n;
                    if (!eat('}') || n == 0 || v > kMaxCp) fail("a malformed \\u{...} escape");
                    return v;
                }
                int64_t v = hex(4);
                // A surrogate pair written as two escapes is one code point.
                if (v >= 0xD800 && v <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
                    size_t save = pos_;
                    pos_ += 2;
                    int64_t lo = hex(4);
                    if (err_.empty() && lo >= 0xDC00 && lo <= 0xDFFF)
                        return 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                    pos_ = save;
                }
                return v;
            }
            default: break;
        }
        if (e < 0x80 && std::string_view("^$\\.*+?()[]{}|/-,:;=!<>'\"#%&@`~ ").find(char(e)) != std::string_view::npos)
            return e;
        return -1;
    }

    RNode escape() {
        if (!more()) {
            fail("a trailing backslash");
            return RNode{};
        }
        const uint32_t e = peek();
        ++pos_;
        if (e == 'd' || e == 'D' || e == 'w' || e == 'W' || e == 's' || e == 'S')
            return cls(class_escape(char(e)).lower);
        if (e == 'b' || e == 'B') fail("word boundaries (\\b, \\B) are not supported");
        if ((e >= '1' && e <= '9') || e == 'k') fail("backreferences are not supported");
        if (e == 'p' || e == 'P') fail("Unicode property escapes (\\p{...}) are not supported");
        int64_t cp = char_escape(e);
        if (cp < 0) fail("an unknown escape");
        if (!err_.empty()) return RNode{};
        return cls({{uint32_t(cp), uint32_t(cp)}});
    }

    RNode char_class() {
        const bool negated = eat('^');
        CodeRanges lower, upper;
        auto single = [&](uint32_t& cp, bool& is_set, ClassItem& set) {
            is_set = false;
            uint32_t c = peek();
            ++pos_;
            if (c != '\\') {
                cp = c;
                return;
            }
            if (!more()) {
                fail("a trailing backslash");
                return;
            }
            uint32_t e = peek();
            ++pos_;
            if (e == 'd' || e == 'D' || e == 'w' || e == 'W' || e == 's' || e == 'S') {
                is_set = true;
                set = class_escape(char(e));
                return;
            }
            if (e == 'b') {
                cp = 0x08;
                return;
            }
            if ((e >= '1' && e <= '9') || e == 'k') fail("backreferences are not supported");
            if (e == 'p' || e == 'P') fail("Unicode property escapes (\\p{...}) are not supported");
            int64_t v = char_escape(e);
            if (v < 0) fail("an unknown escape");
            cp = uint32_t(std::max<int64_t>(v, 0));
        };
        while (err_.empty()) {
            if (pos_ >= cps_.size()) {
                fail("an unterminated character class");
                break;
            }
            if (peek() == ']') {  // ECMA-262: "[]" matches nothing, "[^]" anything
                ++pos_;
                break;
            }
            uint32_t a = 0, b = 0;
            bool a_set, b_set;
            ClassItem sa, sb;
            single(a, a_set, sa);
            if (a_set) {
                lower = unite(lower, sa.lower);
                upper = unite(upper, sa.upper);
                continue;
            }
            if (peek() == '-' && pos_ + 1 < cps_.size() && peek(1) != ']') {
                ++pos_;
                single(b, b_set, sb);
                if (b_set) fail("a class escape cannot end a range");
                if (b < a) fail("a character range out of order");
                lower = unite(lower, {{a, b}});
                upper = unite(upper, {{a, b}});
            } else {
                lower = unite(lower, {{a, a}});
                upper = unite(upper, {{a, a}});
            }
        }
        return cls(negated ? complement(upper) : lower);
    }

    std::vector<uint32_t> cps_;
    size_t pos_ = 0;
    std::string err_;
};

bool has_anchor(const RNode& r) {
    if (r.kind == RNode::kStart || r.kind == RNode::kEnd) return true;
    for (const RNode& k : r.kids)
        if (has_anchor(k)) return true;
    return false;
}

int to_node(GrammarBuilder::Impl& b, const RNode& r) {
    switch (r.kind) {
        case RNode::kClass: return json_class(b, r.ranges);
        case RNode::kConcat: {
            std::vector<int> parts;
            for (const RNode& k : r.kids) parts.push_back(to_node(b, k));
            return b.seq(std::move(parts));
        }
        case RNode::kAlt: {
            std::vector<int> options;
            for (const RNode& k : r.kids) options.push_back(to_node(b, k));
            return b.alt(std::move(options));
        }
        case RNode::kRepeat: return b.repeat(to_node(b, r.kids[0]), r.min, r.max);
        default: return b.empty();
    }
}

// Adds one option per branch: anchors at a branch's ends decide whether any text may come before or after the
// match; a branch that is a single group passes its anchors on to the group's branches.
bool collect(GrammarBuilder::Impl& b, const RNode& r, bool start, bool end, std::vector<int>& options) {
    if (r.kind == RNode::kAlt) {
        for (const RNode& k : r.kids)
            if (!collect(b, k, start, end, options)) return false;
        return true;
    }
    std::vector<const RNode*> items;
    if (r.kind == RNode::kConcat) {
        for (const RNode& k : r.kids) items.push_back(&k);
    } else {
        items.push_back(&r);
    }
    size_t i = 0, j = items.size();
    while (i < j && items[i]->kind == RNode::kStart) ++i, start = true;
    while (j > i && items[j - 1]->kind == RNode::kEnd) --j, end = true;
    if (j - i == 1 && items[i]->kind == RNode::kAlt) return collect(b, *items[i], start, end, options);
    std::vector<int> parts;
    const int any = b.repeat(b.json_string_char(), 0, -1);
    if (!start) parts.push_back(any);
    for (size_t k = i; k < j; ++k) {
        if (has_anchor(*items[k])) return false;
        parts.push_back(to_node(b, *items[k]));
    }
    if (!end) parts.push_back(any);
    options.push_back(b.seq(std::move(parts)));
    return true;
}

}  // namespace

int json_class(GrammarBuilder::Impl& b, CodeRanges ranges) {
    ranges = intersect_ranges(normalize(std::move(ranges)), complement({{0xD800, 0xDFFF}}));
    std::vector<int> options;
    auto has = [&](uint32_t cp) {
        for (auto [lo, hi] : ranges)
            if (cp >= lo && cp <= hi) return true;
        return false;
    };
    for (auto [lo, hi] : intersect_ranges(ranges, complement({{0, 0x1F}, {'"', '"'}, {'\\', '\\'}})))
        options.push_back(b.utf8_range(lo, hi));
    if (has('"')) options.push_back(b.literal("\\\"", false));
    if (has('\\')) options.push_back(b.literal("\\\\", false));
    static const char* kShort[32] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                     "\\b",   "\\t",   "\\n",   nullptr, "\\f",   "\\r",   nullptr, nullptr};
    for (uint32_t cp = 0; cp < 0x20; ++cp) {
        if (!has(cp)) continue;
        if (kShort[cp]) {
            options.push_back(b.literal(kShort[cp], false));
        } else {
            const char* hex = "0123456789abcdef";
            std::string lower = std::string("\\u00") + hex[cp >> 4] + hex[cp & 15];
            std::string upper = lower;
            for (char& c : upper)
                if (c >= 'a' && c <= 'f') c = char(c - 32);
            options.push_back(b.literal(lower, false));
            if (upper != lower) options.push_back(b.literal(upper, false));
        }
    }
    return b.alt(std::move(options));
}

Result<int> regex_body(GrammarBuilder::Impl& b, std::string_view pattern, const std::string& path) {
    Result<RNode> r = Parser(pattern).parse();
    if (!r.is_ok()) {
        return error("pattern \"%.*s\"%s: %s", int(pattern.size()), pattern.data(), at(path).c_str(),
                     r.status().message().c_str());
    }
    std::vector<int> options;
    if (!collect(b, *r, false, false, options)) {
        return error("pattern \"%.*s\"%s: ^ and $ are only supported at the start and end of a branch",
                     int(pattern.size()), pattern.data(), at(path).c_str());
    }
    return b.alt(std::move(options));
}

}  // namespace berth::schema
