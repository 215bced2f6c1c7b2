// kernels: every hot loop. Matrix products per weight dtype and instruction set (scalar, AVX2, AVX-VNNI,
// AVX-512 VNNI, AMX, chosen at run time), activation quantization, norms, rope, softmax, attention over KV pages, and
// the persistent thread pool. No allocation in the hot path: callers pass scratch sized by the *_bytes functions.
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
// Ordered by preference; a higher one is not always a superset (AVX-VNNI CPUs may lack AVX-512 and the
// reverse), so use isa_supported() rather than comparisons to ask what a CPU runs. Row kernels: avx2 for
// avx2/avxvnni, avx512 for avx512/amx; the prefill GEMM has a kernel for each.
enum class Isa { scalar = 0, avx2 = 1, avxvnni = 2, avx512 = 3, amx = 4 };
Isa detected_isa();            // best ISA of this CPU (amx only when Linux granted the tile state)
bool isa_supported(Isa isa);   // this CPU and OS can run it
Isa active_isa();              // the one in use (detected, or BERTH_ISA=scalar|avx2|avxvnni|avx512|amx)
void set_active_isa(Isa isa);  // tests; CHECKs that the CPU supports it
const char* isa_name(Isa isa);
// How the kernels of repacked weights prefetch in software (prefetch.h) in a pass of `tokens` tokens over the
// weights: not at all, 4 KiB ahead into L1 (l1), or 8 KiB ahead into L2 and 2 KiB ahead into L1 (l2_l1).
// Batches prefetch by default (Q4_0_R16 at 8 tokens, 2048 x 11264, Intel Xeon: 49-52 ns per row with, 85-98
// without; TinyLlama Q4_0 at 8 streams 155-164 tok/s with, 118-120 without). For decode the machines measured
// disagree, so the default goes by vendor and family: on an Intel Xeon (Emerald Rapids VM, 2 threads) TinyLlama Q4_0
// decode reached 73-76 % of the measured bandwidth without and 91-95 % with; on an AMD EPYC Zen 4 VM Q8_0 decode
// 44-51 tok/s without, 36-39 with; on an AMD EPYC Zen 5 VM (family 0x1A, 2 threads, ~64 GB/s) TinyLlama Q4_K_M
// 45.6 tok/s without, 86.0 with l1, 79.0 with l2_l1, Q6_K 22.7 / 56.3 / 51.1 (3 alternating rounds). So decode
// prefetches on Intel CPUs, one or two tokens as l2_l1: each core must keep about 17 GB/s in flight, and a
// prefetcht0 holds one of the core's few L1 fill buffers for the whole trip from memory, a prefetcht1 into L2 does
// not (why in prefetch.h); on AMD from Zen 5 on as l1; not on earlier AMD cores or other vendors.
// BERTH_PREFETCH=auto|none|decode|batch|all overrides whether a pass prefetches, not how.
enum class Prefetch { none, l1, l2_l1 };
Prefetch kernel_prefetch(int tokens);
// Whether passes of 3 or 4 tokens over Q4_K_R16 and Q6_K_R16 weights walk two groups of rows at once (one or two
// tokens always do, 5-8 never): on Intel CPUs, where two streams from memory measured 7-21 % faster (why in
// matmul_r16k_avx512.cpp); elsewhere one, whose kernel keeps its accumulators in registers: on an AMD EPYC Zen 5
// VM, berth_bench_matmul q4_K_r16 2048 5632 4 3 2 150 (2 threads, from DRAM) 33 -> 27 ns per row, TinyLlama
// Q4_K_M at 4 streams 145 -> 170 tok/s.
bool kernel_k_two_streams();
void set_kernel_k_two_streams(bool two);  // tests: both ways on any CPU
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

    // The weights the next matrix product reads: up to 4 spans, taken as one concatenation in the order its
    // units are dealt (thread ith of nth starts ith/nth of the way in). From the next parallel() on, a thread that
    // has done its share of a job and waits for the others prefetches the head of its share of them into L2 (at
    // most idle_prefetch_bytes(), carrying on from job to job while the hint stays the same) until the next job
    // starts: memory that would sit idle at the barrier brings in the next product's first lines. Caller only;
    // the forward pass sets it before each product (TinyLlama Q4_K_M decode, Intel Xeon, 10 alternating runs:
    // 84 -> 86.5 % of the measured bandwidth, higher in each pair).
    struct Span {
        const void* p = nullptr;
        size_t bytes = 0;
    };
    struct NextWeights {
        static constexpr int kMaxSpans = 4;
        Span spans[kMaxSpans];
        int n = 0;
        void add(const void* p, size_t bytes) {
            if (p && bytes && n < kMaxSpans) spans[n++] = {p, bytes};
        }
        size_t total() const;
        const char* at(size_t offset) const;  // the byte at offset of the concatenation; nullptr past its end
    };
    void set_next_weights(const NextWeights& w) { pending_ = w; }
    const NextWeights& next_weights() const { return pending_; }

  private:
    using Fn = void (*)(void* ctx, int ith, int nth);
    template <typename F>
    static void invoke(void* ctx, int ith, int nth) {
        (*static_cast<F*>(ctx))(ith, nth);
    }
    void run(Fn fn, void* ctx);
    void worker_loop(int ith);
    template <typename Stop>
    void idle_prefetch(int ith, const NextWeights& next, Stop&& stop);
    struct alignas(64) IdleProgress {  // how far thread ith has prefetched its share of the hint `key`
        const void* key = nullptr;
        size_t total = 0, done = 0;
    };

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
    NextWeights pending_;   // set_next_weights's, copied into hints_ by run()
    NextWeights hints_[2];  // job g's is hints_[g % 2]: the caller writes the next one while workers read this one
    std::vector<IdleProgress> progress_;
};
// Bytes of the next weights each waiting thread prefetches (ThreadPool::set_next_weights): half the L2 of a core
// where decode prefetches (kernel_prefetch(1) is not none), else 0; BERTH_IDLE_PREFETCH=KiB overrides.
size_t idle_prefetch_bytes();

