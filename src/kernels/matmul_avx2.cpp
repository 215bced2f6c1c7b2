// avx2 matmul kernels (compiled with the avx2 flags; called only after the run-time CPU check).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/matmul_impl.h"

namespace berth::kern {
namespace avx2 {
#define BERTH_VNNI 0
#define BERTH_NT_MAX 4
#include "kernels/matmul_simd.inc"
}  // namespace avx2

RowsFn rows_kernel_avx2(DType wtype) { return avx2::simd_rows_kernel(wtype); }
QuantizeFn quantize_kernel_avx2(DType act) { return avx2::simd_quantize_kernel(act); }

}  // namespace berth::kern
