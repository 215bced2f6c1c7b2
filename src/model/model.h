// model: hyperparameters from GGUF metadata, a memory plan computed before loading, binding weights to the
// mapping, sequences with KV page tables, and forward(batch) → logits. One generic decoder with small
// per-architecture parts (llama, qwen2, qwen3, phi3, gemma2, gemma3, llama MoE).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "base/base.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kv/kv.h"
#include "memory/memory.h"

namespace berth {

// Architectures forward() implements, as GGUF names them ("llama" also covers llama MoE files).
const std::vector<std::string>& supported_architectures();

enum class RopeStyle { norm = 0, neox = 1 };  // pairs (2i, 2i+1) vs (i, i + n_rot/2)

struct HParams {
    std::string arch;  // general.architecture
    int n_vocab = 0;
    int n_ctx_train = 0;
    int n_embd = 0;
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;  // attention.key_length, else n_embd / n_head
    int n_ff = 0;      // feed_forward_length (per expert for MoE)
    int n_expert = 0;  // 0 = dense
    int n_expert_used = 0;
    float rms_eps = 1e-5f;
    int n_rot = 0;                       // rope.dimension_count (≤ head_dim)
    float rope_base = 10000.0f;          // rope.freq_base
    float rope_base_local = 10000.0f;    // gemma3 sliding-window layers
    float rope_freq_scale = 1.0f;        // 1 / rope.scaling.factor for linear scaling
    float rope_freq_scale_local = 1.0f;  // sliding-window layers (gemma3 scales only its global layers)
    RopeStyle rope_style = RopeStyle::norm;
    int sliding_window = 0;      // 0 = none
    int swa_pattern = 0;         // layer il uses the window when il % swa_pattern < swa_pattern - 1
    float attn_softcap = 0.0f;   // 0 = off
    float final_softcap = 0.0f;  // 0 = off
    float attn_scale = 0.0f;     // scale of q·k (1/sqrt(head_dim) unless the architecture says otherwise)
    bool embd_scale = false;     // gemma: multiply embeddings by sqrt(n_embd)
    bool tied_output = false;    // no output.weight: token_embd is the classifier
    // Whether layer il attends within the sliding window only.
    bool layer_is_swa(int il) const {
        return sliding_window > 0 && swa_pattern > 0 && (il % swa_pattern) < swa_pattern - 1;
    }
};

// Reads and validates the hyperparameters. Unknown architectures are `unsupported` with the list of
// supported ones; missing or inconsistent metadata is `corrupt_data` naming the key.
Result<HParams> read_hparams(const GgufFile& gguf);

struct ModelOptions {
    int n_ctx = 0;               // positions per sequence; 0 = min(n_ctx_train, 4096)
    int n_parallel = 1;          // sequences that can be live at once
    int n_batch = 512;           // most tokens in one forward() (clamped to n_ctx * n_parallel)
    int n_logits = 0;            // most rows that may ask for logits in one forward(); 0 = n_parallel
    DType kv_type = DType::F16;  // F16, F32, Q8_0, Q4_0
    int n_threads = 0;           // 0 = physical cores
    bool prefetch = true;        // MADV_WILLNEED on the weights at load
    bool mlock = false;          // lock the weights in memory (also when BERTH_MLOCK=1); failure only warns
    // Placement on a device (backend.h); nullptr: everything on the CPU. The first layers go to the device, the
    // rest stays on the CPU; with every layer there, the output head (final norm and classifier) too.
    Device* device = nullptr;
    // Layers on the device, as Ollama's num_gpu: -1 as many as fit in device_budget, 0 none, N the first N;
    // n_layer + 1 or more: every layer and the output head.
    int num_gpu = -1;
    int64_t device_budget = 0;  // bytes the device part may take when num_gpu is -1; 0: the device's free memory
};

// What loading will reserve, computed without loading. Loading reserves exactly these bytes.
struct MemoryPlan {
    // The file mapping the CPU reads (file-backed): the whole file, less the tensors copied to a device (their
    // mapped pages are released after the upload and never read again).
    int64_t weights_mapped = 0;
    // The CPU's Q8_0/Q4_0 matrices repacked at load for the avx512 kernels (anonymous, page-rounded); their file
    // bytes are left out of weights_mapped (their pages are released after the repack). BERTH_REPACK=0: none.
    int64_t weights_repacked = 0;
    int64_t kv = 0;       // the KV page pool of the layers on the CPU (anonymous)
    int64_t scratch = 0;  // activations, logits, attention temporaries, matmul wdata (anonymous)
    int64_t cache = 0;    // heap: tokenizer tables, chat template, samplers (anonymous; the engine fills it in)
    int64_t kv_pages = 0;
    int n_ctx = 0, n_parallel = 0, n_batch = 0, n_logits = 0;
    DType kv_type = DType::F16;
    // Placement: the first n_gpu_layers layers on device `device` (n_layer + 1: all of them and the output head),
    // one allocation per kind there, each rounded to the device's allocation granularity.
    int n_layer = 0;
    int device = -1;  // -1: everything on the CPU
    int n_gpu_layers = 0;
    int64_t device_weights = 0, device_kv = 0, device_scratch = 0;
    int64_t anonymous() const { return weights_repacked + kv + scratch + cache; }
    int64_t total() const { return weights_mapped + weights_repacked + kv + scratch + cache; }  // host bytes
    int64_t device_total() const { return device_weights + device_kv + device_scratch; }
};

// Computes the plan for an opened (not loaded) file; errors as read_hparams plus bad options.
Result<MemoryPlan> plan(const GgufFile& gguf, const ModelOptions& options);
Result<MemoryPlan> plan(const std::string& path, const ModelOptions& options);

// One token of a batch: which sequence, at which position, and whether its logits are wanted.
struct BatchToken {
    int32_t token = 0;
    int32_t seq = 0;
    int32_t pos = 0;  // must be ≤ the sequence's current length (appending or overwriting its tail)
    bool logits = false;
};

class Model {
  public:
    ~Model();
    // Opens, plans and loads: maps the weights, reserves the KV pool and scratch, starts the thread pool.
    // When `ledger` is given, the plan's bytes are entered under `ledger_name` (weights_mapped, kv, scratch)
    // and erased when the model is destroyed.
    static Result<std::unique_ptr<Model>> load(const std::string& path, const ModelOptions& options,
                                               Ledger* ledger = nullptr, const std::string& ledger_name = "");

