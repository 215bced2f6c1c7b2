// Internal to the model module: per-architecture traits, bound weights, and the per-step buffers.
#pragma once

#include <memory>
#include <vector>

#include "model/model.h"

namespace berth {

enum class Activation { silu = 0, gelu = 1 };

// What distinguishes one architecture from another in the generic decoder (archs.cpp).
struct ArchTraits {
    const char* name;
    bool fused_qkv = false;      // phi3: attn_qkv holds Q, K, V rows
    bool qkv_bias = false;       // qwen2: attn_{q,k,v}.bias
    bool qk_norm = false;        // qwen3, gemma3: per-head RMS norms of Q and K before rope
    bool post_norms = false;     // gemma2, gemma3: post_attention_norm and post_ffw_norm
    bool fused_gate_up = false;  // phi3: ffn_up holds gate (first n_ff rows) then up
    Activation act = Activation::silu;
};
const ArchTraits& arch_traits(const std::string& arch);

struct LayerWeights {
    const float* attn_norm = nullptr;  // (n_embd)
    TensorView wq, wk, wv, wqkv, wo;   // wqkv only when fused
    const float* bq = nullptr;         // biases (q_dim), (kv_dim), (kv_dim)
    const float* bk = nullptr;
    const float* bv = nullptr;
    const float* q_norm = nullptr;  // (head_dim)
    const float* k_norm = nullptr;
    const float* post_attn_norm = nullptr;
    const float* ffn_norm = nullptr;
    TensorView w_gate, w_up, w_down;  // w_up is (2 n_ff rows) when fused
    const float* post_ffw_norm = nullptr;
    // Mixture of experts.
    TensorView gate_inp;                       // (n_embd) → (n_expert) router
    TensorView gate_exps, up_exps, down_exps;  // 3-D: (n_embd, n_ff, n_expert) and (n_ff, n_embd, n_expert)
};

struct Weights {
    TensorView token_embd;
    TensorView output;  // token_embd when tied
    const float* output_norm = nullptr;
    const float* rope_freqs = nullptr;  // (n_rot / 2) or nullptr
    std::vector<LayerWeights> layers;
    int n_ff_exp = 0;  // per-expert n_ff
};

// Binds every tensor the architecture needs to views into the file, checking shapes and types.
Result<Weights> bind_weights(const GgufFile& gguf, const HParams& hp);

// Sizes that the scratch layout depends on.
struct ScratchDims {
    int n_batch = 0, n_logits = 0, n_threads = 0, n_ctx = 0;
    size_t wdata_bytes = 0;
};

// Per-step buffers, carved from the scratch arena in the same order every step.
// The activations of the layer blocks for a batch: the CPU step and a device part carve the same set.
struct LayerBuffers {
    float* x;           // (n_batch, n_embd) residual stream
    float* xb;          // (n_batch, n_embd) normed input of a block
    float* xb2;         // (n_batch, n_embd) block output
    float* qkv;         // (n_batch, q_dim + 2 kv_dim)
    float* att;         // (n_batch, q_dim)
    float* hb;          // (n_batch, 2 n_ff) gate | up
    float* hb2;         // (n_batch, n_ff) activation
    float* router;      // (n_batch, n_expert)
    int32_t* sel_id;    // (n_batch, n_expert_used)
    float* sel_w;       // (n_batch, n_expert_used)
    int32_t* exp_rows;  // (expert_rows) token rows of an expert: one expert at a time on the CPU (n_batch),
                        // grouped by expert on a device (n_batch n_expert_used)
    float* exp_w;       // (expert_rows) their routing weights
    float* xe;          // (n_batch, n_embd) gathered rows of one expert
    float* ye;          // (n_batch, n_embd) their expert output
};

// Carves a LayerBuffers for `n_batch` tokens; arrays of a model without experts get one element.
template <typename Alloc>
void carve_layer_buffers(Alloc& a, const HParams& hp, int n_ff_exp, size_t n_batch, size_t expert_rows,
                         LayerBuffers* b) {
    const size_t B = n_batch, E = size_t(hp.n_embd), H = size_t(hp.head_dim);
    const size_t q_dim = size_t(hp.n_head) * H, kv_dim = size_t(hp.n_head_kv) * H;
    const size_t ff = size_t(hp.n_expert > 0 ? n_ff_exp : hp.n_ff);
    const size_t ne = size_t(hp.n_expert), nu = size_t(hp.n_expert_used);
    b->x = a.template alloc_array<float>(B * E);
    b->xb = a.template alloc_array<float>(B * E);
    b->xb2 = a.template alloc_array<float>(B * E);
    b->qkv = a.template alloc_array<float>(B * (q_dim + 2 * kv_dim));
    b->att = a.template alloc_array<float>(B * q_dim);
    b->hb = a.template alloc_array<float>(B * 2 * ff);
    b->hb2 = a.template alloc_array<float>(B * ff);
    b->router = a.template alloc_array<float>(ne ? B * ne : 1);
    b->sel_id = a.template alloc_array<int32_t>(nu ? B * nu : 1);
    b->sel_w = a.template alloc_array<float>(nu ? B * nu : 1);
    b->exp_rows = a.template alloc_array<int32_t>(ne ? expert_rows : 1);
    b->exp_w = a.template alloc_array<float>(ne ? expert_rows : 1);
    b->xe = a.template alloc_array<float>(ne ? B * E : 1);
    b->ye = a.template alloc_array<float>(ne ? B * E : 1);
}

struct StepBuffers : LayerBuffers {
    float* out_x;         // (n_logits, n_embd) final-normed rows that want logits
    int32_t* out_rows;    // (n_logits) their batch indices
    float* logits;        // (n_logits, n_vocab)
    float* scores;        // (n_threads, n_head / n_head_kv, n_ctx)
    float* tmp;           // (n_threads, 2 head_dim)
    int32_t* attn_tiles;  // (n_batch + 1) first token of each attention tile (attention_step.cpp)
    float* attn_work;     // (n_threads, attention_rows_scratch_floats + attention_partial_floats)
    float* attn_parts;    // (2 n_threads, attention_partial_floats) partial states of split decode attention
    void* wdata;          // matmul activation scratch
};

// Carves the buffers with `alloc(bytes)`; the same function sizes the plan (with a counting allocator).
template <typename Alloc>
void carve_buffers(Alloc& a, const HParams& hp, const ScratchDims& d, int n_ff_exp, StepBuffers* b) {
    const size_t B = size_t(d.n_batch), E = size_t(hp.n_embd), H = size_t(hp.head_dim);
    carve_layer_buffers(a, hp, n_ff_exp, B, B, b);
    b->out_x = a.template alloc_array<float>(size_t(d.n_logits) * E);
    b->out_rows = a.template alloc_array<int32_t>(size_t(d.n_logits));
    b->logits = a.template alloc_array<float>(size_t(d.n_logits) * size_t(hp.n_vocab));
    b->scores = a.template alloc_array<float>(size_t(d.n_threads) * size_t(hp.n_head / hp.n_head_kv) * size_t(d.n_ctx));
    b->tmp = a.template alloc_array<float>(size_t(d.n_threads) * 2 * H);
    b->attn_tiles = a.template alloc_array<int32_t>(B + 1);
    const size_t part = attention_partial_floats(int(H));
    b->attn_work = a.template alloc_array<float>(size_t(d.n_threads) * (attention_rows_scratch_floats(int(H)) + part));
    b->attn_parts = a.template alloc_array<float>(2 * size_t(d.n_threads) * part);
    b->wdata = a.alloc(d.wdata_bytes ? d.wdata_bytes : 1, 64);
}

// Key ranges of one decode job are split into at most this many chunks (attention_step.cpp).
constexpr int kMaxAttnChunks = 64;

// Attention of layer tokens' queries (b.qkv) over their sequences' KV (akv with the layer's offsets) into
// b.att; window > 0 limits each token to the last `window` positions (sliding-window layers).
void attend_layer(ThreadPool& pool, const HParams& hp, const Model::Impl& im, const BatchToken* tokens, int n,
                  const AttnKv& akv, int64_t window, const StepBuffers& b, int n_ctx);

struct CountingAlloc {
    size_t used = 0;
    void* alloc(size_t bytes, size_t align = 64) {
        used = round_up(used, align) + bytes;
        return nullptr;
    }
    template <typename T>
    T* alloc_array(size_t n) {
        alloc(n * sizeof(T), 64);
        return nullptr;
    }
};

struct DevicePart;  // device_part.h

struct Model::Impl {
    ArchTraits traits;
    Weights w;
    ScratchDims dims;
    BumpAllocator scratch;
    std::vector<PageTable> tables;    // (n_parallel)
    std::vector<uint8_t> active;      // (n_parallel)
    std::vector<int64_t> new_len;     // (n_parallel) per-step bookkeeping
    std::vector<int64_t> old_len;     // (n_parallel)
    std::vector<int64_t> first_pos;   // (n_parallel) first position the step writes
    std::vector<uint8_t> touched;     // (n_parallel)
    std::unique_ptr<DevicePart> dev;  // the layers placed on a device, or null
};

}  // namespace berth
