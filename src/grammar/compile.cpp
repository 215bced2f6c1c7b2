// Grammar compilation: builder nodes → one NFA per rule (Thompson construction over byte ranges; calls to
// other rules are edges) → one DFA per rule by subset construction over byte classes → trimmed, packed
// tables. Everything that is not a recursive rule is inlined, so most grammars are one DFA and the stack is
// only used for nesting.
#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <unordered_map>

#include "grammar/grammar_impl.h"

namespace berth {
namespace {

constexpr int kMaxNfaStates = 1 << 21;
constexpr int kMaxNodeDepth = 4000;

std::atomic<uint64_t> g_next_grammar_id{1};

enum : uint8_t { kEps = 0, kRange = 1, kCall = 2 };

struct NEdge {
    int32_t from, to;
    int32_t arg;  // kCall: callee (compiled rule); kRange: index of the range (after classes are computed)
    uint8_t kind, lo, hi;
    bool lit;
};

Status too_large() {
    return invalid_argument(
        "the grammar is too large to enforce (more than %d automaton states): reduce maxLength, maxItems, "
        "large enums, bounded repetitions in patterns or deeply nested schemas",
        kMaxStates);
}

// The NFA as a flat edge list, then indexed by source state (CSR).
struct Nfa {
    int n_states = 0;
    std::vector<NEdge> edges;
    std::vector<int32_t> begin;  // (n_states + 1) after index()
    void index() {
        begin.assign(size_t(n_states) + 1, 0);
        for (const NEdge& e : edges) ++begin[size_t(e.from) + 1];
        for (int s = 0; s < n_states; ++s) begin[size_t(s) + 1] += begin[size_t(s)];
        std::vector<NEdge> sorted(edges.size());
        std::vector<int32_t> fill(begin.begin(), begin.end() - 1);
        for (const NEdge& e : edges) sorted[size_t(fill[size_t(e.from)]++)] = e;
        edges.swap(sorted);
    }
};

ByteDfa intersect_dfas_impl(const ByteDfa& a, const ByteDfa& b, Status& status);
void trim(ByteDfa& p);

// A counted string: an automaton over (body state, character state) whose boundary states are those where a
// character just ended, and whose only final state is after the closing quote.
struct CountedRule {
    ByteDfa dfa;
    std::vector<uint8_t> boundary;
    int end = -1;
    int min = 0, max = -1;
    std::vector<int32_t> need, more;  // per state: fewest / most characters still to come before the end
};

// Fewest characters from each state to the end (0-1 BFS backwards: arriving at a boundary counts one) and most
// (longest path over the strongly connected components; unbounded when a component counts characters in a
// cycle). States that cannot reach the end get need = INT32_MAX, more = -1.
void completion_lengths(CountedRule& r) {
    const int n = r.dfa.n_states();
    std::vector<std::vector<std::pair<int, int>>> rev(static_cast<size_t>(n));  // (from, weight)
    for (int s = 0; s < n; ++s)
        for (const ByteDfa::Edge& e : r.dfa.edges[size_t(s)])
            rev[size_t(e.to)].push_back({s, r.boundary[size_t(e.to)]});
    r.need.assign(size_t(n), INT32_MAX);
    std::deque<int> dq{r.end};
    r.need[size_t(r.end)] = 0;
    while (!dq.empty()) {
        const int v = dq.front();
        dq.pop_front();
        for (auto [u, w] : rev[size_t(v)]) {
            if (r.need[size_t(v)] + w < r.need[size_t(u)]) {
                r.need[size_t(u)] = r.need[size_t(v)] + w;
                w ? dq.push_back(u) : dq.push_front(u);
            }
        }
    }
    // Tarjan (iterative); components come out sinks first.
    std::vector<int> index(size_t(n), -1), low(size_t(n), 0), comp(size_t(n), -1), stack;
    std::vector<uint8_t> on(size_t(n), 0);
    std::vector<std::pair<int, size_t>> call;
    int counter = 0, n_comp = 0;
    r.more.assign(size_t(n), -1);
    for (int s0 = 0; s0 < n; ++s0) {
        if (index[size_t(s0)] >= 0) continue;
        call.push_back({s0, 0});
        while (!call.empty()) {
            auto& [v, i] = call.back();
            if (i == 0 && index[size_t(v)] < 0) {
                index[size_t(v)] = low[size_t(v)] = counter++;
                stack.push_back(v);
                on[size_t(v)] = 1;
            }
            const auto& edges = r.dfa.edges[size_t(v)];
            if (i < edges.size()) {
                const int w = edges[i++].to;
                if (index[size_t(w)] < 0) {
                    call.push_back({w, 0});
                } else if (on[size_t(w)]) {
                    low[size_t(v)] = std::min(low[size_t(v)], index[size_t(w)]);
                }
                continue;
            }
            if (low[size_t(v)] == index[size_t(v)]) {
                // Component of v: the longest completion of any member, or unbounded.
                std::vector<int> members;
                int w;
                do {
                    w = stack.back();
                    stack.pop_back();
                    on[size_t(w)] = 0;
                    comp[size_t(w)] = n_comp;
                    members.push_back(w);
                } while (w != v);
                bool cycle_counts = false;
                int64_t best = -1;
                for (int u : members) {
                    if (u == r.end) best = std::max<int64_t>(best, 0);
                    for (const ByteDfa::Edge& e : r.dfa.edges[size_t(u)]) {
                        const int b = r.boundary[size_t(e.to)];
                        if (comp[size_t(e.to)] == n_comp) {
                            cycle_counts |= b != 0;
                        } else if (r.more[size_t(e.to)] >= 0) {
                            best = r.more[size_t(e.to)] == INT32_MAX
                                       ? INT32_MAX
                                       : std::max<int64_t>(best, b + r.more[size_t(e.to)]);
                        }
                    }
                }
                if (best >= 0 && cycle_counts) best = INT32_MAX;
                for (int u : members) r.more[size_t(u)] = int32_t(std::min<int64_t>(best, INT32_MAX));
                ++n_comp;
            }
            const int done = v;
            call.pop_back();
            if (!call.empty())
                low[size_t(call.back().first)] = std::min(low[size_t(call.back().first)], low[size_t(done)]);
        }
    }
}

CountedRule make_counted(const ByteDfa* body, int min, int max, Status& status) {
    const ByteDfa chars = json_char_automaton(true);  // 0 starts, 1 accepts
    auto dense = [](const ByteDfa& d) {
        std::vector<int32_t> t(size_t(d.n_states()) * 256, -1);
        for (int s = 0; s < d.n_states(); ++s)
            for (const ByteDfa::Edge& e : d.edges[size_t(s)])
                for (int x = e.lo; x <= e.hi; ++x) t[size_t(s) * 256 + size_t(x)] = e.to;
        return t;
    };
    ByteDfa any;
    any.add_state(true);
    any.add(0, 0, 255, 0);
    const ByteDfa& b = body ? *body : any;
    const std::vector<int32_t> tb = dense(b), tc = dense(chars);
    CountedRule r;
    r.min = min;
    r.max = max;
    std::unordered_map<uint64_t, int> ids;
    std::vector<std::pair<int, int>> pairs;
    auto intern = [&](int x, int y) {
        const uint64_t key = uint64_t(uint32_t(x)) << 32 | uint32_t(y);
        auto it = ids.find(key);
        if (it != ids.end()) return it->second;
        if (r.dfa.n_states() >= kMaxStates) return -1;
        const int id = r.dfa.add_state(false);
        r.boundary.push_back(y == 0);
        ids.emplace(key, id);
        pairs.push_back({x, y});
        return id;
    };
    intern(0, 0);
    std::vector<int32_t> target(256);
    for (size_t i = 0; i < pairs.size(); ++i) {
        auto [x, y] = pairs[i];
        for (int c = 0; c < 256; ++c) {
            int32_t u = tb[size_t(x) * 256 + size_t(c)], v = tc[size_t(y) * 256 + size_t(c)];
            target[size_t(c)] = -1;
            if (u < 0 || v < 0) continue;
            target[size_t(c)] = intern(u, v == 1 ? 0 : v);  // a completed character starts the next one
            if (target[size_t(c)] < 0) {
                status = too_large();
                return r;
            }
        }
        for (int lo = 0; lo < 256;) {
            int hi = lo;
            while (hi + 1 < 256 && target[size_t(hi) + 1] == target[size_t(lo)]) ++hi;
            if (target[size_t(lo)] >= 0) r.dfa.add(int(i), uint8_t(lo), uint8_t(hi), target[size_t(lo)]);
            lo = hi + 1;
        }
    }
    // The closing quote after a complete character where the body may end (a raw quote is never a character).
    r.end = r.dfa.add_state(true);
    r.boundary.push_back(0);
    for (size_t i = 0; i < pairs.size(); ++i)
        if (pairs[i].second == 0 && b.final[size_t(pairs[i].first)]) r.dfa.add(int(i), '"', '"', r.end);
    trim(r.dfa);
    completion_lengths(r);
    // No string within the bounds: the rule matches nothing (its start keeps no edge).
    if (r.need[0] == INT32_MAX || (max >= 0 && r.need[0] > max) || (r.more[0] != INT32_MAX && r.more[0] < min))
        r.dfa.edges[0].clear();
    return r;
}

// Thompson construction. Each fragment connects `from` to `to`, adds edges only out of `from`, into `to` and
// among the states it creates, so fragments compose without sharing loops.
class NfaBuild {
  public:
    NfaBuild(const GrammarBuilder::Impl& b, const std::vector<int>* rule_index, const std::vector<uint8_t>* nullable,
             std::vector<CountedRule>* counted = nullptr, int counted_base = 0)
        : b_(b), rule_index_(rule_index), nullable_(nullable), counted_(counted), counted_base_(counted_base) {}

