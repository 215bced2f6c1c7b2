// The bert encoder for embedding models (see EmbeddingModel in model.h).
#include <cmath>
#include <vector>

#include "model/model.h"

namespace berth {

struct EmbeddingModel::Weights {
    TensorView tok, pos, types, norm_w, norm_b;
    struct Layer {
        TensorView q, q_b, k, k_b, v, v_b, o, o_b, attn_norm_w, attn_norm_b, up, up_b, down, down_b, out_norm_w,
            out_norm_b;
    };
    std::vector<Layer> layers;
};

namespace {

// Scratch layout for n tokens: x, qkv, attention output, one score row per head, ffn, matmul wdata.
struct Buffers {
    float* x;      // (n_ctx, n_embd)
    float* q;      // (n_ctx, n_embd)
    float* k;      // (n_ctx, n_embd)
    float* v;      // (n_ctx, n_embd)
    float* att;    // (n_ctx, n_embd)
    float* tmp;    // (n_ctx, n_embd)
    float* ff;     // (n_ctx, n_ff)
    float* score;  // (n_threads, n_ctx)
    void* wdata;
};

size_t wdata_bytes(const EmbeddingModel::Weights& w, int64_t n_ctx, int n_threads) {
    size_t m = 0;
    for (const auto& l : w.layers)
        for (const TensorView* t : {&l.q, &l.k, &l.v, &l.o, &l.up, &l.down})
            m = std::max(m, matmul_scratch_bytes(t->type, t->ne[0], n_ctx, n_threads));
    return m;
}

size_t scratch_bytes(int64_t n_ctx, int64_t n_embd, int64_t n_ff, int n_threads, size_t wdata) {
    auto al = [](size_t b) { return round_up(b, 64); };
    return 6 * al(size_t(n_ctx * n_embd) * 4) + al(size_t(n_ctx * n_ff) * 4) + al(size_t(n_threads) * n_ctx * 4) +
           al(wdata) + 64;
}

void layer_norm(float* x, const float* w, const float* b, int64_t n, float eps) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= double(n);
    for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    float inv = float(1.0 / std::sqrt(var / double(n) + eps));
    for (int64_t i = 0; i < n; i++) x[i] = (x[i] - float(mean)) * inv * w[i] + b[i];
}

float gelu(float x) {  // tanh approximation, as ggml computes GELU
    const float c = 0.7978845608f;
    return 0.5f * x * (1.0f + std::tanh(c * x * (1.0f + 0.044715f * x * x)));
}

void add_bias(float* y, const TensorView& b, int64_t n_rows, int64_t n) {
    const float* bias = static_cast<const float*>(b.data);
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t i = 0; i < n; i++) y[r * n + i] += bias[i];
}

Status bind(const GgufFile& g, const std::string& name, DType want_float_or_any, int64_t ne0, int64_t ne1,
            TensorView* out) {
    const GgufTensorInfo* t = g.find_tensor(name);
    if (!t) return corrupt_data("bert model lacks tensor %s", name.c_str());
    TensorView v = g.view(*t);
    if (v.ne[0] != ne0 || (ne1 > 0 && v.ne[1] != ne1))
        return corrupt_data("tensor %s has shape %s, expected [%lld, %lld]", name.c_str(), v.shape_string().c_str(),
                            (long long)ne0, (long long)ne1);
    if (want_float_or_any == DType::F32 && v.type != DType::F32)
        return unsupported("tensor %s must be f32, is %s", name.c_str(), dtype_name(v.type));
    *out = v;
    return Status::ok();
}

}  // namespace

EmbeddingModel::~EmbeddingModel() = default;  // ledger_row_ erases the row after the memory is gone

