// Scalar matmul kernels for every weight type: integer dot products against quantized activations, as ggml's
// generic vec_dot_*_q8_* do. The fallback when no SIMD kernel exists, and readable next to the SIMD ones.
#include <cstring>

#include "kernels/matmul_impl.h"

namespace berth::kern {
namespace {

float dot_f32(const float* w, const float* x, int64_t n) {
    float s[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += w[i + k] * x[i + k];
    for (; i < n; i++) s[0] += w[i] * x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float dot_f16(const fp16_t* w, const float* x, int64_t n) {
    float s[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += fp16_to_fp32(w[i + k]) * x[i + k];
    for (; i < n; i++) s[0] += fp16_to_fp32(w[i]) * x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float dot_bf16(const bf16_t* w, const float* x, int64_t n) {
    float s[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += bf16_to_fp32(w[i + k]) * x[i + k];
    for (; i < n; i++) s[0] += bf16_to_fp32(w[i]) * x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float dot_q4_0(const BlockQ4_0* w, const BlockQ8_0* a, int64_t nb) {
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((w[i].qs[j] & 15) - 8) * a[i].qs[j] + ((w[i].qs[j] >> 4) - 8) * a[i].qs[j + 16];
        sum += sumi * fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d);
    }
    return sum;
}

float dot_q4_1(const BlockQ4_1* w, const BlockQ8_1* a, int64_t nb) {
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) sumi += (w[i].qs[j] & 15) * a[i].qs[j] + (w[i].qs[j] >> 4) * a[i].qs[j + 16];
        sum += sumi * fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) + fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
    }
    return sum;
}

float dot_q5_0(const BlockQ5_0* w, const BlockQ8_0* a, int64_t nb) {
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, w[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            const int x0 = ((w[i].qs[j] & 15) | (((qh >> j) << 4) & 0x10)) - 16;
            const int x1 = ((w[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
            sumi += x0 * a[i].qs[j] + x1 * a[i].qs[j + 16];
        }
        sum += sumi * fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d);
    }
    return sum;
}

float dot_q5_1(const BlockQ5_1* w, const BlockQ8_1* a, int64_t nb) {
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, w[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            const int x0 = (w[i].qs[j] & 15) | (((qh >> j) << 4) & 0x10);
            const int x1 = (w[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
            sumi += x0 * a[i].qs[j] + x1 * a[i].qs[j + 16];
        }
        sum += sumi * fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) + fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
    }
    return sum;
}

float dot_q8_0(const BlockQ8_0* w, const BlockQ8_0* a, int64_t nb) {
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += w[i].qs[j] * a[i].qs[j];
        sum += sumi * fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d);
    }
    return sum;
}

// K-quants: unpack each super-block into 256 small integers q[e] and per-16 integer scales/mins so that
// value[e] = d * scale[e/16] * q[e] - dmin * min[e/16]; then integer dots against the Q8_K activations,
// using the activation group sums (bsums) for the min term.
struct KBlock {
    int8_t q[QK_K];
    int scale[16];
    int min[16];
    float d, dmin;
};

void unpack_q2_K(const BlockQ2_K& b, KBlock& k) {
    for (int e = 0; e < QK_K; e++) k.q[e] = int8_t((b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3);
    for (int j = 0; j < 16; j++) k.scale[j] = b.scales[j] & 15, k.min[j] = b.scales[j] >> 4;
    k.d = fp16_to_fp32(b.d);
    k.dmin = fp16_to_fp32(b.dmin);
}

void unpack_q3_K(const BlockQ3_K& b, KBlock& k) {
    for (int e = 0; e < QK_K; e++) {
        const int lo = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        const int hi = (b.hmask[e % 32] >> (e / 32)) & 1;
        k.q[e] = int8_t((lo | (hi << 2)) - 4);
    }
    for (int j = 0; j < 16; j++) {
        int sc = j < 8 ? b.scales[j] & 15 : b.scales[j - 8] >> 4;
        sc |= ((b.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
        k.scale[j] = sc - 32;
        k.min[j] = 0;
    }
    k.d = fp16_to_fp32(b.d);
    k.dmin = 0;
}

void k4_scales(const uint8_t* s, KBlock& k) {
    for (int j = 0; j < 8; j++) {
        int sc, m;
        scale_min_k4(j, s, &sc, &m);
        k.scale[2 * j] = k.scale[2 * j + 1] = sc;
        k.min[2 * j] = k.min[2 * j + 1] = m;
    }
}

void unpack_q4_K(const BlockQ4_K& b, KBlock& k) {
    for (int e = 0; e < QK_K; e++) {
        const uint8_t byte = b.qs[32 * (e / 64) + e % 32];
        k.q[e] = int8_t((e % 64) < 32 ? byte & 15 : byte >> 4);
    }
    k4_scales(b.scales, k);
    k.d = fp16_to_fp32(b.d);
    k.dmin = fp16_to_fp32(b.dmin);
}

void unpack_q5_K(const BlockQ5_K& b, KBlock& k) {
    for (int e = 0; e < QK_K; e++) {
        const uint8_t byte = b.qs[32 * (e / 64) + e % 32];
        const int lo = (e % 64) < 32 ? byte & 15 : byte >> 4;
        const int hi = (b.qh[e % 32] >> (e / 32)) & 1;
        k.q[e] = int8_t(lo | (hi << 4));
    }
    k4_scales(b.scales, k);
    k.d = fp16_to_fp32(b.d);
    k.dmin = fp16_to_fp32(b.dmin);
}

void unpack_q6_K(const BlockQ6_K& b, KBlock& k) {
    for (int e = 0; e < QK_K; e++) {
        const int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
        const uint8_t ql = b.ql[64 * h + l + (quarter & 1) * 32];
        const int lo = quarter >= 2 ? ql >> 4 : ql & 15;
        const int hi = (b.qh[32 * h + l] >> (2 * quarter)) & 3;
        k.q[e] = int8_t((lo | (hi << 4)) - 32);
    }
    for (int j = 0; j < 16; j++) k.scale[j] = b.scales[j], k.min[j] = 0;
    k.d = fp16_to_fp32(b.d);
    k.dmin = 0;
}

template <typename Block, void (*Unpack)(const Block&, KBlock&)>
float dot_k(const Block* w, const BlockQ8_K* a, int64_t nb) {
    KBlock k;
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        Unpack(w[i], k);
        int sumi = 0, summ = 0;
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += k.q[16 * j + l] * a[i].qs[16 * j + l];
            sumi += k.scale[j] * s;
            summ += k.min[j] * a[i].bsums[j];
        }
        sum += a[i].d * (k.d * sumi - k.dmin * summ);
    }
    return sum;
}

template <typename WB, typename AB, float (*Dot)(const WB*, const AB*, int64_t)>
float dot_blocks(const void* w, const void* a, int64_t n, int64_t qk) {
    return Dot(static_cast<const WB*>(w), static_cast<const AB*>(a), n / qk);
}

void rows_scalar(const MatmulTask& t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t* wr = t.w + r * t.w_row_bytes;
        for (int64_t k = 0; k < t.n_tokens; k++) {
            const uint8_t* xq = t.xq ? t.xq + k * t.xq_row_bytes : nullptr;
            t.y[k * t.ldy + r] = vec_dot_scalar(t.wtype, wr, xq, t.x + k * t.n_cols, t.n_cols);
        }
    }
}

}  // namespace

void make_pairs_q8_0(const void* blocks, int64_t n_cols, uint8_t* out) {
    CHECK(n_cols % 64 == 0);
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(blocks);
    for (int64_t p = 0; p < n_cols / 64; p++, out += kPairBytes) {
        float d[16];
        for (int h = 0; h < 2; h++) {
            for (int e = 0; e < QK8_0; e++) out[32 * h + e] = uint8_t(b[2 * p + h].qs[e] + 128);
            for (int l = 0; l < 8; l++) d[8 * h + l] = fp16_to_fp32(b[2 * p + h].d);
        }
        std::memcpy(out + 64, d, sizeof(d));
    }
}

void make_k_records(const void* blocks, int64_t n_cols, uint8_t* out) {
    const BlockQ8_K* b = static_cast<const BlockQ8_K*>(blocks);
    for (int64_t i = 0; i < n_cols / QK_K; i++, out += kKRecordBytes) {
        std::memset(out, 0, kKRecordBytes);
        for (int j = 0; j < 16; j++)
            for (int m = 0; m < 4; m++) std::memcpy(out + 64 * m + 4 * j, b[i].qs + 16 * j + 4 * m, 4);
        int32_t bias[16];
        float sums[8];
        for (int j = 0; j < 16; j++) bias[j] = -32 * int32_t(b[i].bsums[j]);
        for (int s = 0; s < 8; s++) sums[s] = b[i].d * float(b[i].bsums[2 * s] + b[i].bsums[2 * s + 1]);
        std::memcpy(out + kKRecOffsetBias, bias, sizeof(bias));
        std::memcpy(out + kKRecOffsetSums, sums, sizeof(sums));
        std::memcpy(out + kKRecOffsetD, &b[i].d, sizeof(float));
    }
}

DType act_type(DType wtype) {
    switch (wtype) {
        case DType::Q4_0:
        case DType::Q5_0:
        case DType::Q8_0:
        case DType::Q4_0_R16:
        case DType::Q8_0_R16: return DType::Q8_0;
        case DType::Q4_1:
        case DType::Q5_1: return DType::Q8_1;
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::Q4_K:
        case DType::Q4_K_R16:
        case DType::Q6_K_R16:
        case DType::Q5_K:
        case DType::Q6_K: return DType::Q8_K;
        default: return DType::F32;
    }
}

float vec_dot_scalar(DType wtype, const void* w, const void* xq, const float* x, int64_t n) {
    switch (wtype) {
        case DType::F32: return dot_f32(static_cast<const float*>(w), x, n);
        case DType::F16: return dot_f16(static_cast<const fp16_t*>(w), x, n);
        case DType::BF16: return dot_bf16(static_cast<const bf16_t*>(w), x, n);
        case DType::Q4_0: return dot_blocks<BlockQ4_0, BlockQ8_0, dot_q4_0>(w, xq, n, QK4_0);
        case DType::Q4_1: return dot_blocks<BlockQ4_1, BlockQ8_1, dot_q4_1>(w, xq, n, QK4_1);
        case DType::Q5_0: return dot_blocks<BlockQ5_0, BlockQ8_0, dot_q5_0>(w, xq, n, QK5_0);
        case DType::Q5_1: return dot_blocks<BlockQ5_1, BlockQ8_1, dot_q5_1>(w, xq, n, QK5_1);
        case DType::Q8_0: return dot_blocks<BlockQ8_0, BlockQ8_0, dot_q8_0>(w, xq, n, QK8_0);
        case DType::Q2_K: return dot_blocks<BlockQ2_K, BlockQ8_K, dot_k<BlockQ2_K, unpack_q2_K>>(w, xq, n, QK_K);
        case DType::Q3_K: return dot_blocks<BlockQ3_K, BlockQ8_K, dot_k<BlockQ3_K, unpack_q3_K>>(w, xq, n, QK_K);
        case DType::Q4_K: return dot_blocks<BlockQ4_K, BlockQ8_K, dot_k<BlockQ4_K, unpack_q4_K>>(w, xq, n, QK_K);
        case DType::Q5_K: return dot_blocks<BlockQ5_K, BlockQ8_K, dot_k<BlockQ5_K, unpack_q5_K>>(w, xq, n, QK_K);
        case DType::Q6_K: return dot_blocks<BlockQ6_K, BlockQ8_K, dot_k<BlockQ6_K, unpack_q6_K>>(w, xq, n, QK_K);
        default: CHECK_MSG(false, "matmul: unsupported weight dtype");
    }
    return 0;
}

RowsFn rows_kernel_scalar(DType wtype) { return rows_scalar; }

}  // namespace berth::kern
