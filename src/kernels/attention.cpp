// Attention of one query head over a paged KV cache (kv.h layout, described by AttnKv).
#include <cmath>

#include "kernels/kernels.h"

namespace berth {
namespace {

inline const uint8_t* kv_row(const AttnKv& kv, int64_t pos, int kv_head, int64_t offset) {
    int64_t page = kv.pages[pos / kv.page_positions];
    int64_t slot = pos % kv.page_positions;
    return kv.base + page * kv.page_bytes + offset + (slot * kv.n_head_kv + kv_head) * kv.head_row_bytes;
}

inline float dot_f16(const float* q, const fp16_t* k, int n) {
    float acc = 0;
    for (int i = 0; i < n; ++i) acc += q[i] * fp16_to_fp32(k[i]);
    return acc;
}

inline float dot_f32(const float* q, const float* k, int n) {
    float acc = 0;
    for (int i = 0; i < n; ++i) acc += q[i] * k[i];
    return acc;
}

}  // namespace

void attention_head(const float* q, const AttnKv& kv, int kv_head, int64_t pos_begin, int64_t pos_end, float scale,
                    float cap, float* out, float* scores, float* tmp) {
    const int d = kv.head_dim;
    const int64_t n = pos_end - pos_begin;
    for (int64_t j = 0; j < n; ++j) {
        const uint8_t* k = kv_row(kv, pos_begin + j, kv_head, kv.k_offset);
        float s;
        switch (kv.type) {
            case DType::F16: s = dot_f16(q, reinterpret_cast<const fp16_t*>(k), d); break;
            case DType::F32: s = dot_f32(q, reinterpret_cast<const float*>(k), d); break;
            default:
                dequantize_row_ref(kv.type, k, tmp, d);
                s = dot_f32(q, tmp, d);
                break;
        }
        s *= scale;
        if (cap > 0) s = cap * std::tanh(s / cap);
        scores[j] = s;
    }
    softmax(scores, n);
    for (int i = 0; i < d; ++i) out[i] = 0;
    for (int64_t j = 0; j < n; ++j) {
        const uint8_t* v = kv_row(kv, pos_begin + j, kv_head, kv.v_offset);
        const float w = scores[j];
        switch (kv.type) {
            case DType::F16: {
                const fp16_t* vh = reinterpret_cast<const fp16_t*>(v);
                for (int i = 0; i < d; ++i) out[i] += w * fp16_to_fp32(vh[i]);
                break;
            }
            case DType::F32: {
                const float* vf = reinterpret_cast<const float*>(v);
                for (int i = 0; i < d; ++i) out[i] += w * vf[i];
                break;
            }
            default:
                dequantize_row_ref(kv.type, v, tmp + d, d);
                for (int i = 0; i < d; ++i) out[i] += w * tmp[d + i];
                break;
        }
    }
}

namespace kern::avx2 {
void attention_group_f16(const float* q, int group, const AttnKv& kv, int kv_head, int64_t begin, int64_t end,
                         float scale, float cap, float* out, float* scores);
}

void attention_group(const float* q, int group, const AttnKv& kv, int kv_head, int64_t pos_begin, int64_t pos_end,
                     float scale, float cap, float* out, float* scores, float* tmp) {
    if (kv.type == DType::F16 && kv.head_dim % 8 == 0 && active_isa() != Isa::scalar) {
        kern::avx2::attention_group_f16(q, group, kv, kv_head, pos_begin, pos_end, scale, cap, out, scores);
        return;
    }
    const int64_t d = kv.head_dim;
    for (int g = 0; g < group; ++g)
        attention_head(q + g * d, kv, kv_head, pos_begin, pos_end, scale, cap, out + g * d, scores, tmp);
}

}  // namespace berth
