// Weights repacked at load (repack.h).
#include "model/repack.h"

#include <cstdlib>

namespace berth {
namespace {

constexpr size_t kRepackAlign = 64;

bool repack_enabled() {
    const char* e = getenv("BERTH_REPACK");
    return !(e && e[0] == '0' && e[1] == 0);
}

}  // namespace

std::vector<TensorView*> repack_targets(const HParams& hp, Weights& w, int n_dev_layers, bool output_on_device) {
    std::vector<TensorView*> out;
    if (!repack_enabled()) return out;
    auto consider = [&](TensorView& t) {
        if (t.data && t.n_dims == 2 && repack_applies(t.type, t.ne[1], t.ne[0])) out.push_back(&t);
    };
    for (size_t i = size_t(std::max(n_dev_layers, 0)); i < w.layers.size(); i++) {
        LayerWeights& L = w.layers[i];
        for (TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wqkv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) consider(*t);
    }
    if (!output_on_device && !hp.tied_output && w.output.data != w.token_embd.data) consider(w.output);
    return out;
}

int64_t repack_file_bytes(const std::vector<TensorView*>& targets) {
    int64_t n = 0;
    for (const TensorView* t : targets) n += t->n_bytes();
    return n;
}

int64_t repack_arena_bytes(const std::vector<TensorView*>& targets) {
    size_t n = 0;
    for (const TensorView* t : targets) n = round_up(n, kRepackAlign) + size_t(t->n_bytes());
    return n ? int64_t(round_up(n, page_size())) : 0;
}

void repack_weights(ThreadPool& pool, const std::vector<TensorView*>& targets, uint8_t* arena,
                    const MappedFile* mapping) {
    size_t off = 0;
    for (TensorView* t : targets) {
        off = round_up(off, kRepackAlign);
        uint8_t* dst = arena + off;
        const int64_t n_groups = t->n_rows() / kRepackRows, group_bytes = kRepackRows * t->row_bytes();
        // Whole groups per thread: each is an independent 16-row matrix.
        pool.parallel([&](int ith, int nth) {
            const int64_t g0 = n_groups * ith / nth, g1 = n_groups * (ith + 1) / nth;
            if (g1 <= g0) return;
            TensorView part = *t;
            part.ne[1] = (g1 - g0) * kRepackRows;
            part.data = static_cast<const uint8_t*>(t->data) + g0 * group_bytes;
            repack_rows16(part, dst + g0 * group_bytes);
        });
        if (mapping) mapping->release_range(t->data, size_t(t->n_bytes()));
        t->data = dst;
        t->type = repacked_type(t->type);
        off += size_t(t->n_bytes());
    }
}

}  // namespace berth
