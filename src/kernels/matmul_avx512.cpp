// avx512 matmul kernels (compiled with the avx512 flags; called only after the run-time CPU check).
#include "kernels/matmul_impl.h"

namespace berth::kern {

RowsFn rows_kernel_avx512(DType wtype) { return nullptr; }
QuantizeFn quantize_kernel_avx512(DType act) { return nullptr; }

}  // namespace berth::kern
