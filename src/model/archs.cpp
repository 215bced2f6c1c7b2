// The per-architecture parts of the generic decoder: which tensors exist and which ops apply.
#include "model/model_internal.h"

namespace berth {

const ArchTraits& arch_traits(const std::string& arch) {
    static const ArchTraits kLlama{.name = "llama"};
    static const ArchTraits kQwen2{.name = "qwen2", .qkv_bias = true};
    static const ArchTraits kQwen3{.name = "qwen3", .qk_norm = true};
    static const ArchTraits kPhi3{.name = "phi3", .fused_qkv = true, .fused_gate_up = true};
    static const ArchTraits kGemma2{.name = "gemma2", .post_norms = true, .act = Activation::gelu};
    static const ArchTraits kGemma3{.name = "gemma3", .qk_norm = true, .post_norms = true, .act = Activation::gelu};
    if (arch == "qwen2") return kQwen2;
    if (arch == "qwen3") return kQwen3;
    if (arch == "phi3") return kPhi3;
    if (arch == "gemma2") return kGemma2;
    if (arch == "gemma3") return kGemma3;
    return kLlama;
}

}  // namespace berth
