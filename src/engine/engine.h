// engine: one loaded model and its sequences. Requests join a worker thread that runs continuous batching:
// every step is one forward() holding one decode token per generating sequence plus prompt chunks of
// sequences still in prefill. Per-token text reaches the caller through a callback on the caller's thread;
// cancellation (callback returns false, or cancel()) is checked every step and frees the sequence's pages.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/base.h"
#include "model/model.h"
#include "sampling/sampling.h"

namespace berth {

// What the engine runs: a real Model (model_backend) or a fake in tests.
class Backend {
  public:
    virtual ~Backend() = default;
    virtual int n_vocab() const = 0;
    virtual int n_ctx() const = 0;       // positions per sequence
    virtual int n_parallel() const = 0;  // sequences live at once
    virtual int n_batch() const = 0;     // most tokens in one forward()
    virtual Result<int> create_sequence() = 0;
    virtual void free_sequence(int seq) = 0;
    // Prefix reuse: a finished sequence keeps its KV so that the next request of its slot that starts with the
    // same tokens skips them (chat turns resend the whole conversation). Backends that can drop a sequence's
    // positions from `n` on say so; the others get every sequence freed as it ends.
    virtual bool can_truncate() const { return false; }
    virtual void truncate_sequence(int /*seq*/, int64_t /*n*/) {}
    // Same contract as Model::forward: logits rows (n_vocab floats) for the tokens with `logits` set.
    virtual Result<const float*> forward(const BatchToken* tokens, int n_tokens) = 0;
    // Bytes of the weight mapping resident in memory now (mincore); 0 when not file-backed.
    virtual int64_t weights_resident_bytes() const { return 0; }
    // Pages of the KV pool, all and free now (0 when the backend has no paged pool). Called on the engine's
    // worker thread only, which owns the pool.
    virtual int64_t kv_pages_total() const { return 0; }
    virtual int64_t kv_pages_free() const { return 0; }
    virtual int64_t kv_pages_of(int /*seq*/) const { return 0; }  // pages sequence `seq` holds
    // The weight file on disk compared with the mapping (MappedFile::file_state); any thread.
    virtual FileState weights_file_state() const { return FileState::intact; }
};

// Text ↔ tokens for one model (the model's tokenizer, or a fake in tests).
class TextCodec {
  public:
    virtual ~TextCodec() = default;
    // add_special: BOS etc. as the model asks; parse_special: "<|im_start|>" in text becomes its token.
    virtual Result<std::vector<int32_t>> encode(std::string_view text, bool add_special, bool parse_special) const = 0;
    // Appends the bytes of `token` (may end inside a UTF-8 sequence). Must not allocate when `out` has room.
    virtual void append_piece(int32_t token, std::string& out) const = 0;
    // End of generation (EOS, EOT, <|im_end|> ...).
    virtual bool is_eog(int32_t token) const = 0;
};

// The real backend over a loaded Model.
std::unique_ptr<Backend> model_backend(std::unique_ptr<Model> model);

struct GenerateRequest {
    std::vector<int32_t> prompt;  // tokens; must be non-empty and shorter than n_ctx
    SamplingParams sampling;
    int num_predict = -1;  // < 0: until the context is full
    std::vector<std::string> stop;
};

struct GenerateResult {
    std::string done_reason;  // "stop" | "length" | "cancel"
    int prompt_eval_count = 0;
    int eval_count = 0;
    int64_t prompt_eval_ns = 0;   // from joining to the first sampled token
    int64_t eval_ns = 0;          // from the first sampled token to the end
    int64_t queue_ns = 0;         // waiting for a free sequence slot before joining
    int prompt_cached = 0;        // prompt tokens whose KV was reused from the slot's previous request
    std::vector<int32_t> output;  // generated tokens (including a final end-of-generation token)
};

// Receives generated text in order, on the caller's thread. Return false to cancel the request.
using TextCallback = std::function<bool(std::string_view text)>;

struct EngineStats {
    int64_t requests = 0, tokens_prompt = 0, tokens_generated = 0, steps = 0, cancelled = 0;
    int active = 0, waiting = 0;
    // The KV pool after the last step: every page, the free ones, and those held by finished sequences kept for
    // prefix reuse (the rest belong to requests in flight).
    int64_t kv_pages = 0, kv_pages_free = 0, kv_pages_kept = 0;
    // Cancellations (part of `cancelled`) by where the request was: waiting for a sequence, evaluating its prompt,
    // generating.
    int64_t cancelled_waiting = 0, cancelled_prefill = 0, cancelled_decoding = 0;
};

// Bounds on requests waiting for a free sequence when all n_parallel sequences are in use.
struct EngineLimits {
    int max_waiting = 512;                         // more waiting → resource_exhausted (503); BERTH_MAX_QUEUE
    int64_t wait_timeout_ns = 300 * 1000000000LL;  // waiting longer → timeout (503); ≤ 0: no limit
};

class Engine {
  public:
    Engine(std::unique_ptr<Backend> backend, std::shared_ptr<const TextCodec> codec, EngineLimits limits = {});
    ~Engine();  // cancels everything in flight and joins the worker
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    const TextCodec& codec() const { return *codec_; }
    int n_ctx() const { return n_ctx_; }
    int n_parallel() const { return n_parallel_; }

