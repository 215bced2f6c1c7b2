// Inline helpers of the avx512 translation units: the lane mask of a loop's last partial vector, e^x
// (attention_flash_avx512.cpp, ops_avx512.cpp, matmul_avx512.cpp, gemm_avx512.cpp, gemm_amx.cpp), and vpdpbusd
// against a broadcast dword (gemm_avx512.cpp, matmul_r16_avx512.cpp).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace berth::kern::avx512 {

// The first min(n, 16) lanes (n >= 1): the mask of a 16-lane step with n elements left.
inline __mmask16 first_lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// e^x for 16 lanes: 2^n · p(r) with n = round(x · log2 e), r = x − n · ln 2 (two-part ln 2), p a degree-6
// Taylor polynomial on |r| ≤ ln2/2 (relative error < 2e-7); x ≤ −88 gives 0 (also for −inf), x ≥ 88 gives e^88
// (about 1.65e38, finite).
inline __m512 exp512(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-88.0f), hi = _mm512_set1_ps(88.0f);
    const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(__mmask16(~under), p, n);
}

// acc += w · broadcast(4 bytes at p), with the broadcast folded into vpdpbusd's memory operand ({1to16}); GCC
// 12 emits a separate vpbroadcastd for the intrinsic form, one more uop per multiply-accumulate. Where several
// vpdpbusd take the same dword (a tile of several weight groups), the intrinsic form's one broadcast serves them all.
inline __m512i dpbusd_bcast(__m512i acc, __m512i w, const void* p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*static_cast<const int32_t*>(p)));
    return acc;
}

}  // namespace berth::kern::avx512
