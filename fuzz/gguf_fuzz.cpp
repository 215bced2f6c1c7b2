// GGUF reader: header, metadata, tensor infos, offsets and sizes against the file's length; then what is
// computed from the metadata before anything is allocated for a model: hyperparameters, the memory plan, the
// embedding model's scratch plan and the tokenizer built from tokenizer.* metadata.
// Properties: no crash; every tensor the reader accepts lies inside the input (ASan sees each first and last
// byte read); tokens decode back to bytes without reading out of bounds.
#include <algorithm>

#include "fuzz_util.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

using namespace berth;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    set_log_level(LogLevel::error);  // unknown pre-tokenizers etc. warn; the fuzzer would print millions
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Result<std::unique_ptr<GgufFile>> parsed = GgufFile::parse(data, size);
    if (!parsed.is_ok()) return 0;
    const GgufFile& g = **parsed;

    // Every metadata value through the typed getters, and the first elements of numeric arrays.
    // Unsigned: the sum only keeps the reads from being optimised away, and must wrap rather than overflow.
    volatile uint64_t sink = 0;
    for (const auto& [key, v] : g.metadata()) {
        sink = sink + uint64_t(g.get_int(key).value_or(0)) + uint64_t(g.get_float(key).value_or(0) != 0) +
               uint64_t(g.get_string(key).value_or("").size()) + uint64_t(g.get_bool(key).value_or(false));
        if (v.type == GgufType::ARRAY && v.elem_type != GgufType::STRING) {
            for (uint64_t i = 0; i < std::min<uint64_t>(v.count, 64); ++i)
                sink = sink + uint64_t(v.int_at(i)) + uint64_t(v.float_at(i) != 0);
            if (v.count > 0) sink = sink + uint64_t(v.int_at(v.count - 1));
        }
        for (std::string_view s : v.strings) sink = sink + uint64_t(s.size());
    }
    // Tensor data lies inside the input: touch its first and last byte.
    for (const GgufTensorInfo& t : g.tensors()) {
        TensorView view = g.view(t);
        if (t.n_bytes == 0) continue;
        const volatile uint8_t* p = static_cast<const uint8_t*>(view.data);
        sink = sink + p[0] + p[t.n_bytes - 1];
    }

    ModelOptions mo;
    mo.n_ctx = 64;
    mo.n_threads = 1;
    Result<MemoryPlan> plan = berth::plan(g, mo);
    if (plan.is_ok() && (plan->kv < 0 || plan->scratch < 0)) fuzz::fail("negative plan");
    Result<int64_t> bert_scratch = EmbeddingModel::plan_scratch_bytes(g, 1);
    if (bert_scratch.is_ok() && *bert_scratch < 0) fuzz::fail("negative embedding scratch plan");

    Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_gguf(g);
    if (!tok.is_ok()) return 0;
    const Tokenizer& t = **tok;
    std::vector<TokenId> ids = t.encode("Hello world! <s> 123 \xc3\xa9\xe2\x82\xac", true, true);
    for (TokenId id : ids) {
        if (id < 0 || id >= t.n_vocab()) fuzz::fail("encode produced an id outside the vocabulary");
    }
    std::string text = t.decode(ids);
    for (TokenId id = 0; id < std::min<int32_t>(t.n_vocab(), 512); ++id) text += t.token_to_piece(id, true);
    sink = sink + int64_t(text.size());
    return 0;
}
