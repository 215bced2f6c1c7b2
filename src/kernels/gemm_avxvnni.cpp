// AVX-VNNI GEMM (VEX vpdpbusd on 256-bit registers: Alder Lake and later, Zen 5), compiled with the avxvnni flags and
// called only after the run-time CPU check. The kernels are gemm_simd256.inc's.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm_impl.h"

namespace berth::kern {
namespace avxvnni {
#define BERTH_GEMM_VNNI 1
#include "kernels/gemm_simd256.inc"
}  // namespace avxvnni

const GemmIsaKernels* gemm_kernels_avxvnni() {
    static const GemmIsaKernels k{avxvnni::kernel<16>,
                                  avxvnni::kernel<32>,
                                  avxvnni::transpose,
                                  avxvnni::quantize,
                                  avxvnni::kTile,
                                  true,
                                  "avxvnni"};
    return &k;
}

}  // namespace berth::kern
