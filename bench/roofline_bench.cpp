// berth_bench_roofline: where the engine's kernels stand against this machine's two ceilings, measured here:
// the ISA's peak (vpdpbusd and vfmadd231ps on zmm registers, per core and on every thread at once) and the memory's
// read rate (a plain streaming read of the same bytes the kernels read, in the same seconds).
//
//   berth_bench_roofline [THREADS] [PASSES] [TYPES]      (defaults: 2, 9, q8_0,q4_0,q4_K,q6_K)
//
// Per weight type, repacked as the model does at load (2048-column rows, 5632 of them, as TinyLlama's FFN):
// - decode: copies of the matrix filling >= 1 GiB (so that every product reads DRAM), a one-token product over all
//   of them, and in every pass, right before it, one plain read of the same buffer (each thread one contiguous
//   part, 64-byte loads, no software prefetch). The host's bandwidth can swing within seconds (shared machines),
//   so each pass's kernel rate is divided by the read of that pass, and the median of those ratios is printed
//   with the medians of both rates and the best read.
// - in cache: one thread, one copy of 2048 x 256 (L2-sized): the kernel's rate when memory does not limit it.
// - prefill: 128 tokens through the same matmul() (the GEMM), one copy, every thread: int8 multiply-adds per second
//   (the model's, 2048 x 5632 x 128 per product) against the vpdpbusd peak (64 multiply-adds per instruction).
// Needs AVX-512 VNNI for the peaks (the kernels run on the ISA BERTH_ISA or the CPU picks).
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/matrix_test_util.h"
#include "memory/memory.h"
#include "tensor/tensor.h"

using namespace berth;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

constexpr long kPeakIters = 4000000;

// 12 independent vpdpbusd chains on registers: instructions per second of one thread.
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) int64_t dpbusd_chains(long iters) {
    __m512i a[12];
    for (int k = 0; k < 12; k++) a[k] = _mm512_set1_epi32(k);
    const __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(5);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int k = 0; k < 12; k++) a[k] = _mm512_dpbusd_epi32(a[k], w, x);
    __m512i s = a[0];
    for (int k = 1; k < 12; k++) s = _mm512_add_epi32(s, a[k]);
    return _mm512_reduce_add_epi32(s);
}

// 12 independent vfmadd231ps chains.
__attribute__((target("avx512f"), noinline)) float fma_chains(long iters) {
    __m512 a[12];
    for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps(float(k));
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int k = 0; k < 12; k++) a[k] = _mm512_fmadd_ps(a[k], m, c);
    __m512 s = a[0];
    for (int k = 1; k < 12; k++) s = _mm512_add_ps(s, a[k]);
    return _mm512_reduce_add_ps(s);
}

// Instructions per ns of one chain function, on one thread and on every thread of the pool at once.
template <typename F>
void peak(ThreadPool& pool, F&& chains, double* one, double* all) {
    volatile double sink = 0;
    sink = sink + double(chains(kPeakIters / 8));  // warm-up (clock ramp)
    auto t0 = std::chrono::steady_clock::now();
    sink = sink + double(chains(kPeakIters));
    *one = 12.0 * double(kPeakIters) / seconds_since(t0) * 1e-9;
    t0 = std::chrono::steady_clock::now();
    pool.parallel([&](int, int) { sink = sink + double(chains(kPeakIters)); });
    *all = 12.0 * double(kPeakIters) * pool.n_threads() / seconds_since(t0) * 1e-9;
}

// Huge pages where THP allows, untouched until written: as the model reserves its repacked weights (model.cpp).
Arena weights_arena(size_t bytes) { return Arena::reserve(bytes, "roofline weights", true, false).value(); }