// ---- matrix products -----------------------------------------------------------------------------------
// y = x · Wᵀ:  W is (n_rows = w.ne[1], n_cols = w.ne[0]) of any weight dtype; x is (n_tokens, n_cols) f32,
// row-major; y is (n_tokens, n_rows) f32 with row stride ldy (≥ n_rows; 0 = n_rows).
// wdata: scratch for the quantized activations and the GEMM's per-thread weight panels,
// matmul_scratch_bytes(w.type, n_cols, n_tokens, pool.n_threads()) bytes.
// Whether matmul() has kernels for weights of this dtype.
bool matmul_supports(DType t);
size_t matmul_scratch_bytes(DType wtype, int64_t n_cols, int64_t n_tokens, int n_threads);
void matmul(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y, void* wdata,
            int64_t ldy = 0);
// Several products that share one input x (q/k/v, gate/up): y_j = x · W_jᵀ for each job, with x quantized
// once and the rows of all jobs split across the pool in one dispatch. Jobs whose weights need different
// activation types, or other n_cols, fall back to one matmul each. wdata as for matmul (any job's size).
struct MatmulJob {
    TensorView w;
    float* y = nullptr;
    int64_t ldy = 0;  // 0 = the job's n_rows
};
void matmul_multi(ThreadPool& pool, const MatmulJob* jobs, int n_jobs, const float* x, int64_t n_tokens, void* wdata);
// Single-threaded reference of the same operation (dequantize + double accumulation): the test oracle.
void matmul_ref(const TensorView& w, const float* x, int64_t n_tokens, float* y);

