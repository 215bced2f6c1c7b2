#include <cmath>

#include "model/model.h"

namespace berth {

const std::vector<std::string>& supported_architectures() {
    static const std::vector<std::string> archs = {"llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"};
    return archs;
}

namespace {

std::string join_archs() {
    std::string s;
    for (const std::string& a : supported_architectures()) s += (s.empty() ? "" : ", ") + a;
    return s;
}

Status need_int(const GgufFile& g, const std::string& key, int* out) {
    auto v = g.get_int(key);
    if (!v) return corrupt_data("missing metadata key %s", key.c_str());
    if (*v <= 0 || *v > (int64_t(1) << 30))
        return corrupt_data("metadata %s = %lld is out of range", key.c_str(), (long long)*v);
    *out = int(*v);
    return Status::ok();
}

void opt_int(const GgufFile& g, const std::string& key, int* out) {
    auto v = g.get_int(key);
    if (v && *v >= 0 && *v <= (int64_t(1) << 30)) *out = int(*v);
}

void opt_float(const GgufFile& g, const std::string& key, float* out) {
    auto v = g.get_float(key);
    if (v) *out = float(*v);
}

}  // namespace

Result<HParams> read_hparams(const GgufFile& g) {
    HParams hp;
    auto arch = g.get_string("general.architecture");
    if (!arch) return corrupt_data("missing metadata key general.architecture");
    hp.arch = std::string(*arch);
    bool known = false;
    for (const std::string& a : supported_architectures()) known |= a == hp.arch;
    if (!known)
        return unsupported("architecture '%s' is not supported (supported: %s)", hp.arch.c_str(), join_archs().c_str());
    const std::string p = hp.arch + ".";

    RETURN_IF_ERROR(need_int(g, p + "embedding_length", &hp.n_embd));
    RETURN_IF_ERROR(need_int(g, p + "block_count", &hp.n_layer));
    RETURN_IF_ERROR(need_int(g, p + "attention.head_count", &hp.n_head));
    RETURN_IF_ERROR(need_int(g, p + "feed_forward_length", &hp.n_ff));
    // Every layer has its own tensors, so the file's tensor count bounds the layers: a corrupt count must not size
    // the per-layer tables (2^30 layers would ask for hundreds of GiB before any tensor is looked at).
    if (size_t(hp.n_layer) > g.tensors().size())
        return corrupt_data("%sblock_count is %d but the file has only %zu tensors", p.c_str(), hp.n_layer,
                            g.tensors().size());
    hp.n_head_kv = hp.n_head;
    opt_int(g, p + "attention.head_count_kv", &hp.n_head_kv);
    hp.n_ctx_train = 2048;
    opt_int(g, p + "context_length", &hp.n_ctx_train);
    if (hp.n_head_kv <= 0 || hp.n_head % hp.n_head_kv != 0)
        return corrupt_data("attention.head_count %d is not a multiple of head_count_kv %d", hp.n_head, hp.n_head_kv);
    hp.head_dim = hp.n_embd / hp.n_head;
    opt_int(g, p + "attention.key_length", &hp.head_dim);
    int v_len = hp.head_dim;
    opt_int(g, p + "attention.value_length", &v_len);
    if (v_len != hp.head_dim)
        return unsupported("attention.value_length %d differs from key_length %d", v_len, hp.head_dim);
    if (hp.head_dim <= 0 || hp.head_dim % 2 != 0)
        return corrupt_data("head_dim %d must be even and positive", hp.head_dim);
    hp.n_rot = hp.head_dim;
    opt_int(g, p + "rope.dimension_count", &hp.n_rot);
    if (hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0)
        return corrupt_data("rope.dimension_count %d must be even and ≤ head_dim %d", hp.n_rot, hp.head_dim);
    opt_float(g, p + "attention.layer_norm_rms_epsilon", &hp.rms_eps);
    opt_float(g, p + "rope.freq_base", &hp.rope_base);
    auto scaling = g.get_string(p + "rope.scaling.type");
    float factor = 0;
    opt_float(g, p + "rope.scaling.factor", &factor);
    if (scaling && *scaling == "linear" && factor > 0)
        hp.rope_freq_scale = 1.0f / factor;
    else if (scaling && *scaling != "none" && *scaling != "linear")
        return unsupported("rope scaling '%.*s' is not supported (only linear)", int(scaling->size()), scaling->data());
    opt_int(g, p + "expert_count", &hp.n_expert);
    opt_int(g, p + "expert_used_count", &hp.n_expert_used);
    if (hp.n_expert > 0 && (hp.n_expert_used <= 0 || hp.n_expert_used > hp.n_expert))
        return corrupt_data("expert_used_count %d must be in 1..expert_count %d", hp.n_expert_used, hp.n_expert);

    // n_vocab: the metadata if present, else the embedding's row count.
    hp.n_vocab = 0;
    opt_int(g, p + "vocab_size", &hp.n_vocab);
    const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
    if (!embd) return corrupt_data("missing tensor token_embd.weight");
    if (hp.n_vocab == 0) hp.n_vocab = int(embd->ne[1]);
    if (embd->ne[1] != hp.n_vocab || embd->ne[0] != hp.n_embd)
        return corrupt_data("token_embd.weight is %lldx%lld, expected n_embd %d x n_vocab %d", (long long)embd->ne[0],
                            (long long)embd->ne[1], hp.n_embd, hp.n_vocab);
    hp.tied_output = g.find_tensor("output.weight") == nullptr;

    hp.rope_style = hp.arch == "llama" ? RopeStyle::norm : RopeStyle::neox;
    hp.attn_scale = 1.0f / std::sqrt(float(hp.head_dim));
    if (hp.arch == "gemma2" || hp.arch == "gemma3") {
        hp.embd_scale = true;
        opt_int(g, p + "attention.sliding_window", &hp.sliding_window);
        hp.swa_pattern = hp.arch == "gemma2" ? 2 : 6;
        opt_float(g, p + "attn_logit_softcapping", &hp.attn_softcap);
        opt_float(g, p + "final_logit_softcapping", &hp.final_softcap);
        hp.rope_base_local = 10000.0f;
        opt_float(g, p + "rope.freq_base_swa", &hp.rope_base_local);
        if (hp.arch == "gemma2") hp.rope_base_local = hp.rope_base;
        hp.rope_freq_scale_local = hp.arch == "gemma2" ? hp.rope_freq_scale : 1.0f;
        // The 27B models scale queries by 1/sqrt(n_embd / n_head), not 1/sqrt(head_dim) (as llama.cpp does).
        if ((hp.arch == "gemma2" && hp.n_layer == 46) || (hp.arch == "gemma3" && hp.n_layer == 62))
            hp.attn_scale = 1.0f / std::sqrt(float(hp.n_embd / hp.n_head));
    } else {
        hp.rope_base_local = hp.rope_base;
        hp.rope_freq_scale_local = hp.rope_freq_scale;
    }
    return hp;
}

}  // namespace berth