// `copies` repacked copies of one ROWS x COLS matrix of `type` (random weights, the reference quantizer).
std::vector<TensorView> repacked_copies(DType type, int64_t cols, int64_t rows, int copies, const Arena& buf) {
    const std::vector<uint8_t> base = test::quantized(type, rows, cols, 1);
    std::vector<TensorView> views;
    for (int c = 0; c < copies; c++) {
        TensorView v = test::matrix_view(type, cols, rows, base.data());
        uint8_t* dst = buf.data() + size_t(c) * base.size();
        repack_rows16(v, dst);
        v.data = dst;
        v.type = repacked_type(type);
        views.push_back(v);
    }
    return views;
}

// One thread, one copy of 2048 x 256 (L2-sized): the best of 2000 products, GB/s of weights. Measured before any
// other pool exists (a second pool's waiting worker could share the core).
double in_cache_gbs(DType type) {
    constexpr int64_t kCols = 2048, kRows = 256;
    const DType rt = repacked_type(type);
    const size_t bytes = size_t(row_bytes(type, kCols)) * kRows;
    const Arena buf = weights_arena(bytes);
    const TensorView v = repacked_copies(type, kCols, kRows, 1, buf)[0];
    const std::vector<float> x = test::gaussian(kCols, 2);
    std::vector<float> y(kRows);
    ThreadPool one(1);
    std::vector<uint8_t> scratch(matmul_scratch_bytes(rt, kCols, 1, 1));
    matmul(one, v, x.data(), 1, y.data(), scratch.data());
    double best = 0;
    for (int i = 0; i < 2000; i++) {
        const auto t0 = std::chrono::steady_clock::now();
        matmul(one, v, x.data(), 1, y.data(), scratch.data());
        best = std::max(best, double(bytes) / seconds_since(t0) * 1e-9);
    }
    return best;
}

struct Row {
    std::string type;
    double read_med = 0, read_best = 0, dec_med = 0, ratio_med = 0, cache_gbs = 0, prefill_gmacs = 0;
};

