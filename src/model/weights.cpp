// Binding GGUF tensors to the decoder's weights, with shape and type checks that name the tensor.
#include "model/model_internal.h"

namespace berth {
namespace {

class Binder {
  public:
    Binder(const GgufFile& g) : g_(g) {}

    // A matrix of n_rows rows of n_cols elements (ne = [n_cols, n_rows]).
    Status matrix(const std::string& name, int64_t n_cols, int64_t n_rows, bool required, TensorView* out) {
        const GgufTensorInfo* t = g_.find_tensor(name);
        if (!t) return required ? corrupt_data("missing tensor %s", name.c_str()) : Status::ok();
        if (t->n_dims > 2 || t->ne[0] != n_cols || t->ne[1] != n_rows)
            return corrupt_data("tensor %s has shape [%lld, %lld], expected [%lld, %lld]", name.c_str(),
                                (long long)t->ne[0], (long long)t->ne[1], (long long)n_cols, (long long)n_rows);
        RETURN_IF_ERROR(check_type(*t));
        *out = g_.view(*t);
        return Status::ok();
    }

    Status experts(const std::string& name, int64_t n_cols, int64_t n_rows, int64_t n_expert, TensorView* out) {
        const GgufTensorInfo* t = g_.find_tensor(name);
        if (!t) return corrupt_data("missing tensor %s", name.c_str());
        if (t->n_dims != 3 || t->ne[0] != n_cols || t->ne[1] != n_rows || t->ne[2] != n_expert)
            return corrupt_data("tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld]", name.c_str(),
                                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)n_cols,
                                (long long)n_rows, (long long)n_expert);
        RETURN_IF_ERROR(check_type(*t));
        *out = g_.view(*t);
        return Status::ok();
    }

    // A float vector (norm weights, biases): must be F32.
    Status vector(const std::string& name, int64_t n, bool required, const float** out) {
        const GgufTensorInfo* t = g_.find_tensor(name);
        if (!t) return required ? corrupt_data("missing tensor %s", name.c_str()) : Status::ok();
        if (t->n_dims != 1 || t->ne[0] != n)
            return corrupt_data("tensor %s has %lld elements, expected a vector of %lld", name.c_str(),
                                (long long)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]), (long long)n);
        if (t->type != DType::F32)
            return unsupported("tensor %s is %s; vectors must be f32", name.c_str(), dtype_name(t->type));
        *out = static_cast<const float*>(g_.view(*t).data);
        return Status::ok();
    }

  private:
    Status check_type(const GgufTensorInfo& t) {
        if (matmul_supports(t.type)) return Status::ok();
        return unsupported("tensor %s has type %s, which berth cannot multiply", t.name.c_str(), dtype_name(t.type));
    }
    const GgufFile& g_;
};

}  // namespace

