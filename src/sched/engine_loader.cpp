// The scheduler's loader over real GGUF files (engine::load_engine).
#include <new>
#include <stdexcept>

#include "backend/backend.h"
#include "sched/sched.h"

namespace berth {

namespace {

// Runs a planning or loading step, turning an allocation failure into a Status: sizes are checked against the
// file and the budget before anything is reserved, but a heap allocation can still fail (the machine is out of
// memory, or a check missed a corrupt size), and an exception must not escape to the request.
template <typename T, typename F>
Result<T> without_exceptions(const ModelFile& ref, const char* step, F&& f) {
    try {
        return f();
    } catch (const std::bad_alloc&) {
        return resource_exhausted("out of memory while %s %s (the file %s may declare impossible sizes)", step,
                                  ref.name.c_str(), ref.path.c_str());
    } catch (const std::length_error& e) {
        return corrupt_data("%s %s: %s: a size in the file is impossible (%s)", step, ref.name.c_str(),
                            ref.path.c_str(), e.what());
    }
}

class EngineLoader final : public ModelLoader {
  public:
    // The devices' own overhead (context, library workspaces) is a row of the ledger of its own, entered once.
    explicit EngineLoader(Ledger* ledger) : ledger_(ledger) {
        if (!ledger_) return;
        for (Device* d : devices()) {
            ledger_->set_device_context(d->index(), d->context_bytes());
            ledger_->set_device_host_context(d->index(), d->host_context_bytes());
            ledger_->set_device_host_backed(d->index(), d->host_backed());
        }
    }
    Result<int64_t> plan_bytes(const ModelFile& ref, const LoadOptions& o) override {
        ASSIGN_OR_RETURN(LoadPlan p, plan(ref, o));
        return p.host;
    }
    // Embedding models (bert) run on the CPU only.
    Result<LoadPlan> plan(const ModelFile& ref, const LoadOptions& o) override {
        return without_exceptions<LoadPlan>(ref, "planning", [&] { return plan_impl(ref, o); });
    }
    Result<LoadedModel> load(const ModelFile& ref, const LoadOptions& o) override {
        return without_exceptions<LoadedModel>(ref, "loading", [&] { return load_impl(ref, o); });
    }

  private:
    Result<LoadPlan> plan_impl(const ModelFile& ref, const LoadOptions& o) {
        ASSIGN_OR_RETURN(bool embedding, is_embedding_model(ref.path));
        LoadPlan out;
        if (embedding) {
            ASSIGN_OR_RETURN(MemoryPlan p, plan_embedding(ref.path));
            out.host = p.total();
            return out;
        }
        ASSIGN_OR_RETURN(MemoryPlan p, plan_engine(ref.path, options(o)));
        out.host = p.total();
        out.device = p.device_total();
        out.n_gpu_layers = p.n_gpu_layers;
        return out;
    }
    Result<LoadedModel> load_impl(const ModelFile& ref, const LoadOptions& o) {
        ASSIGN_OR_RETURN(bool embedding, is_embedding_model(ref.path));
        if (embedding) {
            Result<LoadedEmbedding> le = load_embedding(ref.path, ledger_, ref.name, o.limits);
            if (!le.is_ok()) return le.status().with_context("loading " + ref.name);
            LoadedModel m;
            m.n_ctx = le->plan.n_ctx;
            m.weights_bytes = le->plan.weights_mapped;
            m.scratch_bytes = le->plan.scratch;
            m.cache_bytes = le->plan.cache;
            m.embedder = std::shared_ptr<EmbeddingEngine>(std::move(le->engine));
            return m;
        }
        Result<LoadedEngine> le = load_engine(ref.path, options(o), ledger_, ref.name);
        if (!le.is_ok()) return le.status().with_context("loading " + ref.name);
        LoadedModel m;
        m.n_ctx = le->engine->n_ctx();
        m.weights_bytes = le->plan.weights_mapped + le->plan.weights_repacked;
        m.weights_repacked = le->plan.weights_repacked;
        m.kv_bytes = le->plan.kv;
        m.scratch_bytes = le->plan.scratch;
        m.cache_bytes = le->plan.cache;
        m.n_layer = le->plan.n_layer;
        m.device = le->plan.device;
        m.n_gpu_layers = le->plan.n_gpu_layers;
        m.device_weights = le->plan.device_weights;
        m.device_kv = le->plan.device_kv;
        m.device_scratch = le->plan.device_scratch;
        m.chat_template = std::move(le->chat_template);  // moved: the bytes the ledger counted, not a copy
        m.bos_token = std::move(le->bos_token);
        m.eos_token = std::move(le->eos_token);
        m.extra = std::const_pointer_cast<Tokenizer>(le->tokenizer);
        m.engine = std::shared_ptr<Engine>(std::move(le->engine));
        return m;
    }

    static EngineLoadOptions options(const LoadOptions& o) {
        EngineLoadOptions e;
        e.n_ctx = o.n_ctx;
        e.n_parallel = o.n_parallel;
        e.limits = o.limits;
        e.kv_type = o.kv_type;
        e.device = o.device >= 0 ? berth::device(o.device) : nullptr;
        e.num_gpu = e.device ? o.num_gpu : 0;
        e.device_budget = o.device_budget;
        return e;
    }
    Ledger* ledger_;
};

}  // namespace

std::unique_ptr<ModelLoader> make_engine_loader(Ledger* ledger) { return std::make_unique<EngineLoader>(ledger); }

}  // namespace berth
