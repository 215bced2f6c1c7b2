// Internal to the tokenizer module: the indexed vocabulary shared by the SentencePiece, BPE and WordPiece
// encoders, and the pre-tokenizer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace berth {

// Per-thread scratch (the merge heaps, the pre-tokenizer's piece lists) keeps its capacity between calls so
// that encoding allocates nothing per word, but never more than this: after one huge prompt the buffers go
// back at once instead of staying with each HTTP thread for the life of the server.
constexpr size_t kScratchKeepBytes = 64 << 10;
template <class Vec>
void release_if_large(Vec& v) {
    if (v.capacity() * sizeof(typename Vec::value_type) > kScratchKeepBytes) Vec().swap(v);
}

// 64-bit hash of a byte string (multiply-xorshift over 8-byte words).
inline uint64_t hash_bytes(const char* p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * 0x94d049bb133111ebull;
        h ^= h >> 31;
    }
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

// The UTF-8 sequence at p[0, n): its length (1-4) when valid; 0 when invalid (bad lead byte, overlong,
// surrogate, above U+10FFFF, bad continuation); -1 when valid so far but cut off by the end of the input.
inline int utf8_sequence(const uint8_t* p, size_t n) {
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    int len;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    for (int k = 1; k < len; k++) {
        if (size_t(k) >= n) return -1;
        uint8_t b = p[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    }
    return len;
}

// Decodes the valid UTF-8 sequence at p (length from utf8_sequence).
inline uint32_t utf8_decode(const uint8_t* p, int len) {
    switch (len) {
        case 1: return p[0];
        case 2: return (uint32_t(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
        case 3: return (uint32_t(p[0] & 0x0F) << 12) | (uint32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        default:
            return (uint32_t(p[0] & 0x07) << 18) | (uint32_t(p[1] & 0x3F) << 12) | (uint32_t(p[2] & 0x3F) << 6) |
                   (p[3] & 0x3F);
    }
}

// GPT-2's bytes_to_unicode and its inverse (-1 for code points outside the mapping).
uint32_t byte_to_unicode(uint8_t b);
int unicode_to_byte(uint32_t cp);

// Token texts in one arena with an open-addressing index text → id (sized once, load factor ≤ 2/3).
class VocabIndex {
  public:
    void build(const std::vector<std::string_view>& tokens);
    std::string_view text(TokenId id) const {
        return std::string_view(arena_.data() + offsets_[id], offsets_[id + 1] - offsets_[id]);
    }
    TokenId find(std::string_view s) const {
        uint64_t h = hash_bytes(s.data(), s.size());
        uint32_t tag = uint32_t(h >> 32);
        size_t i = h & mask_;
        for (;;) {
            Slot slot = slots_[i];
            if (slot.id < 0) return kNoToken;
            if (slot.tag == tag) {
                TokenId id = slot.id;
                if (offsets_[id + 1] - offsets_[id] == s.size() &&
                    memcmp(arena_.data() + offsets_[id], s.data(), s.size()) == 0)
                    return id;
            }
            i = (i + 1) & mask_;
        }
    }
    int32_t size() const { return int32_t(offsets_.size()) - 1; }
    size_t memory_bytes() const {
        return arena_.capacity() + offsets_.capacity() * sizeof(uint32_t) + slots_.capacity() * sizeof(Slot);
    }

  private:
    std::string arena_;
    std::vector<uint32_t> offsets_;  // (n_vocab + 1)
    struct Slot {
        TokenId id;    // kNoToken: empty
        uint32_t tag;  // high half of the text's hash: most mismatches never touch the arena
    };
    std::vector<Slot> slots_;  // power of two
    size_t mask_ = 0;
};

// BPE merges keyed by (left id, right id) → (rank, merged id).
class MergeTable {
  public:
    void reserve(size_t n);
    void insert(TokenId left, TokenId right, int32_t rank, TokenId merged);
    // Returns false when the pair does not merge.
    bool find(TokenId left, TokenId right, int32_t* rank, TokenId* merged) const {
        if (keys_.empty()) return false;
        uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
        size_t i = mix(key) & mask_;
        for (;;) {
            uint64_t k = keys_[i];
            if (k == kEmpty) return false;
            if (k == key) {
                *rank = int32_t(vals_[i] >> 32);
                *merged = TokenId(uint32_t(vals_[i]));
                return true;
            }
            i = (i + 1) & mask_;
        }
    }
    size_t size() const { return n_; }
    size_t memory_bytes() const { return keys_.capacity() * 8 + vals_.capacity() * 8; }

  private:
    static constexpr uint64_t kEmpty = ~0ull;
    static uint64_t mix(uint64_t x) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        return x;
    }
    std::vector<uint64_t> keys_;
    std::vector<uint64_t> vals_;  // rank << 32 | merged id
    size_t mask_ = 0, n_ = 0;
};

// A list of regexes applied in turn (each splits every piece the previous one produced); the text between
// matches stays a piece of its own, as in the reference's unicode_regex_split.
class PreTokenizer {
  public:
    PreTokenizer() = default;
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;
    Status init(const std::vector<std::string>& patterns);
    // Splits text[0, n) into pieces (byte offset, length), appended to `out`.
    void split(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& out) const;
    size_t n_patterns() const { return codes_.size(); }

  private:
    std::vector<void*> codes_;  // pcre2_code_8*
};

// What a tokenizer.ggml.pre value selects.
struct PreTokenizerConfig {
    std::string name;                   // canonical name used
    std::vector<std::string> patterns;  // empty for SentencePiece / WordPiece
    bool ignore_merges = false;         // a whole word found in the vocab is one token (Llama 3)
    int add_bos = -1;                   // family default: -1 = none given
};
// Never fails: unknown names fall back to the closest known family (with a warning).
PreTokenizerConfig pre_tokenizer_config(const std::string& pre);

enum TokenAttr : uint8_t { attr_lstrip = 1, attr_rstrip = 2 };

struct Tokenizer::Impl {
    VocabIndex vocab;
    std::vector<float> scores;   // (n_vocab) empty when the file has none
    std::vector<uint8_t> types;  // (n_vocab) TokenType
    std::vector<uint8_t> attrs;  // (n_vocab) TokenAttr bits
    bool add_space_prefix = false;
    bool ignore_merges = false;
    bool spm_split_at_space = false;  // no token contains ▁ after another character
    // Special-token matching: ids of control / user-defined / unknown tokens grouped by first byte, longest first.
    std::vector<TokenId> special_ids;
    uint32_t special_start[257] = {};
    TokenId byte_token[256];  // SPM: <0xXX>; BPE: the byte-level character; kNoToken when absent
    MergeTable merges;
    PreTokenizer pre;
    size_t max_token_len = 0;
    TokenId unk_id = kNoToken;

    struct Fragment {
        TokenId token;  // kNoToken: raw text
        uint32_t off, len;
    };
    // Splits text into raw-text and special-token fragments.
    void partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;
    void encode_spm(std::string_view text, std::vector<TokenId>& out) const;
    void encode_spm_segment(std::string_view text, std::vector<TokenId>& out) const;
    void emit_spm_piece(std::string_view piece, std::vector<TokenId>& out) const;
    void encode_bpe_word(std::string_view word, std::vector<TokenId>& out, std::string& scratch) const;
    void encode_wpm(std::string_view text, std::vector<TokenId>& out) const;
};

}  // namespace berth