    const HParams& hparams() const { return hp_; }
    const MemoryPlan& memory_plan() const { return plan_; }
    const GgufFile& gguf() const { return *gguf_; }
    int n_vocab() const { return hp_.n_vocab; }
    int n_ctx() const { return plan_.n_ctx; }
    ThreadPool& thread_pool() { return *pool_; }
    const KvPool& kv_pool() const { return kv_; }

    // Sequences: ids in [0, n_parallel). resource_exhausted when all slots are taken.
    Result<int> create_sequence();
    void free_sequence(int seq);                 // releases its KV pages; the id can be reused
    int64_t sequence_length(int seq) const;      // positions held in the KV cache
    void truncate_sequence(int seq, int64_t n);  // keeps positions [0, n)
    // Prefix sharing: makes the empty sequence `dst` start with the first n positions of `src` without
    // copying (whole KV pages are shared by refcount). Returns the positions shared, a multiple of the page
    // size ≤ n; the caller feeds the rest. Both sequences may then append independently.
    int64_t share_prefix(int dst, int src, int64_t n);

    // Runs the tokens through the model: writes their K/V into the sequences' caches and returns the logits
    // of the rows with `logits` set, in batch order: (n_rows_with_logits, n_vocab) floats, valid until the
    // next call. Errors (bad token, position, sequence, batch too large, KV exhausted) leave the caches of
    // the batch's sequences unchanged in length. No heap allocation after the first call. Not thread-safe:
    // one caller at a time (the engine's step loop); the thread pool parallelizes inside.
    Result<const float*> forward(const BatchToken* tokens, int n_tokens);

