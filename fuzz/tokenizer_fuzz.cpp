// The tokenizers over the real vocabularies in ../shared/testdata/vocab: SentencePiece (llama-spm, phi-3,
// baichuan), byte-level BPE with each family's pre-tokenizer (llama-bpe, qwen2, gpt-2, falcon, deepseek, ...)
// and WordPiece (bert-bge). Input: a byte choosing the vocabulary, a byte of flags, then text.
// Properties: no crash; every id encode produces is inside the vocabulary; the streaming decoder emits only
// valid UTF-8, for the encoded ids and for arbitrary ids taken from the input.
#include <memory>
#include <vector>

#include "fuzz_util.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

using namespace berth;

namespace {

struct Vocab {
    std::unique_ptr<GgufFile> file;  // the token strings point into it
    std::unique_ptr<Tokenizer> tok;
};
std::vector<Vocab>* g_vocabs = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    set_log_level(LogLevel::error);
    g_vocabs = new std::vector<Vocab>();
    for (const char* name : {"llama-spm", "phi-3", "baichuan", "llama-bpe", "qwen2", "gpt-2", "gpt-neox", "falcon",
                             "deepseek-coder", "deepseek-llm", "mpt", "starcoder", "refact", "bert-bge"}) {
        std::string path = std::string(BERTH_TESTDATA) + "/vocab/ggml-vocab-" + name + ".gguf";
        Result<std::unique_ptr<GgufFile>> f = GgufFile::open(path);
        if (!f.is_ok()) continue;  // missing test data: fuzz what there is
        Result<std::unique_ptr<Tokenizer>> t = Tokenizer::from_gguf(**f);
        if (!t.is_ok()) {
            fprintf(stderr, "%s: %s\n", path.c_str(), t.status().message().c_str());
            abort();
        }
        g_vocabs->push_back({std::move(f).value(), std::move(t).value()});
    }
    if (g_vocabs->empty()) {
        fprintf(stderr, "no vocabularies under %s/vocab\n", BERTH_TESTDATA);
        abort();
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Input in(data, size);
    const Tokenizer& tok = *(*g_vocabs)[in.byte() % g_vocabs->size()].tok;
    const uint8_t flags = in.byte();
    const std::string_view text = in.rest();

    std::vector<TokenId> ids = tok.encode(text, flags & 1, flags & 2);
    for (TokenId id : ids) {
        if (id < 0 || id >= tok.n_vocab()) fuzz::fail("encode produced an id outside the vocabulary");
    }
    std::string all = tok.decode(ids, flags & 4);

    // Streaming decode: of the encoded ids, then of ids read from the text's bytes (any id, wrapped into range).
    std::string out;
    StreamDecoder dec(tok, flags & 4);
    for (TokenId id : ids) dec.push(id, out);
    dec.flush(out);
    if (!fuzz::valid_utf8(out)) fuzz::fail("the stream decoder emitted invalid UTF-8");
    out.clear();
    for (size_t i = 0; i + 3 <= text.size() && i < 768; i += 3) {
        uint32_t raw =
            uint32_t(uint8_t(text[i])) | uint32_t(uint8_t(text[i + 1])) << 8 | uint32_t(uint8_t(text[i + 2])) << 16;
        TokenId id = TokenId(raw % uint32_t(tok.n_vocab()));
        dec.push(id, out);
        if (!fuzz::valid_utf8(out)) fuzz::fail("the stream decoder emitted invalid UTF-8");
    }
    dec.flush(out);
    if (!fuzz::valid_utf8(out)) fuzz::fail("the stream decoder emitted invalid UTF-8 at the end");
    // Out-of-range ids are tolerated by the piece accessors.
    volatile size_t sink = tok.token_to_piece(-1).size() + tok.token_to_piece(tok.n_vocab()).size() + all.size();
    (void)sink;
    return 0;
}
