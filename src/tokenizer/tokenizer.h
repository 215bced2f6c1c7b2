// tokenizer: text ↔ token ids for the vocabularies GGUF files carry: SentencePiece BPE with scores
// ("llama"), byte-level BPE with merge ranks and per-family pre-tokenizer regexes ("gpt2") and WordPiece
// ("bert"); incremental UTF-8-safe decoding; end-of-generation detection. Chat templates are the template
// module's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "gguf/gguf.h"

namespace berth {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

enum class TokenizerKind : uint8_t { spm, bpe, wpm };

// GGUF tokenizer.ggml.token_type values.
enum class TokenType : uint8_t {
    undefined = 0,
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6
};

// What a GGUF file's tokenizer.* metadata says, decoded but not yet indexed. Tests and tools may build one
// by hand; Tokenizer::create indexes it.
struct VocabSpec {
    std::string model;                     // tokenizer.ggml.model: "llama", "gpt2", "bert"
    std::string pre;                       // tokenizer.ggml.pre ("" when absent)
    std::string name;                      // general.name (a few attributes depend on it, as in the reference)
    std::vector<std::string_view> tokens;  // token texts; must outlive create()
    std::vector<float> scores;             // empty or one per token
    std::vector<uint8_t> types;            // empty or one TokenType per token
    std::vector<std::string_view> merges;  // "left right", rank = index
    // Special ids as stored; kNoToken where absent or out of range.
    TokenId bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken, pad = kNoToken,
            sep = kNoToken, cls = kNoToken, mask = kNoToken;
    int add_bos = -1, add_eos = -1, add_sep = -1, add_space_prefix = -1;  // -1: key absent (family default)
};

// Reads tokenizer.* metadata from a GGUF file. The spec's string views point into `file`.
Result<VocabSpec> read_vocab_spec(const GgufFile& file);

class Tokenizer {
  public:
    // Indexes a spec: one string arena, hash tables sized once. Unknown pre-tokenizers fall back to the
    // closest known split with a warning; an unknown model is `unsupported`.
    static Result<std::unique_ptr<Tokenizer>> create(const VocabSpec& spec);
    static Result<std::unique_ptr<Tokenizer>> from_gguf(const GgufFile& file);
    ~Tokenizer();
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    // Text → ids. add_special adds BOS/EOS/CLS/SEP as the metadata says; parse_special recognizes control
    // token text (e.g. "<|im_end|>") in `text`; user-defined tokens are always recognized, as in the reference.
    // Invalid UTF-8 bytes are replaced by U+FFFD. Thread-safe (const).
    std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;
    void encode(std::string_view text, bool add_special, bool parse_special, std::vector<TokenId>& out) const;

    // The bytes a token stands for (byte tokens → one byte, BPE byte-level text → bytes, ▁ → space). Control
    // tokens yield "" unless render_special. May be an incomplete UTF-8 sequence.
    std::string token_to_piece(TokenId id, bool render_special = false) const;
    void append_piece(TokenId id, std::string& out, bool render_special = false) const;
    // All pieces concatenated (raw bytes, possibly invalid UTF-8 at the end).
    std::string decode(const std::vector<TokenId>& ids, bool render_special = false) const;

    // The token's stored text (e.g. "▁Hello", "Ġworld", "<|im_end|>"); "" for out-of-range ids.
    std::string_view token_text(TokenId id) const;
    TokenType token_type(TokenId id) const;
    float token_score(TokenId id) const;
    // Exact lookup of a token's stored text; kNoToken when absent.
    TokenId find_token(std::string_view text) const;

    // End of generation: EOS, EOT, EOM and control tokens such as <|im_end|>, <|eot_id|>, <end_of_turn>.
    bool is_eog(TokenId id) const;
    bool is_control(TokenId id) const;
    const std::vector<TokenId>& eog_ids() const { return eog_ids_; }

    TokenizerKind kind() const { return kind_; }
    const std::string& pre() const { return pre_; }  // the pre-tokenizer actually used
    int32_t n_vocab() const { return n_vocab_; }
    TokenId bos() const { return bos_; }
    TokenId eos() const { return eos_; }
    TokenId eot() const { return eot_; }
    TokenId unk() const { return unk_; }
    TokenId pad() const { return pad_; }
    TokenId sep() const { return sep_; }
    TokenId cls() const { return bos_; }  // BERT's [CLS] is its BOS
    bool add_bos() const { return add_bos_; }
    bool add_eos() const { return add_eos_; }
    bool add_sep() const { return add_sep_; }

    // Bytes this object holds on the heap (arena, tables, regexes' compiled code excluded: a few KiB).
    size_t memory_bytes() const;

    struct Impl;

  private:
    Tokenizer();
    std::unique_ptr<Impl> impl_;
    TokenizerKind kind_ = TokenizerKind::spm;
    std::string pre_;
    int32_t n_vocab_ = 0;
    TokenId bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, eom_ = kNoToken, unk_ = kNoToken, pad_ = kNoToken,
            sep_ = kNoToken;
    bool add_bos_ = false, add_eos_ = false, add_sep_ = false;
    std::vector<TokenId> eog_ids_;
};

// Turns tokens into text one at a time. Emits only complete, valid UTF-8: an incomplete multi-byte
// sequence at the end is held back until the next token completes it; invalid bytes become U+FFFD.
class StreamDecoder {
  public:
    explicit StreamDecoder(const Tokenizer& tok, bool render_special = false) : tok_(&tok), special_(render_special) {}
    // Appends the text that `id` completes to `out` (possibly nothing).
    void push(TokenId id, std::string& out);
    // Emits what is held back (an incomplete sequence becomes U+FFFD) and resets.
    void flush(std::string& out);
    void reset() { pending_.clear(); }
    size_t pending_bytes() const { return pending_.size(); }

  private:
    const Tokenizer* tok_;
    bool special_;
    std::string pending_;
};

// Appends `bytes` to `out` as valid UTF-8: invalid sequences become U+FFFD. Returns the number of bytes at
// the end of `bytes` that form an incomplete (but so far valid) sequence when `hold_tail`; those are not
// appended.
size_t append_valid_utf8(std::string_view bytes, std::string& out, bool hold_tail);

}  // namespace berth
