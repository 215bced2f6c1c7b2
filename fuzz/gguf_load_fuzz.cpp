// Loading a GGUF file the way the server does: the scheduler's loader plans the model (the bytes it would
// reserve), and when the plan fits a small budget it loads it (weights mapped, KV pool, scratch, tokenizer)
// and runs a short generation or an embedding. Inputs are usually the seed models with bytes flipped, counts
// and offsets changed, or cut short.
// Properties: no crash, no std::bad_alloc escaping the loader, the plan equals what the ledger shows after
// loading, and the ledger is empty again once the model is gone.
#include "fuzz_util.h"
#include "sched/sched.h"

using namespace berth;

namespace {
// What the fuzzer may reserve per input besides the mapped file (the server compares with BERTH_MAX_MEMORY).
constexpr int64_t kBudget = 64 << 20;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    set_log_level(LogLevel::error);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::MemFile file(data, size);
    Ledger ledger;
    std::unique_ptr<ModelLoader> loader = make_engine_loader(&ledger);
    ModelFile ref{"fuzz:latest", file.path()};
    LoadOptions lo;
    lo.n_ctx = 64;
    lo.n_parallel = 1;
    Result<int64_t> need = loader->plan_bytes(ref, lo);
    if (!need.is_ok()) return 0;
    if (*need < int64_t(size)) fuzz::fail("the plan is smaller than the mapped file");
    if (*need - int64_t(size) > kBudget) return 0;  // the scheduler would answer 503 with the numbers
    {
        Result<LoadedModel> m = loader->load(ref, lo);
        if (!m.is_ok()) {
            if (ledger.total() != 0) fuzz::fail("a failed load left bytes in the ledger");
            return 0;
        }
        if (ledger.total() != *need) fuzz::fail("the ledger differs from the plan after loading");
        if (m->engine) {
            Engine& e = *m->engine;
            Result<std::vector<int32_t>> prompt = e.codec().encode("Once upon", true, false);
            if (prompt.is_ok() && !prompt->empty() && int(prompt->size()) < e.n_ctx()) {
                GenerateRequest req;
                req.prompt = *prompt;
                req.num_predict = 3;
                req.sampling.seed = 1;
                Result<GenerateResult> r = e.generate(req, [](std::string_view) { return true; });
                if (r.is_ok() && r->eval_count > 3) fuzz::fail("generated more than num_predict tokens");
            }
        } else if (m->embedder) {
            int n = 0;
            Result<std::vector<float>> v = m->embedder->embed("hello world", true, &n);
            if (v.is_ok() && int(v->size()) != m->embedder->n_embd()) fuzz::fail("embedding of the wrong size");
        }
    }
    if (ledger.total() != 0) fuzz::fail("the ledger is not empty after unloading");
    return 0;
}
