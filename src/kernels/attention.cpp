// Attention of one query head over a paged KV cache (kv.h layout, described by AttnKv).
#include <cmath>
#include <limits>

#include "kernels/kernels.h"

namespace berth {
namespace {

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
        const uint8_t* k = kv.row(pos_begin + j, kv_head, kv.k_offset);
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
        const uint8_t* v = kv.row(pos_begin + j, kv_head, kv.v_offset);
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

namespace kern::avx512 {
size_t attention_rows_work_floats(int head_dim);
void attention_rows_avx512(const float* q, int64_t q_stride, int n_tok, int group, const int64_t* begin,
                           const int64_t* end, int64_t kb, int64_t ke, const AttnKv& kv, int kv_head, float scale,
                           float cap, AttnPartial st, float* work);
}  // namespace kern::avx512

bool attention_rows_supported(const AttnKv& kv) {
    return isa_supported(Isa::avx512) && int(active_isa()) >= int(Isa::avx512) &&
           (kv.type == DType::F16 || kv.type == DType::F32) && kv.head_dim % 16 == 0 && kv.head_dim <= 256;
}

size_t attention_rows_scratch_floats(int head_dim) { return kern::avx512::attention_rows_work_floats(head_dim) + 16; }

AttnPartial attention_partial_view(float* mem, int head_dim) {
    return {mem, mem + int64_t(kAttnMaxRows) * head_dim, mem + int64_t(kAttnMaxRows) * (head_dim + 1)};
}

AttnPartial attention_partial_init(float* mem, int rows, int head_dim) {
    CHECK(rows >= 1 && rows <= kAttnMaxRows);
    AttnPartial st = attention_partial_view(mem, head_dim);
    for (int64_t i = 0; i < int64_t(rows) * head_dim; ++i) st.o[i] = 0.0f;
    for (int r = 0; r < rows; ++r) st.m[r] = -std::numeric_limits<float>::infinity(), st.l[r] = 0.0f;
    return st;
}

void attention_rows(const float* q, int64_t q_stride, int n_tok, int group, const int64_t* begin, const int64_t* end,
                    int64_t kb, int64_t ke, const AttnKv& kv, int kv_head, float scale, float softcap, AttnPartial st,
                    float* scratch) {
    CHECK(attention_rows_supported(kv) && n_tok * group <= kAttnMaxRows);
    float* work = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) / 64 * 64);
    kern::avx512::attention_rows_avx512(q, q_stride, n_tok, group, begin, end, kb, ke, kv, kv_head, scale, softcap, st,
                                        work);
}

void attention_merge(const AttnPartial* parts, int n_parts, int n_tok, int group, int head_dim, float* out,
                     int64_t out_stride) {
    for (int r = 0; r < n_tok * group; ++r) {
        float m = -std::numeric_limits<float>::infinity();
        for (int p = 0; p < n_parts; ++p) m = std::max(m, parts[p].m[r]);
        float* o = out + int64_t(r / group) * out_stride + int64_t(r % group) * head_dim;
        for (int i = 0; i < head_dim; ++i) o[i] = 0.0f;
        if (m == -std::numeric_limits<float>::infinity()) continue;
        float l = 0;
        for (int p = 0; p < n_parts; ++p) {
            if (parts[p].l[r] == 0.0f) continue;
            const float w = std::exp(parts[p].m[r] - m);
            l += parts[p].l[r] * w;
            const float* po = parts[p].o + int64_t(r) * head_dim;
            for (int i = 0; i < head_dim; ++i) o[i] += po[i] * w;
        }
        const float inv = 1.0f / l;
        for (int i = 0; i < head_dim; ++i) o[i] *= inv;
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
