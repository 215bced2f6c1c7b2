// Placement on a device: which tensors go there for n layers, what that reserves (the plan), choosing the
// number of layers for a budget (Ollama's num_gpu), and loading the device part. The plan and the load use the
// same functions, so the device ledger rows equal what the device allocates.
#include <algorithm>

#include "model/device_part.h"

namespace berth {
namespace {

constexpr int64_t kTensorAlign = 256;  // device tensors start at 256-byte offsets (coalesced, vector loads)

int64_t vec_bytes(int64_t n) { return n * int64_t(sizeof(float)); }

}  // namespace

void device_tensor_slots(const HParams& hp, int n_dev_layers, bool output, std::vector<LayerWeights>& layers,
                         DeviceHead& head, const float** rope_freqs, std::vector<DeviceTensorSlot>& slots) {
    const int64_t E = hp.n_embd, H = hp.head_dim;
    const int64_t q_dim = int64_t(hp.n_head) * H, kv_dim = int64_t(hp.n_head_kv) * H;
    auto matrix = [&](TensorView& t, bool released) {
        if (t.data) slots.push_back({t.data, t.n_bytes(), released, &t, nullptr});
    };
    auto vector = [&](const float*& v, int64_t n) {
        if (v) slots.push_back({v, vec_bytes(n), true, nullptr, &v});
    };
    slots.clear();
    for (int il = 0; il < n_dev_layers; ++il) {
        LayerWeights& L = layers[size_t(il)];
        vector(L.attn_norm, E);
        for (TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wqkv, &L.wo, &L.w_gate, &L.w_up, &L.w_down, &L.gate_inp,
                              &L.gate_exps, &L.up_exps, &L.down_exps})
            matrix(*t, true);
        vector(L.bq, q_dim);
        vector(L.bk, kv_dim);
        vector(L.bv, kv_dim);
        vector(L.q_norm, H);
        vector(L.k_norm, H);
        vector(L.post_attn_norm, E);
        vector(L.ffn_norm, E);
        vector(L.post_ffw_norm, E);
    }
    if (output) {
        // A tied classifier is token_embd, which the CPU still reads for the embedding lookup.
        matrix(head.output, !hp.tied_output);
        vector(head.output_norm, E);
    }
    // rope_freqs stays readable on the host too (the CPU layers use it): tiny, never released.
    if (n_dev_layers > 0 && *rope_freqs) {
        slots.push_back({*rope_freqs, vec_bytes(hp.n_rot / 2), false, nullptr, rope_freqs});
    }
}

DevicePlacement plan_placement(const Device& dev, const HParams& hp, const Weights& w, const KvShape& kv,
                               int64_t kv_pages, const ScratchDims& dims, int n_parallel, int n_gpu_layers) {
    DevicePlacement p;
    p.n_gpu_layers = std::clamp(n_gpu_layers, 0, hp.n_layer + 1);
    p.n_dev_layers = std::min(p.n_gpu_layers, hp.n_layer);
    p.output = p.n_gpu_layers > hp.n_layer;
    if (p.n_gpu_layers == 0) return p;
    const size_t gran = dev.allocation_granularity();

    // Weights: every placed tensor at a 256-byte offset.
    std::vector<LayerWeights> layers(w.layers.begin(), w.layers.begin() + p.n_dev_layers);
    DeviceHead head{w.output, w.output_norm};
    const float* rope_freqs = w.rope_freqs;
    std::vector<DeviceTensorSlot> slots;
    device_tensor_slots(hp, p.n_dev_layers, p.output, layers, head, &rope_freqs, slots);
    int64_t off = 0;
    for (const DeviceTensorSlot& s : slots) {
        off = int64_t(round_up(size_t(off), kTensorAlign)) + s.bytes;
        if (s.released) p.released_file_bytes += s.bytes;
    }
    p.weights = int64_t(round_up(size_t(std::max<int64_t>(off, 1)), gran));

    // KV: the host pool's pages, holding the device layers only.
    if (p.n_dev_layers > 0) {
        KvShape dk = kv;
        dk.n_layer = p.n_dev_layers;
        p.kv = int64_t(round_up(size_t(kv_page_bytes(dk) * kv_pages), gran));
    }

    // Scratch: the step's buffers, the largest matmul scratch of any placed matrix, attention temporaries.
    DeviceDims& d = p.dims;
    d.n_batch = dims.n_batch;
    d.n_logits = dims.n_logits;
    d.n_parallel = n_parallel;
    d.n_ctx = dims.n_ctx;
    d.max_pages = int((dims.n_ctx + kv.page_positions - 1) / kv.page_positions);
    d.output = p.output;
    for (const DeviceTensorSlot& s : slots) {
        if (!s.view) continue;
        const TensorView& t = *s.view;
        const int64_t n_tokens = s.view == &head.output ? dims.n_logits : dims.n_batch;
        d.matmul_scratch =
            std::max(d.matmul_scratch, dev.matmul_scratch_bytes(t.type, t.ne[0], t.ne[1], n_tokens, dims.n_threads));
    }
    if (p.n_dev_layers > 0)
        d.attention_scratch =
            dev.attention_scratch_bytes(hp.n_head, hp.n_head_kv, hp.head_dim, dims.n_ctx, dims.n_threads);
    CountingAlloc c;
    DeviceBuffers b;
    carve_device_buffers(c, hp, w.n_ff_exp, d, &b);
    p.scratch = int64_t(round_up(c.used, gran));
    return p;
}

