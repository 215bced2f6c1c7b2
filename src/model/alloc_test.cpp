// After warm-up, a decode step performs zero heap allocations: every operator new in this binary (on any
// thread, the thread pool's workers included) is counted while a window is open.
#include <gtest/gtest.h>

// The replaced operators pair malloc with free on purpose.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>

#include "model/model.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocs{0};

void* counted_alloc(size_t n, size_t align) {
    if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) n = 1;
    void* p =
        align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align) : std::malloc(n);
    if (!p) throw std::bad_alloc();
    return p;
}
}  // namespace

void* operator new(size_t n) { return counted_alloc(n, 0); }
void* operator new[](size_t n) { return counted_alloc(n, 0); }
void* operator new(size_t n, std::align_val_t a) { return counted_alloc(n, size_t(a)); }
void* operator new[](size_t n, std::align_val_t a) { return counted_alloc(n, size_t(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace berth {
namespace {

long count_allocs_during(const std::function<void()>& f) {
    g_allocs = 0;
    g_counting = true;
    f();
    g_counting = false;
    return g_allocs.load();
}

TEST(Alloc, CounterSeesAllocations) {
    long n = count_allocs_during([] {
        auto* v = new std::vector<int>(10);
        delete v;
    });
    EXPECT_GE(n, 2);
}

TEST(Alloc, DecodeStepsAllocateNothingAfterWarmUp) {
    for (const char* file : {"stories260K.gguf", "llama-moe-q8_0.gguf", "gemma2-q8_0.gguf", "phi3-q8_0.gguf"}) {
        SCOPED_TRACE(file);
        ModelOptions opt;
        opt.n_ctx = 64;
        opt.n_parallel = 2;
        opt.n_batch = 16;
        opt.n_threads = 2;
        auto loaded = Model::load(std::string(BERTH_TESTDATA) + "/models/" + file, opt);
        ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
        Model& m = **loaded;
        int s = *m.create_sequence();
        std::vector<BatchToken> prompt;
        for (int i = 0; i < 10; ++i) prompt.push_back({1 + i, s, i, i == 9});
        auto out = m.forward(prompt.data(), 10);  // warm-up: prefill and one decode step
        ASSERT_TRUE(out.is_ok());
        BatchToken bt{3, s, 10, true};
        ASSERT_TRUE(m.forward(&bt, 1).is_ok());
        long n = count_allocs_during([&] {
            for (int i = 11; i < 40; ++i) {  // crosses KV page boundaries (16 positions per page)
                BatchToken t{5 + i, s, i, true};
                auto r = m.forward(&t, 1);
                CHECK(r.is_ok());
            }
            // A second sequence joining and leaving is also allocation-free (its page table is reserved).
            int s2 = *m.create_sequence();
            BatchToken t{9, s2, 0, true};
            CHECK(m.forward(&t, 1).is_ok());
            m.free_sequence(s2);
        });
        EXPECT_EQ(n, 0);
    }
}

// The same on a device (the stand-in): after warm-up a step allocates nothing, neither on the heap nor on the
// device.
TEST(Alloc, DeviceStepsAllocateNothingAfterWarmUp) {
    auto dev = make_fake_device(0, int64_t(256) << 20);
    for (const char* file : {"stories260K.gguf", "llama-moe-q8_0.gguf"}) {
        for (int num_gpu : {1, 99}) {
            SCOPED_TRACE(std::string(file) + " num_gpu " + std::to_string(num_gpu));
            ModelOptions opt;
            opt.n_ctx = 64;
            opt.n_parallel = 2;
            opt.n_batch = 16;
            opt.n_threads = 2;
            opt.device = dev.get();
            opt.num_gpu = num_gpu;
            auto loaded = Model::load(std::string(BERTH_TESTDATA) + "/models/" + file, opt);
            ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
            Model& m = **loaded;
            int s = *m.create_sequence();
            std::vector<BatchToken> prompt;
            for (int i = 0; i < 10; ++i) prompt.push_back({1 + i, s, i, i == 9});
            ASSERT_TRUE(m.forward(prompt.data(), 10).is_ok());
            const int64_t device_allocs = dev->allocation_count();
            long n = count_allocs_during([&] {
                for (int i = 10; i < 40; ++i) {
                    BatchToken t{5 + i, s, i, true};
                    CHECK(m.forward(&t, 1).is_ok());
                }
            });
            EXPECT_EQ(n, 0);
            EXPECT_EQ(dev->allocation_count(), device_allocs);
        }
    }
}

}  // namespace
}  // namespace berth
