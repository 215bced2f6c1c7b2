// matmul(): quantize the activations once into wdata (split across the pool), then compute rows in chunks, a
// contiguous range of them per thread with work stealing from the back (chunk_ranges.h), with the best kernel
// the active ISA has for the weight type.
#include <algorithm>

#include "kernels/chunk_ranges.h"
#include "kernels/gemm_impl.h"
#include "kernels/kernels.h"
#include "kernels/matmul_impl.h"

namespace berth {
namespace {

template <DType T>
void quantize_ref_as(const float* x, void* y, int64_t n) {
    quantize_row_ref(T, x, y, n);
}

kern::QuantizeFn pick_quantize(DType act) {
    const Isa isa = active_isa();
    kern::QuantizeFn f = nullptr;
    if (isa >= Isa::avx512) f = kern::quantize_kernel_avx512(act);
    if (!f && isa >= Isa::avxvnni) f = kern::quantize_kernel_avxvnni(act);
    if (!f && isa >= Isa::avx2) f = kern::quantize_kernel_avx2(act);
    if (f) return f;
    switch (act) {
        case DType::Q8_0: return quantize_ref_as<DType::Q8_0>;
        case DType::Q8_1: return quantize_ref_as<DType::Q8_1>;
        case DType::Q8_K: return quantize_ref_as<DType::Q8_K>;
        default: CHECK_MSG(false, "no quantizer for activation type");
    }
    return nullptr;
}

kern::RowsFn pick_rows(DType wtype) {
    const Isa isa = active_isa();
    if (is_repacked(wtype))
        return isa >= Isa::avx512 ? kern::rows_kernel_r16_avx512(wtype) : kern::rows_kernel_r16_scalar(wtype);
    kern::RowsFn f = nullptr;
    if (isa >= Isa::avx512) f = kern::rows_kernel_avx512(wtype);
    if (!f && isa >= Isa::avxvnni) f = kern::rows_kernel_avxvnni(wtype);
    if (!f && isa >= Isa::avx2) f = kern::rows_kernel_avx2(wtype);
    return f ? f : kern::rows_kernel_scalar(wtype);
}

}  // namespace

bool matmul_supports(DType t) {
    switch (t) {
        case DType::F32:
        case DType::F16:
        case DType::BF16:
        case DType::Q4_0:
        case DType::Q4_1:
        case DType::Q5_0:
        case DType::Q5_1:
        case DType::Q8_0:
        case DType::Q4_0_R16:
        case DType::Q8_0_R16:
        case DType::Q4_K_R16:
        case DType::Q6_K_R16:
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K: return true;
        default: return false;
    }
}

size_t matmul_scratch_bytes(DType wtype, int64_t n_cols, int64_t n_tokens, int n_threads) {
    const DType act = kern::act_type(wtype);
    if (act == DType::F32) return 0;
    const size_t gemm = gemm_scratch_bytes(wtype, n_cols, n_tokens, n_threads);
    size_t bytes = size_t(row_bytes(act, n_cols)) * size_t(n_tokens);
    // Q8_0 activations also keep their block scales as f32 (the SIMD kernels broadcast them without fp16
    // conversions), 64-byte aligned after the blocks.
    if (act == DType::Q8_0) bytes = (bytes + 63) / 64 * 64 + size_t(n_cols / QK8_0) * size_t(n_tokens) * sizeof(float);
    // Batches of up to kern::kMaxPairTokens on the avx512 path add the pair records (kern::kPairBytes per 64
    // columns and token), 64-byte aligned; larger batches take the GEMM or the kernels without them.
    if (act == DType::Q8_0 && n_tokens > 1 && n_cols % 64 == 0)
        bytes = (bytes + 63) / 64 * 64 +
                kern::pair_row_bytes(n_cols) * size_t(std::min<int64_t>(n_tokens, kern::kMaxPairTokens));
    // Repacked weights (and Q8_0/Q4_0 ones on the avx512 path, which the model repacks at load) add the R16
    // records of every token, 64-byte aligned after the above.
    const DType kernel_type = active_isa() >= Isa::avx512 ? repacked_type(wtype) : wtype;
    if (act == DType::Q8_0 && is_repacked(kernel_type))
        bytes = (bytes + 63) / 64 * 64 + kern::r16_row_bytes(n_cols) * size_t(n_tokens);
    // Batches of 2 to kern::kMaxPairTokens on the avx512 path add the K records of Q8_K activations
    // (kern::kKRecordBytes per 256 columns and token), 64-byte aligned in memory (64 bytes of slack); repacked
    // Q4_K / Q6_K weights (and such on the avx512 path, which the model repacks at load) read them for every token.
    const size_t k_rec_row = size_t(n_cols / QK_K) * kern::kKRecordBytes;
    if (kern::is_repacked_k(kernel_type))
        bytes += 64 + k_rec_row * size_t(n_tokens);
    else if (kern::reads_k_records(wtype) && n_tokens > 1)
        bytes += 64 + k_rec_row * size_t(std::min<int64_t>(n_tokens, kern::kMaxPairTokens));
    // Fewer tokens take the row kernels: the GEMM's size at n_tokens covers every smaller batch too.
    return std::max(bytes, gemm);
}

namespace {

// Quantizes x (n_tokens, n_cols) into wdata for activation type `act`, split across the pool when it is large
// enough (threads done early prefetch the jobs' weights); fills the task's xq/xq_row_bytes/xd.
// k_records: some job's weights read the K records in batches (Q4_K, Q5_K, Q6_K; not Q2_K/Q3_K, which share
// Q8_K). k_r16: some job's weights are repacked K-quants (they read the K records of every token).
// r16: some job's weights are repacked Q8_0/Q4_0 (they read the R16 records).
void quantize_activations(ThreadPool& pool, const MatmulJob* jobs, int n_jobs, DType act, const float* x,
                          int64_t n_cols, int64_t n_tokens, void* wdata, bool k_records, bool k_r16, bool r16,
                          kern::MatmulTask& task) {
    CHECK_MSG(wdata, "matmul: quantized weights need wdata (matmul_scratch_bytes)");
    task.xq = static_cast<const uint8_t*>(wdata);
    task.xq_row_bytes = size_t(row_bytes(act, n_cols));
    const kern::QuantizeFn quantize = pick_quantize(act);
    // Units of 256 elements (or one 32-block when the row is not a multiple of 256) per token.
    const int64_t unit = n_cols % QK_K == 0 ? QK_K : QK8_0;
    const int64_t units_per_row = n_cols / unit, n_units = units_per_row * n_tokens;
    const size_t unit_bytes = size_t(row_bytes(act, unit));
    uint8_t* out = static_cast<uint8_t*>(wdata);
    float* xd = nullptr;
    if (act == DType::Q8_0) {
        xd = reinterpret_cast<float*>(out + (task.xq_row_bytes * n_tokens + 63) / 64 * 64);
        task.xd = xd;
    }
    const int64_t nb = n_cols / QK8_0;
    const size_t xq_row_bytes = task.xq_row_bytes;
    auto quantize_part = [&](int ith, int nth) {
        const int64_t u0 = n_units * ith / nth, u1 = n_units * (ith + 1) / nth;
        for (int64_t u = u0; u < u1;) {
            // Consecutive units of one token are quantized in one call.
            const int64_t tok = u / units_per_row, first = u % units_per_row;
            const int64_t count = std::min(u1 - u, units_per_row - first);
            uint8_t* dst = out + tok * xq_row_bytes + first * unit_bytes;
            quantize(x + tok * n_cols + first * unit, dst, count * unit);
            if (xd) {
                const BlockQ8_0* blocks = reinterpret_cast<const BlockQ8_0*>(dst);
                float* d = xd + tok * nb + first * (unit / QK8_0);
                for (int64_t b = 0; b < count * (unit / QK8_0); b++) d[b] = fp16_to_fp32(blocks[b].d);
            }
            u += count;
        }
    };
    if (n_units >= 2 * pool.n_threads() && n_cols * n_tokens >= 4096) {
        kern::PrefetchOwnWeights own(pool, jobs, n_jobs);
        pool.parallel(quantize_part);
    } else
        quantize_part(0, 1);
    // The batched avx512 kernels of the symmetric 32-block types read the pair records (matmul_impl.h): a
    // pass over n_tokens × n_cols bytes, paid once for every row of every job.
    // Q8_0 activations: the pair records (room for them whenever they apply) and then the R16 records follow
    // the scales, each 64-byte aligned, as matmul_scratch_bytes counts them.
    const bool pairs = act == DType::Q8_0 && n_tokens > 1 && n_cols % 64 == 0;
    const size_t xd_end = xd ? (size_t(reinterpret_cast<const uint8_t*>(xd + nb * n_tokens) - out) + 63) / 64 * 64 : 0;
    const size_t pairs_bytes =
        pairs ? kern::pair_row_bytes(n_cols) * size_t(std::min<int64_t>(n_tokens, kern::kMaxPairTokens)) : 0;
    if (pairs && n_tokens <= kern::kMaxPairTokens && active_isa() >= Isa::avx512) {
        uint8_t* xp = out + xd_end;
        task.xp = xp;
        task.xp_row_bytes = kern::pair_row_bytes(n_cols);
        for (int64_t t = 0; t < n_tokens; t++)
            kern::make_pairs_q8_0(out + t * xq_row_bytes, n_cols, xp + t * task.xp_row_bytes);
    }
    // Repacked weights read the R16 records of every token.
    if (r16) {
        uint8_t* xr = out + (xd_end + pairs_bytes + 63) / 64 * 64;
        task.xr = xr;
        task.xr_row_bytes = kern::r16_row_bytes(n_cols);
        for (int64_t t = 0; t < n_tokens; t++)
            kern::make_r16_records(out + t * xq_row_bytes, n_cols, xr + t * task.xr_row_bytes);
    }
    // The avx512 K-quant tiles of batches and the repacked K-quant kernels read the K records (matmul_impl.h),
    // made the same way.
    const bool k_batch = k_records && n_tokens > 1 && n_tokens <= kern::kMaxPairTokens && active_isa() >= Isa::avx512;
    if (k_batch || k_r16) {
        const uintptr_t end = reinterpret_cast<uintptr_t>(out + xq_row_bytes * n_tokens);
        uint8_t* xk = reinterpret_cast<uint8_t*>((end + 63) / 64 * 64);
        if (k_batch) task.xk = xk;
        if (k_r16) task.xkr = xk;
        const size_t rec_row = size_t(n_cols / QK_K) * kern::kKRecordBytes;
        for (int64_t t = 0; t < n_tokens; t++) kern::make_k_records(out + t * xq_row_bytes, n_cols, xk + t * rec_row);
    }
}

// One weight matrix's share of a dispatch: its task, kernel and chunking.
struct Part {
    kern::MatmulTask task;
    kern::RowsFn rows;
    int64_t n_rows, chunk, first_chunk;
};

// Runs every part's row chunks in one pool dispatch, in contiguous ranges per thread (chunk_ranges.h). Against
// chunks dealt from one counter (each thread's chunks scattered over the matrix), 64 distinct 2048 x 2048 Q4_K
// matrices in turn (berth_bench_matmul q4_K 2048 2048 1 40 2 64) measured 52-54 GB/s instead of 42-44.
void run_parts(ThreadPool& pool, const Part* parts, int n_parts, int64_t total_macs) {
    const int nth = pool.n_threads();
    int64_t n_chunks = 0;
    for (int i = 0; i < n_parts; i++)
        n_chunks = std::max(n_chunks, parts[i].first_chunk + (parts[i].n_rows + parts[i].chunk - 1) / parts[i].chunk);
    // Small products (wk/wv of a GQA model at decode: ~0.3 MB) run on the caller alone: waking the pool costs
    // more than it saves, and on a shared machine a descheduled worker would stall the step.
    constexpr int64_t kMinParallelMacs = int64_t(1) << 19;
    const bool parallel = n_chunks > 1 && nth > 1 && total_macs >= kMinParallelMacs;
    auto run_chunk = [&](int64_t c) {
        int p = 0;
        while (p + 1 < n_parts && c >= parts[p + 1].first_chunk) p++;
        const Part& part = parts[p];
        const int64_t r0 = (c - part.first_chunk) * part.chunk, r1 = std::min(part.n_rows, r0 + part.chunk);
        part.rows(part.task, r0, r1);
    };
    if (!parallel) {
        for (int64_t c = 0; c < n_chunks; c++) run_chunk(c);
        return;
    }
    kern::run_unit_ranges(pool, n_chunks, [&](int, int64_t c) { run_chunk(c); });
}

// Chunks of whole 16-row groups, about 8 per thread (over all parts of a dispatch), so that a thread slowed
// by another process on the shared cores does not hold up the others.
int64_t chunk_rows(int64_t total_rows, int nth) {
    return std::max<int64_t>(16, (total_rows / (8 * nth) + 15) / 16 * 16);
}

}  // namespace

void matmul(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y, void* wdata,
            int64_t ldy) {
    MatmulJob job{w, y, ldy};
    matmul_multi(pool, &job, 1, x, n_tokens, wdata);
}

void matmul_multi(ThreadPool& pool, const MatmulJob* jobs, int n_jobs, const float* x, int64_t n_tokens, void* wdata) {
    CHECK(n_jobs >= 1 && n_jobs <= 8);
    const int64_t n_cols = jobs[0].w.ne[0];
    const DType act = kern::act_type(jobs[0].w.type);
    for (int j = 1; j < n_jobs; j++) {
        if (jobs[j].w.ne[0] != n_cols || kern::act_type(jobs[j].w.type) != act) {
            for (int i = 0; i < n_jobs; i++) matmul_multi(pool, &jobs[i], 1, x, n_tokens, wdata);
            return;
        }
    }
    if (n_tokens <= 0) return;
    if (gemm_applies(jobs, n_jobs, n_tokens)) {
        gemm_multi(pool, jobs, n_jobs, x, n_tokens, wdata);
        return;
    }
    kern::MatmulTask proto{};
    proto.n_cols = n_cols;
    proto.x = x;
    proto.n_tokens = n_tokens;
    bool k_records = false, k_r16 = false, r16 = false;
    int n_repacked = 0;
    for (int j = 0; j < n_jobs; j++) {
        const DType t = jobs[j].w.type;
        k_records |= kern::reads_k_records(t);
        k_r16 |= kern::is_repacked_k(t);
        r16 |= is_repacked(t) && !kern::is_repacked_k(t);
        n_repacked += is_repacked(t);
    }
    // Batches that the GEMM takes for file-layout weights: a dispatch that mixes them with repacked ones (a
    // Q4_K_M file's Q6_K matrices beside its repacked Q4_K ones) runs them apart, so those keep the GEMM.
    if (n_repacked > 0 && n_repacked < n_jobs && n_tokens > kern::kMaxPairTokens) {
        for (int i = 0; i < n_jobs; i++) matmul_multi(pool, &jobs[i], 1, x, n_tokens, wdata);
        return;
    }
    if (act != DType::F32)
        quantize_activations(pool, jobs, n_jobs, act, x, n_cols, n_tokens, wdata, k_records, k_r16, r16, proto);
    Part parts[8];
    int64_t total_rows = 0, total_macs = 0;
    for (int j = 0; j < n_jobs; j++) total_rows += jobs[j].w.ne[1];
    int64_t first_chunk = 0;
    for (int j = 0; j < n_jobs; j++) {
        const TensorView& w = jobs[j].w;
        CHECK_MSG(matmul_supports(w.type), "matmul: unsupported weight dtype");
        CHECK(w.ne[2] == 1 && w.ne[3] == 1);
        const int64_t n_rows = w.ne[1];
        const int64_t ldy = jobs[j].ldy == 0 ? n_rows : jobs[j].ldy;
        CHECK(ldy >= n_rows);
        Part& p = parts[j];
        p.task = proto;
        p.task.wtype = w.type;
        p.task.w = static_cast<const uint8_t*>(w.data);
        p.task.w_row_bytes = size_t(w.row_bytes());
        p.task.y = jobs[j].y;
        p.task.ldy = ldy;
        p.rows = pick_rows(w.type);
        p.n_rows = n_rows;
        p.chunk = chunk_rows(total_rows, pool.n_threads());
        p.first_chunk = first_chunk;
        first_chunk += (n_rows + p.chunk - 1) / p.chunk;
        total_macs += n_rows * n_cols * n_tokens;
    }
    if (total_rows <= 0) return;
    run_parts(pool, parts, n_jobs, total_macs);
}

void matmul_ref(const TensorView& w, const float* x, int64_t n_tokens, float* y) {
    const int64_t n_cols = w.ne[0], n_rows = w.n_rows();
    for (int64_t t = 0; t < n_tokens; t++)
        for (int64_t r = 0; r < n_rows; r++)
            y[t * n_rows + r] = float(dot_row_ref(w.type, w.row(r), x + t * n_cols, n_cols));
}

void get_row(const TensorView& w, int64_t r, float* out) {
    CHECK(r >= 0 && r < w.n_rows());
    dequantize_row_ref(w.type, w.row(r), out, w.ne[0]);
}

}  // namespace berth
