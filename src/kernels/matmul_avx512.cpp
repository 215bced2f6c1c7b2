// avx512 matmul kernels (compiled with the avx512 flags; called only after the run-time CPU check).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/matmul_impl.h"

namespace berth::kern {
namespace avx512 {
#define BERTH_VNNI 1
#define BERTH_NT_MAX 8
#include "kernels/matmul_simd.inc"
}  // namespace avx512

RowsFn rows_kernel_avx512(DType wtype) { return avx512::simd_rows_kernel(wtype); }
QuantizeFn quantize_kernel_avx512(DType act) { return avx512::simd_quantize_kernel(act); }

}  // namespace berth::kern