Row measure(DType type, const std::string& name, ThreadPool& pool, int passes, double cache_gbs) {
    Row r;
    r.type = name;
    r.cache_gbs = cache_gbs;
    constexpr int64_t kCols = 2048, kRows = 5632, kPrefillTokens = 128;
    const size_t mat = size_t(row_bytes(type, kCols)) * kRows;
    const int copies = int((size_t(1) << 30) / mat + 1);
    const size_t total = mat * size_t(copies);
    const DType rt = repacked_type(type);
    const std::vector<float> x = test::gaussian(kPrefillTokens * kCols, 2);
    std::vector<float> y(size_t(kRows * kPrefillTokens));
    std::vector<uint8_t> scratch(matmul_scratch_bytes(rt, kCols, kPrefillTokens, pool.n_threads()));
    volatile uint64_t sink = 0;
    {
        const Arena buf = weights_arena(total);
        const std::vector<TensorView> views = repacked_copies(type, kCols, kRows, copies, buf);
        std::vector<double> reads, decs, ratios;
        for (const TensorView& v : views) matmul(pool, v, x.data(), 1, y.data(), scratch.data());  // warm-up
        for (int p = 0; p < passes; p++) {
            auto t0 = std::chrono::steady_clock::now();
            pool.parallel([&](int ith, int nth) {
                const size_t a = total * size_t(ith) / size_t(nth) / 256 * 256;
                const size_t b = total * size_t(ith + 1) / size_t(nth) / 256 * 256;
                sink = sink ^ read_sum_avx512(reinterpret_cast<const uint64_t*>(buf.data() + a), (b - a) / 8, 0, 0);
            });
            reads.push_back(double(total) / seconds_since(t0) * 1e-9);
            t0 = std::chrono::steady_clock::now();
            for (const TensorView& v : views) matmul(pool, v, x.data(), 1, y.data(), scratch.data());
            decs.push_back(double(total) / seconds_since(t0) * 1e-9);
            ratios.push_back(decs.back() / reads.back());
        }
        r.read_med = median(reads);
        r.read_best = *std::max_element(reads.begin(), reads.end());
        r.dec_med = median(decs);
        r.ratio_med = median(ratios);
    }
    {  // prefill: 128 tokens, one copy, best of the passes
        const Arena buf = weights_arena(mat);
        const TensorView v = repacked_copies(type, kCols, kRows, 1, buf)[0];
        matmul(pool, v, x.data(), kPrefillTokens, y.data(), scratch.data());
        double best = 0;
        for (int p = 0; p < passes; p++) {
            const auto t0 = std::chrono::steady_clock::now();
            matmul(pool, v, x.data(), kPrefillTokens, y.data(), scratch.data());
            best = std::max(best, double(kCols * kRows * kPrefillTokens) / seconds_since(t0) * 1e-9);
        }
        r.prefill_gmacs = best;
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 2, passes = argc > 2 ? atoi(argv[2]) : 9;
    const std::string types = argc > 3 ? argv[3] : "q8_0,q4_0,q4_K,q6_K";
    if (threads <= 0 || passes <= 0) {
        fprintf(stderr, "usage: %s [THREADS] [PASSES] [TYPES: q8_0,q4_0,q4_K,q6_K]\n", argv[0]);
        return 2;
    }
    if (!isa_supported(Isa::avx512)) {
        fprintf(stderr, "%s: the peaks need AVX-512 VNNI, which this CPU does not have\n", argv[0]);
        return 2;
    }
    std::vector<std::pair<std::string, DType>> chosen;  // the types the model repacks (repacked_type)
    for (size_t p = 0; p < types.size();) {
        size_t q = types.find(',', p);
        if (q == std::string::npos) q = types.size();
        const std::string name = types.substr(p, q - p);
        p = q + 1;
        DType t;
        if (!parse_dtype(name, &t) || repacked_type(t) == t) {
            fprintf(stderr, "unknown or unrepacked type %s (q8_0, q4_0, q4_K, q6_K)\n", name.c_str());
            return 2;
        }
        chosen.push_back({name, t});
    }
    std::vector<double> cache;
    for (const auto& c : chosen) cache.push_back(in_cache_gbs(c.second));
    ThreadPool pool(threads);
    // The peaks: the best of 3 (the other threads of a shared machine's cores may be taken for a moment).
    double dp1 = 0, dpn = 0, fm1 = 0, fmn = 0;
    for (int i = 0; i < 3; i++) {
        double a, b, c, d;
        peak(pool, dpbusd_chains, &a, &b);
        peak(pool, fma_chains, &c, &d);
        dp1 = std::max(dp1, a), dpn = std::max(dpn, b), fm1 = std::max(fm1, c), fmn = std::max(fmn, d);
    }
    printf("isa %s, %d threads\n", isa_name(active_isa()), pool.n_threads());
    printf("peak: vpdpbusd zmm %.2f per ns on one thread, %.2f on all (%.0f G int8 multiply-adds/s); "
           "vfmadd231ps zmm %.2f per ns on one thread, %.2f on all (%.0f GFLOP/s f32)\n\n",
           dp1, dpn, dpn * 64, fm1, fmn, fmn * 32);
    printf("| type | plain read GB/s, median (best) | decode kernel GB/s, median | kernel / read, same pass, "
           "median | in cache, one thread, GB/s | prefill 128 tokens, G multiply-adds/s | share of vpdpbusd peak |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < chosen.size(); i++) {
        const Row r = measure(chosen[i].second, chosen[i].first, pool, passes, cache[i]);
        printf("| %s | %.1f (%.1f) | %.1f | %.3f | %.1f | %.0f | %.0f %% |\n", r.type.c_str(), r.read_med, r.read_best,
               r.dec_med, r.ratio_med, r.cache_gbs, r.prefill_gmacs, 100 * r.prefill_gmacs / (dpn * 64));
        fflush(stdout);
    }
    return 0;
}
