// Planning, loading and sequences. Loading reserves exactly what plan() computed.
#include <algorithm>
#include <cstdlib>

#include "model/device_part.h"
#include "model/model_internal.h"
#include "model/repack.h"

namespace berth {
namespace {

struct Resolved {
    HParams hp;
    ModelOptions opt;
    KvShape kv;
    ScratchDims dims;
};

size_t max_wdata(const Weights& w, int64_t n_batch, int n_threads) {
    size_t m = 0;
    auto consider = [&](const TensorView& t) {
        if (t.data) m = std::max(m, matmul_scratch_bytes(t.type, t.ne[0], n_batch, n_threads));
    };
    consider(w.output);
    for (const LayerWeights& L : w.layers) {
        for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wqkv, &L.wo, &L.w_gate, &L.w_up, &L.w_down, &L.gate_inp,
                                    &L.gate_exps, &L.up_exps, &L.down_exps})
            consider(*t);
    }
    return m;
}

Result<Resolved> resolve(const GgufFile& g, const ModelOptions& o, Weights* weights_out) {
    Resolved r;
    ASSIGN_OR_RETURN(r.hp, read_hparams(g));
    ASSIGN_OR_RETURN(Weights w, bind_weights(g, r.hp));
    r.opt = o;
    if (r.opt.n_ctx < 0 || r.opt.n_parallel < 0 || r.opt.n_batch < 0 || r.opt.n_logits < 0 || r.opt.n_threads < 0)
        return invalid_argument("model options must not be negative");
    if (r.opt.n_ctx == 0) r.opt.n_ctx = std::min(r.hp.n_ctx_train, 4096);
    if (r.opt.n_parallel == 0) r.opt.n_parallel = 1;
    if (r.opt.n_batch == 0) r.opt.n_batch = 512;
    int64_t max_tokens = int64_t(r.opt.n_ctx) * r.opt.n_parallel;
    r.opt.n_batch = int(std::min<int64_t>(r.opt.n_batch, max_tokens));
    if (r.opt.n_logits == 0) r.opt.n_logits = r.opt.n_parallel;
    r.opt.n_logits = std::min(r.opt.n_logits, r.opt.n_batch);
    if (r.opt.n_threads == 0) r.opt.n_threads = physical_core_count();
    r.kv.n_layer = r.hp.n_layer;
    r.kv.n_head_kv = r.hp.n_head_kv;
    r.kv.head_dim = r.hp.head_dim;
    r.kv.type = r.opt.kv_type;
    // Quantized KV rows are 32-element blocks: a model whose head_dim is not a multiple of 32 keeps F16 (as
    // Ollama does), which the plan reflects, so plan and ledger still agree.
    if ((r.kv.type == DType::Q8_0 || r.kv.type == DType::Q4_0) && r.hp.head_dim % 32 != 0) {
        LOG_WARN("KV cache type %s needs head_dim divisible by 32 (this model: %d); using f16", dtype_name(r.kv.type),
                 r.hp.head_dim);
        r.kv.type = DType::F16;
    }
    r.kv.page_positions = 16;
    RETURN_IF_ERROR(validate_kv_shape(r.kv));
    // The plan multiplies dimensions the file declares by the context a client asks for. Real models stay far
    // below 2^50 bytes (1 PiB); a crafted file could overflow int64, so bound the KV pool in floating point first.
    const double kv_bytes = 2.0 * r.kv.n_layer * double(r.kv.n_head_kv) * r.kv.head_dim * 4.0 *
                            (double(r.opt.n_ctx) + r.kv.page_positions) * r.opt.n_parallel;
    if (kv_bytes > double(int64_t(1) << 50))
        return resource_exhausted(
            "the KV cache would need about %.3g bytes (%d layers, %d KV heads of %d, %d positions "
            "x %d sequences), more than any memory budget",
            kv_bytes, r.kv.n_layer, r.kv.n_head_kv, r.kv.head_dim, r.opt.n_ctx, r.opt.n_parallel);
    r.dims.n_batch = r.opt.n_batch;
    r.dims.n_logits = r.opt.n_logits;
    r.dims.n_threads = r.opt.n_threads;
    r.dims.n_ctx = r.opt.n_ctx;
    r.dims.wdata_bytes = max_wdata(w, r.opt.n_batch, r.opt.n_threads);
    if (weights_out) *weights_out = std::move(w);
    return r;
}

