// AVX2 GEMM (no VNNI: maddubs + madd), compiled with the avx2 flags and called only after the
// run-time CPU check. The kernels are gemm_simd256.inc's.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm_impl.h"

namespace berth::kern {
namespace avx2 {
#define BERTH_GEMM_VNNI 0
#include "kernels/gemm_simd256.inc"
}  // namespace avx2

const GemmIsaKernels* gemm_kernels_avx2() {
    static const GemmIsaKernels k{
        avx2::kernel<16>, avx2::kernel<32>, avx2::transpose, avx2::quantize, avx2::kTile, false, "avx2"};
    return &k;
}

}  // namespace berth::kern
