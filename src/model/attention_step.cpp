// Attention of one layer for a whole batch. Tokens are grouped into tiles: runs of consecutive positions of
// one sequence (a prefill chunk), at most kAttnMaxRows / group tokens each, so every K/V row a tile reads
// serves all its tokens and query heads (attention_rows). A decode step has one-token tiles; when there are
// fewer (tile, kv head) jobs than threads, each job's keys are split into chunks on different threads and
// the partial softmax states merged (flash-decoding), so a long context does not leave threads idle.
// Caches attention_rows cannot read (quantized KV, no AVX-512) take attention_group per token.
#include <algorithm>
#include <atomic>

#include "model/model_internal.h"

namespace berth {
namespace {

// Keys [begin, end) that token t attends to.
inline void key_range(const BatchToken& bt, int64_t window, int64_t* begin, int64_t* end) {
    *end = int64_t(bt.pos) + 1;
    *begin = window > 0 ? std::max<int64_t>(0, *end - window) : 0;
}

// Splits the batch into tiles; returns their count. tiles[i] is the first token of tile i, tiles[count] = n.
int make_tiles(const BatchToken* tokens, int n, int max_len, int32_t* tiles) {
    int count = 0;
    for (int t = 0; t < n;) {
        tiles[count++] = t;
        int len = 1;
        while (t + len < n && len < max_len && tokens[t + len].seq == tokens[t].seq &&
               tokens[t + len].pos == tokens[t].pos + len)
            ++len;
        t += len;
    }
    tiles[count] = n;
    return count;
}

// Key chunks per job: only when jobs alone cannot occupy the threads, and only for contexts long enough that a
// chunk (≥ 256 keys) outweighs merging it.
int chunks_per_job(int n_jobs, int nth, int64_t max_keys) {
    if (n_jobs >= nth) return 1;
    const int want = (nth + n_jobs - 1) / n_jobs;
    return int(std::clamp<int64_t>(max_keys / 256, 1, std::min(want, kMaxAttnChunks)));
}

}  // namespace

void attend_layer(ThreadPool& pool, const HParams& hp, const Model::Impl& im, const BatchToken* tokens, int n,
                  const AttnKv& akv, int64_t window, const StepBuffers& b, int n_ctx) {
    const int64_t H = hp.head_dim, q_dim = int64_t(hp.n_head) * H;
    const int64_t qkv_dim = q_dim + 2 * int64_t(hp.n_head_kv) * H;
    const int group = hp.n_head / hp.n_head_kv, n_kv = hp.n_head_kv;
    if (!attention_rows_supported(akv) || group > kAttnMaxRows) {
        // One job per (token, kv head): the query heads of a GQA group read each K/V row once.
        pool.parallel([&](int ith, int nth) {
            AttnKv kv = akv;
            float* scores = b.scores + int64_t(ith) * group * n_ctx;
            float* tmp = b.tmp + int64_t(ith) * 2 * H;
            for (int64_t job = ith; job < int64_t(n) * n_kv; job += nth) {
                const int t = int(job / n_kv), kh = int(job % n_kv);
                kv.pages = im.tables[size_t(tokens[t].seq)].pages().data();
                int64_t begin, end;
                key_range(tokens[t], window, &begin, &end);
                attention_group(b.qkv + t * qkv_dim + int64_t(kh) * group * H, group, kv, kh, begin, end, hp.attn_scale,
                                hp.attn_softcap, b.att + t * q_dim + int64_t(kh) * group * H, scores, tmp);
            }
        });
        return;
    }
    const int n_tiles = make_tiles(tokens, n, kAttnMaxRows / group, b.attn_tiles);
    const int n_jobs = n_tiles * n_kv, nth = pool.n_threads();
    int64_t max_keys = 0;
    for (int i = 0; i < n_tiles; ++i) {
        int64_t b0, e0, b1, e1;
        key_range(tokens[b.attn_tiles[i]], window, &b0, &e0);
        key_range(tokens[b.attn_tiles[i + 1] - 1], window, &b1, &e1);
        max_keys = std::max(max_keys, e1 - b0);
    }
    const int chunks = chunks_per_job(n_jobs, nth, max_keys);
    const size_t work_floats = attention_rows_scratch_floats(int(H)) + attention_partial_floats(int(H));
    const size_t part_floats = attention_partial_floats(int(H));
    std::atomic<int> next{0};
    pool.parallel([&](int ith, int) {
        float* work = b.attn_work + size_t(ith) * work_floats;
        float* own_part = work + attention_rows_scratch_floats(int(H));
        for (int item = next.fetch_add(1, std::memory_order_relaxed); item < n_jobs * chunks;
             item = next.fetch_add(1, std::memory_order_relaxed)) {
            const int job = item / chunks, chunk = item % chunks;
            const int tile = job / n_kv, kh = job % n_kv;
            const int t0 = b.attn_tiles[tile], nt = b.attn_tiles[tile + 1] - t0;
            int64_t begin[kAttnMaxRows], end[kAttnMaxRows];
            for (int i = 0; i < nt; ++i) key_range(tokens[t0 + i], window, &begin[i], &end[i]);
            const int64_t kb = begin[0], ke = end[nt - 1];
            // Chunk boundaries on multiples of 16 keys (whole blocks of the kernel).
            const int64_t span = (ke - kb + chunks - 1) / chunks;
            const int64_t a = std::min(ke, kb + (span + 15) / 16 * 16 * chunk);
            const int64_t z = std::min(ke, kb + (span + 15) / 16 * 16 * (chunk + 1));
            AttnKv kv = akv;
            kv.pages = im.tables[size_t(tokens[t0].seq)].pages().data();
            const float* q = b.qkv + t0 * qkv_dim + int64_t(kh) * group * H;
            float* part_mem = chunks == 1 ? own_part : b.attn_parts + size_t(item) * part_floats;
            AttnPartial st = attention_partial_init(part_mem, nt * group, int(H));
            if (a < z)
                attention_rows(q, qkv_dim, nt, group, begin, end, a, z, kv, kh, hp.attn_scale, hp.attn_softcap, st,
                               work);
            if (chunks == 1)
                attention_merge(&st, 1, nt, group, int(H), b.att + t0 * q_dim + int64_t(kh) * group * H, q_dim);
        }
    });
    if (chunks == 1) return;
    pool.parallel([&](int ith, int nth2) {
        for (int job = ith; job < n_jobs; job += nth2) {
            const int tile = job / n_kv, kh = job % n_kv;
            const int t0 = b.attn_tiles[tile], nt = b.attn_tiles[tile + 1] - t0;
            AttnPartial parts[kMaxAttnChunks];
            for (int c = 0; c < chunks; ++c)
                parts[c] = attention_partial_view(b.attn_parts + size_t(job * chunks + c) * part_floats, int(H));
            attention_merge(parts, chunks, nt, group, int(H), b.att + t0 * q_dim + int64_t(kh) * group * H, q_dim);
        }
    });
}

}  // namespace berth
