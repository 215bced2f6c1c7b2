// berth_bench_attention: the attention kernel the engine runs (attention_rows over a paged f16 KV cache, then
// attention_merge), timed alone on one thread. A decode step of a GQA model is TOKENS = 1 and GROUP query heads
// per KV head; a prefill tile is several consecutive tokens. COPIES distinct caches (the layers of a model) of
// KV_HEADS heads each are walked in turn, so that a large depth reads its keys from memory as decode does.
//
//   berth_bench_attention HEAD_DIM GROUP TOKENS KEYS [REPS] [COPIES] [KV_HEADS]
//
// It prints the best of REPS passes as ns per (KV head, key) and per query row and key, the KV bytes read per
// second, and the time one pass would add to a decode step (COPIES layers of KV_HEADS heads). The TinyLlama-1.1B
// shape at depth 2048: `64 8 1 2048 10 22 4`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "kernels/attention_test_util.h"
#include "kernels/kernels.h"
#include "kernels/matrix_test_util.h"

using namespace berth;

int main(int argc, char** argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s HEAD_DIM GROUP TOKENS KEYS [REPS] [COPIES] [KV_HEADS]\n", argv[0]);
        return 2;
    }
    const int d = atoi(argv[1]), group = atoi(argv[2]), tokens = atoi(argv[3]), keys = atoi(argv[4]);
    const int reps = argc > 5 ? atoi(argv[5]) : 10, copies = argc > 6 ? atoi(argv[6]) : 1;
    const int heads = argc > 7 ? atoi(argv[7]) : 4;
    if (d <= 0 || d % 16 != 0 || d > 256 || group <= 0 || tokens <= 0 || tokens * group > kAttnMaxRows ||
        keys < tokens || reps <= 0 || copies <= 0 || heads <= 0) {
        fprintf(stderr, "HEAD_DIM a multiple of 16 up to 256, TOKENS x GROUP at most %d, KEYS >= TOKENS, the rest "
                        "positive\n",
                kAttnMaxRows);
        return 2;
    }
    const int pp = 16;
    std::vector<int32_t> order;
    for (int p = 0; p < (keys + pp - 1) / pp; p++) order.push_back(p);
    std::vector<std::unique_ptr<test::PagedKvCache>> caches;
    for (int c = 0; c < copies; c++)
        caches.push_back(std::make_unique<test::PagedKvCache>(DType::F16, d, keys, pp, order, 1.0f, heads));
    if (!attention_rows_supported(caches[0]->kv)) {
        fprintf(stderr, "attention_rows needs AVX-512 here (BERTH_ISA=%s)\n", isa_name(active_isa()));
        return 1;
    }
    const std::vector<float> q = test::gaussian(int64_t(tokens) * heads * group * d, 5);
    std::vector<int64_t> first(size_t(tokens), 0), last(size_t(tokens), 0);
    for (int t = 0; t < tokens; t++) last[size_t(t)] = keys - tokens + t + 1;
    std::vector<float> scratch(attention_rows_scratch_floats(d)), part(attention_partial_floats(d));
    std::vector<float> out(size_t(tokens) * heads * group * d);
    const int64_t q_stride = int64_t(heads) * group * d;
    auto pass = [&] {
        for (const auto& c : caches)
            for (int h = 0; h < heads; h++) {
                AttnPartial st = attention_partial_init(part.data(), tokens * group, d);
                attention_rows(q.data() + int64_t(h) * group * d, q_stride, tokens, group, first.data(), last.data(), 0,
                               keys, c->kv, h, 0.125f, 0.0f, st, scratch.data());
                attention_merge(&st, 1, tokens, group, d, out.data() + int64_t(h) * group * d, q_stride);
            }
    };
    pass();  // warm-up
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const auto t0 = std::chrono::steady_clock::now();
        pass();
        best = std::min(best, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
    }
    const double head_keys = double(copies) * heads * keys;
    const double bytes = head_keys * 2.0 * double(row_bytes(DType::F16, d));
    printf("attention d=%d group=%d tokens=%d keys=%d, %d copies x %d kv heads, 1 thread (%s): %.2f ns per head and key, "
           "%.3f ns per row and key, %.1f GB/s of KV, %.3f ms per pass\n",
           d, group, tokens, keys, copies, heads, isa_name(active_isa()), best / head_keys,
           best / head_keys / (tokens * group), bytes / best, best / 1e6);
    return 0;
}
