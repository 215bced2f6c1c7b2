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
    Result<const float*> forward(const BatchToken* tokens, int n_tokens) override {
        return model_->forward(tokens, n_tokens);
    }

  private:
    std::unique_ptr<Model> model_;
};

}  // namespace

std::unique_ptr<Backend> model_backend(std::unique_ptr<Model> model) {
    return std::make_unique<ModelBackend>(std::move(model));
}

}  // namespace berth
