// Internal to the cuda module: the per-element arithmetic of the CUDA kernels, written once for the host and the
// device (__host__ __device__ under nvcc, plain inline C++ elsewhere). The GPU kernels are thin loops over these
// functions; block_math_test.cpp checks each against the tensor module's scalar reference on the host, on every
// CI run, so that what the first GPU run has to verify is the loops, not the block formats.
//
// Products and sums that the reference rounds separately are written with mul()/add(): nvcc would otherwise fuse
// them into one FMA (one rounding) and the device would differ from the reference in the last bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define BERTH_HD __host__ __device__ __forceinline__
#else
#define BERTH_HD inline
#endif

namespace berth::cuda {

// Weight and KV types by their GGUF ids (tensor.h DType), as the kernels switch on them.
enum BlockType : int {
    kF32 = 0,
    kF16 = 1,
    kQ4_0 = 2,
    kQ4_1 = 3,
    kQ5_0 = 6,
    kQ5_1 = 7,
    kQ8_0 = 8,
    kQ2_K = 10,
    kQ3_K = 11,
    kQ4_K = 12,
    kQ5_K = 13,
    kQ6_K = 14,
    kBF16 = 30,
};

BERTH_HD float mul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
BERTH_HD float add(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

BERTH_HD float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
BERTH_HD uint32_t float_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

// IEEE half → float, exact (subnormals, infinities and NaN included).
BERTH_HD float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0) return bits_to_float(sign);
        // Subnormal: normalize.
        int e = -1;
        do {
            mant <<= 1;
            ++e;
        } while ((mant & 0x400) == 0);
        mant &= 0x3ff;
        return bits_to_float(sign | (uint32_t(127 - 15 - e) << 23) | (mant << 13));
    }
    return bits_to_float(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

// float → IEEE half, round to nearest even (as F16C and __float2half_rn); NaN stays NaN.
BERTH_HD uint16_t float_to_half(float f) {
    const uint32_t u = float_to_bits(f);
    const uint16_t sign = uint16_t((u >> 16) & 0x8000);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return uint16_t(sign | 0x7e00 | ((a >> 13) & 0x3ff));  // NaN (quiet)
    if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00);                       // rounds to infinity
    if (a >= 0x38800000u) {                                                     // normal half
        uint32_t m = a - 0x38000000u;                                           // rebias 127 → 15
        m += 0xfff + ((m >> 13) & 1);                                           // round to nearest even
        return uint16_t(sign | (m >> 13));
    }
    if (a < 0x33000001u) return sign;  // below half the smallest subnormal: ±0
    // Subnormal half: shift the mantissa (with its implicit bit) into place, rounding to nearest even.
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - e;  // 14 + (112 - e)
    uint32_t r = m >> shift;
    const uint32_t rest = m & ((1u << shift) - 1), half_ulp = 1u << (shift - 1);
    if (rest > half_ulp || (rest == half_ulp && (r & 1))) ++r;
    return uint16_t(sign | r);
}

BERTH_HD float bf16_to_float(uint16_t h) { return bits_to_float(uint32_t(h) << 16); }

BERTH_HD uint16_t load_u16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
BERTH_HD float load_half(const uint8_t* p) { return half_to_float(load_u16(p)); }

// Elements and bytes of one block (1 and the element size for the float types).
BERTH_HD int block_elems(int type) {
    switch (type) {
        case kF32:
        case kF16:
        case kBF16: return 1;
        case kQ2_K:
        case kQ3_K:
        case kQ4_K:
        case kQ5_K:
        case kQ6_K: return 256;
        default: return 32;
    }
}
BERTH_HD int block_bytes(int type) {
    switch (type) {
        case kF32: return 4;
        case kF16:
        case kBF16: return 2;
        case kQ4_0: return 18;
        case kQ4_1: return 20;
        case kQ5_0: return 22;
        case kQ5_1: return 24;
        case kQ8_0: return 34;
        case kQ2_K: return 84;
        case kQ3_K: return 110;
        case kQ4_K: return 144;
        case kQ5_K: return 176;
        case kQ6_K: return 210;
        default: return 0;
    }
}