    Nfa nfa;
    Status status;

    int state() {
        if (nfa.n_states >= kMaxNfaStates) {
            if (status.is_ok()) status = too_large();
            return 0;
        }
        return nfa.n_states++;
    }
    void eps(int a, int b) { nfa.edges.push_back({a, b, -1, kEps, 0, 0, false}); }
    void range(int a, int b, uint8_t lo, uint8_t hi, bool lit) { nfa.edges.push_back({a, b, -1, kRange, lo, hi, lit}); }

    void build(int node, int from, int to, int depth = 0) {
        if (!status.is_ok()) return;
        if (depth > kMaxNodeDepth) {
            status = invalid_argument("the grammar is nested too deeply (more than %d levels)", kMaxNodeDepth);
            return;
        }
        const BuilderNode& n = b_.nodes[size_t(node)];
        switch (n.kind) {
            case NodeKind::empty: eps(from, to); return;
            case NodeKind::nothing: return;
            case NodeKind::bytes:
                for (ByteRange r : n.ranges) range(from, to, r.lo, r.hi, false);
                return;
            case NodeKind::literal: {
                int cur = from;
                for (size_t i = 0; i < n.text.size(); ++i) {
                    int nxt = i + 1 == n.text.size() ? to : state();
                    uint8_t c = uint8_t(n.text[i]);
                    range(cur, nxt, c, c, n.lit);
                    cur = nxt;
                }
                return;
            }
            case NodeKind::seq: {
                int cur = from;
                for (size_t i = 0; i < n.kids.size(); ++i) {
                    int nxt = i + 1 == n.kids.size() ? to : state();
                    build(n.kids[i], cur, nxt, depth + 1);
                    cur = nxt;
                }
                return;
            }
            case NodeKind::alt:
                for (int k : n.kids) build(k, from, to, depth + 1);
                return;
            case NodeKind::repeat: build_repeat(n, from, to, depth); return;
            case NodeKind::call: {
                if (!rule_index_) {
                    status = invalid_argument("a recursive rule cannot be intersected with another grammar");
                    return;
                }
                const int r = (*rule_index_)[size_t(n.index)];
                CHECK(r >= 0);
                nfa.edges.push_back({from, to, r, kCall, 0, 0, false});
                if ((*nullable_)[size_t(r)]) eps(from, to);
                return;
            }
            case NodeKind::automaton: embed(b_.automata[size_t(n.index)], from, to); return;
            case NodeKind::members: build_members(n, from, to, depth); return;
            case NodeKind::counted: {
                if (!counted_) {
                    status = invalid_argument("a counted string cannot be intersected with another grammar");
                    return;
                }
                std::optional<ByteDfa> body;
                if (!n.kids.empty()) {
                    Result<ByteDfa> d = compile_to_dfa(b_, n.kids[0]);
                    if (!d.is_ok()) {
                        status = d.status();
                        return;
                    }
                    body = std::move(*d);
                }
                CountedRule r = make_counted(body ? &*body : nullptr, n.min, n.max, status);
                if (!status.is_ok()) return;
                counted_->push_back(std::move(r));
                nfa.edges.push_back({from, to, counted_base_ + int(counted_->size()) - 1, kCall, 0, 0, false});
                return;
            }
            case NodeKind::intersect: {
                Result<ByteDfa> a = compile_to_dfa(b_, n.kids[0]);
                if (!a.is_ok()) {
                    status = a.status();
                    return;
                }
                Result<ByteDfa> c = compile_to_dfa(b_, n.kids[1]);
                if (!c.is_ok()) {
                    status = c.status();
                    return;
                }
                ByteDfa p = intersect_dfas_impl(*a, *c, status);
                if (status.is_ok()) embed(p, from, to);
                return;
            }
        }
    }

  private:
    void embed(const ByteDfa& d, int from, int to) {
        const int base = nfa.n_states;
        for (int i = 0; i < d.n_states(); ++i) state();
        if (!status.is_ok()) return;
        eps(from, base);
        for (int i = 0; i < d.n_states(); ++i) {
            for (const ByteDfa::Edge& e : d.edges[size_t(i)]) range(base + i, base + e.to, e.lo, e.hi, false);
            if (d.final[size_t(i)]) eps(base + i, to);
        }
    }

