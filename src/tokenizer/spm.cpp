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

// Whole-text SentencePiece merging is exact per segment when no token can span the segment boundary: with
// spm_split_at_space (no token has a ▁ after another character) the text is cut before each ▁ run, which
// keeps the heaps small and in cache.
void Tokenizer::Impl::encode_spm(std::string_view text, std::vector<TokenId>& out) const {
    if (!spm_split_at_space) {
        encode_spm_segment(text, out);
        return;
    }
    static constexpr std::string_view kSpace = "\xe2\x96\x81";
    size_t start = 0;
    for (size_t i = 1; i + 3 <= text.size(); i++) {
        if (text.compare(i, 3, kSpace) != 0) continue;
        if (i >= 3 && text.compare(i - 3, 3, kSpace) == 0) continue;  // inside a ▁ run
        encode_spm_segment(text.substr(start, i - start), out);
        start = i;
    }
    encode_spm_segment(text.substr(start), out);
}

// Short segments (most words): find the best pair by a linear scan instead of a heap. Same order: highest
// score, leftmost on ties.
static constexpr int kScanMax = 48;

void Tokenizer::Impl::encode_spm_segment(std::string_view text, std::vector<TokenId>& out) const {
    if (text.empty()) return;
    const uint8_t* p = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    if (n <= size_t(kScanMax)) {
        uint8_t off[kScanMax + 1], len[kScanMax];
        float best[kScanMax];
        int m = 0;
        for (size_t i = 0; i < n;) {
            int l = utf8_sequence(p + i, n - i);
            if (l <= 0) l = 1;
            off[m] = uint8_t(i);
            len[m++] = uint8_t(l);
            i += size_t(l);
        }
        constexpr float kNone = -3.0e38f;
        // best[k]: score of the token joining symbols k and k + 1 (kNone when that text is not a token).
        auto score_of = [&](int k) -> float {
            if (k < 0 || k + 1 >= m) return kNone;
            TokenId id = vocab.find(text.substr(off[k], size_t(len[k]) + len[k + 1]));
            if (id == kNoToken) return kNone;
            return scores.empty() ? 0.0f : std::max(scores[id], -2.9e38f);
        };
        for (int k = 0; k + 1 < m; k++) best[k] = score_of(k);
        for (;;) {
            int bi = -1;
            float bs = kNone;
            for (int k = 0; k + 1 < m; k++)
                if (best[k] > bs) bs = best[k], bi = k;
            if (bi < 0) break;
            len[bi] = uint8_t(len[bi] + len[bi + 1]);
            for (int k = bi + 1; k + 1 < m; k++) {
                off[k] = off[k + 1];
                len[k] = len[k + 1];
                best[k] = best[k + 1];
            }
            m--;
            best[bi] = score_of(bi);
            if (bi > 0) best[bi - 1] = score_of(bi - 1);
        }
        for (int k = 0; k < m; k++) emit_spm_piece(text.substr(off[k], len[k]), out);
        return;
    }
    thread_local SpmScratch scratch;
    auto& symbols = scratch.symbols;
    auto& heap = scratch.heap;
    symbols.clear();
    heap.clear();
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
        emit_spm_piece(text.substr(s.off, s.n), out);
    }
    release_if_large(symbols);
    release_if_large(heap);
}

void Tokenizer::Impl::emit_spm_piece(std::string_view piece, std::vector<TokenId>& out) const {
    TokenId id = vocab.find(piece);
    if (id != kNoToken) {
        out.push_back(id);
        return;
    }
    for (char c : piece) {  // byte fallback
        TokenId bt = byte_token[uint8_t(c)];
        if (bt != kNoToken)
            out.push_back(bt);
        else if (unk_id != kNoToken)
            out.push_back(unk_id);
    }
}

}  // namespace berth