// ---- weights repacked at load -------------------------------------------------------------------------
// Q8_0, Q4_0, Q4_K and Q6_K matrices become Q8_0_R16 / Q4_0_R16 / Q4_K_R16 / Q6_K_R16: the same bytes, with 16
// rows interleaved so that the avx512 kernels' int32 lanes are 16 rows and one activation broadcast, one
// conversion and one scale serve all of them. Per group of 16 rows and block b (groups in row order, blocks in
// column order): the block's fp16 fields as 16-entry arrays (d at 2l for row l; Q4_K: d, then dmin at 32 + 2l),
// then the rest of the block as int32 lanes: byte 64j + 4l + e of that part holds byte 4j + e of row l's rest
// (Q8_0: w + 128, unsigned; Q4_0: the file's nibble byte, low = element 4j + e, high = 16 + 4j + e; Q4_K: its
// 12 scale bytes as chunks 0-2, then its 128 nibble bytes as chunks 3-34; Q6_K: ql as chunks 0-31, qh as
// 32-47, the 16 scales as 48-51).
// Only matmul() reads them (w.row() and get_row do not apply); every ISA has a kernel (scalar below avx512).
constexpr int kRepackRows = 16;
DType repacked_type(DType t);  // Q8_0, Q4_0, Q4_K, Q6_K → their _R16 forms; others unchanged
bool is_repacked(DType t);
// Whether a matrix is repacked at load: a type with an R16 form, whole 16-row groups, and the active ISA has
// the kernel that pays for it (avx512).
bool repack_applies(DType t, int64_t n_rows, int64_t n_cols);
// Writes src (Q8_0, Q4_0, Q4_K or Q6_K, n_rows a multiple of 16) repacked into dst (src.n_bytes() bytes).
void repack_rows16(const TensorView& src, void* dst);

// Reads row r of a (possibly quantized) matrix into floats (embedding lookup).
void get_row(const TensorView& w, int64_t r, float* out);

// ---- measurement ---------------------------------------------------------------------------------------
// Bytes of the CPU's last-level cache as the system reports it (sysconf's L3 size), 32 MiB where it does not.
int64_t last_level_cache_bytes();
// The buffer that measures memory rather than cache: 4 times the last-level cache (STREAM's rule), at least
// 512 MiB. Smaller ones leave part of a pass in the cache for the next: on an Intel Xeon VM that reports 260 MiB
// of L3, the best of 40 passes over 512 MiB read 39-44 GB/s, over 1 GiB 36 and over 2 GiB 34.
size_t memory_bandwidth_bytes();
// Memory read bandwidth in GB/s (1e9 bytes/s) with every thread of the pool reading its slice of a fresh
// `bytes`-sized buffer (0: memory_bandwidth_bytes()); the best of `repeats` passes of a plain read loop and of
// prefetching ones (2, 4 and 8 KiB ahead into L1, and 8 KiB into L2 with 2 KiB into L1 as the kernels do), each
// also with 64-byte loads where the CPU has AVX-512. 0 if mmap fails. Takes ~0.1 s per loop per 256 MiB; meant
// for `berth bench`, not for the serving path.
double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes = 0, int repeats = 5);
// One of its loops, for callers that time reads themselves (bench/roofline_bench.cpp): XOR of the first n / 32 · 256
// bytes of p in 64-byte loads, each line also prefetching the one `ahead` bytes on into L1 and `far_l2` on into L2
// where not 0 (0 and 0: a plain streaming read). AVX-512 only (isa_supported(Isa::avx512)).
uint64_t read_sum_avx512(const uint64_t* p, size_t n, size_t ahead, size_t far_l2);

}  // namespace berth

// ==== elementwise ops and attention (owned by the model lane: ops*.cpp, attention*.cpp) ====================
namespace berth {

// out[i] = x[i] / sqrt(mean(x²) + eps) * w[i] for one row of n (w may be nullptr: no weight). out may be x.
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);
// In-place rotary embedding of one vector of n_heads heads, each head_dim long, at position pos.
// neox = false rotates pairs (2i, 2i+1); true rotates (i, i + n_rot/2). Only the first n_rot dims rotate.
// theta_i = pos * freq_scale * base^(-2i/n_rot) / freq_factors[i] (freq_factors may be nullptr).
void rope(float* x, int n_heads, int head_dim, int n_rot, int64_t pos, float base, float freq_scale, bool neox,
          const float* freq_factors = nullptr);
// In-place softmax of n values.
void softmax(float* x, int64_t n);
// x = cap * tanh(x / cap), n values.
void softcap(float* x, int64_t n, float cap);
// out = silu(gate) * up; gelu variant uses the tanh approximation (as ggml_gelu).
void silu_mul(float* out, const float* gate, const float* up, int64_t n);
void gelu_mul(float* out, const float* gate, const float* up, int64_t n);
// y += x, n values.
void add_inplace(float* y, const float* x, int64_t n);
// Stores a row of n floats as type t (F32, F16, Q8_0, Q4_0) — the KV cache write.
void store_row(DType t, const float* x, void* dst, int64_t n);