int64_t scratch_bytes(const Resolved& r, int n_ff_exp) {
    CountingAlloc c;
    StepBuffers b;
    carve_buffers(c, r.hp, r.dims, n_ff_exp, &b);
    return int64_t(round_up(c.used, page_size()));
}

// The device part (placement.cpp) for the options: none without a device or with num_gpu 0.
DevicePlacement placement_for(const Resolved& r, const Weights& w) {
    if (!r.opt.device || r.opt.num_gpu == 0) return DevicePlacement();
    const int64_t kv_pages = kv_pages_for(r.kv, r.opt.n_ctx, r.opt.n_parallel);
    return choose_placement(*r.opt.device, r.hp, w, r.kv, kv_pages, r.dims, r.opt.n_parallel, r.opt.num_gpu,
                            r.opt.device_budget);
}

// The host KV pool holds the layers that stay on the CPU (none when all are on the device).
KvShape host_kv_shape(const Resolved& r, const DevicePlacement& dp) {
    KvShape k = r.kv;
    k.n_layer -= dp.n_dev_layers;
    return k;
}

MemoryPlan make_plan(const GgufFile& g, const Resolved& r, Weights& w, const DevicePlacement& dp) {
    MemoryPlan p;
    const std::vector<TensorView*> repacked = repack_targets(r.hp, w, dp.n_dev_layers, dp.output);
    p.weights_repacked = repack_arena_bytes(repacked);
    p.weights_mapped = int64_t(g.size()) - dp.released_file_bytes - repack_file_bytes(repacked);
    p.kv_pages = kv_pages_for(r.kv, r.opt.n_ctx, r.opt.n_parallel);
    p.kv = kv_pool_bytes(host_kv_shape(r, dp), p.kv_pages);
    p.scratch = scratch_bytes(r, w.n_ff_exp);
    p.n_ctx = r.opt.n_ctx;
    p.n_parallel = r.opt.n_parallel;
    p.n_batch = r.opt.n_batch;
    p.n_logits = r.opt.n_logits;
    p.kv_type = r.kv.type;  // after the f16 fallback for head_dim not divisible by 32
    p.n_layer = r.hp.n_layer;
    if (dp.n_gpu_layers > 0) {
        p.device = r.opt.device->index();
        p.n_gpu_layers = dp.n_gpu_layers;
        p.device_weights = dp.weights;
        p.device_kv = dp.kv;
        p.device_scratch = dp.scratch;
    }
    return p;
}

}  // namespace

Result<MemoryPlan> plan(const GgufFile& g, const ModelOptions& o) {
    Weights w;
    ASSIGN_OR_RETURN(Resolved r, resolve(g, o, &w));
    const DevicePlacement dp = placement_for(r, w);
    return make_plan(g, r, w, dp);
}

Result<MemoryPlan> plan(const std::string& path, const ModelOptions& o) {
    ASSIGN_OR_RETURN(auto g, GgufFile::open(path));
    return plan(*g, o);
}

Model::~Model() = default;  // ledger_row_ erases the row after the memory is gone

