// Byte-level BPE over one pre-tokenized word: every byte starts as its byte-level token, then the adjacent
// pair with the lowest merge rank (leftmost on ties) merges until no pair merges.
#include <algorithm>

#include "tokenizer/tokenizer_impl.h"

namespace berth {

namespace {

struct Sym {
    int32_t prev, next;
    TokenId id;       // kNoToken: a byte without a byte-level token
    uint32_t off, n;  // bytes of the word
};

struct Pair {
    int32_t rank;
    int32_t left, right;
    TokenId merged;
    uint32_t size;
};

// Min-heap order on (rank, left).
struct PairGreater {
    bool operator()(const Pair& a, const Pair& b) const {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

struct BpeScratch {
    std::vector<Sym> syms;
    std::vector<Pair> heap;
};

}  // namespace

void Tokenizer::Impl::encode_bpe_word(std::string_view word, std::vector<TokenId>& out, std::string& scratch) const {
    if (word.empty()) return;
    if (ignore_merges) {
        scratch.clear();
        for (char c : word) append_utf8(byte_to_unicode(uint8_t(c)), scratch);
        TokenId id = vocab.find(scratch);
        if (id != kNoToken) {
            out.push_back(id);
            return;
        }
    }
    const size_t n = word.size();
    if (n == 1) {
        TokenId id = byte_token[uint8_t(word[0])];
        if (id != kNoToken)
            out.push_back(id);
        else if (unk_id != kNoToken)
            out.push_back(unk_id);
        return;
    }
    thread_local BpeScratch tl;
    auto& syms = tl.syms;
    auto& heap = tl.heap;
    syms.resize(n);
    heap.clear();
    for (size_t i = 0; i < n; i++)
        syms[i] = {int32_t(i) - 1, i + 1 < n ? int32_t(i + 1) : -1, byte_token[uint8_t(word[i])], uint32_t(i), 1};
    auto try_add = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        if (syms[l].id == kNoToken || syms[r].id == kNoToken) return;
        int32_t rank;
        TokenId merged;
        if (!merges.find(syms[l].id, syms[r].id, &rank, &merged)) return;
        heap.push_back({rank, l, r, merged, syms[l].n + syms[r].n});
        std::push_heap(heap.begin(), heap.end(), PairGreater());
    };
    for (size_t i = 1; i < n; i++) try_add(int32_t(i - 1), int32_t(i));
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), PairGreater());
        Pair p = heap.back();
        heap.pop_back();
        Sym& l = syms[p.left];
        Sym& r = syms[p.right];
        // Stale entries: a side was merged away, or grew since the pair was queued.
        if (l.n == 0 || r.n == 0 || l.next != p.right || l.n + r.n != p.size) continue;
        l.id = p.merged;
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) syms[r.next].prev = p.left;
        try_add(l.prev, p.left);
        try_add(p.left, l.next);
    }
    for (int32_t i = 0; i >= 0; i = syms[i].next) {
        if (syms[i].id != kNoToken)
            out.push_back(syms[i].id);
        else if (unk_id != kNoToken)
            out.push_back(unk_id);
    }
    release_if_large(syms);
    release_if_large(heap);
}

}  // namespace berth