Result<Weights> bind_weights(const GgufFile& g, const HParams& hp) {
    const ArchTraits& tr = arch_traits(hp.arch);
    Binder b(g);
    Weights w;
    const int64_t E = hp.n_embd, q_dim = int64_t(hp.n_head) * hp.head_dim, kv_dim = int64_t(hp.n_head_kv) * hp.head_dim;
    RETURN_IF_ERROR(b.matrix("token_embd.weight", E, hp.n_vocab, true, &w.token_embd));
    if (hp.tied_output)
        w.output = w.token_embd;
    else
        RETURN_IF_ERROR(b.matrix("output.weight", E, hp.n_vocab, true, &w.output));
    RETURN_IF_ERROR(b.vector("output_norm.weight", E, true, &w.output_norm));
    RETURN_IF_ERROR(b.vector("rope_freqs.weight", hp.n_rot / 2, false, &w.rope_freqs));
    w.n_ff_exp = hp.n_ff;
    if (hp.n_expert > 0) {
        const GgufTensorInfo* t = g.find_tensor("blk.0.ffn_gate_exps.weight");
        if (!t) return corrupt_data("missing tensor blk.0.ffn_gate_exps.weight (expert_count is %d)", hp.n_expert);
        w.n_ff_exp = int(t->ne[1]);
    }
    w.layers.resize(size_t(hp.n_layer));
    for (int il = 0; il < hp.n_layer; ++il) {
        LayerWeights& L = w.layers[size_t(il)];
        const std::string p = "blk." + std::to_string(il) + ".";
        RETURN_IF_ERROR(b.vector(p + "attn_norm.weight", E, true, &L.attn_norm));
        if (tr.fused_qkv) {
            RETURN_IF_ERROR(b.matrix(p + "attn_qkv.weight", E, q_dim + 2 * kv_dim, true, &L.wqkv));
        } else {
            RETURN_IF_ERROR(b.matrix(p + "attn_q.weight", E, q_dim, true, &L.wq));
            RETURN_IF_ERROR(b.matrix(p + "attn_k.weight", E, kv_dim, true, &L.wk));
            RETURN_IF_ERROR(b.matrix(p + "attn_v.weight", E, kv_dim, true, &L.wv));
        }
        RETURN_IF_ERROR(b.matrix(p + "attn_output.weight", q_dim, E, true, &L.wo));
        // Biases are optional in every architecture (qwen2 has them; some llama conversions too).
        RETURN_IF_ERROR(b.vector(p + "attn_q.bias", q_dim, tr.qkv_bias, &L.bq));
        RETURN_IF_ERROR(b.vector(p + "attn_k.bias", kv_dim, tr.qkv_bias, &L.bk));
        RETURN_IF_ERROR(b.vector(p + "attn_v.bias", kv_dim, tr.qkv_bias, &L.bv));
        if (tr.qk_norm) {
            RETURN_IF_ERROR(b.vector(p + "attn_q_norm.weight", hp.head_dim, true, &L.q_norm));
            RETURN_IF_ERROR(b.vector(p + "attn_k_norm.weight", hp.head_dim, true, &L.k_norm));
        }
        if (tr.post_norms) {
            RETURN_IF_ERROR(b.vector(p + "post_attention_norm.weight", E, true, &L.post_attn_norm));
            RETURN_IF_ERROR(b.vector(p + "post_ffw_norm.weight", E, true, &L.post_ffw_norm));
        }
        RETURN_IF_ERROR(b.vector(p + "ffn_norm.weight", E, true, &L.ffn_norm));
        if (hp.n_expert > 0) {
            RETURN_IF_ERROR(b.matrix(p + "ffn_gate_inp.weight", E, hp.n_expert, true, &L.gate_inp));
            RETURN_IF_ERROR(b.experts(p + "ffn_gate_exps.weight", E, w.n_ff_exp, hp.n_expert, &L.gate_exps));
            RETURN_IF_ERROR(b.experts(p + "ffn_up_exps.weight", E, w.n_ff_exp, hp.n_expert, &L.up_exps));
            RETURN_IF_ERROR(b.experts(p + "ffn_down_exps.weight", w.n_ff_exp, E, hp.n_expert, &L.down_exps));
        } else if (tr.fused_gate_up) {
            RETURN_IF_ERROR(b.matrix(p + "ffn_up.weight", E, 2 * int64_t(hp.n_ff), true, &L.w_up));
            RETURN_IF_ERROR(b.matrix(p + "ffn_down.weight", hp.n_ff, E, true, &L.w_down));
        } else {
            RETURN_IF_ERROR(b.matrix(p + "ffn_gate.weight", E, hp.n_ff, true, &L.w_gate));
            RETURN_IF_ERROR(b.matrix(p + "ffn_up.weight", E, hp.n_ff, true, &L.w_up));
            RETURN_IF_ERROR(b.matrix(p + "ffn_down.weight", hp.n_ff, E, true, &L.w_down));
        }
    }
    return w;
}

}  // namespace berth