// KV positions of one sequence for one layer in a paged cache (see kv.h): position p lives in page
// pages[p / page_positions], slot p % page_positions; its K row for kv head h starts at
// base + page * page_bytes + k_offset + (slot * n_head_kv + h) * head_row_bytes (V likewise with v_offset).
struct AttnKv {
    DType type = DType::F16;
    int page_positions = 16;
    int n_head_kv = 0;
    int head_dim = 0;
    const int32_t* pages = nullptr;
    const uint8_t* base = nullptr;
    int64_t page_bytes = 0;
    int64_t k_offset = 0, v_offset = 0;
    int64_t head_row_bytes = 0;  // row_bytes(type, head_dim)

    // The row of position pos for kv head kv_head: K with offset = k_offset, V with v_offset.
    const uint8_t* row(int64_t pos, int kv_head, int64_t offset) const {
        const int64_t page = pages[pos / page_positions], slot = pos % page_positions;
        return base + page * page_bytes + offset + (slot * n_head_kv + kv_head) * head_row_bytes;
    }
};

// Attention of one query head over KV positions [pos_begin, pos_end) of kv head kv_head:
// out = softmax(softcap(scale · q·K)) · V. scores: (pos_end - pos_begin) floats; tmp: 2 * head_dim floats.
void attention_head(const float* q, const AttnKv& kv, int kv_head, int64_t pos_begin, int64_t pos_end, float scale,
                    float softcap, float* out, float* scores, float* tmp);
// The same for the `group` consecutive query heads that share kv_head (q and out: (group, head_dim)), reading
// each K/V row once for the group; SIMD for f16 caches. scores: group * (pos_end - pos_begin) floats.
void attention_group(const float* q, int group, const AttnKv& kv, int kv_head, int64_t pos_begin, int64_t pos_end,
                     float scale, float softcap, float* out, float* scores, float* tmp);

// ---- attention over many query rows at once (prefill runs, and decode split over key ranges) ------------------
// Rows r = t · group + g: query head g of the `group` heads sharing kv_head, for token t of a run of n_tok
// tokens of one sequence (row r's query at q + t · q_stride + g · head_dim); token t sees the keys in
// [begin[t], end[t]). The softmax is online: a partial state (unnormalized output, running max and sum per
// row) absorbs keys [kb, ke), so a long context can be split across threads and the parts merged.
constexpr int kAttnMaxRows = 64;  // n_tok · group per call
struct AttnPartial {
    float* o;  // (rows, head_dim)
    float* m;  // (rows) running max of the scores, −inf before any key
    float* l;  // (rows) running sum of exp(score − m)
};
// Whether attention_rows() can run on this cache here (AVX-512, f16 or f32 KV, head_dim a multiple of 16 up
// to 256); otherwise use attention_group() per token.
bool attention_rows_supported(const AttnKv& kv);
// Floats of scratch one attention_rows() call needs (its caller's thread-private work area, 64-byte aligned).
size_t attention_rows_scratch_floats(int head_dim);
// Floats of one partial state for kAttnMaxRows rows.
inline size_t attention_partial_floats(int head_dim) { return size_t(kAttnMaxRows) * (size_t(head_dim) + 2); }
// The partial state stored in `mem` (attention_partial_floats floats); _init also resets it for `rows` rows.
AttnPartial attention_partial_view(float* mem, int head_dim);
AttnPartial attention_partial_init(float* mem, int rows, int head_dim);
void attention_rows(const float* q, int64_t q_stride, int n_tok, int group, const int64_t* begin, const int64_t* end,
                    int64_t kb, int64_t ke, const AttnKv& kv, int kv_head, float scale, float softcap, AttnPartial st,
                    float* scratch);
// Merges partial states of the same rows (over disjoint key ranges) and writes the normalized outputs: row
// r = t · group + g at out + t · out_stride + g · head_dim. A row that saw no key gets zeros.
void attention_merge(const AttnPartial* parts, int n_parts, int n_tok, int group, int head_dim, float* out,
                     int64_t out_stride);

}  // namespace berth