    // Bytes of weights one decode step reads (every matrix once, one embedding row, the used share of the
    // experts); with the KV bytes this is what bounds decode speed by memory bandwidth.
    int64_t decode_weight_bytes() const;
    // Bytes of K and V one layer-complete step reads per cached position.
    int64_t kv_bytes_per_position() const { return 2 * int64_t(hp_.n_layer) * kv_position_bytes(kv_.shape()); }

    // Memory actually reserved (equals the plan, a test checks it).
    int64_t reserved_kv_bytes() const { return kv_.bytes(); }
    int64_t reserved_scratch_bytes() const { return int64_t(scratch_arena_.size()); }
    // Bytes reserved on the device, by kind (0 when nothing is placed there).
    int64_t reserved_device_bytes(DeviceMemoryKind kind) const;

    struct Impl;  // architecture binding and buffers (model_internal.h)

  private:
    Model() = default;
    LedgerRow ledger_row_;  // first: destroyed after every member below
    HParams hp_;
    MemoryPlan plan_;
    std::unique_ptr<GgufFile> gguf_;
    std::unique_ptr<ThreadPool> pool_;
    KvPool kv_;
    Arena scratch_arena_;
    Arena repacked_arena_;  // weights_repacked; the views in impl_ point into it
    std::unique_ptr<Impl> impl_;
};

// ---- synthetic models (berth debug make-model, tests) -----------------------------------------------------
struct SyntheticSpec {
    std::string arch = "llama";  // llama, qwen2, qwen3, phi3, gemma2, gemma3, llama-moe
    int n_embd = 64, n_ff = 128, n_layer = 2, n_head = 4, n_head_kv = 2, n_vocab = 512;
    std::string type = "f32";  // f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k_m q4_k_m q5_k_m q6_k
    uint64_t seed = 1;
    int n_ctx = 2048;
    int n_expert = 4, n_expert_used = 2;  // llama-moe
    int n_threads = 0;                    // quantization threads; 0 = physical cores
};
const std::vector<std::string>& synthetic_architectures();
const std::vector<std::string>& synthetic_types();
// Writes a GGUF with random weights (deterministic in the seed) and a small SentencePiece-style vocab
// (<unk>, <s>, </s>, 256 byte tokens, then pieces), loadable by any GGUF engine.
Status write_synthetic_model(const SyntheticSpec& spec, const std::string& path);

}  // namespace berth

namespace berth {

// ---- encoder-only embedding models (bert) --------------------------------------------------------------
// Absolute positions, token types, post-LayerNorm blocks with biases, GELU, non-causal attention, mean
// pooling. Weights stay in the file mapping; activations live in one scratch arena sized at load for n_ctx
// tokens, so embedding allocates nothing per call.
class EmbeddingModel {
  public:
    ~EmbeddingModel();
    // Loads a `bert` GGUF. `n_threads` 0 = physical cores. Ledger entries as for Model::load.
    static Result<std::unique_ptr<EmbeddingModel>> load(const std::string& path, int n_threads = 0,
                                                        Ledger* ledger = nullptr, const std::string& ledger_name = "");
    // Bytes load() will reserve besides the mapping (its scratch arena), computed from the file alone.
    static Result<int64_t> plan_scratch_bytes(const GgufFile& gguf, int n_threads);
    int n_embd() const { return n_embd_; }
    int n_ctx() const { return n_ctx_; }
    const GgufFile& gguf() const { return *gguf_; }
    // tokens (1..n_ctx, including [CLS] and [SEP]) → the mean-pooled embedding (n_embd floats, not normalized).
    // Not thread-safe: one call at a time per model.
    Status embed(const int32_t* tokens, int n_tokens, float* out);

    struct Weights;

  private:
    EmbeddingModel() = default;
    LedgerRow ledger_row_;  // first: destroyed after every member below
    int n_embd_ = 0, n_ctx_ = 0, n_head_ = 0, n_ff_ = 0, n_layer_ = 0, n_vocab_ = 0;
    float eps_ = 1e-12f;
    std::unique_ptr<GgufFile> gguf_;
    std::unique_ptr<ThreadPool> pool_;
    std::unique_ptr<Weights> w_;
    Arena scratch_;
};

}  // namespace berth