Result<int64_t> EmbeddingModel::plan_scratch_bytes(const GgufFile& g, int n_threads) {
    auto arch = g.get_string("general.architecture");
    if (!arch || *arch != "bert") return unsupported("not a bert embedding model");
    auto n_embd = g.get_int("bert.embedding_length"), n_ff = g.get_int("bert.feed_forward_length"),
         n_ctx = g.get_int("bert.context_length");
    const GgufTensorInfo* pos = g.find_tensor("position_embd.weight");
    if (!n_embd || !n_ff || !n_ctx || *n_embd <= 0 || *n_ff <= 0 || *n_ctx <= 0 || *n_ctx > 1 << 16 || !pos)
        return corrupt_data("bert model lacks embedding_length, feed_forward_length, context_length or positions");
    int64_t ctx = std::min<int64_t>(*n_ctx, pos->ne[1]);
    int nth = n_threads > 0 ? n_threads : physical_core_count();
    size_t wdata = 0;
    for (const auto& t : g.tensors())
        if (t.name.rfind("blk.", 0) == 0 && t.n_dims == 2)
            wdata = std::max(wdata, matmul_scratch_bytes(t.type, t.ne[0], ctx, nth));
    return int64_t(round_up(scratch_bytes(ctx, *n_embd, *n_ff, nth, wdata), page_size()));
}