Result<std::unique_ptr<Model>> Model::load(const std::string& path, const ModelOptions& o, Ledger* ledger,
                                           const std::string& ledger_name) {
    std::unique_ptr<Model> m(new Model());
    ASSIGN_OR_RETURN(m->gguf_, GgufFile::open(path));
    m->impl_ = std::make_unique<Impl>();
    Impl& im = *m->impl_;
    auto r = resolve(*m->gguf_, o, &im.w);
    if (!r.is_ok()) return r.status().with_context(path);
    m->hp_ = r->hp;
    im.traits = arch_traits(m->hp_.arch);
    im.dims = r->dims;
    const DevicePlacement dp = placement_for(*r, im.w);
    m->plan_ = make_plan(*m->gguf_, *r, im.w, dp);
    if (o.prefetch && m->gguf_->mapping()) m->gguf_->mapping()->prefetch();
    const char* env_mlock = getenv("BERTH_MLOCK");
    const bool want_mlock = o.mlock || (env_mlock && *env_mlock && *env_mlock != '0');
    if (want_mlock && m->gguf_->mapping()) {
        Status st = m->gguf_->mapping()->lock();
        if (!st.is_ok())
            LOG_WARN("%s: mlock failed, weights may be paged out: %s", path.c_str(), st.to_string().c_str());
    }

    // Entered before the memory is reserved (and erased after it is released, see ledger_row_), so the ledger never
    // shows less than the process holds; the CHECK below keeps plan and reservation equal.
    if (ledger) {
        m->ledger_row_.attach(ledger, ledger_name);
        ledger->set(ledger_name, MemoryKind::weights_mapped, m->plan_.weights_mapped);
        ledger->set(ledger_name, MemoryKind::weights_repacked, m->plan_.weights_repacked);
        ledger->set(ledger_name, MemoryKind::kv, m->plan_.kv);
        ledger->set(ledger_name, MemoryKind::scratch, m->plan_.scratch);
        if (m->plan_.device >= 0) {
            ledger->set_device(ledger_name, m->plan_.device, DeviceMemoryKind::weights, m->plan_.device_weights);
            ledger->set_device(ledger_name, m->plan_.device, DeviceMemoryKind::kv, m->plan_.device_kv);
            ledger->set_device(ledger_name, m->plan_.device, DeviceMemoryKind::scratch, m->plan_.device_scratch);
        }
    }
    ASSIGN_OR_RETURN(m->kv_, KvPool::create(host_kv_shape(*r, dp), m->plan_.kv_pages));
    ASSIGN_OR_RETURN(m->scratch_arena_, Arena::reserve(size_t(m->plan_.scratch), "scratch"));
    CHECK(int64_t(m->scratch_arena_.size()) == m->plan_.scratch && m->kv_.bytes() == m->plan_.kv);
    im.scratch = BumpAllocator(m->scratch_arena_.data(), m->scratch_arena_.size());
    m->pool_ = std::make_unique<ThreadPool>(r->opt.n_threads);
    if (dp.n_gpu_layers > 0) {
        Device& dev = *r->opt.device;
        auto part = load_device_part(dev, *m->pool_, *m->gguf_, m->hp_, im.w, r->kv, m->plan_.kv_pages, r->dims,
                                     m->plan_.n_parallel, dp);
        if (!part.is_ok()) return part.status().with_context(path);
        im.dev = std::move(part).value();
        CHECK(m->reserved_device_bytes(DeviceMemoryKind::weights) == m->plan_.device_weights &&
              m->reserved_device_bytes(DeviceMemoryKind::kv) == m->plan_.device_kv &&
              m->reserved_device_bytes(DeviceMemoryKind::scratch) == m->plan_.device_scratch);
        // Copy-on-write of a shared KV page copies the device's layers of it too.
        m->kv_.set_page_copy_hook(
            [](void* ctx, int32_t dst, int32_t src) {
                DevicePart* d = static_cast<DevicePart*>(ctx);
                const int64_t pb = d->kv_layout.page_bytes;
                d->stream->copy(d->kv.data() + dst * pb, d->kv.data() + src * pb, size_t(pb));
            },
            im.dev.get());
        LOG_INFO("%s: %d of %d layers%s on %s:%d (%s: weights %s, KV %s, scratch %s)", path.c_str(), dp.n_dev_layers,
                 m->hp_.n_layer, dp.output ? " and the output head" : "", dev.type(), dev.index(), dev.name().c_str(),
                 format_bytes(dp.weights).c_str(), format_bytes(dp.kv).c_str(), format_bytes(dp.scratch).c_str());
    }
    // The CPU's Q8_0/Q4_0 matrices in 16-row groups (repack.h): an anonymous copy the plan counted, whose file
    // pages are dropped once written.
    if (m->plan_.weights_repacked > 0) {
        const std::vector<TensorView*> targets = repack_targets(m->hp_, im.w, dp.n_dev_layers, dp.output);
        ASSIGN_OR_RETURN(m->repacked_arena_,
                         Arena::reserve(size_t(m->plan_.weights_repacked), "repacked weights", true, false));
        CHECK(int64_t(m->repacked_arena_.size()) == m->plan_.weights_repacked &&
              repack_arena_bytes(targets) == m->plan_.weights_repacked);
        repack_weights(*m->pool_, targets, m->repacked_arena_.data(), m->gguf_->mapping());
        // Locked weights stay locked in their new place (the released file ranges were unlocked).
        if (want_mlock) {
            Status st = m->repacked_arena_.lock();
            if (!st.is_ok())
                LOG_WARN("%s: the repacked weights may be paged out: %s", path.c_str(), st.to_string().c_str());
        }
        LOG_DEBUG("%s: %zu matrices repacked for the %s kernels (%s)", path.c_str(), targets.size(),
                  isa_name(active_isa()), format_bytes(m->plan_.weights_repacked).c_str());
    }
    const size_t np = size_t(m->plan_.n_parallel);
    im.tables.reserve(np);
    for (size_t i = 0; i < np; ++i) im.tables.emplace_back(m->plan_.n_ctx, r->kv.page_positions);
    im.active.assign(np, 0);
    im.new_len.assign(np, 0);
    im.old_len.assign(np, 0);
    im.first_pos.assign(np, 0);
    im.touched.assign(np, 0);
    return m;
}

