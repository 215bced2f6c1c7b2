// avx2 matmul kernels (compiled with the avx2 flags; called only after the run-time CPU check).
#include "kernels/matmul_impl.h"

namespace berth::kern {

RowsFn rows_kernel_avx2(DType wtype) { return nullptr; }
QuantizeFn quantize_kernel_avx2(DType act) { return nullptr; }

}  // namespace berth::kern