Result<std::unique_ptr<EmbeddingModel>> EmbeddingModel::load(const std::string& path, int n_threads, Ledger* ledger,
                                                             const std::string& ledger_name) {
    ASSIGN_OR_RETURN(auto gguf, GgufFile::open(path));
    std::unique_ptr<EmbeddingModel> m(new EmbeddingModel());
    const GgufFile& g = *gguf;
    auto arch = g.get_string("general.architecture");
    if (!arch || *arch != "bert") return unsupported("%s is not a bert embedding model", path.c_str());
    auto geti = [&](const char* k) -> Result<int> {
        auto v = g.get_int(k);
        if (!v || *v <= 0 || *v > (1 << 24)) return corrupt_data("%s: missing or invalid %s", path.c_str(), k);
        return int(*v);
    };
    ASSIGN_OR_RETURN(m->n_embd_, geti("bert.embedding_length"));
    ASSIGN_OR_RETURN(m->n_ff_, geti("bert.feed_forward_length"));
    ASSIGN_OR_RETURN(m->n_layer_, geti("bert.block_count"));
    ASSIGN_OR_RETURN(m->n_head_, geti("bert.attention.head_count"));
    ASSIGN_OR_RETURN(m->n_ctx_, geti("bert.context_length"));
    // Each layer has its own tensors: the tensor count bounds the layers before they size anything.
    if (size_t(m->n_layer_) > g.tensors().size())
        return corrupt_data("%s: bert.block_count is %d but the file has only %zu tensors", path.c_str(), m->n_layer_,
                            g.tensors().size());
    if (m->n_embd_ % m->n_head_ != 0) return corrupt_data("%s: n_embd not divisible by n_head", path.c_str());
    if (auto pool = g.get_int("bert.pooling_type"); pool && *pool != 1)
        return unsupported("%s: pooling type %lld (only mean pooling, 1, is supported)", path.c_str(),
                           (long long)*pool);
    if (auto e = g.get_float("bert.attention.layer_norm_epsilon")) m->eps_ = float(*e);
    const GgufTensorInfo* tok = g.find_tensor("token_embd.weight");
    if (!tok) return corrupt_data("%s: bert model lacks token_embd.weight", path.c_str());
    m->n_vocab_ = int(tok->ne[1]);

    auto w = std::make_unique<Weights>();
    const int64_t E = m->n_embd_, F = m->n_ff_;
    RETURN_IF_ERROR(bind(g, "token_embd.weight", DType::Q8_K, E, 0, &w->tok));
    RETURN_IF_ERROR(bind(g, "position_embd.weight", DType::Q8_K, E, 0, &w->pos));
    RETURN_IF_ERROR(bind(g, "token_types.weight", DType::Q8_K, E, 0, &w->types));
    RETURN_IF_ERROR(bind(g, "token_embd_norm.weight", DType::F32, E, 0, &w->norm_w));
    RETURN_IF_ERROR(bind(g, "token_embd_norm.bias", DType::F32, E, 0, &w->norm_b));
    if (w->pos.ne[1] < m->n_ctx_) m->n_ctx_ = int(w->pos.ne[1]);
    w->layers.resize(size_t(m->n_layer_));
    for (int il = 0; il < m->n_layer_; il++) {
        auto& l = w->layers[size_t(il)];
        auto n = [&](const char* s) { return "blk." + std::to_string(il) + "." + s; };
        struct Spec {
            const char* name;
            TensorView* v;
            DType kind;
            int64_t ne0, ne1;
        } specs[] = {
            {"attn_q.weight", &l.q, DType::Q8_K, E, E},
            {"attn_q.bias", &l.q_b, DType::F32, E, 0},
            {"attn_k.weight", &l.k, DType::Q8_K, E, E},
            {"attn_k.bias", &l.k_b, DType::F32, E, 0},
            {"attn_v.weight", &l.v, DType::Q8_K, E, E},
            {"attn_v.bias", &l.v_b, DType::F32, E, 0},
            {"attn_output.weight", &l.o, DType::Q8_K, E, E},
            {"attn_output.bias", &l.o_b, DType::F32, E, 0},
            {"attn_output_norm.weight", &l.attn_norm_w, DType::F32, E, 0},
            {"attn_output_norm.bias", &l.attn_norm_b, DType::F32, E, 0},
            {"ffn_up.weight", &l.up, DType::Q8_K, E, F},
            {"ffn_up.bias", &l.up_b, DType::F32, F, 0},
            {"ffn_down.weight", &l.down, DType::Q8_K, F, E},
            {"ffn_down.bias", &l.down_b, DType::F32, E, 0},
            {"layer_output_norm.weight", &l.out_norm_w, DType::F32, E, 0},
            {"layer_output_norm.bias", &l.out_norm_b, DType::F32, E, 0},
        };
        for (auto& s : specs) RETURN_IF_ERROR(bind(g, n(s.name), s.kind, s.ne0, s.ne1, s.v).with_context(path));
    }
    m->pool_ = std::make_unique<ThreadPool>(n_threads);
    size_t bytes =
        scratch_bytes(m->n_ctx_, E, F, m->pool_->n_threads(), wdata_bytes(*w, m->n_ctx_, m->pool_->n_threads()));
    const size_t reserved = round_up(bytes, page_size());  // what Arena::reserve maps
    if (ledger) {                                          // before the reservation, as in Model::load
        m->ledger_row_.attach(ledger, ledger_name);
        ledger->set(ledger_name, MemoryKind::weights_mapped, int64_t(gguf->size()));
        ledger->set(ledger_name, MemoryKind::scratch, int64_t(reserved));
    }
    ASSIGN_OR_RETURN(m->scratch_, Arena::reserve(bytes, "embedding scratch"));
    CHECK(m->scratch_.size() == reserved);
    m->w_ = std::move(w);
    m->gguf_ = std::move(gguf);
    return m;
}