// The 6-bit scale and min j of a Q4_K / Q5_K super-block.
BERTH_HD void scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The 6-bit signed scale j of a Q3_K super-block.
BERTH_HD int scale_q3_k(int j, const uint8_t* s) {
    int sc = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    sc |= ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
    return sc - 32;
}

// Dequantizes elements [32 c, 32 c + 32) of a row of `type` (c: the chunk index) into out; for the float types
// only the first n_valid of them exist (rows of any length). Bit-exact with tensor.h's dequantize_row_ref.
BERTH_HD void dequant_chunk32(int type, const uint8_t* row, int64_t c, int n_valid, float* out) {
    switch (type) {
        case kF32: {
            const uint8_t* p = row + c * 128;
            for (int i = 0; i < 32; ++i) {
                uint32_t u = 0;
                if (i < n_valid) memcpy(&u, p + 4 * i, 4);
                out[i] = bits_to_float(u);
            }
            return;
        }
        case kF16: {
            const uint8_t* p = row + c * 64;
            for (int i = 0; i < 32; ++i) out[i] = i < n_valid ? load_half(p + 2 * i) : 0.0f;
            return;
        }
        case kBF16: {
            const uint8_t* p = row + c * 64;
            for (int i = 0; i < 32; ++i) out[i] = i < n_valid ? bf16_to_float(load_u16(p + 2 * i)) : 0.0f;
            return;
        }
        case kQ4_0: {
            const uint8_t* b = row + c * 18;
            const float d = load_half(b);
            for (int j = 0; j < 16; ++j) {
                out[j] = mul(float((b[2 + j] & 0xF) - 8), d);
                out[j + 16] = mul(float((b[2 + j] >> 4) - 8), d);
            }
            return;
        }
        case kQ4_1: {
            const uint8_t* b = row + c * 20;
            const float d = load_half(b), m = load_half(b + 2);
            for (int j = 0; j < 16; ++j) {
                out[j] = add(mul(float(b[4 + j] & 0xF), d), m);
                out[j + 16] = add(mul(float(b[4 + j] >> 4), d), m);
            }
            return;
        }
        case kQ5_0:
        case kQ5_1: {
            const bool q51 = type == kQ5_1;
            const uint8_t* b = row + c * (q51 ? 24 : 22);
            const float d = load_half(b), m = q51 ? load_half(b + 2) : 0.0f;
            const uint8_t* qh8 = b + (q51 ? 4 : 2);
            const uint32_t qh =
                uint32_t(qh8[0]) | (uint32_t(qh8[1]) << 8) | (uint32_t(qh8[2]) << 16) | (uint32_t(qh8[3]) << 24);
            const uint8_t* qs = qh8 + 4;
            for (int j = 0; j < 16; ++j) {
                const int lo = (qs[j] & 0xF) | (((qh >> j) & 1) << 4);
                const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
                if (q51) {
                    out[j] = add(mul(float(lo), d), m);
                    out[j + 16] = add(mul(float(hi), d), m);
                } else {
                    out[j] = mul(float(lo - 16), d);
                    out[j + 16] = mul(float(hi - 16), d);
                }
            }
            return;
        }
        case kQ8_0: {
            const uint8_t* b = row + c * 34;
            const float d = load_half(b);
            for (int j = 0; j < 32; ++j) out[j] = mul(float(int8_t(b[2 + j])), d);
            return;
        }
        case kQ2_K: {
            const uint8_t* b = row + (c / 8) * 84;  // scales[16], qs[64], d, dmin
            const int j = int(c % 8), n = j / 4, j4 = j % 4;
            const float d = load_half(b + 80), dmin = load_half(b + 82);
            const uint8_t* q = b + 16 + 32 * n;
            for (int half = 0; half < 2; ++half) {
                const int sc = b[n * 8 + j4 * 2 + half];
                const float dl = mul(d, float(sc & 0xF)), ml = mul(dmin, float(sc >> 4));
                for (int l = 0; l < 16; ++l)
                    out[16 * half + l] = add(mul(dl, float((q[l + 16 * half] >> (2 * j4)) & 3)), -ml);
            }
            return;
        }
        case kQ3_K: {
            const uint8_t* b = row + (c / 8) * 110;  // hmask[32], qs[64], scales[12], d
            const int j = int(c % 8), n = j / 4, j4 = j % 4;
            const float d_all = load_half(b + 108);
            const uint8_t* hm = b;
            const uint8_t* q = b + 32 + 32 * n;
            const uint8_t mask = uint8_t(1u << (4 * n + j4));
            for (int half = 0; half < 2; ++half) {
                const float dl = mul(d_all, float(scale_q3_k(n * 8 + j4 * 2 + half, b + 96)));
                for (int l = 16 * half; l < 16 * half + 16; ++l)
                    out[l] = mul(dl, float(((q[l] >> (2 * j4)) & 3) - ((hm[l] & mask) ? 0 : 4)));
            }
            return;
        }
        case kQ4_K:
        case kQ5_K: {
            const bool q5 = type == kQ5_K;
            const uint8_t* b = row + (c / 8) * (q5 ? 176 : 144);  // d, dmin, scales[12], (qh[32]), qs[128]
            const int j = int(c % 8), jj = j / 2, hi = j % 2;
            const float d = load_half(b), dmin = load_half(b + 2);
            int sc, m;
            scale_min_k4(2 * jj + hi, b + 4, &sc, &m);
            const float dk = mul(d, float(sc)), mk = mul(dmin, float(m));
            const uint8_t* qh = b + 16;
            const uint8_t* q = b + (q5 ? 48 : 16) + 32 * jj;
            const uint8_t bit = uint8_t(1u << (2 * jj + hi));
            for (int l = 0; l < 32; ++l) {
                int v = hi ? q[l] >> 4 : q[l] & 0xF;
                if (q5 && (qh[l] & bit)) v += 16;
                out[l] = add(mul(dk, float(v)), -mk);
            }
            return;
        }
        case kQ6_K: {
            const uint8_t* b = row + (c / 8) * 210;  // ql[128], qh[64], scales[16], d
            const int j = int(c % 8), n = j / 4, quarter = j % 4;
            const float d = load_half(b + 208);
            const uint8_t* ql = b + 64 * n;
            const uint8_t* qh = b + 128 + 32 * n;
            const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * n);
            for (int l = 0; l < 32; ++l) {
                const int lo = quarter & 1 ? ql[l + 32] : ql[l];
                const int nib = quarter >= 2 ? lo >> 4 : lo & 0xF;
                const int q = (nib | (((qh[l] >> (2 * quarter)) & 3) << 4)) - 32;
                out[l] = mul(mul(d, float(sc[l / 16 + 2 * quarter])), float(q));
            }
            return;
        }
        default:
            for (int i = 0; i < 32; ++i) out[i] = 0.0f;
            return;
    }
}

