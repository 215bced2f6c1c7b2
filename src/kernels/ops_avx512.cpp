// avx512 versions of the elementwise ops that run on the calling thread between a decode step's matrix products
// (ops.cpp picks them): the compiler leaves the scalar loops unvectorized (rmsnorm's double sum is one chain of
// dependent adds; silu calls expf per element; fp16 stores convert one value at a time), and while the caller
// runs them the pool's other threads wait. TinyLlama Q4_K_M decode on 2 threads (perf record -F 2000 of berth bench
// --only decode --gen 256, Intel Xeon): silu_mul with its expf, rmsnorm and the fp16 KV stores took 2.3 % of the
// calling thread's samples as scalar loops, 0.7 % here; the other thread's waiting went from 8.9 % to 7.2 %.
//
// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 headers (GCC bug 105593), as in matmul_avx512.cpp.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "kernels/kernels.h"
#include "kernels/simd_avx512.h"

namespace berth::kern::avx512 {

void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
    // The sum of squares in double, as the scalar rmsnorm: 8 lanes in each of two accumulators.
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(x + i)), b = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8));
        s0 = _mm512_fmadd_pd(a, a, s0);
        s1 = _mm512_fmadd_pd(b, b, s1);
    }
    double ss = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    for (; i < n; ++i) ss += double(x[i]) * x[i];
    const __m512 scale = _mm512_set1_ps(float(1.0 / std::sqrt(ss / double(n) + double(eps))));
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(out + i, m, v);
    }
}

void silu_mul(float* out, const float* gate, const float* up, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
        const __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
    }
}

void store_f16(const float* x, fp16_t* d, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(d + i, m, h);
    }
}

}  // namespace berth::kern::avx512
