// kernels: every hot loop. Matrix products per weight dtype and instruction set (scalar, AVX2, AVX-512 /
// VNNI, chosen at run time), activation quantization, norms, rope, softmax, attention over KV pages, and the
// persistent thread pool. No allocation in the hot path: callers pass scratch sized by the *_bytes functions.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "base/base.h"
#include "tensor/tensor.h"

namespace berth {

// ---- CPU features --------------------------------------------------------------------------------------
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };
Isa detected_isa();          // best ISA of this CPU
Isa active_isa();            // the one in use (detected, or forced by BERTH_ISA=scalar|avx2|avx512)
void set_active_isa(Isa isa);  // tests; CHECKs that the CPU supports it
const char* isa_name(Isa isa);
int physical_core_count();

// ---- thread pool ---------------------------------------------------------------------------------------
// Persistent workers; the caller is worker 0. parallel(f) runs f(ith, nth) on every worker and returns when
// all are done. Workers spin briefly between jobs and then sleep; no thread is created per call.
class ThreadPool {
public:
    explicit ThreadPool(int n_threads);  // 0 = physical_core_count()
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    int n_threads() const { return n_threads_; }

    template <typename F>
    void parallel(F&& f) {
        run(&invoke<std::remove_reference_t<F>>, &f);
    }

private:
    using Fn = void (*)(void* ctx, int ith, int nth);
    template <typename F>
    static void invoke(void* ctx, int ith, int nth) { (*static_cast<F*>(ctx))(ith, nth); }
    void run(Fn fn, void* ctx);
    void worker_loop(int ith);

    int n_threads_;
    std::vector<std::thread> threads_;
    Fn fn_ = nullptr;
    void* ctx_ = nullptr;
    alignas(64) std::atomic<uint64_t> generation_{0};
    alignas(64) std::atomic<int> remaining_{0};
    std::atomic<bool> stop_{false};
    std::atomic<int> sleeping_{0};  // workers blocked on cv_ (run() notifies only when > 0)
    std::mutex mu_;
    std::condition_variable cv_;
};

// ---- matrix products -----------------------------------------------------------------------------------
// y = x · Wᵀ:  W is (n_rows = w.ne[1], n_cols = w.ne[0]) of any weight dtype; x is (n_tokens, n_cols) f32,
// row-major; y is (n_tokens, n_rows) f32 with row stride ldy (≥ n_rows; 0 = n_rows).
// wdata: scratch for the quantized activations, matmul_scratch_bytes(w.type, n_cols, n_tokens) bytes.
size_t matmul_scratch_bytes(DType wtype, int64_t n_cols, int64_t n_tokens);
void matmul(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y, void* wdata,
            int64_t ldy = 0);
// Single-threaded reference of the same operation (dequantize + double accumulation): the test oracle.
void matmul_ref(const TensorView& w, const float* x, int64_t n_tokens, float* y);

// Reads row r of a (possibly quantized) matrix into floats (embedding lookup).
void get_row(const TensorView& w, int64_t r, float* out);

// ---- measurement ---------------------------------------------------------------------------------------
// Memory read bandwidth in GB/s (1e9 bytes/s) with every thread of the pool reading its slice of a fresh
// `bytes`-sized buffer (well beyond the last-level cache); the best of `repeats` passes. 0 if mmap fails.
// Takes ~0.1 s per pass per 256 MiB; meant for `berth bench`, not for the serving path.
double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes = size_t(512) << 20, int repeats = 5);

}  // namespace berth
