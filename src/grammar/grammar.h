// grammar: constrained decoding. A GrammarBuilder composes byte-level grammars (literals, JSON values, JSON
// Schema, free text up to a terminator, sequences, alternatives, repetitions) and compiles them into a
// Grammar: one deterministic automaton per recursive rule, calls between rules on a stack. A GrammarMatcher
// follows one generation through a Grammar; with a model's Vocabulary (token bytes in a byte trie) it answers
// "may this token come next" by feeding the token's bytes, and fills a token mask by walking the trie, with the
// context-independent part of each state's mask kept in a MaskCache. Buffers are sized at construction:
// checking, accepting and masking tokens allocate nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/base.h"

namespace berth {

// ---- compiled grammars -----------------------------------------------------------------------------------

// An immutable compiled grammar, shared between requests (and between models: it knows bytes, not tokens).
class Grammar {
  public:
    struct Impl;
    explicit Grammar(std::unique_ptr<Impl> impl);
    ~Grammar();
    uint64_t id() const;  // unique for the life of the process (MaskCache keys use it)
    int n_states() const;
    int n_rules() const;
    int64_t memory_bytes() const;  // heap held by the compiled tables
    const Impl& impl() const { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};
using GrammarPtr = std::shared_ptr<const Grammar>;

// Composable grammar over bytes. Nodes are handles into this builder; build() compiles one of them as the
// root. Schemas arrive as nlohmann::ordered_json (declaration order matters).
class GrammarBuilder {
  public:
    using Node = int;
    GrammarBuilder();
    ~GrammarBuilder();
    GrammarBuilder(const GrammarBuilder&) = delete;
    GrammarBuilder& operator=(const GrammarBuilder&) = delete;

    // Exactly these bytes. A special token (e.g. "<tool_call>") whose text they spell may stand for them.
    Node literal(std::string_view bytes);
    // Any value the JSON Schema allows (see json_schema.cpp for the keywords and the choices made);
    // invalid_argument naming the JSON path of a keyword that cannot be enforced.
    Result<Node> json_schema(const nlohmann::ordered_json& schema);
    Node any_json_value();
    Node any_json_object();
    // Bounded JSON whitespace: nothing, one space, or a newline and at most 20 spaces or tabs.
    Node whitespace();
    // Any bytes that do not contain `terminator` and after which `terminator` would be its first occurrence
    // (the terminator itself is not consumed: follow this node with literal(terminator)).
    Node text_until(std::string_view terminator);
    Node seq(std::vector<Node> parts);
    Node alt(std::vector<Node> options);
    Node optional(Node n);
    // n repeated min..max times (max < 0: unbounded), `separator` between repetitions.
    Node repeat(Node n, int min, int max, std::string_view separator = {});
    // Compiles `root` (the builder stays usable). invalid_argument when the grammar is too large, matches
    // nothing, or is left-recursive.
    Result<GrammarPtr> build(Node root);