DevicePlacement choose_placement(const Device& dev, const HParams& hp, const Weights& w, const KvShape& kv,
                                 int64_t kv_pages, const ScratchDims& dims, int n_parallel, int num_gpu,
                                 int64_t budget) {
    if (num_gpu >= 0) return plan_placement(dev, hp, w, kv, kv_pages, dims, n_parallel, num_gpu);
    if (budget <= 0) budget = dev.memory_info().free;
    // The device part grows with every layer: the largest count that fits (binary search over 0..n_layer + 1).
    int lo = 0, hi = hp.n_layer + 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (plan_placement(dev, hp, w, kv, kv_pages, dims, n_parallel, mid).total() <= budget)
            lo = mid;
        else
            hi = mid - 1;
    }
    return plan_placement(dev, hp, w, kv, kv_pages, dims, n_parallel, lo);
}

Result<std::unique_ptr<DevicePart>> load_device_part(Device& dev, ThreadPool& pool, const GgufFile& gguf,
                                                     const HParams& hp, const Weights& w, const KvShape& kv,
                                                     int64_t kv_pages, const ScratchDims& dims, int n_parallel,
                                                     const DevicePlacement& placement) {
    CHECK(placement.n_gpu_layers > 0);
    auto part = std::make_unique<DevicePart>();
    DevicePart& d = *part;
    d.device = &dev;
    d.placement = placement;
    ASSIGN_OR_RETURN(d.stream, dev.open_stream(&pool));
    ASSIGN_OR_RETURN(d.weights, dev.allocate(size_t(placement.weights), "weights"));
    if (placement.kv > 0) { ASSIGN_OR_RETURN(d.kv, dev.allocate(size_t(placement.kv), "KV cache")); }
    ASSIGN_OR_RETURN(d.scratch, dev.allocate(size_t(placement.scratch), "scratch"));
    CHECK(int64_t(d.weights.size()) == placement.weights && int64_t(d.scratch.size()) == placement.scratch &&
          int64_t(d.kv.size()) == placement.kv);

    // Upload every placed tensor, then point the views at the device copies.
    d.layers.assign(w.layers.begin(), w.layers.begin() + placement.n_dev_layers);
    d.head = DeviceHead{w.output, w.output_norm};
    d.rope_freqs = w.rope_freqs;
    std::vector<DeviceTensorSlot> slots;
    device_tensor_slots(hp, placement.n_dev_layers, placement.output, d.layers, d.head, &d.rope_freqs, slots);
    int64_t off = 0;
    for (const DeviceTensorSlot& s : slots) {
        off = int64_t(round_up(size_t(off), kTensorAlign));
        uint8_t* dst = d.weights.data() + off;
        d.stream->upload(dst, s.host, size_t(s.bytes));
        if (s.view) s.view->data = dst;
        if (s.vec) *s.vec = reinterpret_cast<const float*>(dst);
        off += s.bytes;
    }
    CHECK(off <= placement.weights);
    RETURN_IF_ERROR(d.stream->synchronize());
    // The CPU never reads the released tensors again: their mapped pages go (the plan left them out).
    if (MappedFile* m = const_cast<GgufFile&>(gguf).mapping())
        for (const DeviceTensorSlot& s : slots)
            if (s.released) m->release_range(s.host, size_t(s.bytes));

    KvShape dk = kv;
    dk.n_layer = std::max(placement.n_dev_layers, 1);
    d.kv_layout.type = kv.type;
    d.kv_layout.page_positions = kv.page_positions;
    d.kv_layout.n_head_kv = kv.n_head_kv;
    d.kv_layout.head_dim = kv.head_dim;
    d.kv_layout.base = d.kv.data();
    d.kv_layout.page_bytes = placement.n_dev_layers > 0 ? kv_page_bytes(dk) : 0;
    d.kv_layout.tile_bytes = d.kv_layout.page_bytes / (2 * dk.n_layer);
    d.kv_layout.max_pages = placement.dims.max_pages;
    CHECK(d.kv_layout.page_bytes * kv_pages <= int64_t(d.kv.size()));
    d.scratch_alloc = BumpAllocator(d.scratch.data(), d.scratch.size());

    const size_t B = size_t(dims.n_batch), nu = size_t(std::max(hp.n_expert_used, 1));
    d.pos.assign(B, 0);
    d.seq.assign(B, 0);
    d.tables.assign(size_t(n_parallel) * size_t(placement.dims.max_pages), 0);
    d.out_rows.assign(size_t(dims.n_logits), 0);
    d.sel_id.assign(B * nu, 0);
    d.exp_rows.assign(B * nu, 0);
    d.sel_w.assign(B * nu, 0.0f);
    d.exp_w.assign(B * nu, 0.0f);
    d.expert_begin.assign(size_t(hp.n_expert) + 1, 0);
    return part;
}

}  // namespace berth
