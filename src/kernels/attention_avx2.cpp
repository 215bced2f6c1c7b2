// AVX2/F16C attention over an f16 paged KV cache: the query heads that share one KV head are processed
// together, so every K and V row is converted once per group, not once per head.
#include <immintrin.h>

#include <cmath>

#include "kernels/kernels.h"
#include "kernels/prefetch.h"

namespace berth::kern::avx2 {
namespace {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

}  // namespace

void attention_group_f16(const float* q, int group, const AttnKv& kv, int kv_head, int64_t begin, int64_t end,
                         float scale, float cap, float* out, float* scores) {
    const int d = kv.head_dim;  // multiple of 8 (checked by the caller)
    const int64_t n = end - begin;
    // Rows kAhead positions ahead are prefetched: one KV head's rows lie n_head_kv rows apart in pages of a few
    // KiB, which the hardware prefetcher does not follow (attention_flash_avx512.cpp measured the stall).
    constexpr int64_t kAhead = 8;
    for (int64_t j = 0; j < n; ++j) {
        if (j + kAhead < n) prefetch_lines(kv.row(begin + j + kAhead, kv_head, kv.k_offset), size_t(kv.head_row_bytes));
        const uint16_t* k = reinterpret_cast<const uint16_t*>(kv.row(begin + j, kv_head, kv.k_offset));
        for (int g = 0; g < group; ++g) {
            const float* qg = q + int64_t(g) * d;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            int i = 0;
            for (; i + 16 <= d; i += 16) {
                __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i)));
                __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i + 8)));
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(qg + i), k0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(qg + i + 8), k1, acc1);
            }
            for (; i < d; i += 8) {
                __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i)));
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(qg + i), k0, acc0);
            }
            float s = hsum(_mm256_add_ps(acc0, acc1)) * scale;
            if (cap > 0) s = cap * std::tanh(s / cap);
            scores[int64_t(g) * n + j] = s;
        }
    }
    for (int g = 0; g < group; ++g) softmax(scores + int64_t(g) * n, n);
    for (int64_t i = 0; i < int64_t(group) * d; ++i) out[i] = 0;
    for (int64_t j = 0; j < n; ++j) {
        if (j + kAhead < n) prefetch_lines(kv.row(begin + j + kAhead, kv_head, kv.v_offset), size_t(kv.head_row_bytes));
        const uint16_t* v = reinterpret_cast<const uint16_t*>(kv.row(begin + j, kv_head, kv.v_offset));
        for (int i = 0; i < d; i += 8) {
            __m256 v8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i)));
            for (int g = 0; g < group; ++g) {
                float* o = out + int64_t(g) * d + i;
                _mm256_storeu_ps(o,
                                 _mm256_fmadd_ps(_mm256_set1_ps(scores[int64_t(g) * n + j]), v8, _mm256_loadu_ps(o)));
            }
        }
    }
}

}  // namespace berth::kern::avx2