    struct Impl;
    Impl& impl() { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

// The grammar of `format: <schema>`: optional leading whitespace, then one value of the schema; nothing after it.
Result<GrammarPtr> compile_json_schema(const nlohmann::ordered_json& schema);
// The grammar of `format: "json"`: any JSON object (compiled once, shared).
GrammarPtr json_object_grammar();

// Compiled schema grammars by schema text, bounded in entries and bytes (least recently used go first);
// thread-safe. bytes() is what the cache holds (grammars and keys), for the ledger.
class GrammarCache {
  public:
    explicit GrammarCache(int64_t max_bytes = int64_t(64) << 20, int max_entries = 256);
    Result<GrammarPtr> get_or_compile(const nlohmann::ordered_json& schema);
    // Any grammar under a caller's key (e.g. a schema behind a reasoning block, or a tool-call grammar): `build`
    // runs on a miss, outside the lock.
    Result<GrammarPtr> get_or_build(std::string key, const std::function<Result<GrammarPtr>()>& build);
    int64_t bytes() const;
    int entries() const;
    int64_t hits() const;
    int64_t misses() const;

  private:
    struct Entry {
        std::string key;
        GrammarPtr grammar;
        int64_t bytes = 0;
    };
    mutable std::mutex mu_;
    int64_t max_bytes_;
    int max_entries_;
    std::list<Entry> lru_;  // most recent first
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
    int64_t bytes_ = 0, hits_ = 0, misses_ = 0;
};

// ---- a model's vocabulary -----------------------------------------------------------------------------

// What a token is to a grammar: text (its bytes are what it writes), special (control and user-defined tokens:
// allowed only where a literal spells their text), end of generation (allowed where the grammar may end), or
// masked (unused tokens, tokens that write nothing, or longer than kMaxTokenBytes): never allowed.
enum class TokenKind : uint8_t { text, special, eog, masked };

inline constexpr int kMaxTokenBytes = 512;

// Token bytes in one arena plus two byte tries (text tokens, special tokens) in depth-first order, built once
// per model at load. Immutable and shared.
class Vocabulary {
  public:
    struct Impl;
    // `token(id, bytes)` appends token id's bytes (for special tokens: their text) and returns its kind.
    static std::shared_ptr<const Vocabulary> create(int n_vocab,
                                                    const std::function<TokenKind(int32_t, std::string&)>& token);
    explicit Vocabulary(std::unique_ptr<Impl> impl);
    ~Vocabulary();
    int n_vocab() const;
    std::string_view bytes(int32_t token) const;
    TokenKind kind(int32_t token) const;
    int64_t memory_bytes() const;  // heap held (arena, offsets, kinds, tries)
    int n_trie_nodes() const;
    const Impl& impl() const { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

// One bit per token of a vocabulary.
class TokenMask {
  public:
    explicit TokenMask(int n_vocab = 0);
    int n_vocab() const { return n_vocab_; }
    const uint64_t* words() const { return words_.data(); }
    uint64_t* words() { return words_.data(); }
    int n_words() const { return int(words_.size()); }
    bool test(int32_t t) const { return (words_[size_t(t) >> 6] >> (t & 63)) & 1; }
    void set(int32_t t) { words_[size_t(t) >> 6] |= uint64_t(1) << (t & 63); }
    void clear();
    int count() const;
    int64_t heap_bytes() const { return int64_t(words_.capacity() * sizeof(uint64_t)); }
    static int64_t heap_bytes_for(int n_vocab) { return int64_t((n_vocab + 63) / 64) * 8; }

  private:
    int n_vocab_ = 0;
    std::vector<uint64_t> words_;  // (ceil(n_vocab / 64))
};

// Per-state masks of the text tokens a grammar state accepts whatever lies below it on the stack (XGrammar's
// context-independent tokens), plus the few that depend on it, computed on first use and kept in a fixed
// arena (when it is full, everything is dropped and refilled). One per model; not thread-safe (the engine's
// worker owns it).
class MaskCache {
  public:
    struct Impl;
    explicit MaskCache(int n_vocab);
    ~MaskCache();
    MaskCache(const MaskCache&) = delete;
    MaskCache& operator=(const MaskCache&) = delete;
    int64_t heap_bytes() const;
    static int64_t heap_bytes_for(int n_vocab);
    struct Stats {
        int64_t hits = 0, misses = 0, uncacheable = 0, resets = 0;
        int entries = 0;
        int64_t used_bytes = 0;
    };
    Stats stats() const;
    Impl& impl() { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

// Follows one generation through a grammar. All buffers are allocated by the constructor; start() copies a
// shared pointer. Every method is for one thread at a time.
class GrammarMatcher {
  public:
    struct Impl;
    explicit GrammarMatcher(int n_vocab);
    ~GrammarMatcher();
    GrammarMatcher(const GrammarMatcher&) = delete;
    GrammarMatcher& operator=(const GrammarMatcher&) = delete;
    int64_t heap_bytes() const;
    static int64_t heap_bytes_for(int n_vocab);

    // Begins matching `grammar` from its start over `vocab` (which must outlive the match; null for byte-level
    // use only: allows_bytes, accept_bytes, is_complete).
    void start(GrammarPtr grammar, const Vocabulary* vocab);
    void stop();
    bool active() const;

    // May `token` come next? Feeds its bytes without committing them.
    bool allows(int32_t token);
    // Commits `token`; invalid_argument when it is not allowed (the state is unchanged then).
    Status accept(int32_t token);
    // Byte-level versions (tests, tools); `literal_only` as for special tokens.
    bool allows_bytes(std::string_view bytes, bool literal_only = false);
    bool accept_bytes(std::string_view bytes, bool literal_only = false);

    // The grammar may end here (end-of-generation tokens are allowed).
    bool is_complete() const;
    // It may end here and no byte may follow: generation is over.
    bool is_finished() const;
    // Sets in `mask` every token that may come next (text tokens by trie walk or cached state masks, special
    // tokens whose text a literal expects, end-of-generation tokens when complete); returns how many.
    // `cache` may be null (then every mask is computed in full).
    int fill_mask(TokenMask& mask, MaskCache* cache);
    // Why the last accept/mask failed (stack or nesting limits), or "".
    const std::string& limit_error() const;
    int64_t bytes_accepted() const;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace berth
