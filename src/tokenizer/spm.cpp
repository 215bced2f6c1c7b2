// SentencePiece BPE with scores (the reference's llm_tokenizer_spm): start from UTF-8 characters, repeatedly
// merge the adjacent pair whose concatenation is the highest-scoring token (leftmost on ties), then emit each
// symbol as its token or, failing that, as byte tokens <0xXX>.
#include <algorithm>

#include "tokenizer/tokenizer_impl.h"

namespace berth {

namespace {

struct Symbol {
    int32_t prev, next;
    uint32_t off, n;  // bytes in the text
};

struct Bigram {
    float score;
    int32_t left, right;
    uint32_t size;
};

// Max-heap order: higher score first, then the leftmost pair.
struct BigramLess {
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

struct SpmScratch {
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
};

}  // namespace

void Tokenizer::Impl::encode_spm(std::string_view text, std::vector<TokenId>& out) const {
    thread_local SpmScratch scratch;
    auto& symbols = scratch.symbols;
    auto& heap = scratch.heap;
    symbols.clear();
    heap.clear();
    const uint8_t* p = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    for (size_t i = 0; i < n;) {
        int len = utf8_sequence(p + i, n - i);
        if (len <= 0) len = 1;  // cannot happen after validation; stay safe
        int32_t idx = int32_t(symbols.size());
        symbols.push_back({idx - 1, int32_t(i + size_t(len) < n ? idx + 1 : -1), uint32_t(i), uint32_t(len)});
        i += size_t(len);
    }
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const Symbol& l = symbols[left];
        const Symbol& r = symbols[right];
        TokenId id = vocab.find(text.substr(l.off, l.n + r.n));
        if (id == kNoToken) return;
        heap.push_back({scores.empty() ? 0.0f : scores[id], left, right, l.n + r.n});
        std::push_heap(heap.begin(), heap.end(), BigramLess());
    };
    for (int32_t i = 1; i < int32_t(symbols.size()); i++) try_add(i - 1, i);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), BigramLess());
        Bigram b = heap.back();
        heap.pop_back();
        Symbol& l = symbols[b.left];
        Symbol& r = symbols[b.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale: one side already merged
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) symbols[r.next].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }
    for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
        const Symbol& s = symbols[i];
        std::string_view piece = text.substr(s.off, s.n);
        TokenId id = vocab.find(piece);
        if (id != kNoToken) {
            out.push_back(id);
            continue;
        }
        for (char c : piece) {  // byte fallback
            TokenId bt = byte_token[uint8_t(c)];
            if (bt != kNoToken) out.push_back(bt);
            else if (unk_id != kNoToken) out.push_back(unk_id);
        }
    }
}

}  // namespace berth
