// GrammarMatcher: the set of live parse positions (usually one), stepped byte by byte. A position whose state
// calls a rule pushes a frame and continues at the callee's start; a final state with a frame returns to the
// frame's state. Frames live in a fixed pool: a step's new frames go above `top` and are kept (committed) or
// dropped (a test); dead committed frames are compacted away when the pool is half full.
#include <algorithm>

#include "grammar/matcher_impl.h"

namespace berth {

GrammarMatcher::Impl::Impl(int n) : n_vocab(n) {
    frames.resize(kFrameCapacity);
    spare.resize(kFrameCapacity);
    remap.assign(kFrameCapacity, -1);
    chain.resize(kMaxDepth + 1);
    cur.resize(kMaxConfigs);
    tmp_a.resize(kMaxConfigs);
    tmp_b.resize(kMaxConfigs);
    walk.resize(kWalkCapacity);
    walk_end.resize(kMaxTokenBytes + 2);
    walk_top.resize(kMaxTokenBytes + 2);
    limit_error.reserve(256);
}

void GrammarMatcher::Impl::note_limit() {
    overflow = true;
    if (limit_error.empty()) {
        limit_error.assign(
            "the output reached a limit of the grammar matcher (nesting deeper than 512 levels, or more than 32 "
            "ambiguous parses at once)");
    }
}

int32_t GrammarMatcher::Impl::push(int32_t ret, int32_t parent) {
    const int32_t depth = parent >= 0 ? frames[size_t(parent)].depth + 1 : 1;
    if (depth > kMaxDepth || top >= kFrameCapacity) {
        note_limit();
        return -3;
    }
    frames[size_t(top)] = {ret, parent, depth};
    return top++;
}

int GrammarMatcher::Impl::add(Config* out, int n, Config c) {
    for (int i = 0; i < n; ++i)
        if (out[i].state == c.state && out[i].frame == c.frame && out[i].count == c.count) return n;
    if (n == kMaxConfigs) {
        note_limit();
        return n;
    }
    out[n] = c;
    return n + 1;
}

// Adds `c` and everything reachable from it without consuming a byte: calls push and enter the callee (with
// a fresh count), a final state returns to its frame (below an unknown stack: kPopAny). Only positions that can
// take a byte, or end the whole grammar, are kept.
int GrammarMatcher::Impl::expand(Config c, Config* out, int n) {
    for (;;) {
        const uint8_t f = g->flags[size_t(c.state)];
        if (f & kHasCalls) {
            for (int32_t i = g->call_begin[size_t(c.state)]; i < g->call_begin[size_t(c.state) + 1]; ++i) {
                const GrammarCall& call = g->calls[size_t(i)];
                int32_t fr = push(call.ret, c.frame);
                if (fr >= 0) n = expand({call.callee, fr, 0}, out, n);
            }
        }
        if ((f & kHasBytes) || ((f & kFinal) && c.frame == kBottom)) n = add(out, n, c);
        if (!(f & kFinal) || c.frame == kBottom) return n;
        if (c.frame == kUnknown) return add(out, n, {kPopAny, kUnknown, 0});
        const Frame& fr = frames[size_t(c.frame)];
        c = {fr.ret, fr.parent, 0};
    }
}

int GrammarMatcher::Impl::step(const Config* in, int n_in, uint8_t byte, bool literal_only, Config* out) {
    int n = 0;
    for (int i = 0; i < n_in; ++i) {
        const Config c = in[i];
        if (c.state == kPopAny) {
            n = add(out, n, c);
            continue;
        }
        const uint8_t ff = g->flags[size_t(c.state)];
        if (!(ff & kHasBytes)) continue;
        const int32_t v = g->step(c.state, byte);
        if (v < 0 || (literal_only && !g->is_literal(c.state, byte))) continue;
        const uint8_t ft = g->flags[size_t(v)];
        if (!g->count_allows(c.state, ff, v, ft, c.count)) continue;
        n = expand({v, c.frame, c.count + ((ft & kBoundary) ? 1 : 0)}, out, n);
    }
    return n;
}

int GrammarMatcher::Impl::feed(const Config* from, int n, std::string_view bytes, bool literal_only, Config* out) {
    Config* a = tmp_a.data();
    Config* b = tmp_b.data();
    const Config* src = from;
    for (size_t i = 0; i < bytes.size() && n > 0; ++i) {
        Config* dst = (i + 1 == bytes.size()) ? out : (src == a ? b : a);
        n = step(src, n, uint8_t(bytes[i]), literal_only, dst);
        src = dst;
    }
    if (bytes.empty()) std::copy(from, from + n, out);
    return n;
}

bool GrammarMatcher::Impl::complete() const {
    if (done) return true;
    for (int i = 0; i < n_cur; ++i)
        if (cur[size_t(i)].frame == kBottom && (g->flags[size_t(cur[size_t(i)].state)] & kFinal)) return true;
    return false;
}

// Copies the frames reachable from `cur` to the bottom of the spare pool and swaps pools.
void GrammarMatcher::Impl::compact() {
    if (committed < kFrameCapacity / 2) return;
    int32_t n_new = 0;
    for (int i = 0; i < n_cur; ++i) {
        int32_t f = cur[size_t(i)].frame;
        // Collect the chain up to the first frame already copied (or the bottom).
        int len = 0;
        while (f >= 0 && remap[size_t(f)] < 0) {
            chain[size_t(len++)] = f;
            f = frames[size_t(f)].parent;
        }
        int32_t parent = f >= 0 ? remap[size_t(f)] : f;
        for (int k = len - 1; k >= 0; --k) {
            const Frame& old = frames[size_t(chain[size_t(k)])];
            spare[size_t(n_new)] = {old.ret, parent, old.depth};
            remap[size_t(chain[size_t(k)])] = n_new;
            parent = n_new++;
        }
        cur[size_t(i)].frame = cur[size_t(i)].frame >= 0 ? remap[size_t(cur[size_t(i)].frame)] : cur[size_t(i)].frame;
    }
    std::fill(remap.begin(), remap.begin() + committed, -1);
    frames.swap(spare);
    committed = top = n_new;
}

// ---- public API -------------------------------------------------------------------------------------------

GrammarMatcher::GrammarMatcher(int n_vocab) : impl_(std::make_unique<Impl>(n_vocab)) {}
GrammarMatcher::~GrammarMatcher() = default;

int64_t GrammarMatcher::heap_bytes_for(int n_vocab) {
    return int64_t(sizeof(Impl)) + 2 * kFrameCapacity * int64_t(sizeof(Frame)) +
           kFrameCapacity * int64_t(sizeof(int32_t)) + (kMaxDepth + 1) * int64_t(sizeof(int32_t)) +
           3 * kMaxConfigs * int64_t(sizeof(Config)) + kWalkCapacity * int64_t(sizeof(Config)) +
           2 * (kMaxTokenBytes + 2) * int64_t(sizeof(int32_t)) + 257;
}

int64_t GrammarMatcher::heap_bytes() const {
    const Impl& m = *impl_;
    return int64_t(sizeof(Impl)) + int64_t((m.frames.capacity() + m.spare.capacity()) * sizeof(Frame)) +
           int64_t((m.remap.capacity() + m.chain.capacity()) * sizeof(int32_t)) +
           int64_t((m.cur.capacity() + m.tmp_a.capacity() + m.tmp_b.capacity() + m.walk.capacity()) * sizeof(Config)) +
           int64_t((m.walk_end.capacity() + m.walk_top.capacity()) * sizeof(int32_t)) +
           int64_t(m.limit_error.capacity() + 1);
}

void GrammarMatcher::start(GrammarPtr grammar, const Vocabulary* vocab) {
    Impl& m = *impl_;
    CHECK(grammar);
    CHECK(!vocab || vocab->n_vocab() <= m.n_vocab);
    m.grammar = std::move(grammar);
    m.g = &m.grammar->impl();
    m.v = vocab ? &vocab->impl() : nullptr;
    m.committed = m.top = 0;
    m.done = m.overflow = false;
    m.limit_error.clear();
    m.bytes_accepted = 0;
    m.n_cur = m.expand({m.g->start, kBottom, 0}, m.cur.data(), 0);
    m.committed = m.top;
}

void GrammarMatcher::stop() {
    impl_->grammar.reset();
    impl_->g = nullptr;
    impl_->v = nullptr;
    impl_->n_cur = 0;
}

bool GrammarMatcher::active() const { return impl_->g != nullptr; }

bool GrammarMatcher::allows_bytes(std::string_view bytes, bool literal_only) {
    Impl& m = *impl_;
    CHECK(m.g);
    if (m.done || bytes.empty()) return false;
    const int32_t saved = m.top;
    Config out[kMaxConfigs];
    int n = m.feed(m.cur.data(), m.n_cur, bytes, literal_only, out);
    m.top = saved;
    return n > 0;
}

bool GrammarMatcher::accept_bytes(std::string_view bytes, bool literal_only) {
    Impl& m = *impl_;
    CHECK(m.g);
    if (m.done || bytes.empty()) return false;
    Config out[kMaxConfigs];
    int n = m.feed(m.cur.data(), m.n_cur, bytes, literal_only, out);
    if (n == 0) {
        m.top = m.committed;
        return false;
    }
    std::copy(out, out + n, m.cur.begin());
    m.n_cur = n;
    m.committed = m.top;
    m.bytes_accepted += int64_t(bytes.size());
    m.compact();
    return true;
}

bool GrammarMatcher::allows(int32_t token) {
    Impl& m = *impl_;
    CHECK(m.g && m.v);
    if (token < 0 || token >= m.v->n_vocab) return false;
    switch (TokenKind(m.v->kinds[size_t(token)])) {
        case TokenKind::eog: return !m.done && m.complete();
        case TokenKind::masked: return false;
        case TokenKind::text:
        case TokenKind::special: break;
    }
    const uint32_t off = m.v->offset[size_t(token)];
    return allows_bytes(std::string_view(m.v->arena.data() + off, m.v->offset[size_t(token) + 1] - off),
                        TokenKind(m.v->kinds[size_t(token)]) == TokenKind::special);
}

Status GrammarMatcher::accept(int32_t token) {
    Impl& m = *impl_;
    CHECK(m.g && m.v);
    if (token < 0 || token >= m.v->n_vocab) return invalid_argument("token %d is outside the vocabulary", token);
    const TokenKind kind = TokenKind(m.v->kinds[size_t(token)]);
    if (kind == TokenKind::eog) {
        if (m.done || !m.complete()) return invalid_argument("the grammar cannot end here (token %d)", token);
        m.done = true;
        return Status::ok();
    }
    if (kind == TokenKind::masked) return invalid_argument("token %d is never allowed under a grammar", token);
    const uint32_t off = m.v->offset[size_t(token)];
    std::string_view bytes(m.v->arena.data() + off, m.v->offset[size_t(token) + 1] - off);
    if (!accept_bytes(bytes, kind == TokenKind::special))
        return invalid_argument("token %d does not continue the grammar", token);
    return Status::ok();
}

bool GrammarMatcher::is_complete() const { return impl_->g && impl_->complete(); }

bool GrammarMatcher::is_finished() const {
    const Impl& m = *impl_;
    if (!m.g) return false;
    if (m.done) return true;
    if (!m.complete()) return false;
    for (int i = 0; i < m.n_cur; ++i)
        if (m.g->flags[size_t(m.cur[size_t(i)].state)] & kHasBytes) return false;
    return true;
}

const std::string& GrammarMatcher::limit_error() const { return impl_->limit_error; }

int64_t GrammarMatcher::bytes_accepted() const { return impl_->bytes_accepted; }

}  // namespace berth