// One element of a KV row (F32, F16, Q8_0 or Q4_0), as the CPU attention reads it.
BERTH_HD float kv_element(int type, const uint8_t* row, int i) {
    switch (type) {
        case kF32: {
            uint32_t u;
            memcpy(&u, row + 4 * i, 4);
            return bits_to_float(u);
        }
        case kF16: return load_half(row + 2 * i);
        case kQ8_0: {
            const uint8_t* b = row + (i / 32) * 34;
            return mul(float(int8_t(b[2 + i % 32])), load_half(b));
        }
        case kQ4_0: {
            const uint8_t* b = row + (i / 32) * 18;
            const int k = i % 32;
            const int q = k < 16 ? b[2 + k] & 0xF : b[2 + k - 16] >> 4;
            return mul(float(q - 8), load_half(b));
        }
        default: return 0.0f;
    }
}

BERTH_HD float abs_f(float x) { return x < 0 ? -x : x; }

// Quantizes one 32-element block of a KV row, bit-exact with tensor.h's quantize_row_ref (Q8_0, Q4_0).
BERTH_HD void quantize_kv_block(int type, const float* x, uint8_t* dst) {
    if (type == kQ8_0) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = abs_f(x[j]) > amax ? abs_f(x[j]) : amax;
        const float d = amax / 127, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = float_to_half(d);
        dst[0] = uint8_t(h & 0xff);
        dst[1] = uint8_t(h >> 8);
        for (int j = 0; j < 32; ++j) dst[2 + j] = uint8_t(int8_t(roundf(mul(x[j], id))));
    } else {  // kQ4_0
        float amax = 0, max = 0;
        for (int j = 0; j < 32; ++j)
            if (abs_f(x[j]) > amax) amax = abs_f(x[j]), max = x[j];
        const float d = max / -8, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = float_to_half(d);
        dst[0] = uint8_t(h & 0xff);
        dst[1] = uint8_t(h >> 8);
        for (int j = 0; j < 16; ++j) {
            int a = int(add(mul(x[j], id), 8.5f)), b = int(add(mul(x[j + 16], id), 8.5f));
            a = a > 15 ? 15 : a;
            b = b > 15 ? 15 : b;
            dst[2 + j] = uint8_t(a | (b << 4));
        }
    }
}