    // States a[i] (no member yet, before member i) and c[i] (some member written, before member i): a member
    // is entered from a[i] directly or from c[i] through the separator, and leads to c[i + 1]; optional
    // members may be skipped. Extra members loop on the last c state. Each member is built once.
    void build_members(const BuilderNode& n, int from, int to, int depth) {
        const int extra = n.max ? n.kids.back() : -1;
        const int count = int(n.kids.size()) - (extra >= 0 ? 1 : 0);
        int a = from, c = -1;
        for (int i = 0; i < count && status.is_ok(); ++i) {
            const int pre = state(), a_next = state(), c_next = state();
            eps(a, pre);
            if (c >= 0) build(n.index, c, pre, depth + 1);
            build(n.kids[size_t(i)], pre, c_next, depth + 1);
            if (!n.required[size_t(i)]) {
                eps(a, a_next);
                if (c >= 0) eps(c, c_next);
            }
            a = a_next;
            c = c_next;
        }
        if (extra >= 0) {
            if (c < 0) c = state();
            const int pre = state();
            eps(a, pre);
            build(n.index, c, pre, depth + 1);
            build(extra, pre, c, depth + 1);
        }
        eps(a, to);
        if (c >= 0) eps(c, to);
    }

    // Mandatory items unrolled; then either a loop that builds the item once (head --item--> tail
    // --separator--> head) or max - min optional items, each present only if the previous one is.
    void build_repeat(const BuilderNode& n, int from, int to, int depth) {
        const int item = n.kids[0], sep = n.kids.size() > 1 ? n.kids[1] : -1;
        auto separator = [&](int a, int b) {
            if (sep >= 0) {
                build(sep, a, b, depth + 1);
            } else {
                eps(a, b);
            }
        };
        int cur = from;
        if (n.max < 0) {
            const int unrolled = std::max(n.min - 1, 0);
            for (int i = 0; i < unrolled && status.is_ok(); ++i) {
                if (i > 0) {
                    int m = state();
                    separator(cur, m);
                    cur = m;
                }
                int nxt = state();
                build(item, cur, nxt, depth + 1);
                cur = nxt;
            }
            const int head = state(), tail = state();
            if (unrolled > 0) {
                separator(cur, head);
            } else {
                eps(cur, head);
            }
            build(item, head, tail, depth + 1);
            separator(tail, head);
            eps(tail, to);
            if (n.min == 0) eps(from, to);
            return;
        }
        for (int i = 0; i < n.max && status.is_ok(); ++i) {
            if (i >= n.min) eps(cur, to);
            int m = cur;
            if (i > 0 && sep >= 0) {
                m = state();
                build(sep, cur, m, depth + 1);
            }
            int nxt = i + 1 == n.max ? to : state();
            build(item, m, nxt, depth + 1);
            cur = nxt;
        }
    }

    const GrammarBuilder::Impl& b_;
    const std::vector<int>* rule_index_;  // builder rule → compiled rule (null: calls are errors)
    const std::vector<uint8_t>* nullable_;
    std::vector<CountedRule>* counted_;  // counted strings found, compiled rules counted_base_ + i
    int counted_base_;
};

// ---- byte classes and subset construction -----------------------------------------------------------------

// The coarsest partition of the 256 bytes in which every edge's range is a union of classes.
struct Classes {
    std::array<uint8_t, 256> of{};
    int n = 1;
    std::vector<std::vector<uint8_t>> range_classes;  // per distinct range: its classes
};

void compute_classes(Nfa& nfa, Classes& c, const std::vector<CountedRule>& counted = {}) {
    // Distinct ranges (key lo << 8 | hi) through a bitmap of all 65536 keys: no sort of the edge list.
    std::vector<uint64_t> used(1024, 0);
    auto mark = [&](uint8_t lo, uint8_t hi) {
        const unsigned key = unsigned(lo) << 8 | hi;
        used[key >> 6] |= uint64_t(1) << (key & 63);
    };
    for (const NEdge& e : nfa.edges)
        if (e.kind == kRange) mark(e.lo, e.hi);
    for (const CountedRule& r : counted)
        for (auto& edges : r.dfa.edges)
            for (auto& e : edges) mark(e.lo, e.hi);
    std::vector<uint16_t> keys;
    std::vector<int32_t> key_index(65536 / 64 + 1, 0);  // keys before each bitmap word
    for (size_t w = 0; w < used.size(); ++w) {
        key_index[w] = int32_t(keys.size());
        for (uint64_t m = used[w]; m; m &= m - 1) keys.push_back(uint16_t(w * 64 + size_t(__builtin_ctzll(m))));
    }
    for (NEdge& e : nfa.edges) {
        if (e.kind != kRange) continue;
        const unsigned key = unsigned(e.lo) << 8 | e.hi;
        const uint64_t below = used[key >> 6] & ((uint64_t(1) << (key & 63)) - 1);
        e.arg = key_index[key >> 6] + __builtin_popcountll(below);
    }
    c.of.fill(0);
    c.n = 1;
    std::array<int16_t, 256> in_id, out_id;
    for (uint16_t key : keys) {
        const int lo = key >> 8, hi = key & 0xFF;
        std::fill(in_id.begin(), in_id.begin() + c.n, -1);
        std::fill(out_id.begin(), out_id.begin() + c.n, -1);
        int n = 0;
        std::array<uint8_t, 256> nxt;
        for (int b = 0; b < 256; ++b) {
            int16_t& id = (b >= lo && b <= hi) ? in_id[c.of[size_t(b)]] : out_id[c.of[size_t(b)]];
            if (id < 0) id = int16_t(n++);
            nxt[size_t(b)] = uint8_t(id);
        }
        c.of = nxt;
        c.n = n;
    }
    c.range_classes.assign(keys.size(), {});
    std::array<uint8_t, 256> seen;
    for (size_t i = 0; i < keys.size(); ++i) {
        std::fill(seen.begin(), seen.begin() + c.n, 0);
        for (int b = keys[i] >> 8; b <= (keys[i] & 0xFF); ++b) {
            uint8_t k = c.of[size_t(b)];
            if (!seen[k]) seen[k] = 1, c.range_classes[i].push_back(k);
        }
    }
}

// The DFA under construction. `next` and `lit` have the compiled Grammar's layout, so that they become its tables
// without a copy.
struct Dfa {
    int n_classes = 0;
    PodArray<uint16_t> next;  // (n × n_classes) target or kNoState
    PodArray<uint64_t> lit;   // (n × n_classes bits) the transition spells a literal
    std::vector<uint8_t> final;
    std::vector<std::vector<std::pair<int32_t, int32_t>>> calls;  // (callee rule, return state)
    std::vector<int32_t> rule;
    std::vector<uint8_t> boundary, count_end;  // counted strings (StateFlags kBoundary, kCountEnd)
    std::vector<int32_t> counter;              // index of the counted string, or -1
    std::vector<int32_t> need, more;           // counted strings: completion lengths (CountedRule)
    // (target, source) of every byte transition made by subset construction, once or a few times each
    // (productive_states reads these instead of the n × n_classes table).
    std::vector<std::pair<int32_t, int32_t>> edges;
    int n() const { return int(final.size()); }
    // The target of cell `at` (state × n_classes + class), or -1.
    int32_t target(size_t at) const { return next[at] == kNoState ? -1 : int32_t(next[at]); }
    bool is_lit(size_t at) const { return (lit[at >> 6] >> (at & 63)) & 1; }
    void set_lit(size_t at) { lit[at >> 6] |= uint64_t(1) << (at & 63); }
    // Room for `n` states (the tables are the largest allocations of a compile: growing them step by step
    // would copy them and fault in fresh pages several times).
    void reserve(int n) {
        const size_t cells = size_t(n) * size_t(n_classes);
        next.reserve(cells);
        lit.reserve((cells + 63) / 64);
        final.reserve(size_t(n));
        rule.reserve(size_t(n));
        calls.reserve(size_t(n));
        boundary.reserve(size_t(n));
        count_end.reserve(size_t(n));
        counter.reserve(size_t(n));
        need.reserve(size_t(n));
        more.reserve(size_t(n));
    }
    void push_state(bool fin, int r) {
        final.push_back(fin);
        rule.push_back(r);
        calls.emplace_back();
        next.resize(next.size() + size_t(n_classes), kNoState);
        lit.resize((next.size() + 63) / 64, 0);
        boundary.push_back(0);
        count_end.push_back(0);
        counter.push_back(-1);
        need.push_back(0);
        more.push_back(INT32_MAX);
    }
};

// Sorted sets of NFA states interned in one pool; an open-addressing table finds a set's index (its order of
// addition) by its contents. Determinize keeps two: the DFA states' closed sets, and the pre-closure sets.
class SetTable {
  public:
    SetTable() : table_(1024, -1) {}

