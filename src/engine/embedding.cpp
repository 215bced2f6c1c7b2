// Embedding models (bert) behind the engine: tokenizer + EmbeddingModel, one input at a time.
#include <algorithm>

#include "engine/engine.h"
#include "engine/text_assets.h"
#include "tokenizer/tokenizer.h"

namespace berth {

EmbeddingEngine::EmbeddingEngine(std::unique_ptr<EmbeddingModel> model, std::shared_ptr<const Tokenizer> tokenizer,
                                 EngineLimits limits)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), limits_(limits) {}

EmbeddingEngine::~EmbeddingEngine() = default;

int EmbeddingEngine::n_embd() const { return model_->n_embd(); }
int EmbeddingEngine::n_ctx() const { return model_->n_ctx(); }

int64_t EmbeddingEngine::weights_resident_bytes() const {
    MappedFile* m = const_cast<GgufFile&>(model_->gguf()).mapping();  // mincore only reads state
    return m ? int64_t(m->resident_bytes()) : 0;
}

FileState EmbeddingEngine::weights_file_state() const {
    const MappedFile* m = const_cast<GgufFile&>(model_->gguf()).mapping();
    return m ? m->file_state() : FileState::intact;
}

Result<std::vector<float>> EmbeddingEngine::embed(std::string_view text, bool truncate, int* n_tokens) {
    std::vector<int32_t> tokens = tokenizer_->encode(text, /*add_special=*/true, /*parse_special=*/false);
    if (tokens.empty()) return invalid_argument("the input is empty");
    int n_ctx = model_->n_ctx();
    if (int(tokens.size()) > n_ctx) {
        if (!truncate) {
            return invalid_argument("the input length exceeds the context length (%zu tokens, context %d)",
                                    tokens.size(), n_ctx);
        }
        // Keep the final special token (e.g. [SEP]) when the vocabulary adds one.
        int32_t last = tokens.back();
        tokens.resize(size_t(n_ctx));
        if (tokenizer_->add_eos() || tokenizer_->add_sep()) tokens.back() = last;
    }
    std::vector<float> out(size_t(model_->n_embd()));
    {
        std::unique_lock<std::timed_mutex> lock(mu_, std::defer_lock);
        if (limits_.wait_timeout_ns > 0) {
            if (!lock.try_lock_for(std::chrono::nanoseconds(limits_.wait_timeout_ns))) {
                return Status(StatusCode::timeout,
                              string_printf("timed out after %.3g s waiting for the embedding "
                                            "model, busy with an earlier input (BERTH_QUEUE_TIMEOUT)",
                                            double(limits_.wait_timeout_ns) / 1e9));
            }
        } else {
            lock.lock();
        }
        RETURN_IF_ERROR(model_->embed(tokens.data(), int(tokens.size()), out.data()));
    }
    if (weights_file_state() == FileState::changed)
        return io_error(
            "the model file was changed or truncated on disk while it was in use; the answer was "
            "discarded (the model is loaded again by the next request)");
    if (n_tokens) *n_tokens = int(tokens.size());
    return out;
}

Result<bool> is_embedding_model(const std::string& path) {
    ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> g, GgufFile::open(path));
    return g->get_string("general.architecture").value_or("") == "bert";
}

namespace {

// The plan of an opened embedding model file; `assets` are its text assets (built from the same metadata).
Result<MemoryPlan> embedding_plan(const GgufFile& g, const TextAssets& assets) {
    ASSIGN_OR_RETURN(int64_t scratch, EmbeddingModel::plan_scratch_bytes(g, 0));
    MemoryPlan p;
    p.weights_mapped = int64_t(g.size());
    p.scratch = scratch;
    p.cache = assets.bytes;
    return p;
}

}  // namespace

Result<MemoryPlan> plan_embedding(const std::string& path) {
    ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> g, GgufFile::open(path));
    ASSIGN_OR_RETURN(TextAssets assets, load_text_assets(*g));
    return embedding_plan(*g, assets);
}

Result<LoadedEmbedding> load_embedding(const std::string& path, Ledger* ledger, const std::string& ledger_name,
                                       EngineLimits limits) {
    ASSIGN_OR_RETURN(std::unique_ptr<EmbeddingModel> model, EmbeddingModel::load(path, 0, ledger, ledger_name));
    ASSIGN_OR_RETURN(TextAssets assets, load_text_assets(model->gguf()));
    LoadedEmbedding out;
    ASSIGN_OR_RETURN(out.plan, embedding_plan(model->gguf(), assets));
    out.plan.n_ctx = model->n_ctx();
    if (ledger) ledger->set(ledger_name, MemoryKind::cache, assets.bytes);  // erased with the model's row
    out.engine = std::make_unique<EmbeddingEngine>(
        std::move(model), std::shared_ptr<const Tokenizer>(std::move(assets.tokenizer)), limits);
    return out;
}

}  // namespace berth
