// Synthetic GGUF models with random weights: every supported architecture, every common file type with the
// per-tensor mixes real "_K_M" downloads use, and a small SentencePiece-style vocabulary.
#include <cmath>
#include <cstring>

#include "model/model.h"

namespace berth {
namespace {

struct FileType {
    const char* name;
    DType base;
    DType output;
    uint32_t ftype;  // general.file_type (llama_ftype)
    bool k_mix;      // _K_M mixes: more bits for half of attn_v / ffn_down
};

const FileType kFileTypes[] = {
    {"f32", DType::F32, DType::F32, 0, false},      {"f16", DType::F16, DType::F16, 1, false},
    {"bf16", DType::BF16, DType::BF16, 32, false},  {"q8_0", DType::Q8_0, DType::Q8_0, 7, false},
    {"q4_0", DType::Q4_0, DType::Q6_K, 2, false},   {"q4_1", DType::Q4_1, DType::Q6_K, 3, false},
    {"q5_0", DType::Q5_0, DType::Q6_K, 8, false},   {"q5_1", DType::Q5_1, DType::Q6_K, 9, false},
    {"q2_k", DType::Q2_K, DType::Q6_K, 10, false},  {"q3_k_m", DType::Q3_K, DType::Q6_K, 12, true},
    {"q4_k_m", DType::Q4_K, DType::Q6_K, 15, true}, {"q5_k_m", DType::Q5_K, DType::Q6_K, 17, true},
    {"q6_k", DType::Q6_K, DType::Q6_K, 18, false},
};

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third in between.
bool use_more_bits(int il, int n_layer) {
    return il < n_layer / 8 || il >= 7 * n_layer / 8 || (il - n_layer / 8) % 3 == 2;
}

// K-quants need rows of 256; the usual fallbacks otherwise. Block-32 types need rows of 32, else F16.
DType fallback(DType t, int64_t ne0) {
    const DTypeInfo& info = dtype_info(t);
    if (ne0 % info.block_elems == 0) return t;
    DType f;
    switch (t) {
        case DType::Q4_K: f = DType::Q5_0; break;
        case DType::Q5_K: f = DType::Q5_1; break;
        case DType::Q6_K: f = DType::Q8_0; break;
        case DType::Q2_K:
        case DType::Q3_K: f = DType::Q4_0; break;
        default: f = DType::F16; break;
    }
    return ne0 % dtype_info(f).block_elems == 0 ? f : DType::F16;
}

DType tensor_type(const FileType& ft, const std::string& kind, int il, int n_layer, int64_t ne0) {
    if (kind == "router") return DType::F32;  // as converters write it
    DType t = ft.base;
    if (kind == "output") t = ft.output;
    if (ft.k_mix) {
        if ((kind == "attn_v" || kind == "ffn_down") && use_more_bits(il, n_layer))
            t = ft.base == DType::Q3_K ? DType::Q4_K : DType::Q6_K;
        if (kind == "attn_qkv") t = ft.base == DType::Q3_K ? DType::Q4_K : DType::Q5_K;
    }
    return fallback(t, ne0);
}

// Fast deterministic generator for weights: splitmix64 of (seed, tensor, row) → xorshift per element.
uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t name_hash(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (char c : s) h = (h ^ uint8_t(c)) * 1099511628211ull;
    return h;
}

// Uniform in [-a, a] with a = std * sqrt(3), so the standard deviation is `std`.
void fill_row(float* x, int64_t n, uint64_t seed, float std, float mean) {
    uint64_t s = mix(seed) | 1;
    const float a = std * 1.7320508f;
    for (int64_t i = 0; i < n; ++i) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        float u = float(s >> 40) * (1.0f / 16777216.0f);  // [0, 1)
        x[i] = mean + a * (2 * u - 1);
    }
}

class Builder {
  public:
    Builder(const SyntheticSpec& spec, const FileType& ft, ThreadPool& pool) : spec_(spec), ft_(ft), pool_(pool) {}

    // A weight matrix (ne0 = n_cols, then rows; a third dim for experts), random, in the mix's type.
    void matrix(const std::string& name, const std::string& kind, int il, std::vector<int64_t> ne, float std) {
        DType t = tensor_type(ft_, kind, il, spec_.n_layer, ne[0]);
        int64_t rows = 1;
        for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
        const int64_t n_cols = ne[0], rb = row_bytes(t, n_cols);
        std::string data(size_t(rb * rows), '\0');
        const uint64_t h = mix(spec_.seed ^ name_hash(name));
        pool_.parallel([&](int ith, int nth) {
            std::vector<float> buf(static_cast<size_t>(n_cols));
            for (int64_t r = rows * ith / nth; r < rows * (ith + 1) / nth; ++r) {
                fill_row(buf.data(), n_cols, h + uint64_t(r), std, 0.0f);
                quantize_row_ref(t, buf.data(), data.data() + r * rb, n_cols);
            }
        });
        w_.add_tensor(name, t, std::move(ne), std::move(data));
    }

