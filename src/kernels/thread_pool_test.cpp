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

// The next weights are one concatenation of their spans; empty or absent ones are not kept, nor more than four.
TEST(ThreadPool, NextWeightsAreOneConcatenation) {
    std::vector<char> a(100), c(50), e(10);
    ThreadPool::NextWeights w;
    w.add(a.data(), a.size());
    w.add(nullptr, 64);
    w.add(c.data(), 0);
    w.add(c.data(), c.size());
    EXPECT_EQ(w.n, 2);
    EXPECT_EQ(w.total(), 150u);
    EXPECT_EQ(w.at(0), a.data());
    EXPECT_EQ(w.at(99), a.data() + 99);
    EXPECT_EQ(w.at(100), c.data());
    EXPECT_EQ(w.at(149), c.data() + 49);
    EXPECT_EQ(w.at(150), nullptr);
    for (int i = 0; i < 4; i++) w.add(e.data(), e.size());
    EXPECT_EQ(w.n, ThreadPool::NextWeights::kMaxSpans);
    EXPECT_EQ(w.total(), 170u);
    EXPECT_EQ(w.at(169), e.data() + 9);
    EXPECT_EQ(ThreadPool::NextWeights{}.at(0), nullptr);
}

// Jobs run as before while waiting threads prefetch the hint (which is kept until replaced), shares of it that
// are shorter than a line, and none.
TEST(ThreadPool, JobsCompleteWhileIdleThreadsPrefetch) {
    std::vector<char> weights(size_t(3) << 20, 1), tiny(40, 1);
    for (int n : {2, 3}) {
        ThreadPool pool(n);
        std::vector<int64_t> part(static_cast<size_t>(n));
        for (int hint = 0; hint < 3; hint++) {
            ThreadPool::NextWeights next;
            if (hint == 0) next.add(weights.data(), weights.size());
            if (hint == 1) next.add(tiny.data(), tiny.size());
            pool.set_next_weights(next);
            EXPECT_EQ(pool.next_weights().n, hint < 2 ? 1 : 0);
            for (int64_t iter = 1; iter <= 300; iter++) {
                pool.parallel([&](int ith, int) {
                    if (ith == 0) std::this_thread::sleep_for(std::chrono::microseconds(iter % 3 == 0 ? 50 : 0));
                    part[size_t(ith)] = iter * (ith + 1);
                });
                int64_t sum = 0;
                for (int64_t v : part) sum += v;
                ASSERT_EQ(sum, iter * n * (n + 1) / 2);
            }
        }
    }
}

TEST(ThreadPool, DefaultIsPhysicalCores) {
    ThreadPool pool(0);
    EXPECT_EQ(pool.n_threads(), physical_core_count());
}

}  // namespace
}  // namespace berth
