// Vocabulary: every token's bytes in one arena, its kind, and two byte tries (text tokens; special tokens by
// their text) laid out depth first so that a walk skips a whole subtree with one index.
#include <algorithm>

#include "grammar/grammar_impl.h"

namespace berth {
namespace {

// Sorts `ids` by their bytes and appends their trie (root included) to `trie`.
void build_trie(const Vocabulary::Impl& v, std::vector<int32_t> ids, std::vector<TrieNode>& trie,
                std::vector<int32_t>& same_next) {
    auto bytes = [&](int32_t t) {
        return std::string_view(v.arena.data() + v.offset[size_t(t)], v.offset[size_t(t) + 1] - v.offset[size_t(t)]);
    };
    std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
        std::string_view x = bytes(a), y = bytes(b);
        return x < y || (x == y && a < b);
    });
    trie.clear();
    trie.push_back({0, -1, 0, 0, 0, 0});
    std::vector<int32_t> path{0};  // node at each depth of the current path
    std::string_view prev;
    auto close_to = [&](size_t depth) {  // finishes the subtrees deeper than `depth`
        while (path.size() > depth + 1) {
            trie[size_t(path.back())].skip = int32_t(trie.size());
            path.pop_back();
        }
    };
    for (int32_t t : ids) {
        std::string_view b = bytes(t);
        size_t common = 0;
        while (common < b.size() && common < prev.size() && b[common] == prev[common]) ++common;
        close_to(common);
        for (size_t d = common; d < b.size(); ++d) {
            const int depth = int(d) + 1;
            trie.push_back({0, -1, uint8_t(b[d]), uint8_t(depth & 0xFF), uint8_t(depth >> 8), 0});
            path.push_back(int32_t(trie.size()) - 1);
        }
        TrieNode& node = trie[size_t(path.back())];
        if (node.token < 0) {
            node.token = t;
        } else {
            int32_t last = node.token;  // same bytes as an earlier token: chain it
            while (same_next[size_t(last)] >= 0) last = same_next[size_t(last)];
            same_next[size_t(last)] = t;
            node.more = 1;
        }
        prev = b;
    }
    close_to(0);
    trie[0].skip = int32_t(trie.size());
    trie.shrink_to_fit();
}

}  // namespace

std::shared_ptr<const Vocabulary> Vocabulary::create(int n_vocab,
                                                     const std::function<TokenKind(int32_t, std::string&)>& token) {
    CHECK(n_vocab > 0);
    auto v = std::make_unique<Impl>();
    v->n_vocab = n_vocab;
    v->offset.assign(size_t(n_vocab) + 1, 0);
    v->kinds.assign(size_t(n_vocab), uint8_t(TokenKind::masked));
    v->same_next.assign(size_t(n_vocab), -1);
    std::vector<int32_t> text, special;
    std::string buf;
    for (int32_t t = 0; t < n_vocab; ++t) {
        buf.clear();
        TokenKind k = token(t, buf);
        if ((k == TokenKind::text || k == TokenKind::special) && (buf.empty() || buf.size() > size_t(kMaxTokenBytes)))
            k = TokenKind::masked;
        if (k == TokenKind::eog) buf.clear();
        v->kinds[size_t(t)] = uint8_t(k);
        v->offset[size_t(t)] = uint32_t(v->arena.size());
        v->arena.append(buf);
        if (k == TokenKind::text) text.push_back(t);
        if (k == TokenKind::special) special.push_back(t);
        if (k == TokenKind::eog) v->eog.push_back(t);
        if (k == TokenKind::text || k == TokenKind::special) v->max_bytes = std::max(v->max_bytes, int(buf.size()));
    }
    v->offset[size_t(n_vocab)] = uint32_t(v->arena.size());
    v->arena.shrink_to_fit();
    v->eog.shrink_to_fit();
    build_trie(*v, std::move(text), v->text_trie, v->same_next);
    build_trie(*v, std::move(special), v->special_trie, v->same_next);
    return std::make_shared<const Vocabulary>(std::move(v));
}

Vocabulary::Vocabulary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Vocabulary::~Vocabulary() = default;
int Vocabulary::n_vocab() const { return impl_->n_vocab; }

std::string_view Vocabulary::bytes(int32_t t) const {
    if (t < 0 || t >= impl_->n_vocab) return {};
    return std::string_view(impl_->arena.data() + impl_->offset[size_t(t)],
                            impl_->offset[size_t(t) + 1] - impl_->offset[size_t(t)]);
}

TokenKind Vocabulary::kind(int32_t t) const {
    if (t < 0 || t >= impl_->n_vocab) return TokenKind::masked;
    return TokenKind(impl_->kinds[size_t(t)]);
}

int Vocabulary::n_trie_nodes() const { return int(impl_->text_trie.size() + impl_->special_trie.size()); }

int64_t Vocabulary::memory_bytes() const {
    const Impl& v = *impl_;
    return int64_t(sizeof(Vocabulary) + sizeof(Impl) + v.arena.capacity() + v.offset.capacity() * sizeof(uint32_t) +
                   v.kinds.capacity() + v.same_next.capacity() * sizeof(int32_t) +
                   (v.text_trie.capacity() + v.special_trie.capacity()) * sizeof(TrieNode) +
                   v.eog.capacity() * sizeof(int32_t));
}

}  // namespace berth
