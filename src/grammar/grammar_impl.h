// Internal to the grammar module: builder nodes, the compiled automaton's tables, the vocabulary's tries and
// the helpers the JSON Schema, regex and number compilers share.
#pragma once

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "grammar/grammar.h"

namespace berth {

// ---- builder nodes ---------------------------------------------------------------------------------------

struct ByteRange {
    uint8_t lo, hi;  // inclusive
};

// An explicit automaton over bytes (state 0 starts), for languages easier to write as states than as
// expressions: text_until's matcher, numeric ranges, key exclusion, intersections.
struct ByteDfa {
    struct Edge {
        uint8_t lo, hi;
        int32_t to;
    };
    std::vector<std::vector<Edge>> edges;
    std::vector<uint8_t> final;
    int add_state(bool is_final = false) {
        edges.emplace_back();
        final.push_back(is_final);
        return int(final.size()) - 1;
    }
    void add(int from, uint8_t lo, uint8_t hi, int to) { edges[size_t(from)].push_back({lo, hi, to}); }
    int n_states() const { return int(final.size()); }
};

enum class NodeKind : uint8_t {
    empty,
    nothing,
    bytes,
    literal,
    seq,
    alt,
    repeat,
    call,
    automaton,
    intersect,
    members,
    counted
};

struct BuilderNode {
    explicit BuilderNode(NodeKind k = NodeKind::empty) : kind(k) {}
    NodeKind kind;
    std::vector<int> kids;          // seq, alt, intersect (2); repeat: {item} or {item, separator}; members
    std::vector<uint8_t> required;  // members: which of kids are required (an extra last kid repeats)
    std::vector<ByteRange> ranges;  // bytes
    std::string text;               // literal
    int min = 0, max = 0;           // repeat (max < 0: unbounded)
    bool lit = false;               // literal: spells a literal (special tokens may match it)
    int index = -1;                 // call: rule; automaton: index into automata; members: separator
};

struct GrammarBuilder::Impl {
    std::vector<BuilderNode> nodes;
    std::vector<ByteDfa> automata;
    std::vector<int> rules;  // rule → body node (-1 until defined)
    // Shared pieces, made on first use.
    int ws_node = -1, json_char_node = -1, json_raw_char_node = -1, json_string_node = -1, json_number_node = -1,
        json_value_node = -1;
    int json_object_rule = -1, json_array_rule = -1;

    int add(BuilderNode n) {
        nodes.push_back(std::move(n));
        return int(nodes.size()) - 1;
    }
    int empty();
    int nothing();  // matches no string (an unsatisfiable alternative)
    int bytes(std::vector<ByteRange> ranges);
    int byte(uint8_t b) { return bytes({{b, b}}); }
    int literal(std::string_view s, bool is_literal = true);
    int seq(std::vector<int> parts);
    int alt(std::vector<int> options);
    int repeat(int item, int min, int max, int separator = -1);
    int automaton(ByteDfa dfa);
    int intersect(int a, int b);
    // Object members in declaration order, each required or optional, joined by `separator` (which stands only
    // between present members), then any number of `extra` members (-1: none).
    int members(std::vector<int> kvs, std::vector<uint8_t> required, int extra, int separator);
    // The rest of a JSON string after its opening quote: min..max characters (a counter in the parse
    // position, not unrolled states), in the language of `body` (a call-free node over the characters' JSON
    // encodings; -1: any characters), then the closing quote.
    int counted_string(int body, int min, int max);
    int new_rule() {
        rules.push_back(-1);
        return int(rules.size()) - 1;
    }
    void define_rule(int rule, int body) { rules[size_t(rule)] = body; }
    int call(int rule);

    // Code points in [lo, hi] (surrogates excluded) as UTF-8 byte sequences.
    int utf8_range(uint32_t lo, uint32_t hi);
    // JSON pieces (json_value.cpp).
    int whitespace();
    int json_string_char();  // one character of a JSON string body: raw UTF-8 or an escape (one code point)
    int json_raw_char();     // one raw character of a JSON string body (no escapes)
    int json_string();       // "…" with any characters
    int json_number();       // bounded JSON number
    int json_value();        // any JSON value (objects and arrays through two recursive rules)
    int json_object();       // any JSON object
    int json_array();        // any JSON array
};

// One JSON string character as a minimal automaton (state 0 starts, state 1 accepts; json_value.cpp).
ByteDfa json_char_automaton(bool escapes);

// Compiles `root` of `b` (compile.cpp).
Result<GrammarPtr> compile_grammar(const GrammarBuilder::Impl& b, int root);
// Compiles a call-free node into a standalone byte DFA (trimmed), for intersections and enum filtering.
Result<ByteDfa> compile_to_dfa(const GrammarBuilder::Impl& b, int node);

// ---- compiled tables -------------------------------------------------------------------------------------

// A growable array of a trivially copyable T in one malloc block. Growing and shrinking go through realloc,
// which moves a large block by remapping its pages (no copy, no page faulted in afresh), so the compiler can
// reserve a transition table generously, fill it in place and trim it to its size at the end.
template <class T>
class PodArray {
    static_assert(std::is_trivially_copyable_v<T>);

