#include <gtest/gtest.h>

#include <dirent.h>

#include <atomic>
#include <vector>

#include "kernels/kernels.h"

namespace berth {
namespace {

int count_threads() {
    int n = 0;
    DIR* d = opendir("/proc/self/task");
    if (!d) return -1;
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

TEST(ThreadPool, EveryWorkerRunsOncePerCall) {
    for (int n : {1, 2, 3}) {
        ThreadPool pool(n);
        EXPECT_EQ(pool.n_threads(), n);
        std::vector<std::atomic<int>> hits(n);
        for (int iter = 0; iter < 2000; iter++) {
            pool.parallel([&](int ith, int nth) {
                ASSERT_EQ(nth, n);
                hits[ith].fetch_add(1);
            });
        }
        for (int i = 0; i < n; i++) EXPECT_EQ(hits[i].load(), 2000) << "worker " << i;
    }
}

// The work of one call is complete when parallel() returns (results are visible to the caller).
TEST(ThreadPool, ResultsVisibleAfterReturn) {
    ThreadPool pool(2);
    std::vector<int64_t> part(2);
    for (int64_t iter = 1; iter <= 500; iter++) {
        pool.parallel([&](int ith, int nth) { part[ith] = iter * (ith + 1); });
        ASSERT_EQ(part[0] + part[1], 3 * iter);
    }
}

TEST(ThreadPool, NoThreadCreatedPerCallAndWakesAfterSleep) {
    ThreadPool pool(2);
    const int before = count_threads();
    std::atomic<int> sum{0};
    for (int i = 0; i < 100; i++) pool.parallel([&](int ith, int) { sum += ith + 1; });
    EXPECT_EQ(count_threads(), before);
    // Long enough for the worker to stop spinning and sleep on the condition variable.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    pool.parallel([&](int ith, int) { sum += ith + 1; });
    EXPECT_EQ(sum.load(), 101 * 3);
}

TEST(ThreadPool, DefaultIsPhysicalCores) {
    ThreadPool pool(0);
    EXPECT_EQ(pool.n_threads(), physical_core_count());
}

}  // namespace
}  // namespace berth