Status EmbeddingModel::embed(const int32_t* tokens, int n, float* out) {
    if (n <= 0) return invalid_argument("nothing to embed: the input has no tokens");
    if (n > n_ctx_) return invalid_argument("input of %d tokens exceeds the model's context of %d", n, n_ctx_);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab_) return invalid_argument("token %d out of range", tokens[i]);
    const int64_t E = n_embd_, F = n_ff_, H = n_head_, D = E / H;
    const int nth = pool_->n_threads();
    BumpAllocator a(scratch_.data(), scratch_.size());
    Buffers b;
    b.x = a.alloc_array<float>(size_t(n_ctx_ * E));
    b.q = a.alloc_array<float>(size_t(n_ctx_ * E));
    b.k = a.alloc_array<float>(size_t(n_ctx_ * E));
    b.v = a.alloc_array<float>(size_t(n_ctx_ * E));
    b.att = a.alloc_array<float>(size_t(n_ctx_ * E));
    b.tmp = a.alloc_array<float>(size_t(n_ctx_ * E));
    b.ff = a.alloc_array<float>(size_t(n_ctx_ * F));
    b.score = a.alloc_array<float>(size_t(nth) * size_t(n_ctx_));
    b.wdata = a.alloc(wdata_bytes(*w_, n_ctx_, pool_->n_threads()));
    const Weights& w = *w_;

    for (int i = 0; i < n; i++) {
        float* x = b.x + i * E;
        get_row(w.tok, tokens[i], x);
        get_row(w.pos, i, b.tmp);
        add_inplace(x, b.tmp, E);
        get_row(w.types, 0, b.tmp);
        add_inplace(x, b.tmp, E);
        layer_norm(x, static_cast<const float*>(w.norm_w.data), static_cast<const float*>(w.norm_b.data), E, eps_);
    }
    const float scale = 1.0f / std::sqrt(float(D));
    for (const auto& l : w.layers) {
        matmul(*pool_, l.q, b.x, n, b.q, b.wdata);
        add_bias(b.q, l.q_b, n, E);
        matmul(*pool_, l.k, b.x, n, b.k, b.wdata);
        add_bias(b.k, l.k_b, n, E);
        matmul(*pool_, l.v, b.x, n, b.v, b.wdata);
        add_bias(b.v, l.v_b, n, E);
        // Non-causal attention: every token sees every token. Work split over (token, head) pairs.
        pool_->parallel([&](int ith, int nthr) {
            float* s = b.score + size_t(ith) * size_t(n_ctx_);
            for (int64_t job = ith; job < int64_t(n) * H; job += nthr) {
                int64_t i = job / H, h = job % H;
                const float* q = b.q + i * E + h * D;
                for (int j = 0; j < n; j++) {
                    const float* k = b.k + j * E + h * D;
                    float d = 0;
                    for (int64_t c = 0; c < D; c++) d += q[c] * k[c];
                    s[j] = d * scale;
                }
                softmax(s, n);
                float* o = b.att + i * E + h * D;
                for (int64_t c = 0; c < D; c++) o[c] = 0;
                for (int j = 0; j < n; j++) {
                    const float* v = b.v + j * E + h * D;
                    for (int64_t c = 0; c < D; c++) o[c] += s[j] * v[c];
                }
            }
        });
        matmul(*pool_, l.o, b.att, n, b.tmp, b.wdata);
        add_bias(b.tmp, l.o_b, n, E);
        for (int i = 0; i < n; i++) {
            add_inplace(b.x + i * E, b.tmp + i * E, E);
            layer_norm(b.x + i * E, static_cast<const float*>(l.attn_norm_w.data),
                       static_cast<const float*>(l.attn_norm_b.data), E, eps_);
        }
        matmul(*pool_, l.up, b.x, n, b.ff, b.wdata);
        add_bias(b.ff, l.up_b, n, F);
        for (int64_t i = 0; i < int64_t(n) * F; i++) b.ff[i] = gelu(b.ff[i]);
        matmul(*pool_, l.down, b.ff, n, b.tmp, b.wdata);
        add_bias(b.tmp, l.down_b, n, E);
        for (int i = 0; i < n; i++) {
            add_inplace(b.x + i * E, b.tmp + i * E, E);
            layer_norm(b.x + i * E, static_cast<const float*>(l.out_norm_w.data),
                       static_cast<const float*>(l.out_norm_b.data), E, eps_);
        }
    }
    for (int64_t c = 0; c < E; c++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += b.x[i * E + c];
        out[c] = float(s / n);
    }
    return Status::ok();
}

}  // namespace berth