    // Runs one request to completion; blocks the caller, calling on_text with each safe-to-emit piece
    // (stop strings removed, UTF-8 sequences kept whole). `cancel` (optional) is polled every step.
    // invalid_argument for an empty prompt or one that does not fit the context; resource_exhausted when
    // max_waiting requests already wait for a sequence; timeout when none frees up within wait_timeout_ns.
    Result<GenerateResult> generate(const GenerateRequest& request, const TextCallback& on_text,
                                    const std::atomic<bool>* cancel = nullptr);

    EngineStats stats() const;
    // Bytes the engine holds on the heap for its model: per-sequence samplers and text buffers, the batch
    // (part of the model's `cache` ledger entry). Read it before the first request: the worker owns the slots.
    int64_t heap_bytes() const;
    // The same figure for an engine over a backend of these sizes, computed without one (for memory plans).
    static int64_t heap_bytes_for(int n_vocab, int n_ctx, int n_parallel, int n_batch);
    // Bytes of the weights resident in memory now: a model the OS paged out is warm in name only.
    int64_t weights_resident_bytes() const { return backend_->weights_resident_bytes(); }
    // Whether the weight file was replaced (harmless: the mapping keeps the old bytes) or changed in place (the
    // mapping may show other bytes or zeros: the model must be loaded again).
    FileState weights_file_state() const { return backend_->weights_file_state(); }

  private:
    struct Job;
    struct Slot;
    void worker_loop();
    Status wait_for_slot(Job& job);  // until admitted; timeout (and out of the queue) after wait_timeout_ns
    bool step();                     // one forward over the active slots; false when idle
    void admit_waiting();
    void finish(Slot& slot, const char* reason);

    std::unique_ptr<Backend> backend_;
    std::shared_ptr<const TextCodec> codec_;
    EngineLimits limits_;
    int n_ctx_ = 0, n_parallel_ = 0, n_batch_ = 0, n_vocab_ = 0;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job*> waiting_;
    std::vector<std::unique_ptr<Slot>> slots_;  // (n_parallel)
    std::vector<BatchToken> batch_;             // (n_batch) reused every step
    std::vector<Slot*> batch_owner_;            // (n_parallel) slot of each logits row
    bool stopping_ = false;
    EngineStats stats_;
    std::thread worker_;
};

}  // namespace berth

namespace berth {

class Tokenizer;

// A TextCodec over a model's tokenizer (shared with whoever else needs it).
std::shared_ptr<const TextCodec> tokenizer_codec(std::shared_ptr<const Tokenizer> tokenizer);

struct EngineLoadOptions {
    int n_ctx = 0;  // 0: min(n_ctx_train, 4096)
    int n_parallel = 1;
    int n_batch = 512;
    int n_threads = 0;           // 0: physical cores
    DType kv_type = DType::F16;  // BERTH_KV_CACHE_TYPE: F16, Q8_0 or Q4_0
    EngineLimits limits;
};

// An Engine over a GGUF file, with what the server needs to know about the model.
struct LoadedEngine {
    std::unique_ptr<Engine> engine;
    std::shared_ptr<const Tokenizer> tokenizer;
    MemoryPlan plan;
    std::string chat_template;         // tokenizer.chat_template ("" when absent)
    std::string bos_token, eos_token;  // token texts for templates
};

// The bytes loading `path` with `options` reserves, without loading.
Result<MemoryPlan> plan_engine(const std::string& path, const EngineLoadOptions& options);
// Loads weights, KV pool, scratch and tokenizer; enters the bytes in `ledger` under `ledger_name`.
Result<LoadedEngine> load_engine(const std::string& path, const EngineLoadOptions& options, Ledger* ledger,
                                 const std::string& ledger_name);

}  // namespace berth

namespace berth {

class EmbeddingModel;

// An encoder-only embedding model (bert) with its tokenizer: text → mean-pooled vector. Calls are
// serialized (the model runs one input at a time and parallelizes inside).
class EmbeddingEngine {
  public:
    // Calls wait for the one running before them at most limits.wait_timeout_ns (then timeout, 503).
    EmbeddingEngine(std::unique_ptr<EmbeddingModel> model, std::shared_ptr<const Tokenizer> tokenizer,
                    EngineLimits limits = {});
    ~EmbeddingEngine();
    int n_embd() const;
    int n_ctx() const;
    // Embeds `text` (special tokens added as the vocabulary asks). Inputs longer than the context are cut
    // when `truncate`, otherwise invalid_argument. `n_tokens` receives the tokens used.
    Result<std::vector<float>> embed(std::string_view text, bool truncate, int* n_tokens);
    int64_t weights_resident_bytes() const;
    FileState weights_file_state() const;  // as Engine::weights_file_state

  private:
    std::unique_ptr<EmbeddingModel> model_;
    std::shared_ptr<const Tokenizer> tokenizer_;
    EngineLimits limits_;
    std::timed_mutex mu_;
};

// True when the GGUF file is an embedding model (general.architecture "bert").
Result<bool> is_embedding_model(const std::string& path);
// Bytes loading the embedding model reserves: the mapped file plus its scratch arena.
Result<MemoryPlan> plan_embedding(const std::string& path);
struct LoadedEmbedding {
    std::unique_ptr<EmbeddingEngine> engine;
    MemoryPlan plan;
};
Result<LoadedEmbedding> load_embedding(const std::string& path, Ledger* ledger, const std::string& ledger_name,
                                       EngineLimits limits = {});

}  // namespace berth
