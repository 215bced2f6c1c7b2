// Loading an Engine from a GGUF file: the model (weights, KV pool, scratch) and its tokenizer.
#include "engine/engine.h"
#include "engine/text_assets.h"
#include "tokenizer/tokenizer.h"

namespace berth {

namespace {

class TokenizerCodec final : public TextCodec {
  public:
    TokenizerCodec(std::shared_ptr<const Tokenizer> tok, std::shared_ptr<const Vocabulary> vocab)
        : tok_(std::move(tok)), vocab_(std::move(vocab)) {}
    Result<std::vector<int32_t>> encode(std::string_view text, bool add_special, bool parse_special) const override {
        return tok_->encode(text, add_special, parse_special);
    }
    void append_piece(int32_t token, std::string& out) const override { tok_->append_piece(token, out); }
    bool is_eog(int32_t token) const override { return tok_->is_eog(token); }
    std::shared_ptr<const Vocabulary> vocabulary() const override { return vocab_; }

  private:
    std::shared_ptr<const Tokenizer> tok_;
    std::shared_ptr<const Vocabulary> vocab_;
};

ModelOptions model_options(const EngineLoadOptions& o) {
    ModelOptions m;
    m.n_ctx = o.n_ctx;
    m.n_parallel = o.n_parallel;
    m.n_batch = o.n_batch;
    m.n_threads = o.n_threads;
    m.kv_type = o.kv_type;
    m.device = o.device;
    m.num_gpu = o.num_gpu;
    m.device_budget = o.device_budget;
    return m;
}

}  // namespace

Result<TextAssets> load_text_assets(const GgufFile& gguf) {
    TextAssets a;
    ASSIGN_OR_RETURN(a.tokenizer, Tokenizer::from_gguf(gguf));
    const Tokenizer& tok = *a.tokenizer;
    if (auto t = gguf.get_string("tokenizer.chat_template")) a.chat_template = std::string(*t);
    if (tok.bos() != kNoToken) a.bos_token = std::string(tok.token_text(tok.bos()));
    if (tok.eos() != kNoToken) a.eos_token = std::string(tok.token_text(tok.eos()));
    a.vocab = grammar_vocabulary(tok);
    a.bytes = int64_t(tok.memory_bytes() + a.chat_template.size() + a.bos_token.size() + a.eos_token.size()) +
              a.vocab->memory_bytes();
    return a;
}

std::shared_ptr<const Vocabulary> grammar_vocabulary(const Tokenizer& tok) {
    return Vocabulary::create(tok.n_vocab(), [&](int32_t t, std::string& out) {
        if (tok.is_eog(t)) return TokenKind::eog;
        switch (tok.token_type(t)) {
            case TokenType::normal:
            case TokenType::byte: tok.append_piece(t, out); return TokenKind::text;
            case TokenType::control:
            case TokenType::unknown:
            case TokenType::user_defined: out.append(tok.token_text(t)); return TokenKind::special;
            case TokenType::unused:
            case TokenType::undefined: break;
        }
        return TokenKind::masked;
    });
}

std::shared_ptr<const TextCodec> tokenizer_codec(std::shared_ptr<const Tokenizer> tokenizer) {
    std::shared_ptr<const Vocabulary> vocab = grammar_vocabulary(*tokenizer);
    return std::make_shared<TokenizerCodec>(std::move(tokenizer), std::move(vocab));
}

Result<MemoryPlan> plan_engine(const std::string& path, const EngineLoadOptions& options) {
    ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> gguf, GgufFile::open(path));
    ASSIGN_OR_RETURN(MemoryPlan p, plan(*gguf, model_options(options)));
    // The cache figure: the text assets measured on the real tokenizer built from the metadata (milliseconds
    // even for a 150k vocabulary) plus the engine's heap, so that it equals the ledger's entry at load exactly.
    ASSIGN_OR_RETURN(TextAssets assets, load_text_assets(*gguf));
    ASSIGN_OR_RETURN(HParams hp, read_hparams(*gguf));
    p.cache = assets.bytes + Engine::heap_bytes_for(hp.n_vocab, p.n_ctx, p.n_parallel, p.n_batch);
    return p;
}

Result<LoadedEngine> load_engine(const std::string& path, const EngineLoadOptions& options, Ledger* ledger,
                                 const std::string& ledger_name) {
    ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(path, model_options(options), ledger, ledger_name));
    ASSIGN_OR_RETURN(TextAssets assets, load_text_assets(model->gguf()));
    if (assets.tokenizer->n_vocab() > model->n_vocab()) {
        return corrupt_data("%s: the tokenizer has %d tokens but the model only %d", path.c_str(),
                            assets.tokenizer->n_vocab(), model->n_vocab());
    }
    std::shared_ptr<const Tokenizer> shared(std::move(assets.tokenizer));
    auto codec = std::make_shared<TokenizerCodec>(shared, assets.vocab);
    LoadedEngine out;
    out.chat_template = std::move(assets.chat_template);
    out.bos_token = std::move(assets.bos_token);
    out.eos_token = std::move(assets.eos_token);
    out.plan = model->memory_plan();
    out.tokenizer = shared;
    out.engine = std::make_unique<Engine>(model_backend(std::move(model)), std::move(codec), options.limits);
    out.plan.cache = assets.bytes + out.engine->heap_bytes();
    // Erased with the model's other entries when the Model goes (Model::~Model erases the whole row).
    if (ledger) ledger->set(ledger_name, MemoryKind::cache, out.plan.cache);
    return out;
}

}  // namespace berth
