// Internal to the engine module: a model's text assets (tokenizer, chat template, BOS/EOS texts) and the heap
// bytes they hold, which with the engine's own heap (Engine::heap_bytes) make the model's `cache` ledger entry.
// Planning and loading both call load_text_assets, so the plan's figure and the ledger's are the same function of the
// same metadata.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gguf/gguf.h"
#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

namespace berth {

struct TextAssets {
    std::unique_ptr<Tokenizer> tokenizer;
    std::string chat_template;         // tokenizer.chat_template ("" when absent)
    std::string bos_token, eos_token;  // token texts for templates
    // Token bytes and tries for constrained decoding.
    std::shared_ptr<const Vocabulary> vocab;
    // Tokenizer::memory_bytes (its arena, hash tables, merges, scores, types), the bytes of the three texts and
    // Vocabulary::memory_bytes.
    int64_t bytes = 0;
};

// Builds the tokenizer from the file's metadata, copies the template texts and builds the grammar vocabulary.
Result<TextAssets> load_text_assets(const GgufFile& gguf);
// The grammar's view of a tokenizer's vocabulary: normal and byte tokens are text (their decoded bytes),
// control, unknown and user-defined tokens are special (their text), end-of-generation tokens are eog, unused
// ones are masked.
std::shared_ptr<const Vocabulary> grammar_vocabulary(const Tokenizer& tok);

}  // namespace berth
