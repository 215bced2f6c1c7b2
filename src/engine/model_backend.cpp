// The engine's Backend over a loaded berth::Model.
#include "engine/engine.h"

namespace berth {

namespace {

class ModelBackend final : public Backend {
  public:
    explicit ModelBackend(std::unique_ptr<Model> model) : model_(std::move(model)) {}
    int n_vocab() const override { return model_->n_vocab(); }
    int n_ctx() const override { return model_->n_ctx(); }
    int n_parallel() const override { return model_->memory_plan().n_parallel; }
    int n_batch() const override { return model_->memory_plan().n_batch; }
    Result<int> create_sequence() override { return model_->create_sequence(); }
    void free_sequence(int seq) override { model_->free_sequence(seq); }
    bool can_truncate() const override { return true; }
    void truncate_sequence(int seq, int64_t n) override { model_->truncate_sequence(seq, n); }
    Result<const float*> forward(const BatchToken* tokens, int n_tokens) override {
        return model_->forward(tokens, n_tokens);
    }
    int64_t weights_resident_bytes() const override {
        // mincore only reads page-table state; GgufFile exposes its mapping through a non-const accessor.
        MappedFile* m = const_cast<GgufFile&>(model_->gguf()).mapping();
        return m ? int64_t(m->resident_bytes()) : 0;
    }
    int64_t kv_pages_total() const override { return model_->kv_pool().n_pages(); }
    int64_t kv_pages_free() const override { return model_->kv_pool().n_free(); }
    int64_t kv_pages_of(int seq) const override {
        const int64_t page = model_->kv_pool().shape().page_positions;
        return (model_->sequence_length(seq) + page - 1) / page;
    }
    int cpu_threads() const override { return model_->thread_pool().n_threads(); }
    FileState weights_file_state() const override {
        const MappedFile* m = const_cast<GgufFile&>(model_->gguf()).mapping();
        return m ? m->file_state() : FileState::intact;
    }

  private:
    std::unique_ptr<Model> model_;
};

}  // namespace

std::unique_ptr<Backend> model_backend(std::unique_ptr<Model> model) {
    return std::make_unique<ModelBackend>(std::move(model));
}

}  // namespace berth