    // An F32 vector (norm weights around `mean`, biases around 0).
    void vector(const std::string& name, int64_t n, float mean, float std) {
        std::string data(size_t(n) * 4, '\0');
        fill_row(reinterpret_cast<float*>(data.data()), n, mix(spec_.seed ^ name_hash(name)), std, mean);
        w_.add_tensor(name, DType::F32, {n}, std::move(data));
    }

    GgufWriter& writer() { return w_; }

  private:
    const SyntheticSpec& spec_;
    const FileType& ft_;
    ThreadPool& pool_;
    GgufWriter w_;
};

void add_vocab(GgufWriter& w, int n_vocab) {
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};  // unknown, control, control
    for (int b = 0; b < 256; ++b) {
        tokens.push_back(string_printf("<0x%02X>", b));
        types.push_back(6);  // byte
    }
    const std::string sp = "\xe2\x96\x81";  // ▁ (U+2581), SentencePiece's space
    const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
    std::vector<std::string> pieces = {sp};
    for (char c : letters) pieces.push_back(sp + c);
    for (char c : letters) pieces.push_back(std::string(1, c));
    for (char c : std::string("ETAOINSHRDLUCMFWYPVBGKJQXZ0123456789.,!?'\"-:;()")) pieces.push_back(std::string(1, c));
    for (char a : letters)
        for (char b : letters) pieces.push_back(std::string(1, a) + b);
    for (char a : letters)
        for (char b : letters) pieces.push_back(sp + a + b);
    for (char a : letters)
        for (char b : letters)
            for (char c : letters) pieces.push_back(std::string(1, a) + b + c);
    for (size_t i = 0; tokens.size() < size_t(n_vocab); ++i) {
        tokens.push_back(i < pieces.size() ? pieces[i] : string_printf("<extra_%zu>", i));
        types.push_back(i < pieces.size() ? 1 : 4);  // normal, user-defined
    }
    std::vector<float> scores(tokens.size());
    for (size_t i = 0; i < scores.size(); ++i) scores[i] = i < 259 ? 0.0f : -float(i - 259);
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string("tokenizer.ggml.pre", "default");
    w.set_array_string("tokenizer.ggml.tokens", tokens);
    w.set_array_f32("tokenizer.ggml.scores", scores);
    w.set_array_i32("tokenizer.ggml.token_type", types);
    w.set_u32("tokenizer.ggml.bos_token_id", 1);
    w.set_u32("tokenizer.ggml.eos_token_id", 2);
    w.set_u32("tokenizer.ggml.unknown_token_id", 0);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    w.set_bool("tokenizer.ggml.add_eos_token", false);
}

}  // namespace

const std::vector<std::string>& synthetic_architectures() {
    static const std::vector<std::string> v = {"llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3", "llama-moe"};
    return v;
}

const std::vector<std::string>& synthetic_types() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> out;
        for (const FileType& f : kFileTypes) out.push_back(f.name);
        return out;
    }();
    return v;
}

