// Elementwise ops of the decoder: norms, rope, softmax, activations, KV stores. Scalar loops written so the
// compiler vectorizes them (-O3); they are a small share of a step next to the matrix products. rmsnorm, silu_mul
// and the fp16 stores take their avx512 versions (ops_avx512.cpp) where that path is active.
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"

namespace berth {

namespace kern::avx512 {  // ops_avx512.cpp
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);
void silu_mul(float* out, const float* gate, const float* up, int64_t n);
void store_f16(const float* x, fp16_t* d, int64_t n);
}  // namespace kern::avx512

void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
    if (active_isa() >= Isa::avx512) return kern::avx512::rmsnorm(out, x, w, n, eps);
    double ss = 0;  // double: the sum of squares of large rows must not lose precision
    for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
    float scale = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
    if (w) {
        for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
    } else {
        for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale;
    }
}

void rope(float* x, int n_heads, int head_dim, int n_rot, int64_t pos, float base, float freq_scale, bool neox,
          const float* freq_factors) {
    const int half = n_rot / 2;
    const float theta_scale = std::pow(base, -2.0f / float(n_rot));
    float theta = float(pos) * freq_scale;
    for (int i = 0; i < half; ++i) {
        float t = freq_factors ? theta / freq_factors[i] : theta;
        float c = std::cos(t), s = std::sin(t);
        for (int h = 0; h < n_heads; ++h) {
            float* v = x + int64_t(h) * head_dim;
            int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
        theta *= theta_scale;
    }
}

void softmax(float* x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    float inv = float(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void softcap(float* x, int64_t n, float cap) {
    float inv = 1.0f / cap;
    for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] * inv);
}

void silu_mul(float* out, const float* gate, const float* up, int64_t n) {
    if (active_isa() >= Isa::avx512) return kern::avx512::silu_mul(out, gate, up, n);
    for (int64_t i = 0; i < n; ++i) {
        float g = gate[i];
        out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void gelu_mul(float* out, const float* gate, const float* up, int64_t n) {
    constexpr float kSqrt2OverPi = 0.79788456080286535588f, kCoef = 0.044715f;
    for (int64_t i = 0; i < n; ++i) {
        float g = gate[i];
        float y = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * g * (1.0f + kCoef * g * g)));
        out[i] = y * up[i];
    }
}

void add_inplace(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void store_row(DType t, const float* x, void* dst, int64_t n) {
    switch (t) {
        case DType::F32: std::memcpy(dst, x, size_t(n) * 4); return;
        case DType::F16: {
            fp16_t* d = static_cast<fp16_t*>(dst);
            if (active_isa() >= Isa::avx512) return kern::avx512::store_f16(x, d, n);
            for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_fp16(x[i]);
            return;
        }
        default: quantize_row_ref(t, x, dst, n); return;
    }
}

}  // namespace berth
