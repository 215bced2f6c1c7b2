// Internal to the model module: the part of a model placed on a device (placement.cpp plans and loads it,
// forward_device.cpp runs it). The first n_dev_layers layers live there with their K/V; with every layer there,
// the output head too. One device allocation per kind: weights, KV, scratch.
#pragma once

#include <memory>
#include <vector>

#include "model/model_internal.h"

namespace berth {

// Sizes the device scratch layout depends on.
struct DeviceDims {
    int n_batch = 0, n_logits = 0, n_parallel = 0, max_pages = 0, n_ctx = 0;
    bool output = false;  // the output head is on the device: its rows and logits live there too
    size_t matmul_scratch = 0, attention_scratch = 0;
};

// Per-step device buffers, carved from the device scratch allocation in the same order every step.
struct DeviceBuffers : LayerBuffers {
    float* out_x;       // (n_logits, n_embd) when the output head is here
    int32_t* out_rows;  // (n_logits)
    float* logits;      // (n_logits, n_vocab)
    int32_t* pos;       // (n_batch) positions of the step's tokens
    int32_t* seq;       // (n_batch) their sequence slots
    int32_t* tables;    // (n_parallel, max_pages) page tables
    void* matmul_scratch;
    void* attention_scratch;
};

template <typename Alloc>
void carve_device_buffers(Alloc& a, const HParams& hp, int n_ff_exp, const DeviceDims& d, DeviceBuffers* b) {
    const size_t B = size_t(d.n_batch), E = size_t(hp.n_embd);
    const size_t L = d.output ? size_t(d.n_logits) : 0;
    carve_layer_buffers(a, hp, n_ff_exp, B, hp.n_expert_used ? B * size_t(hp.n_expert_used) : 1, b);
    b->out_x = a.template alloc_array<float>(L ? L * E : 1);
    b->out_rows = a.template alloc_array<int32_t>(L ? L : 1);
    b->logits = a.template alloc_array<float>(L ? L * size_t(hp.n_vocab) : 1);
    b->pos = a.template alloc_array<int32_t>(B);
    b->seq = a.template alloc_array<int32_t>(B);
    b->tables = a.template alloc_array<int32_t>(size_t(d.n_parallel) * size_t(d.max_pages));
    b->matmul_scratch = a.alloc(d.matmul_scratch ? d.matmul_scratch : 1, 256);
    b->attention_scratch = a.alloc(d.attention_scratch ? d.attention_scratch : 1, 256);
}

// The output head on the device.
struct DeviceHead {
    TensorView output;                   // the classifier (a copy of token_embd when tied)
    const float* output_norm = nullptr;  // (n_embd)
};

// A tensor placed on the device: where it is read from, its size, and the pointer that becomes its device
// address.
struct DeviceTensorSlot {
    const void* host = nullptr;
    int64_t bytes = 0;
    bool released = false;        // the CPU stops reading it: its mapped pages are dropped after the upload
    TensorView* view = nullptr;   // matrices: view->data becomes the device address
    const float** vec = nullptr;  // vectors: *vec becomes the device address
};

// What placing the first n_gpu_layers on a device takes (sizes already rounded to the device's granularity).
struct DevicePlacement {
    int n_gpu_layers = 0;  // as MemoryPlan (n_layer + 1: every layer and the output head)
    int n_dev_layers = 0;  // layers on the device: min(n_gpu_layers, n_layer)
    bool output = false;   // the output head is on the device
    int64_t weights = 0, kv = 0, scratch = 0;
    int64_t released_file_bytes = 0;  // bytes of the file the CPU no longer reads
    DeviceDims dims;
    int64_t total() const { return weights + kv + scratch; }
};

// Lists the tensors that n_dev_layers layers (and the head when `output`) place on the device, pointing into
// `layers` and `head`, which the caller fills with copies of the host weights first; rope_freqs (if any) last.
void device_tensor_slots(const HParams& hp, int n_dev_layers, bool output, std::vector<LayerWeights>& layers,
                         DeviceHead& head, const float** rope_freqs, std::vector<DeviceTensorSlot>& slots);

// The placement of n_gpu_layers (clamped to 0..n_layer + 1) for a resolved model.
DevicePlacement plan_placement(const Device& dev, const HParams& hp, const Weights& w, const KvShape& kv,
                               int64_t kv_pages, const ScratchDims& dims, int n_parallel, int n_gpu_layers);
// num_gpu as ModelOptions says: -1 the most layers whose placement fits `budget` (0: the device's free memory).
DevicePlacement choose_placement(const Device& dev, const HParams& hp, const Weights& w, const KvShape& kv,
                                 int64_t kv_pages, const ScratchDims& dims, int n_parallel, int num_gpu,
                                 int64_t budget);

// A loaded device part.
struct DevicePart {
    Device* device = nullptr;
    std::unique_ptr<DeviceStream> stream;
    DevicePlacement placement;
    // Declared before the views into them; freed at unload (DevicePart is destroyed before the ledger row).
    DeviceBuffer weights, kv, scratch;
    std::vector<LayerWeights> layers;  // (n_dev_layers) views of device memory
    DeviceHead head;
    const float* rope_freqs = nullptr;  // device copy, or nullptr
    DeviceKv kv_layout;                 // page_tables filled per step
    BumpAllocator scratch_alloc;
    // Host staging, sized at load (nothing is allocated per step).
    std::vector<int32_t> pos, seq, tables, out_rows;  // (n_batch), (n_batch), (n_parallel * max_pages), (n_logits)
    std::vector<int32_t> sel_id, exp_rows;            // (n_batch * n_expert_used)
    std::vector<float> sel_w, exp_w;                  // (n_batch * n_expert_used)
    std::vector<int32_t> expert_begin;                // (n_expert + 1) offsets into exp_rows
};

// Reserves and fills the device part of a model (weights uploaded, mapped pages of released tensors dropped).
Result<std::unique_ptr<DevicePart>> load_device_part(Device& dev, ThreadPool& pool, const GgufFile& gguf,
                                                     const HParams& hp, const Weights& w, const KvShape& kv,
                                                     int64_t kv_pages, const ScratchDims& dims, int n_parallel,
                                                     const DevicePlacement& placement);

// Runs the device layers of one step (forward_device.cpp): uploads the step's embeddings (b.x) and batch,
// runs layers [0, n_dev_layers); with the output head on the device it writes the logits of the rows that
// want them into b.logits and returns true; otherwise it leaves the residual stream in b.x for the CPU layers.
// A device error (the stream failed) is internal_error.
Result<bool> forward_device(Model::Impl& im, const HParams& hp, const ArchTraits& tr, const BatchToken* tokens, int n,
                            int n_out, const StepBuffers& b);

}  // namespace berth
