// The GEMM driver (gemm_impl.h): quantizes the activations once, then hands out (job, 16-row panel, token
// range) tasks in contiguous ranges per thread, with work stealing from the back (chunk_ranges.h). A task unpacks its
// panel chunk by chunk (kChunkCols columns) into the thread's own buffer and runs the ISA's kernel over every token of
// its range, so each weight block is unpacked and read once per product whatever the batch size.
#include <algorithm>
#include <cstdlib>

#include "kernels/chunk_ranges.h"
#include "kernels/gemm_impl.h"
#include "kernels/kernels.h"

namespace berth {
namespace {

using kern::GemmIsaKernels;

const GemmIsaKernels* pick_gemm() {
    switch (active_isa()) {
        case Isa::amx:
            if (const GemmIsaKernels* k = kern::gemm_kernels_amx()) return k;
            return kern::gemm_kernels_avx512();
        case Isa::avx512: return kern::gemm_kernels_avx512();
        case Isa::avxvnni: return kern::gemm_kernels_avxvnni();
        case Isa::avx2: return kern::gemm_kernels_avx2();
        case Isa::scalar: return kern::gemm_kernels_scalar();
    }
    return nullptr;
}

// Below this many tokens the row kernels, which keep a few tokens' accumulators per weight row, win: the
// panel unpack is paid per product and only amortized over the batch. Q4_0 with the avx512 unpacker crosses
// over earlier (one thread, 2048x5632: 8 tokens 1.03 ms rows / 1.05 ms GEMM, 12 tokens 1.61 / 1.11 ms),
// Q4_K, Q6_K and Q8_0 at about 16. BERTH_GEMM_MIN_TOKENS overrides it for every type.
// `any_isa`: the smallest over the ISAs, for sizing scratch that must hold whichever ISA is active later.
int64_t min_tokens(DType wtype, bool any_isa) {
    static const int64_t env = [] {
        const char* e = getenv("BERTH_GEMM_MIN_TOKENS");
        return e && *e ? std::max<int64_t>(1, atoll(e)) : int64_t(0);
    }();
    if (env > 0) return env;
    return wtype == DType::Q4_0 && (any_isa || active_isa() >= Isa::avx512) ? 10 : 16;
}

constexpr int kMaxTile = 16;  // the largest activation tile of any ISA (AMX)

size_t align64(size_t b) { return (b + 63) / 64 * 64; }

}  // namespace

bool gemm_applies(const MatmulJob* jobs, int n_jobs, int64_t n_tokens) {
    const int64_t n_cols = jobs[0].w.ne[0];
    if (n_cols % 32 != 0) return false;
    const GemmIsaKernels* K = pick_gemm();
    if (!K) return false;
    for (int j = 0; j < n_jobs; j++) {
        const DType t = jobs[j].w.type;
        if (n_tokens < min_tokens(t, false) || !kern::gemm_supports(t) || jobs[j].w.ne[0] != n_cols ||
            (t == DType::Q8_0 && !K->eight_bit))
            return false;
        // Repacked weights go straight into the transposed panel, which only the vector kernels read.
        if (is_repacked(t) && (!kern::gemm_unpacks_repacked(t) || !K->transpose || active_isa() < Isa::avx512))
            return false;
    }
    return true;
}

size_t gemm_scratch_bytes(DType wtype, int64_t n_cols, int64_t n_tokens, int n_threads) {
    if (!kern::gemm_supports(wtype) || n_cols % 32 != 0 || n_tokens < min_tokens(wtype, true)) return 0;
    size_t acts = 0;
    for (int tt = 1; tt <= kMaxTile; tt++) acts = std::max(acts, kern::gemm_acts_bytes(n_cols, n_tokens, tt));
    return align64(acts) + size_t(std::max(n_threads, 1)) * kern::panel_scratch_bytes() + 64;
}

void gemm_multi(ThreadPool& pool, const MatmulJob* jobs, int n_jobs, const float* x, int64_t n_tokens, void* wdata) {
    const GemmIsaKernels& K = *pick_gemm();
    const int64_t n_cols = jobs[0].w.ne[0];
    const int nth = pool.n_threads();
    uint8_t* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(wdata) + 63) / 64 * 64);
    const kern::GemmActs acts = kern::carve_acts(base, n_cols, n_tokens, K.tt);
    uint8_t* panels = base + align64(kern::gemm_acts_bytes(n_cols, n_tokens, K.tt));

    // Activations: whole tiles per thread.
    const int64_t n_tiles = (n_tokens + K.tt - 1) / K.tt;
    auto quantize = [&](int ith, int n) {
        const int64_t a = n_tiles * ith / n, b = n_tiles * (ith + 1) / n;
        if (a < b) K.quantize(x, n_tokens, a * K.tt, b * K.tt, acts);
    };
    if (n_tiles > 1 && nth > 1) {
        kern::PrefetchOwnWeights own(pool, jobs, n_jobs);
        pool.parallel(quantize);
    } else
        quantize(0, 1);

    // Tasks: every panel of every job; the token range is split too when there are few panels for the pool.
    int64_t first_task[9] = {0};
    int64_t n_panels_total = 0;
    for (int j = 0; j < n_jobs; j++) n_panels_total += (jobs[j].w.ne[1] + kern::kPanelRows - 1) / kern::kPanelRows;
    const int64_t parts = std::clamp<int64_t>((4 * nth + n_panels_total - 1) / n_panels_total, 1, n_tiles);
    for (int j = 0; j < n_jobs; j++)
        first_task[j + 1] = first_task[j] + (jobs[j].w.ne[1] + kern::kPanelRows - 1) / kern::kPanelRows * parts;
    const int64_t n_tasks = first_task[n_jobs];
    auto run = [&](int ith, int64_t task) {
        kern::Panel p = kern::carve_panel(panels + size_t(ith) * kern::panel_scratch_bytes());
        int j = 0;
        while (task >= first_task[j + 1]) j++;
        const int64_t local = task - first_task[j], panel = local / parts, part = local % parts;
        const TensorView& w = jobs[j].w;
        const int64_t r0 = panel * kern::kPanelRows;
        const int n_rows = int(std::min<int64_t>(kern::kPanelRows, w.ne[1] - r0));
        const int64_t tile0 = n_tiles * part / parts, tile1 = n_tiles * (part + 1) / parts;
        const int64_t t0 = tile0 * K.tt, t1 = std::min(n_tokens, tile1 * K.tt);
        if (t0 >= t1) return;
        const int64_t ldy = jobs[j].ldy == 0 ? w.ne[1] : jobs[j].ldy;
        const uint8_t* wr = static_cast<const uint8_t*>(w.data) + r0 * w.row_bytes();
        for (int64_t k0 = 0; k0 < n_cols; k0 += kern::kChunkCols) {
            const int kc = int(std::min<int64_t>(kern::kChunkCols, n_cols - k0));
            if (is_repacked(w.type)) {
                kern::unpack_panel_r16(w.type, wr, k0, kc, p);
            } else {
                kern::unpack_rows(w.type, wr, size_t(w.row_bytes()), n_rows, k0, kc, p);
                if (K.transpose) K.transpose(p);
            }
            const kern::GemmArgs g{&p, &acts, k0, t0, int(t1 - t0), jobs[j].y + r0, ldy, n_rows, k0 > 0};
            (p.blk == 16 ? K.kernel16 : K.kernel32)(g);
        }
    };
    if (n_tasks > 1 && nth > 1) {
        kern::run_unit_ranges(pool, n_tasks, run);
    } else {
        for (int64_t task = 0; task < n_tasks; task++) run(0, task);
    }
}

}  // namespace berth