    // The index of `s`, or -1 when it is not in the table; `slot` is where add() would put it.
    int find(const std::vector<int32_t>& s, size_t* slot) const {
        const size_t mask = table_.size() - 1;
        size_t i = size_t(hash(s.data(), s.size())) & mask;
        for (; table_[i] >= 0; i = (i + 1) & mask) {
            const int k = table_[i];
            const size_t b = begin_[size_t(k)], n = begin_[size_t(k) + 1] - b;
            if (n == s.size() && std::equal(s.begin(), s.end(), pool_.begin() + ptrdiff_t(b))) return k;
        }
        *slot = i;
        return -1;
    }

    // Adds `s` (absent, `slot` from find()) and returns its index; the table doubles past half full.
    int add(const std::vector<int32_t>& s, size_t slot) {
        const int k = size();
        table_[slot] = k;
        pool_.insert(pool_.end(), s.begin(), s.end());
        begin_.push_back(pool_.size());
        if (size_t(size()) * 2 > table_.size()) rehash();
        return k;
    }

    int size() const { return int(begin_.size()) - 1; }
    // Set k's members: [pool() + begin(k), pool() + begin(k + 1)).
    const int32_t* pool() const { return pool_.data(); }
    size_t begin(int k) const { return begin_[size_t(k)]; }

  private:
    static uint64_t hash(const int32_t* p, size_t n) {
        uint64_t h = 1469598103934665603ull ^ n;
        for (size_t i = 0; i < n; ++i) h = (h ^ uint32_t(p[i])) * 1099511628211ull;
        return h ^ (h >> 29);
    }

    void rehash() {
        std::vector<int32_t> t(table_.size() * 2, -1);
        const size_t mask = t.size() - 1;
        for (int k = 0; k < size(); ++k) {
            const size_t b = begin_[size_t(k)];
            size_t i = size_t(hash(pool_.data() + b, begin_[size_t(k) + 1] - b)) & mask;
            while (t[i] >= 0) i = (i + 1) & mask;
            t[i] = k;
        }
        table_.swap(t);
    }

    std::vector<int32_t> pool_;
    std::vector<size_t> begin_{0};
    std::vector<int32_t> table_;
};

class Determinize {
  public:
    Determinize(const Nfa& nfa, const Classes& c) : nfa_(nfa), c_(c) { stamp_.assign(size_t(nfa.n_states), 0); }

    // Adds the DFA of one rule (NFA start and accept states); returns its start state.
    Result<int> add_rule(int rule, int nfa_start, int nfa_accept, Dfa& d) {
        if (int(accept_.size()) <= rule) accept_.resize(size_t(rule) + 1, -1);
        accept_[size_t(rule)] = nfa_accept;
        scratch_.assign(1, nfa_start);
        closure(scratch_);
        int start = intern(scratch_, rule, d);
        if (start < 0) return too_large();
        while (!work_.empty()) {
            int id = work_.back();
            work_.pop_back();
            if (!expand(id, d)) return too_large();
        }
        return start;
    }

  private:
    // Epsilon closure of `s`, sorted.
    void closure(std::vector<int32_t>& s) {
        ++gen_;
        stack_.assign(s.begin(), s.end());
        s.clear();
        for (int32_t x : stack_) stamp_[size_t(x)] = gen_;
        while (!stack_.empty()) {
            int32_t x = stack_.back();
            stack_.pop_back();
            s.push_back(x);
            for (int32_t i = nfa_.begin[size_t(x)]; i < nfa_.begin[size_t(x) + 1]; ++i) {
                const NEdge& e = nfa_.edges[size_t(i)];
                if (e.kind == kEps && stamp_[size_t(e.to)] != gen_) {
                    stamp_[size_t(e.to)] = gen_;
                    stack_.push_back(e.to);
                }
            }
        }
        std::sort(s.begin(), s.end());
    }

    // The DFA state reached through NFA set `s` before its epsilon closure. Most classes of a state, and many
    // states, move to a set already seen (every character class of a string body, say): those skip the
    // closure and the interning. Sets of different rules never meet (their NFA states are disjoint).
    int successor(std::vector<int32_t>& s, int rule, Dfa& d) {
        size_t slot;
        if (const int k = moves_seen_.find(s, &slot); k >= 0) return move_to_[size_t(k)];
        moves_seen_.add(s, slot);
        closure(s);
        const int to = intern(s, rule, d);
        move_to_.push_back(to);
        return to;
    }

    // The DFA state for NFA set `s`: a set's index in `states_` is its DFA state.
    int intern(const std::vector<int32_t>& s, int rule, Dfa& d) {
        size_t slot;
        if (const int id = states_.find(s, &slot); id >= 0) return id;
        if (d.n() >= kMaxStates) return -1;
        const int id = states_.add(s, slot);
        CHECK(id == d.n());
        d.push_state(std::binary_search(s.begin(), s.end(), accept_[size_t(rule)]), rule);
        work_.push_back(id);
        return id;
    }

