// Loading an Engine from a GGUF file: the model (weights, KV pool, scratch) and its tokenizer.
#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace berth {

namespace {

class TokenizerCodec final : public TextCodec {
  public:
    explicit TokenizerCodec(std::shared_ptr<const Tokenizer> tok) : tok_(std::move(tok)) {}
    Result<std::vector<int32_t>> encode(std::string_view text, bool add_special, bool parse_special) const override {
        return tok_->encode(text, add_special, parse_special);
    }
    void append_piece(int32_t token, std::string& out) const override { tok_->append_piece(token, out); }
    bool is_eog(int32_t token) const override { return tok_->is_eog(token); }

  private:
    std::shared_ptr<const Tokenizer> tok_;
};

ModelOptions model_options(const EngineLoadOptions& o) {
    ModelOptions m;
    m.n_ctx = o.n_ctx;
    m.n_parallel = o.n_parallel;
    m.n_batch = o.n_batch;
    m.n_threads = o.n_threads;
    m.kv_type = o.kv_type;
    return m;
}

}  // namespace

std::shared_ptr<const TextCodec> tokenizer_codec(std::shared_ptr<const Tokenizer> tokenizer) {
    return std::make_shared<TokenizerCodec>(std::move(tokenizer));
}

Result<MemoryPlan> plan_engine(const std::string& path, const EngineLoadOptions& options) {
    return plan(path, model_options(options));
}

Result<LoadedEngine> load_engine(const std::string& path, const EngineLoadOptions& options, Ledger* ledger,
                                 const std::string& ledger_name) {
    ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(path, model_options(options), ledger, ledger_name));
    LoadedEngine out;
    ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::from_gguf(model->gguf()));
    if (tok->n_vocab() > model->n_vocab()) {
        return corrupt_data("%s: the tokenizer has %d tokens but the model only %d", path.c_str(), tok->n_vocab(),
                            model->n_vocab());
    }
    std::shared_ptr<const Tokenizer> shared(std::move(tok));
    if (auto t = model->gguf().get_string("tokenizer.chat_template")) out.chat_template = std::string(*t);
    if (shared->bos() != kNoToken) out.bos_token = std::string(shared->token_text(shared->bos()));
    if (shared->eos() != kNoToken) out.eos_token = std::string(shared->token_text(shared->eos()));
    out.plan = model->memory_plan();
    out.tokenizer = shared;
    out.engine = std::make_unique<Engine>(model_backend(std::move(model)), tokenizer_codec(shared));
    return out;
}

}  // namespace berth
