// Internal to the grammar module: the matcher's configurations (a DFA state on top of a persistent stack of
// return states), its preallocated buffers, and the mask cache's table.
#pragma once

#include <vector>

#include "grammar/grammar_impl.h"

namespace berth {

// A parse position: `state` on top of the stack `frame` (kBottom: empty; kUnknown: not known, in cache walks),
// and inside a counted string the characters it has so far.
struct Config {
    int32_t state;
    int32_t frame;
    int32_t count = 0;
};
// One stack frame: where the caller continues, the frame below it, and its depth (1 = just above the bottom).
struct Frame {
    int32_t ret;
    int32_t parent;
    int32_t depth;
};

inline constexpr int32_t kBottom = -1;
inline constexpr int32_t kUnknown = -2;
inline constexpr int32_t kPopAny = -1;        // Config::state of "returned below the known stack": any byte
inline constexpr int kMaxConfigs = 32;        // live parse positions at once (more are dropped)
inline constexpr int kFrameCapacity = 16384;  // stack frames per matcher (committed ones compacted at half)
inline constexpr int kMaxDepth = 512;         // nesting
inline constexpr int kWalkCapacity = 16384;   // configurations on a trie walk's stack of levels
inline constexpr int kMaxUncertain = 2048;    // stack-dependent tokens a cached state may have

struct GrammarMatcher::Impl {
    int n_vocab = 0;
    GrammarPtr grammar;
    const Grammar::Impl* g = nullptr;
    const Vocabulary::Impl* v = nullptr;
    std::vector<Frame> frames, spare;  // (kFrameCapacity): [0, committed) belongs to `cur`, above is scratch
    int32_t committed = 0, top = 0;
    std::vector<int32_t> remap, chain;      // (kFrameCapacity), (kMaxDepth + 1): compaction
    std::vector<Config> cur, tmp_a, tmp_b;  // (kMaxConfigs)
    int n_cur = 0;
    std::vector<Config> walk;                 // (kWalkCapacity) the sets of every depth of a trie walk
    std::vector<int32_t> walk_end, walk_top;  // (kMaxTokenBytes + 2)
    bool done = false;                        // an end-of-generation token was accepted
    bool overflow = false;                    // a limit dropped a parse position during the last operation
    std::string limit_error;
    int64_t bytes_accepted = 0;

    explicit Impl(int n_vocab);
    int32_t push(int32_t ret, int32_t parent);
    int add(Config* out, int n, Config c);
    int expand(Config c, Config* out, int n);
    int step(const Config* in, int n_in, uint8_t byte, bool literal_only, Config* out);
    // Feeds `bytes` from `from` (n configs) into `out`; false when no configuration survives. Scratch frames
    // stay above `top` (the caller restores or commits it).
    int feed(const Config* from, int n, std::string_view bytes, bool literal_only, Config* out);
    void compact();
    void note_limit();
    bool complete() const;
};

struct MaskCache::Impl {
    struct Entry {
        uint64_t grammar = 0;  // 0: empty slot
        int32_t state = 0;
        int32_t count_class = 0;      // inside a counted string: how far the count is from its limits
        uint32_t a_off = 0, a_n = 0;  // accepted tokens: a bitset of n_words64 words, or a_n ids
        uint32_t u_off = 0, u_n = 0;  // stack-dependent tokens to check one by one
        bool bitset = false, uncacheable = false;
    };
    int n_vocab = 0, n_words64 = 0;
    std::vector<Entry> table;  // open addressing, power of two
    int n_entries = 0;
    std::vector<uint64_t> arena;  // bitsets and id lists (ids packed two per word)
    size_t arena_used = 0;
    std::vector<int32_t> tmp_a, tmp_u;  // (n_vocab), (kMaxUncertain)
    Stats stats;

    explicit Impl(int n_vocab);
    Entry* find(uint64_t grammar, int32_t state, int32_t count_class);
    void reset();
    // Stores a computed entry (resetting the cache first when it is full); the entry's lists come from tmp_a
    // and tmp_u.
    const Entry* store(uint64_t grammar, int32_t state, int32_t count_class, int a_n, int u_n, bool uncacheable);
    const uint32_t* ids(uint32_t off) const { return reinterpret_cast<const uint32_t*>(arena.data() + off); }
};

}  // namespace berth
