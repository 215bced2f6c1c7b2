#include <gtest/gtest.h>

#include <cmath>

#include "kernels/kernels.h"

namespace berth {
namespace {

TEST(Bandwidth, DefaultBufferFollowsStreamsRule) {
    const int64_t llc = last_level_cache_bytes();
    ASSERT_GT(llc, 0);
    EXPECT_GE(memory_bandwidth_bytes(), size_t(4 * llc));
    EXPECT_GE(memory_bandwidth_bytes(), size_t(512) << 20);
}

TEST(Bandwidth, EveryLoopGivesAFiniteFigure) {
    // 4 MiB once per loop: every read and prefetch variant runs (the L2-and-L1 one included); the figure is the
    // caches', which is all a unit test can ask of it.
    ThreadPool pool(2);
    const double gbs = measure_read_bandwidth_gbs(pool, size_t(4) << 20, 1);
    EXPECT_TRUE(std::isfinite(gbs));
    EXPECT_GT(gbs, 0.1);
}

}  // namespace
}  // namespace berth