// Activations of the gated FFN, in the CPU kernels' formulas (kernels/ops.cpp).
BERTH_HD float silu(float g) { return g / (1.0f + expf(-g)); }
BERTH_HD float gelu_tanh(float g) {
    const float kSqrt2OverPi = 0.79788456080286535588f, kCoef = 0.044715f;
    return 0.5f * g * (1.0f + tanhf(kSqrt2OverPi * g * (1.0f + kCoef * g * g)));
}

// Rotary embedding: the angle of pair i (0 ≤ i < n_rot / 2) at position pos, and the two element indices it
// rotates (kernels/ops.cpp's rope()): theta_i = pos · freq_scale · base^(-2i/n_rot) / freq_factors[i].
BERTH_HD float rope_theta(int64_t pos, int i, int n_rot, float base, float freq_scale, const float* freq_factors) {
    // As the CPU: theta starts at pos · freq_scale and is multiplied by theta_scale once per pair (the same
    // roundings, so the angles agree to the bit whenever powf does).
    const float theta_scale = powf(base, -2.0f / float(n_rot));
    float t = mul(float(pos), freq_scale);
    for (int k = 0; k < i; ++k) t = mul(t, theta_scale);
    return freq_factors ? t / freq_factors[i] : t;
}
BERTH_HD void rope_pair(bool neox, int i, int n_rot, int* a, int* b) {
    *a = neox ? i : 2 * i;
    *b = neox ? i + n_rot / 2 : 2 * i + 1;
}

// Mixture-of-experts routing of one row (the CPU forward pass's): softmax over n_expert logits, the n_used
// largest (first index wins a tie), their probabilities renormalized. probs: n_expert scratch floats.
BERTH_HD void moe_route_row(const float* logits, int n_expert, int n_used, float* probs, int32_t* ids, float* w) {
    float mx = logits[0];
    for (int e = 1; e < n_expert; ++e) mx = logits[e] > mx ? logits[e] : mx;
    double sum = 0;
    for (int e = 0; e < n_expert; ++e) {
        probs[e] = expf(logits[e] - mx);
        sum += probs[e];
    }
    const float inv = float(1.0 / sum);
    for (int e = 0; e < n_expert; ++e) probs[e] *= inv;
    float total = 0;
    for (int k = 0; k < n_used; ++k) {
        int best = -1;
        for (int e = 0; e < n_expert; ++e) {
            bool taken = false;
            for (int j = 0; j < k; ++j) taken |= ids[j] == e;
            if (!taken && (best < 0 || probs[e] > probs[best])) best = e;
        }
        ids[k] = best;
        w[k] = probs[best];
        total += probs[best];
    }
    for (int k = 0; k < n_used; ++k) w[k] /= total;
}

}  // namespace berth::cuda