Status write_synthetic_model(const SyntheticSpec& s, const std::string& path) {
    const FileType* ft = nullptr;
    for (const FileType& f : kFileTypes)
        if (s.type == f.name) ft = &f;
    if (!ft) return invalid_argument("unknown type '%s'", s.type.c_str());
    bool arch_ok = false;
    for (const std::string& a : synthetic_architectures()) arch_ok |= a == s.arch;
    if (!arch_ok) return invalid_argument("unknown architecture '%s'", s.arch.c_str());
    if (s.n_embd <= 0 || s.n_ff <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_vocab <= 0)
        return invalid_argument("sizes must be positive");
    if (s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0 || (s.n_embd / s.n_head) % 2 != 0)
        return invalid_argument("n_embd must be a multiple of n_head (even head_dim), n_head of n_head_kv");
    if (s.n_vocab < 300) return invalid_argument("n_vocab must be at least 300 (3 specials and 256 byte tokens)");
    const bool moe = s.arch == "llama-moe";
    const std::string arch = moe ? "llama" : s.arch;
    const bool gemma = arch == "gemma2" || arch == "gemma3";
    const int64_t E = s.n_embd, head_dim = s.n_embd / s.n_head, q_dim = E, kv_dim = head_dim * s.n_head_kv;

    ThreadPool pool(s.n_threads);
    Builder b(s, *ft, pool);
    GgufWriter& w = b.writer();
    w.set_string("general.architecture", arch);
    w.set_string("general.name", string_printf("berth synthetic %s-%s", s.arch.c_str(), s.type.c_str()));
    w.set_u32("general.file_type", ft->ftype);
    w.set_u32("general.quantization_version", 2);
    const std::string p = arch + ".";
    w.set_u32(p + "context_length", uint32_t(s.n_ctx));
    w.set_u32(p + "embedding_length", uint32_t(E));
    w.set_u32(p + "feed_forward_length", uint32_t(s.n_ff));
    w.set_u32(p + "block_count", uint32_t(s.n_layer));
    w.set_u32(p + "attention.head_count", uint32_t(s.n_head));
    w.set_u32(p + "attention.head_count_kv", uint32_t(s.n_head_kv));
    w.set_f32(p + "attention.layer_norm_rms_epsilon", gemma ? 1e-6f : 1e-5f);
    w.set_f32(p + "rope.freq_base", arch == "qwen2" || arch == "qwen3" || arch == "gemma3" ? 1e6f : 10000.0f);
    w.set_u32(p + "rope.dimension_count", uint32_t(head_dim));
    w.set_u32(p + "vocab_size", uint32_t(s.n_vocab));
    if (arch == "qwen3" || gemma) {
        w.set_u32(p + "attention.key_length", uint32_t(head_dim));
        w.set_u32(p + "attention.value_length", uint32_t(head_dim));
    }
    if (gemma) w.set_u32(p + "attention.sliding_window", 8);
    if (arch == "gemma2") {
        w.set_f32(p + "attn_logit_softcapping", 50.0f);
        w.set_f32(p + "final_logit_softcapping", 30.0f);
    }
    if (moe) {
        w.set_u32(p + "expert_count", uint32_t(s.n_expert));
        w.set_u32(p + "expert_used_count", uint32_t(s.n_expert_used));
    }
    add_vocab(w, s.n_vocab);

    const float std_in = 1.0f / std::sqrt(float(E)), std_ff = 1.0f / std::sqrt(float(s.n_ff));
    b.matrix("token_embd.weight", "token_embd", 0, {E, s.n_vocab}, gemma ? 1.0f / std::sqrt(float(E)) : 1.0f);
    b.vector("output_norm.weight", E, 1.0f, 0.1f);
    if (!gemma) b.matrix("output.weight", "output", 0, {E, s.n_vocab}, std_in);
    for (int il = 0; il < s.n_layer; ++il) {
        const std::string l = "blk." + std::to_string(il) + ".";
        b.vector(l + "attn_norm.weight", E, 1.0f, 0.1f);
        if (arch == "phi3") {
            b.matrix(l + "attn_qkv.weight", "attn_qkv", il, {E, q_dim + 2 * kv_dim}, std_in);
        } else {
            b.matrix(l + "attn_q.weight", "attn_q", il, {E, q_dim}, std_in);
            b.matrix(l + "attn_k.weight", "attn_k", il, {E, kv_dim}, std_in);
            b.matrix(l + "attn_v.weight", "attn_v", il, {E, kv_dim}, std_in);
        }
        if (arch == "qwen2") {
            b.vector(l + "attn_q.bias", q_dim, 0.0f, 0.1f);
            b.vector(l + "attn_k.bias", kv_dim, 0.0f, 0.1f);
            b.vector(l + "attn_v.bias", kv_dim, 0.0f, 0.1f);
        }
        if (arch == "qwen3" || arch == "gemma3") {
            b.vector(l + "attn_q_norm.weight", head_dim, 1.0f, 0.1f);
            b.vector(l + "attn_k_norm.weight", head_dim, 1.0f, 0.1f);
        }
        b.matrix(l + "attn_output.weight", "attn_output", il, {q_dim, E}, std_in);
        if (gemma) b.vector(l + "post_attention_norm.weight", E, 1.0f, 0.1f);
        b.vector(l + "ffn_norm.weight", E, 1.0f, 0.1f);
        if (moe) {
            b.matrix(l + "ffn_gate_inp.weight", "router", il, {E, s.n_expert}, std_in);
            b.matrix(l + "ffn_gate_exps.weight", "ffn_gate", il, {E, s.n_ff, s.n_expert}, std_in);
            b.matrix(l + "ffn_up_exps.weight", "ffn_up", il, {E, s.n_ff, s.n_expert}, std_in);
            b.matrix(l + "ffn_down_exps.weight", "ffn_down", il, {s.n_ff, E, s.n_expert}, std_ff);
        } else if (arch == "phi3") {
            b.matrix(l + "ffn_up.weight", "ffn_up", il, {E, 2 * int64_t(s.n_ff)}, std_in);
            b.matrix(l + "ffn_down.weight", "ffn_down", il, {s.n_ff, E}, std_ff);
        } else {
            b.matrix(l + "ffn_gate.weight", "ffn_gate", il, {E, s.n_ff}, std_in);
            b.matrix(l + "ffn_up.weight", "ffn_up", il, {E, s.n_ff}, std_in);
            b.matrix(l + "ffn_down.weight", "ffn_down", il, {s.n_ff, E}, std_ff);
        }
        if (gemma) b.vector(l + "post_ffw_norm.weight", E, 1.0f, 0.1f);
    }
    return w.write(path);
}

}  // namespace berth
