// Token masks: a depth-first walk of the vocabulary's byte trie carrying the set of parse positions of each
// depth (a rejected prefix skips its whole subtree), and the MaskCache that keeps, per grammar state, the
// tokens accepted whatever lies below on the stack (computed once by a walk from that state over an unknown
// stack) and the few that depend on it (checked one by one).
#include <algorithm>
#include <bit>
#include <cstring>

#include "grammar/matcher_impl.h"

namespace berth {
namespace {

// Walks `trie` from the `n` positions in `start`; for every node with tokens whose bytes some position accepts,
// calls on_node(node, the positions after it, their count); on_node returns false to stop.
template <class OnNode>
void walk_trie(GrammarMatcher::Impl& m, const std::vector<TrieNode>& trie, const Config* start, int n, bool lit_only,
               OnNode&& on_node) {
    const Grammar::Impl& g = *m.g;
    Config* base = m.walk.data();
    int32_t* end = m.walk_end.data();
    int32_t* tops = m.walk_top.data();
    std::copy(start, start + n, base);
    end[0] = n;
    tops[0] = m.top;
    const TrieNode* nodes = trie.data();
    const int n_nodes = int(trie.size());
    for (int i = 1; i < n_nodes;) {
        const TrieNode& nd = nodes[i];
        const int d = nd.depth();
        const int in_begin = d >= 2 ? end[d - 2] : 0, in_end = end[d - 1];
        if (in_end + kMaxConfigs > kWalkCapacity) {  // out of walk room: treat the subtree as rejected
            m.note_limit();
            i = nd.skip;
            continue;
        }
        m.top = tops[d - 1];
        int n_out;
        const Config c = base[in_begin];
        if (in_end - in_begin == 1 && c.state >= 0) {
            // One position: most bytes are a plain transition into a state without calls or returns.
            const int32_t s = g.step(c.state, nd.byte);
            if (s < 0 || (lit_only && !g.is_literal(c.state, nd.byte))) {
                i = nd.skip;
                continue;
            }
            const uint8_t ff = g.flags[size_t(c.state)], ft = g.flags[size_t(s)];
            if (!g.count_allows(c.state, ff, s, ft, c.count)) {
                i = nd.skip;
                continue;
            }
            const Config next{s, c.frame, c.count + ((ft & kBoundary) ? 1 : 0)};
            if (!(ft & (kFinal | kHasCalls))) {
                base[in_end] = next;
                n_out = 1;
            } else {
                n_out = m.expand(next, base + in_end, 0);
            }
        } else {
            n_out = m.step(base + in_begin, in_end - in_begin, nd.byte, lit_only, base + in_end);
        }
        if (n_out == 0) {
            i = nd.skip;
            continue;
        }
        end[d] = in_end + n_out;
        tops[d] = m.top;
        if (nd.token >= 0 && !on_node(nd, base + in_end, n_out)) break;
        ++i;
    }
    m.top = tops[0];
}

// Sets the node's tokens (usually one; a few vocabularies have several tokens with the same bytes).
void set_tokens(TokenMask& mask, const std::vector<int32_t>& same_next, const TrieNode& nd) {
    mask.set(nd.token);
    if (nd.more)
        for (int32_t t = same_next[size_t(nd.token)]; t >= 0; t = same_next[size_t(t)]) mask.set(t);
}

}  // namespace

// ---- MaskCache --------------------------------------------------------------------------------------------

namespace {
constexpr int kCacheTable = 4096;  // slots; the cache resets at 3/4 full
int64_t arena_words(int n_vocab) {
    // 256 full bitsets of the vocabulary, at least 64 KiB.
    return std::max<int64_t>(8192, 256 * int64_t((n_vocab + 63) / 64));
}
}  // namespace

MaskCache::Impl::Impl(int n) : n_vocab(n), n_words64((n + 63) / 64) {
    table.resize(kCacheTable);
    arena.resize(size_t(arena_words(n)));
    tmp_a.resize(size_t(n));
    tmp_u.resize(kMaxUncertain);
}

MaskCache::Impl::Entry* MaskCache::Impl::find(uint64_t grammar, int32_t state, int32_t count_class) {
    uint64_t h = (grammar * 0x9E3779B97F4A7C15ull) ^ (uint64_t(uint32_t(state)) * 0xC2B2AE3D27D4EB4Full) ^
                 (uint64_t(uint32_t(count_class)) * 0x165667B19E3779F9ull);
    size_t i = size_t(h >> 20) & (table.size() - 1);
    for (;;) {
        Entry& e = table[i];
        if (e.grammar == 0 || (e.grammar == grammar && e.state == state && e.count_class == count_class)) return &e;
        i = (i + 1) & (table.size() - 1);
    }
}

void MaskCache::Impl::reset() {
    for (Entry& e : table) e = Entry{};
    n_entries = 0;
    arena_used = 0;
    ++stats.resets;
}

const MaskCache::Impl::Entry* MaskCache::Impl::store(uint64_t grammar, int32_t state, int32_t count_class, int a_n,
                                                     int u_n, bool uncacheable) {
    const bool bitset = !uncacheable && int64_t(a_n) * 32 > int64_t(n_vocab);
    const size_t a_words = uncacheable ? 0 : bitset ? size_t(n_words64) : (size_t(a_n) + 1) / 2;
    const size_t u_words = uncacheable ? 0 : (size_t(u_n) + 1) / 2;
    if (n_entries + 1 > int(table.size()) * 3 / 4 || arena_used + a_words + u_words > arena.size()) reset();
    Entry* e = find(grammar, state, count_class);
    *e = Entry{grammar, state, count_class, 0, 0, 0, 0, bitset, uncacheable};
    ++n_entries;
    if (uncacheable) {
        ++stats.uncacheable;
        return e;
    }
    e->a_off = uint32_t(arena_used);
    e->a_n = uint32_t(a_n);
    if (bitset) {
        uint64_t* w = arena.data() + arena_used;
        std::memset(w, 0, size_t(n_words64) * 8);
        for (int i = 0; i < a_n; ++i) w[size_t(tmp_a[size_t(i)]) >> 6] |= uint64_t(1) << (tmp_a[size_t(i)] & 63);
    } else if (a_n > 0) {
        arena[arena_used + a_words - 1] = 0;
        std::memcpy(arena.data() + arena_used, tmp_a.data(), size_t(a_n) * 4);
    }
    arena_used += a_words;
    e->u_off = uint32_t(arena_used);
    e->u_n = uint32_t(u_n);
    if (u_n > 0) {
        arena[arena_used + u_words - 1] = 0;
        std::memcpy(arena.data() + arena_used, tmp_u.data(), size_t(u_n) * 4);
    }
    arena_used += u_words;
    return e;
}

MaskCache::MaskCache(int n_vocab) : impl_(std::make_unique<Impl>(n_vocab)) {}
MaskCache::~MaskCache() = default;

int64_t MaskCache::heap_bytes_for(int n_vocab) {
    return int64_t(sizeof(Impl)) + kCacheTable * int64_t(sizeof(Impl::Entry)) + arena_words(n_vocab) * 8 +
           int64_t(n_vocab) * 4 + kMaxUncertain * 4;
}

int64_t MaskCache::heap_bytes() const {
    const Impl& c = *impl_;
    return int64_t(sizeof(Impl)) + int64_t(c.table.capacity() * sizeof(Impl::Entry)) + int64_t(c.arena.capacity() * 8) +
           int64_t((c.tmp_a.capacity() + c.tmp_u.capacity()) * 4);
}

MaskCache::Stats MaskCache::stats() const {
    Stats s = impl_->stats;
    s.entries = impl_->n_entries;
    s.used_bytes = int64_t(impl_->arena_used * 8);
    return s;
}

// ---- TokenMask --------------------------------------------------------------------------------------------

TokenMask::TokenMask(int n_vocab) : n_vocab_(n_vocab), words_(size_t((n_vocab + 63) / 64), 0) {}

void TokenMask::clear() { std::memset(words_.data(), 0, words_.size() * sizeof(uint64_t)); }

int TokenMask::count() const {
    int n = 0;
    for (uint64_t w : words_) n += std::popcount(w);
    return n;
}

// ---- masks ------------------------------------------------------------------------------------------------

namespace {

// Inside a counted string the tokens allowed depend on the count only through how far it is from min and max,
// and only up to the longest token: counts in the same class share an entry.
int32_t count_class(const GrammarMatcher::Impl& m, const Config& pos) {
    if (m.g->counter.empty() || m.g->counter[size_t(pos.state)] == 0) return 0;
    const CountLimits& l = m.g->limits_of(pos.state);
    const int32_t k = m.v->max_bytes + 1;
    const int32_t a = std::clamp(l.min - pos.count, 0, k);
    const int32_t b = l.max < 0 ? k : std::clamp(l.max - pos.count, 0, k);
    return 1 + a * (k + 1) + b;
}

// The cache entry of a position's state (and count class) in the matcher's grammar, computed now if missing.
const MaskCache::Impl::Entry* cached_entry(GrammarMatcher::Impl& m, MaskCache::Impl& cache, const Config& pos) {
    const uint64_t gid = m.g->id;
    const int32_t state = pos.state, cls = count_class(m, pos);
    MaskCache::Impl::Entry* e = cache.find(gid, state, cls);
    if (e->grammar == gid) {
        ++cache.stats.hits;
        return e;
    }
    ++cache.stats.misses;
    int a_n = 0, u_n = 0;
    bool too_many = false;
    const Config start{state, kUnknown, pos.count};
    const auto& same = m.v->same_next;
    walk_trie(m, m.v->text_trie, &start, 1, false, [&](const TrieNode& nd, const Config* set, int n) {
        bool certain = false;
        for (int i = 0; i < n && !certain; ++i) certain = set[i].state != kPopAny;
        for (int32_t t = nd.token; t >= 0; t = nd.more ? same[size_t(t)] : -1) {
            if (certain) {
                cache.tmp_a[size_t(a_n++)] = t;
            } else if (u_n < kMaxUncertain) {
                cache.tmp_u[size_t(u_n++)] = t;
            } else {
                too_many = true;
                return false;
            }
        }
        return true;
    });
    return cache.store(gid, state, cls, a_n, u_n, too_many);
}

}  // namespace

int GrammarMatcher::fill_mask(TokenMask& mask, MaskCache* cache) {
    Impl& m = *impl_;
    CHECK(m.g && m.v);
    CHECK(mask.n_vocab() >= m.v->n_vocab);
    mask.clear();
    if (m.done) return 0;
    m.overflow = false;
    const auto& same = m.v->same_next;
    auto set_all = [&](const TrieNode& nd, const Config*, int) {
        set_tokens(mask, same, nd);
        return true;
    };
    if (!cache) {
        walk_trie(m, m.v->text_trie, m.cur.data(), m.n_cur, false, set_all);
    } else {
        MaskCache::Impl& c = cache->impl();
        for (int i = 0; i < m.n_cur; ++i) {
            const Config pos = m.cur[size_t(i)];
            if (!(m.g->flags[size_t(pos.state)] & kHasBytes)) continue;
            const MaskCache::Impl::Entry* e = cached_entry(m, c, pos);
            if (e->uncacheable) {
                walk_trie(m, m.v->text_trie, &pos, 1, false, set_all);
                continue;
            }
            if (e->bitset) {
                const uint64_t* w = c.arena.data() + e->a_off;
                uint64_t* out = mask.words();
                for (int k = 0; k < c.n_words64; ++k) out[k] |= w[k];
            } else {
                const uint32_t* ids = c.ids(e->a_off);
                for (uint32_t k = 0; k < e->a_n; ++k) mask.set(int32_t(ids[k]));
            }
            // Tokens that return below this state's frame: check each against the real stack.
            const uint32_t* u = c.ids(e->u_off);
            for (uint32_t k = 0; k < e->u_n; ++k) {
                const int32_t t = int32_t(u[k]);
                const uint32_t off = m.v->offset[size_t(t)];
                Config out[kMaxConfigs];
                const int32_t saved = m.top;
                int n = m.feed(&pos, 1, std::string_view(m.v->arena.data() + off, m.v->offset[size_t(t) + 1] - off),
                               false, out);
                m.top = saved;
                if (n > 0) mask.set(t);
            }
        }
    }
    // Special tokens: only where a literal spells their text.
    if (m.v->special_trie.size() > 1) walk_trie(m, m.v->special_trie, m.cur.data(), m.n_cur, true, set_all);
    if (m.complete())
        for (int32_t t : m.v->eog) mask.set(t);
    return mask.count();
}

}  // namespace berth
