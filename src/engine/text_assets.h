// Internal to the engine module: a model's text assets (tokenizer, chat template, BOS/EOS texts) and the heap
// bytes they hold, which with the engine's own heap (Engine::heap_bytes) make the model's `cache` ledger entry.
// Planning and loading both call load_text_assets, so the plan's figure and the ledger's are the same function of the
// same metadata.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace berth {

struct TextAssets {
    std::unique_ptr<Tokenizer> tokenizer;
    std::string chat_template;         // tokenizer.chat_template ("" when absent)
    std::string bos_token, eos_token;  // token texts for templates
    // Tokenizer::memory_bytes (its arena, hash tables, merges, scores, types) plus the bytes of the three texts.
    int64_t bytes = 0;
};

// Builds the tokenizer from the file's metadata and copies the template texts.
Result<TextAssets> load_text_assets(const GgufFile& gguf);

}  // namespace berth
