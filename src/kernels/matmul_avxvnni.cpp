// AVX-VNNI matmul kernels (VEX vpdpbusd/vpdpwssd on 256-bit registers: Intel since Alder Lake, AMD since Zen 4),
// compiled with the avxvnni flags and called only after the run-time CPU check: matmul_simd.inc's tiles with
// one instruction per u8·s8 or i16·i16 dot product where plain AVX2 takes two or three.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/matmul_impl.h"

namespace berth::kern {
namespace avxvnni {
#define BERTH_VNNI 2
#define BERTH_NT_MAX 4
#include "kernels/matmul_simd.inc"
}  // namespace avxvnni

RowsFn rows_kernel_avxvnni(DType wtype) { return avxvnni::simd_rows_kernel(wtype); }
QuantizeFn quantize_kernel_avxvnni(DType act) { return avxvnni::simd_quantize_kernel(act); }

}  // namespace berth::kern
