// The runtime calls that need no GPU: cuBLAS, opened with dlopen when a GPU is opened, must load from the
// toolkit this berth was built with and have every function the kernels call (a wrong name would otherwise
// surface only on the first GPU run); without a GPU, gpu_count says why.
#include <gtest/gtest.h>

#include <string>

#include "cuda/cuda.h"

namespace berth::cuda {
namespace {

TEST(Runtime, CublasLoadsWithEveryFunctionTheKernelsCall) {
    const Status s = blas_load();
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    // Loaded once: a second call answers the same.
    EXPECT_TRUE(blas_load().is_ok());
}

TEST(Runtime, NoGpuComesWithAReason) {
    std::string why;
    const int n = gpu_count(&why);
    ASSERT_GE(n, 0);
    if (n > 0) GTEST_SKIP() << n << " GPU(s) present: the reason for none is not given";
    EXPECT_FALSE(why.empty());
    EXPECT_NE(why.find("GPU"), std::string::npos) << why;
}

}  // namespace
}  // namespace berth::cuda