  public:
    PodArray() = default;
    PodArray(const PodArray&) = delete;
    PodArray& operator=(const PodArray&) = delete;
    PodArray(PodArray&& o) noexcept : p_(o.p_), n_(o.n_), cap_(o.cap_) { o.p_ = nullptr, o.n_ = o.cap_ = 0; }
    PodArray& operator=(PodArray&& o) noexcept {
        if (this != &o) {
            std::free(p_);
            p_ = o.p_, n_ = o.n_, cap_ = o.cap_;
            o.p_ = nullptr, o.n_ = o.cap_ = 0;
        }
        return *this;
    }
    ~PodArray() { std::free(p_); }
    size_t size() const { return n_; }
    size_t capacity() const { return cap_; }
    T* data() { return p_; }
    const T* data() const { return p_; }
    T& operator[](size_t i) { return p_[i]; }
    const T& operator[](size_t i) const { return p_[i]; }
    void reserve(size_t n) {
        if (n > cap_) set_capacity(n);
    }
    // New elements are `fill`.
    void resize(size_t n, T fill) {
        if (n > cap_) set_capacity(std::max(n, cap_ * 2));
        for (size_t i = n_; i < n; ++i) p_[i] = fill;
        n_ = n;
    }
    void shrink_to_fit() {
        if (cap_ > n_) set_capacity(n_);
    }

  private:
    void set_capacity(size_t n) {
        if (n == 0) {
            std::free(p_);
            p_ = nullptr, cap_ = 0;
            return;
        }
        void* q = std::realloc(p_, n * sizeof(T));
        CHECK_MSG(q != nullptr, "out of memory for a grammar table");
        p_ = static_cast<T*>(q);
        cap_ = n;
    }
    T* p_ = nullptr;
    size_t n_ = 0, cap_ = 0;
};

struct GrammarCall {
    int32_t callee;  // the callee's start state (never final: calls into rules that accept "" get a copy)
    int32_t ret;     // where the caller continues when the callee ends
};

inline constexpr uint16_t kNoState = 0xFFFF;
inline constexpr int kMaxStates = 65000;

// kBoundary: a character of a counted string just ended here (arriving increments the count, leaving starts
// another character and needs count < max). kCountEnd: the closing quote of a counted string (entering it
// needs count >= min).
enum StateFlags : uint8_t { kFinal = 1, kHasCalls = 2, kHasBytes = 4, kBoundary = 8, kCountEnd = 16 };

struct CountLimits {
    int32_t min, max;  // max < 0: unbounded
};

struct Grammar::Impl {
    uint64_t id = 0;
    std::array<uint8_t, 256> byte_class{};
    int n_classes = 0;
    PodArray<uint16_t> next;          // (n_states × n_classes) target state or kNoState
    PodArray<uint64_t> literal;       // (n_states × n_classes bits) the transition spells a literal
    std::vector<uint8_t> flags;       // (n_states) StateFlags
    std::vector<int32_t> call_begin;  // (n_states + 1) into calls
    std::vector<GrammarCall> calls;
    std::vector<uint16_t> counter;  // (n_states, or empty when nothing is counted) 1 + index into limits, or 0
    std::vector<CountLimits> limits;
    int32_t start = 0;
    int n_rules = 0;
    int n_states() const { return int(flags.size()); }
    // The state after `byte`, or -1.
    int32_t step(int32_t state, uint8_t byte) const {
        uint16_t t = next[size_t(state) * size_t(n_classes) + byte_class[byte]];
        return t == kNoState ? -1 : int32_t(t);
    }
    bool is_literal(int32_t state, uint8_t byte) const {
        size_t i = size_t(state) * size_t(n_classes) + byte_class[byte];
        return (literal[i >> 6] >> (i & 63)) & 1;
    }
    const CountLimits& limits_of(int32_t state) const { return limits[size_t(counter[size_t(state)]) - 1]; }
    // Whether the step from `from` (flags ff) to `to` (flags ft) is allowed with `count` characters before it:
    // leaving a boundary starts a character (count < max) or closes the string (count >= min), and the count
    // after it must leave the end reachable within the bounds (shortest and longest completions, `need`/`more`).
    bool count_allows(int32_t from, uint8_t ff, int32_t to, uint8_t ft, int32_t count) const {
        if (counter.empty() || counter[size_t(from)] == 0) return true;
        const CountLimits& l = limits_of(from);
        if (ff & kBoundary) {
            if (ft & kCountEnd) return count >= l.min;
            if (l.max >= 0 && count >= l.max) return false;
        }
        const int32_t after = count + ((ft & kBoundary) ? 1 : 0);
        if (l.max >= 0 && after + need[size_t(to)] > l.max) return false;
        return more[size_t(to)] == kUnbounded || after + more[size_t(to)] >= l.min;
    }
    static constexpr int32_t kUnbounded = INT32_MAX;
    std::vector<int32_t> need, more;  // (n_states, counted grammars only) fewest / most characters to the end
};

// ---- vocabulary ------------------------------------------------------------------------------------------

// A byte trie in depth-first order: node i's subtree is [i, skip). Node 0 is the root (no byte).
struct TrieNode {
    int32_t skip;   // first node after this subtree
    int32_t token;  // first token whose bytes end here, or -1
    uint8_t byte;
    uint8_t depth_lo, depth_hi;  // depth (bytes from the root), 16 bits
    uint8_t more = 0;            // other tokens have the same bytes (Vocabulary::Impl::same_next)
    int depth() const { return depth_lo | (depth_hi << 8); }
};

struct Vocabulary::Impl {
    int n_vocab = 0;
    std::string arena;               // every token's bytes
    std::vector<uint32_t> offset;    // (n_vocab + 1) into arena
    std::vector<uint8_t> kinds;      // (n_vocab) TokenKind
    std::vector<int32_t> same_next;  // (n_vocab) next token with the same bytes in the same trie, or -1
    std::vector<TrieNode> text_trie, special_trie;
    std::vector<int32_t> eog;  // end-of-generation tokens
    int max_bytes = 0;         // longest token in a trie
};

// ---- shared helpers --------------------------------------------------------------------------------------

// A JSON string literal for `s` (quotes included), as json.dump writes it.
std::string json_quote(std::string_view s);

}  // namespace berth