int64_t Model::reserved_device_bytes(DeviceMemoryKind kind) const {
    const DevicePart* d = impl_->dev.get();
    if (!d) return 0;
    switch (kind) {
        case DeviceMemoryKind::weights: return int64_t(d->weights.size());
        case DeviceMemoryKind::kv: return int64_t(d->kv.size());
        case DeviceMemoryKind::scratch: return int64_t(d->scratch.size());
        case DeviceMemoryKind::count_: break;
    }
    return 0;
}

int64_t Model::decode_weight_bytes() const {
    const Weights& w = impl_->w;
    double bytes = double(w.token_embd.row_bytes()) + double(w.output.n_bytes());
    const double expert_share = hp_.n_expert > 0 ? double(hp_.n_expert_used) / hp_.n_expert : 1.0;
    for (const LayerWeights& L : w.layers) {
        for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wqkv, &L.wo, &L.w_gate, &L.w_up, &L.w_down, &L.gate_inp})
            if (t->data) bytes += double(t->n_bytes());
        for (const TensorView* t : {&L.gate_exps, &L.up_exps, &L.down_exps})
            if (t->data) bytes += double(t->n_bytes()) * expert_share;
    }
    return int64_t(bytes);
}

Result<int> Model::create_sequence() {
    for (size_t i = 0; i < impl_->active.size(); ++i) {
        if (!impl_->active[i]) {
            impl_->active[i] = 1;
            impl_->tables[i].clear(kv_);
            return int(i);
        }
    }
    return resource_exhausted("all %d sequences are in use (n_parallel)", plan_.n_parallel);
}

void Model::free_sequence(int seq) {
    CHECK(seq >= 0 && size_t(seq) < impl_->active.size());
    impl_->tables[size_t(seq)].clear(kv_);
    impl_->active[size_t(seq)] = 0;
}

int64_t Model::sequence_length(int seq) const {
    CHECK(seq >= 0 && size_t(seq) < impl_->active.size());
    return impl_->tables[size_t(seq)].n_positions();
}

int64_t Model::share_prefix(int dst, int src, int64_t n) {
    CHECK(dst >= 0 && size_t(dst) < impl_->active.size() && src >= 0 && size_t(src) < impl_->active.size());
    CHECK(dst != src && impl_->active[size_t(dst)] && impl_->active[size_t(src)]);
    impl_->tables[size_t(dst)].clear(kv_);
    return impl_->tables[size_t(dst)].share_prefix(kv_, impl_->tables[size_t(src)], n);
}

void Model::truncate_sequence(int seq, int64_t n) {
    CHECK(seq >= 0 && size_t(seq) < impl_->active.size());
    impl_->tables[size_t(seq)].truncate(kv_, n);
}

}  // namespace berth