    // The transitions of DFA state `id`. Each class's targets are the range edges of the set that cover it:
    // with up to 64 such edges, a class's signature is the bit set of its edges, so classes with equal
    // signatures (most classes of a string body, say) are resolved once; with more, the edges are bucketed by
    // class (a counting sort).
    bool expand(int id, Dfa& d) {
        const int nc = c_.n;
        moves_.clear();
        calls_.clear();
        const size_t b = states_.begin(id), e = states_.begin(id + 1);
        for (size_t k = b; k < e; ++k) {
            const int32_t s = states_.pool()[k];
            for (int32_t i = nfa_.begin[size_t(s)]; i < nfa_.begin[size_t(s) + 1]; ++i) {
                const NEdge& edge = nfa_.edges[size_t(i)];
                if (edge.kind == kRange) {
                    moves_.push_back(i);
                } else if (edge.kind == kCall) {
                    calls_.push_back({edge.arg, edge.to});
                }
            }
        }
        const int rule = d.rule[size_t(id)];
        if (moves_.size() <= 64) {
            std::fill(sig_.begin(), sig_.begin() + nc, 0);
            for (size_t j = 0; j < moves_.size(); ++j) {
                const NEdge& edge = nfa_.edges[size_t(moves_[j])];
                for (uint8_t c : c_.range_classes[size_t(edge.arg)]) sig_[c] |= uint64_t(1) << j;
            }
            seen_.clear();  // (signature, state) resolved for this state
            uint64_t prev_sig = 0;
            int prev_to = -1;
            bool prev_lit = false;
            for (int c = 0; c < nc; ++c) {
                const uint64_t sig = sig_[size_t(c)];
                if (!sig) continue;
                const size_t at = size_t(id) * size_t(nc) + size_t(c);
                if (sig == prev_sig) {  // the usual case: a run of classes with the same edges
                    d.next[at] = uint16_t(prev_to);
                    if (prev_lit) d.set_lit(at);
                    continue;
                }
                int to = -1;
                for (auto [s2, t2] : seen_)
                    if (s2 == sig) to = t2;
                if (to < 0) {
                    scratch_.clear();
                    for (uint64_t m = sig; m; m &= m - 1)
                        scratch_.push_back(nfa_.edges[size_t(moves_[size_t(__builtin_ctzll(m))])].to);
                    to = resolve(rule, d, id);
                    if (to < 0) return false;
                    seen_.push_back({sig, to});
                }
                d.next[at] = uint16_t(to);
                bool lit = false;
                for (uint64_t m = sig; m && !lit; m &= m - 1)
                    lit = nfa_.edges[size_t(moves_[size_t(__builtin_ctzll(m))])].lit;
                if (lit) d.set_lit(at);
                prev_sig = sig;
                prev_to = to;
                prev_lit = lit;
            }
        } else {
            std::fill(bucket_.begin(), bucket_.begin() + nc + 1, 0);
            for (int32_t i : moves_)
                for (uint8_t c : c_.range_classes[size_t(nfa_.edges[size_t(i)].arg)]) ++bucket_[size_t(c) + 1];
            for (int c = 0; c < nc; ++c) bucket_[size_t(c) + 1] += bucket_[size_t(c)];
            targets_.resize(size_t(bucket_[size_t(nc)]));
            std::copy(bucket_.begin(), bucket_.begin() + nc, fill_.begin());
            for (int32_t i : moves_)
                for (uint8_t c : c_.range_classes[size_t(nfa_.edges[size_t(i)].arg)]) targets_[size_t(fill_[c]++)] = i;
            for (int c = 0; c < nc; ++c) {
                const int32_t lo = bucket_[size_t(c)], hi = bucket_[size_t(c) + 1];
                if (lo == hi) continue;
                bool lit = false;
                scratch_.clear();
                for (int32_t i = lo; i < hi; ++i) {
                    const NEdge& edge = nfa_.edges[size_t(targets_[size_t(i)])];
                    lit |= edge.lit;
                    scratch_.push_back(edge.to);
                }
                const int to = resolve(rule, d, id);
                if (to < 0) return false;
                const size_t at = size_t(id) * size_t(nc) + size_t(c);
                d.next[at] = uint16_t(to);
                if (lit) d.set_lit(at);
            }
        }
        std::sort(calls_.begin(), calls_.end());
        for (size_t i = 0; i < calls_.size();) {
            size_t j = i;
            scratch_.clear();
            while (j < calls_.size() && calls_[j].first == calls_[i].first) scratch_.push_back(calls_[j++].second);
            closure(scratch_);
            int to = intern(scratch_, rule, d);
            if (to < 0) return false;
            d.calls[size_t(id)].push_back({calls_[i].first, to});
            i = j;
        }
        return true;
    }

    // The state that DFA state `from` reaches on the NFA targets in scratch_ (any order, repeats allowed);
    // records the edge for productive_states.
    int resolve(int rule, Dfa& d, int from) {
        if (scratch_.size() > 1) {
            std::sort(scratch_.begin(), scratch_.end());
            scratch_.erase(std::unique(scratch_.begin(), scratch_.end()), scratch_.end());
        }
        const int to = successor(scratch_, rule, d);
        if (to >= 0) d.edges.push_back({int32_t(to), int32_t(from)});
        return to;
    }

    const Nfa& nfa_;
    const Classes& c_;
    std::vector<int32_t> stamp_, stack_, scratch_;
    int32_t gen_ = 0;
    std::vector<int32_t> accept_;
    SetTable states_;      // the DFA states' NFA sets
    SetTable moves_seen_;  // successor(): the pre-closure sets seen, and (move_to_) their DFA states
    std::vector<int32_t> move_to_;
    std::vector<int> work_;
    // expand(): the set's range edges; per class, their signature or their bucket.
    std::vector<int32_t> moves_;
    std::vector<uint64_t> sig_ = std::vector<uint64_t>(256);
    std::vector<std::pair<uint64_t, int32_t>> seen_;
    std::vector<int32_t> bucket_ = std::vector<int32_t>(257), fill_ = std::vector<int32_t>(256), targets_;
    std::vector<std::pair<int32_t, int32_t>> calls_;
};

// States from which a final state can be reached (a call counts when its callee and return state can).
// Byte edges come from d.edges (each distinct edge once or a few times); a state reached backwards over a byte
// edge is productive at once, over a call only when the callee and the return state both are.
std::vector<uint8_t> productive_states(const Dfa& d, const std::vector<int32_t>& callee_start) {
    const int n = d.n();
    std::vector<uint8_t> prod(static_cast<size_t>(n), 0);
    // Reverse edges in CSR form; an entry ~s is a call of s.
    std::vector<int32_t> count(size_t(n) + 1, 0);
    for (auto [t, s] : d.edges) ++count[size_t(t) + 1];
    for (int s = 0; s < n; ++s) {
        for (auto [r, ret] : d.calls[size_t(s)]) {
            ++count[size_t(callee_start[size_t(r)]) + 1];
            ++count[size_t(ret) + 1];
        }
    }
    for (int s = 0; s < n; ++s) count[size_t(s) + 1] += count[size_t(s)];
    std::vector<int32_t> rev(static_cast<size_t>(count[size_t(n)]));
    std::vector<int32_t> fill(count.begin(), count.end() - 1);
    for (auto [t, s] : d.edges) rev[size_t(fill[size_t(t)]++)] = s;
    for (int s = 0; s < n; ++s) {
        for (auto [r, ret] : d.calls[size_t(s)]) {
            rev[size_t(fill[size_t(callee_start[size_t(r)])]++)] = ~s;
            rev[size_t(fill[size_t(ret)]++)] = ~s;
        }
    }
    std::vector<int32_t> work;
    for (int s = 0; s < n; ++s)
        if (d.final[size_t(s)]) prod[size_t(s)] = 1, work.push_back(s);
    auto call_ok = [&](int s) {
        for (auto [r, ret] : d.calls[size_t(s)])
            if (prod[size_t(callee_start[size_t(r)])] && prod[size_t(ret)]) return true;
        return false;
    };
    while (!work.empty()) {
        int t = work.back();
        work.pop_back();
        for (int32_t i = count[size_t(t)]; i < count[size_t(t) + 1]; ++i) {
            const int32_t e = rev[size_t(i)], s = e < 0 ? ~e : e;
            if (!prod[size_t(s)] && (e >= 0 || call_ok(s))) {
                prod[size_t(s)] = 1;
                work.push_back(s);
            }
        }
    }
    return prod;
}

bool node_nullable(const GrammarBuilder::Impl& b, int node, const std::vector<int>& rule_index,
                   const std::vector<uint8_t>& nullable_rule, std::vector<int8_t>& memo) {
    int8_t& m = memo[size_t(node)];
    if (m >= 0) return m;
    const BuilderNode& n = b.nodes[size_t(node)];
    bool r = false;
    switch (n.kind) {
        case NodeKind::empty: r = true; break;
        case NodeKind::nothing:
        case NodeKind::bytes: r = false; break;
        case NodeKind::literal: r = n.text.empty(); break;
        case NodeKind::seq:
            r = true;
            for (int k : n.kids) r = r && node_nullable(b, k, rule_index, nullable_rule, memo);
            break;
        case NodeKind::alt:
            for (int k : n.kids) r = r || node_nullable(b, k, rule_index, nullable_rule, memo);
            break;
        case NodeKind::repeat: r = n.min == 0 || node_nullable(b, n.kids[0], rule_index, nullable_rule, memo); break;
        case NodeKind::call: r = nullable_rule[size_t(rule_index[size_t(n.index)])]; break;
        case NodeKind::automaton: r = b.automata[size_t(n.index)].final[0]; break;
        case NodeKind::intersect:
            r = node_nullable(b, n.kids[0], rule_index, nullable_rule, memo) &&
                node_nullable(b, n.kids[1], rule_index, nullable_rule, memo);
            break;
        case NodeKind::members:
            r = true;
            for (uint8_t req : n.required) r = r && !req;
            break;
        case NodeKind::counted: r = false; break;  // the closing quote is part of it
    }
    m = r;
    return r;
}

// ---- standalone DFAs (intersections) ----------------------------------------------------------------------

void trim(ByteDfa& p) {
    const int n = p.n_states();
    std::vector<std::vector<int>> rev(static_cast<size_t>(n));
    for (int s = 0; s < n; ++s)
        for (auto& e : p.edges[size_t(s)]) rev[size_t(e.to)].push_back(s);
    std::vector<uint8_t> prod(static_cast<size_t>(n), 0);
    std::vector<int> work;
    for (int s = 0; s < n; ++s)
        if (p.final[size_t(s)]) prod[size_t(s)] = 1, work.push_back(s);
    while (!work.empty()) {
        int t = work.back();
        work.pop_back();
        for (int s : rev[size_t(t)])
            if (!prod[size_t(s)]) prod[size_t(s)] = 1, work.push_back(s);
    }
    for (int s = 0; s < n; ++s) {
        auto& e = p.edges[size_t(s)];
        e.erase(std::remove_if(e.begin(), e.end(), [&](const ByteDfa::Edge& x) { return !prod[size_t(x.to)]; }),
                e.end());
    }
}

// The product automaton of two byte DFAs (over their joint byte classes).
ByteDfa intersect_dfas_impl(const ByteDfa& a, const ByteDfa& b, Status& status) {
    // Byte classes of the two automata together.
    std::array<uint8_t, 256> cls{};
    int n_cls = 1;
    {
        std::vector<std::pair<int, int>> ranges;
        for (const ByteDfa* d : {&a, &b})
            for (auto& edges : d->edges)
                for (auto& e : edges) ranges.push_back({e.lo, e.hi});
        std::sort(ranges.begin(), ranges.end());
        ranges.erase(std::unique(ranges.begin(), ranges.end()), ranges.end());
        std::array<int16_t, 256> in_id, out_id;
        for (auto [lo, hi] : ranges) {
            std::fill(in_id.begin(), in_id.begin() + n_cls, -1);
            std::fill(out_id.begin(), out_id.begin() + n_cls, -1);
            int n = 0;
            std::array<uint8_t, 256> nxt;
            for (int x = 0; x < 256; ++x) {
                int16_t& id = (x >= lo && x <= hi) ? in_id[cls[size_t(x)]] : out_id[cls[size_t(x)]];
                if (id < 0) id = int16_t(n++);
                nxt[size_t(x)] = uint8_t(id);
            }
            cls = nxt;
            n_cls = n;
        }
    }
    std::vector<uint8_t> rep(static_cast<size_t>(n_cls));  // a byte of each class
    for (int x = 255; x >= 0; --x) rep[cls[size_t(x)]] = uint8_t(x);
    auto dense = [&](const ByteDfa& d) {
        std::vector<int32_t> t(size_t(d.n_states()) * size_t(n_cls), -1);
        for (int s = 0; s < d.n_states(); ++s)
            for (const ByteDfa::Edge& e : d.edges[size_t(s)])
                for (int x = e.lo; x <= e.hi; ++x) t[size_t(s) * size_t(n_cls) + cls[size_t(x)]] = e.to;
        return t;
    };
    const std::vector<int32_t> ta = dense(a), tb = dense(b);
    ByteDfa p;
    std::unordered_map<uint64_t, int> ids;
    std::vector<std::pair<int, int>> pairs;
    auto intern = [&](int x, int y) {
        uint64_t key = uint64_t(uint32_t(x)) << 32 | uint32_t(y);
        auto it = ids.find(key);
        if (it != ids.end()) return it->second;
        if (p.n_states() >= kMaxStates) return -1;
        int id = p.add_state(a.final[size_t(x)] && b.final[size_t(y)]);
        ids.emplace(key, id);
        pairs.push_back({x, y});
        return id;
    };
    intern(0, 0);
    std::vector<int32_t> target(static_cast<size_t>(n_cls));
    for (size_t i = 0; i < pairs.size(); ++i) {
        auto [x, y] = pairs[i];
        for (int k = 0; k < n_cls; ++k) {
            int32_t u = ta[size_t(x) * size_t(n_cls) + size_t(k)], v = tb[size_t(y) * size_t(n_cls) + size_t(k)];
            target[size_t(k)] = -1;
            if (u >= 0 && v >= 0) {
                target[size_t(k)] = intern(u, v);
                if (target[size_t(k)] < 0) {
                    status = too_large();
                    return p;
                }
            }
        }
        // Consecutive bytes with the same target become one edge.
        for (int lo = 0; lo < 256;) {
            int32_t t = target[cls[size_t(lo)]];
            int hi = lo;
            while (hi + 1 < 256 && target[cls[size_t(hi) + 1]] == t) ++hi;
            if (t >= 0) p.add(int(i), uint8_t(lo), uint8_t(hi), t);
            lo = hi + 1;
        }
    }
    (void)rep;
    trim(p);
    return p;
}

}  // namespace

Result<ByteDfa> compile_to_dfa(const GrammarBuilder::Impl& b, int node) {
    NfaBuild nb(b, nullptr, nullptr);
    int start = nb.state(), accept = nb.state();
    nb.build(node, start, accept);
    RETURN_IF_ERROR(nb.status);
    Classes c;
    compute_classes(nb.nfa, c);
    nb.nfa.index();
    Dfa d;
    d.n_classes = c.n;
    d.reserve(nb.nfa.n_states);
    Determinize det(nb.nfa, c);
    ASSIGN_OR_RETURN(int s0, det.add_rule(0, start, accept, d));
    CHECK(s0 == 0);
    // Byte runs of one class, then per state consecutive runs with the same target as one edge.
    std::vector<std::pair<int, int>> runs;  // (first byte, class)
    for (int x = 0; x < 256; ++x)
        if (x == 0 || c.of[size_t(x)] != c.of[size_t(x) - 1]) runs.push_back({x, c.of[size_t(x)]});
    ByteDfa out;
    for (int s = 0; s < d.n(); ++s) out.add_state(d.final[size_t(s)]);
    for (int s = 0; s < d.n(); ++s) {
        const size_t row = size_t(s) * size_t(c.n);
        for (size_t i = 0; i < runs.size();) {
            const int32_t t = d.target(row + size_t(runs[i].second));
            size_t j = i + 1;
            while (j < runs.size() && d.target(row + size_t(runs[j].second)) == t) ++j;
            const int hi = j < runs.size() ? runs[j].first - 1 : 255;
            if (t >= 0) out.add(s, uint8_t(runs[i].first), uint8_t(hi), t);
            i = j;
        }
    }
    trim(out);
    return out;
}

// ---- whole grammars ---------------------------------------------------------------------------------------

Result<GrammarPtr> compile_grammar(const GrammarBuilder::Impl& b, int root) {
    // Rules reachable from the root: compiled rule 0 is the root itself, then builder rules as found.
    std::vector<int> rule_index(b.rules.size(), -1);  // builder rule → compiled rule
    std::vector<int> bodies{root};
    {
        std::vector<uint8_t> seen(b.nodes.size(), 0);
        std::vector<int> stack{root};
        while (!stack.empty()) {
            int x = stack.back();
            stack.pop_back();
            if (seen[size_t(x)]) continue;
            seen[size_t(x)] = 1;
            const BuilderNode& n = b.nodes[size_t(x)];
            for (int k : n.kids) stack.push_back(k);
            if (n.kind == NodeKind::members) stack.push_back(n.index);
            if (n.kind == NodeKind::call && rule_index[size_t(n.index)] < 0) {
                const int body = b.rules[size_t(n.index)];
                if (body < 0) return internal_error("grammar rule %d is used but never defined", n.index);
                rule_index[size_t(n.index)] = int(bodies.size());
                bodies.push_back(body);
                stack.push_back(body);
            }
        }
    }
    const int n_rules = int(bodies.size());

    // Which rules accept the empty string (fixpoint: a rule may be nullable through its calls).
    std::vector<uint8_t> nullable(static_cast<size_t>(n_rules), 0);
    for (bool changed = true; changed;) {
        changed = false;
        std::vector<int8_t> memo(b.nodes.size(), -1);
        for (int r = 0; r < n_rules; ++r) {
            bool v = node_nullable(b, bodies[size_t(r)], rule_index, nullable, memo);
            if (v && !nullable[size_t(r)]) nullable[size_t(r)] = 1, changed = true;
        }
    }

    std::vector<CountedRule> counted;  // compiled rules n_rules + i
    NfaBuild nb(b, &rule_index, &nullable, &counted, n_rules);
    std::vector<std::pair<int, int>> ends(static_cast<size_t>(n_rules));
    for (int r = 0; r < n_rules; ++r) {
        int s = nb.state(), a = nb.state();
        ends[size_t(r)] = {s, a};
        nb.build(bodies[size_t(r)], s, a);
        RETURN_IF_ERROR(nb.status);
    }
    const int n_all = n_rules + int(counted.size());

    Classes c;
    compute_classes(nb.nfa, c, counted);
    nb.nfa.index();
    Dfa d;
    d.n_classes = c.n;
    {
        // Subset construction rarely makes more states than the NFA has; twice as many is room to spare (pages
        // of the reservation that are never written are never faulted in, and the end trims it).
        int64_t estimate = int64_t(nb.nfa.n_states) * 2 + 64 + n_all;
        for (const CountedRule& cr : counted) estimate += cr.dfa.n_states();
        d.reserve(int(std::min<int64_t>(estimate, kMaxStates)));
    }
    std::vector<int32_t> start(static_cast<size_t>(n_all));
    {
        Determinize det(nb.nfa, c);
        for (int r = 0; r < n_rules; ++r) {
            ASSIGN_OR_RETURN(start[size_t(r)], det.add_rule(r, ends[size_t(r)].first, ends[size_t(r)].second, d));
        }
    }
    nb.nfa = Nfa{};
    // Counted strings are rules of their own: their automata are copied in as they are.
    for (size_t k = 0; k < counted.size(); ++k) {
        const CountedRule& cr = counted[k];
        const int base = d.n();
        if (base + cr.dfa.n_states() > kMaxStates) return too_large();
        const int r = n_rules + int(k);
        for (int i = 0; i < cr.dfa.n_states(); ++i) {
            d.push_state(i == cr.end, r);
            d.boundary.back() = cr.boundary[size_t(i)];
            d.count_end.back() = i == cr.end;
            d.counter.back() = int32_t(k);
            d.need.back() = cr.need[size_t(i)];
            d.more.back() = cr.more[size_t(i)];
        }
        for (int i = 0; i < cr.dfa.n_states(); ++i) {
            for (const ByteDfa::Edge& e : cr.dfa.edges[size_t(i)]) {
                for (int x = e.lo; x <= e.hi; ++x)
                    d.next[size_t(base + i) * size_t(c.n) + c.of[size_t(x)]] = uint16_t(base + e.to);
                d.edges.push_back({base + e.to, base + i});
            }
        }
        start[size_t(r)] = base;
    }

    // Calls enter a rule at a copy of its start state that is not final: the empty match is the caller's
    // epsilon edge, so a called rule always consumes a byte before it can return.
    std::vector<int32_t> callee_start(start);
    for (int r = 1; r < n_all; ++r) {
        const int s = start[size_t(r)];
        if (!d.final[size_t(s)]) continue;
        if (d.n() >= kMaxStates) return too_large();
        const int copy = d.n();
        d.push_state(false, r);
        d.calls.back() = d.calls[size_t(s)];
        d.boundary.back() = d.boundary[size_t(s)];
        d.count_end.back() = d.count_end[size_t(s)];
        d.counter.back() = d.counter[size_t(s)];
        d.need.back() = d.need[size_t(s)];
        d.more.back() = d.more[size_t(s)];
        for (int k = 0; k < c.n; ++k) {
            const uint16_t t = d.next[size_t(s) * size_t(c.n) + size_t(k)];
            d.next[size_t(copy) * size_t(c.n) + size_t(k)] = t;
            if (t != kNoState) d.edges.push_back({t, copy});
            if (d.is_lit(size_t(s) * size_t(c.n) + size_t(k))) d.set_lit(size_t(copy) * size_t(c.n) + size_t(k));
        }
        callee_start[size_t(r)] = copy;
    }

    // Left recursion: a rule that can call itself before consuming a byte would push forever.
    {
        std::vector<int8_t> color(static_cast<size_t>(n_all), 0);
        std::vector<std::pair<int, size_t>> stack;
        for (int r0 = 0; r0 < n_all; ++r0) {
            if (color[size_t(r0)]) continue;
            stack.push_back({r0, 0});
            color[size_t(r0)] = 1;
            while (!stack.empty()) {
                const int r = stack.back().first;
                const auto& calls = d.calls[size_t(r == 0 ? start[0] : callee_start[size_t(r)])];
                if (stack.back().second < calls.size()) {
                    const int callee = calls[stack.back().second++].first;
                    if (color[size_t(callee)] == 1) {
                        return invalid_argument(
                            "the grammar is left-recursive: a rule can reach itself before "
                            "consuming any input (e.g. a $ref to itself inside anyOf)");
                    }
                    if (color[size_t(callee)] == 0) {
                        color[size_t(callee)] = 1;
                        stack.push_back({callee, 0});
                    }
                } else {
                    color[size_t(r)] = 2;
                    stack.pop_back();
                }
            }
        }
    }

    std::vector<uint8_t> prod = productive_states(d, callee_start);
    if (!prod[size_t(start[0])]) return invalid_argument("the grammar matches nothing (contradictory constraints)");

    auto g = std::make_unique<Grammar::Impl>();
    g->id = g_next_grammar_id.fetch_add(1);
    g->byte_class = c.of;
    g->n_classes = c.n;
    g->start = start[0];
    g->n_rules = n_all;
    for (const CountedRule& cr : counted) g->limits.push_back({cr.min, cr.max});
    const int n = d.n();
    // Per state from the edge list: bit 0, a byte transition into a productive state; bit 1, one into an
    // unproductive state (that row is pruned below).
    std::vector<uint8_t> bytes(static_cast<size_t>(n), 0);
    for (auto [t, s] : d.edges) bytes[size_t(s)] |= prod[size_t(t)] ? 1 : 2;
    g->flags.assign(size_t(n), 0);
    g->call_begin.assign(size_t(n) + 1, 0);
    if (!counted.empty()) {
        g->counter.assign(size_t(n), 0);
        g->need.assign(size_t(n), 0);
        g->more.assign(size_t(n), Grammar::Impl::kUnbounded);
    }
    for (int s = 0; s < n; ++s) {
        uint8_t f = d.final[size_t(s)] ? kFinal : 0;
        if (d.counter[size_t(s)] >= 0) {
            g->counter[size_t(s)] = uint16_t(d.counter[size_t(s)] + 1);
            g->need[size_t(s)] = d.need[size_t(s)];
            g->more[size_t(s)] = d.more[size_t(s)];
            if (d.boundary[size_t(s)]) f |= kBoundary;
            if (d.count_end[size_t(s)]) f |= kCountEnd;
        }
        if (bytes[size_t(s)] & 1) f |= kHasBytes;
        // Transitions into states that cannot reach the end are dropped (with their literal bits).
        for (int k = 0; (bytes[size_t(s)] & 2) && k < c.n; ++k) {
            const size_t at = size_t(s) * size_t(c.n) + size_t(k);
            const uint16_t t = d.next[at];
            if (t == kNoState || prod[t]) continue;
            d.next[at] = kNoState;
            d.lit[at >> 6] &= ~(uint64_t(1) << (at & 63));
        }
        g->call_begin[size_t(s)] = int32_t(g->calls.size());
        for (auto [r, ret] : d.calls[size_t(s)]) {
            const int32_t callee = callee_start[size_t(r)];
            if (!prod[size_t(callee)] || !prod[size_t(ret)]) continue;
            g->calls.push_back({callee, ret});
            f |= kHasCalls;
        }
        g->flags[size_t(s)] = f;
    }
    g->call_begin[size_t(n)] = int32_t(g->calls.size());
    g->calls.shrink_to_fit();
    // The tables become the grammar's, trimmed to their size (realloc: in place or by remapping, no copy).
    d.next.shrink_to_fit();
    d.lit.shrink_to_fit();
    g->next = std::move(d.next);
    g->literal = std::move(d.lit);
    return GrammarPtr(std::make_shared<Grammar>(std::move(g)));
}

// ---- Grammar ----------------------------------------------------------------------------------------------

Grammar::Grammar(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Grammar::~Grammar() = default;
uint64_t Grammar::id() const { return impl_->id; }
int Grammar::n_states() const { return impl_->n_states(); }
int Grammar::n_rules() const { return impl_->n_rules; }
int64_t Grammar::memory_bytes() const {
    const Impl& g = *impl_;
    return int64_t(sizeof(Grammar) + sizeof(Impl) + g.next.capacity() * sizeof(uint16_t) +
                   g.literal.capacity() * sizeof(uint64_t) + g.flags.capacity() +
                   g.call_begin.capacity() * sizeof(int32_t) + g.calls.capacity() * sizeof(GrammarCall) +
                   g.counter.capacity() * sizeof(uint16_t) + g.limits.capacity() * sizeof(CountLimits) +
                   (g.need.capacity() + g.more.capacity()) * sizeof(int32_t));
}

}  // namespace berth
