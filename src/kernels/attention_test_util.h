// Test helpers shared by attention_test.cpp and attention_rows_test.cpp: a paged KV cache with random rows
// (pages in a given order), and the reference attention computed directly, in double, from the rows as
// stored (after the cache type's rounding).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "kernels/kernels.h"

namespace berth::test {

// n_pos positions × n_head_kv heads of head_dim, in pages of pp positions stored at pages[p / pp]; keys drawn
// from N(0, k_sigma²), values from N(0, 1), from one generator seeded with 3.
struct PagedKvCache {
    int n_head_kv, d, pp, n_pos;
    std::vector<uint8_t> mem;
    std::vector<int32_t> pages;
    AttnKv kv;
    std::vector<float> k_ref, v_ref;  // (n_pos, n_head_kv, d), as stored
    float vmax = 0;                   // max |value|

    PagedKvCache(DType t, int head_dim, int positions, int page_positions, std::vector<int32_t> page_order,
                 float k_sigma = 1.0f, int heads = 2)
        : n_head_kv(heads), d(head_dim), pp(page_positions), n_pos(positions), pages(std::move(page_order)) {
        const int64_t row = row_bytes(t, d), pos_bytes = row * n_head_kv, page_bytes = 2 * pos_bytes * pp;
        mem.assign(size_t(page_bytes) * pages.size(), 0);
        kv.type = t;
        kv.page_positions = pp;
        kv.n_head_kv = n_head_kv;
        kv.head_dim = d;
        kv.pages = pages.data();
        kv.base = mem.data();
        kv.page_bytes = page_bytes;
        kv.k_offset = 0;
        kv.v_offset = pos_bytes * pp;
        kv.head_row_bytes = row;
        std::mt19937 rng(3);
        std::normal_distribution<float> nd;
        std::vector<float> tmp(size_t(d) * n_head_kv), back(tmp.size());
        for (int p = 0; p < n_pos; ++p)
            for (int which = 0; which < 2; ++which) {
                for (float& f : tmp) f = nd(rng) * (which ? 1.0f : k_sigma);
                uint8_t* dst =
                    mem.data() + pages[size_t(p / pp)] * page_bytes + (which ? kv.v_offset : 0) + (p % pp) * pos_bytes;
                store_row(t, tmp.data(), dst, int64_t(tmp.size()));
                dequantize_row_ref(t, dst, back.data(), int64_t(back.size()));
                std::vector<float>& ref = which ? v_ref : k_ref;
                ref.insert(ref.end(), back.begin(), back.end());
                if (which)
                    for (float f : back) vmax = std::max(vmax, std::fabs(f));
            }
    }
};

// Attention of one query row q (d floats) over positions [begin, end) of kv head kh: softmax of
// scale·q·k (capped to cap·tanh(s / cap) when cap > 0) applied to v; out gets d values.
inline void reference_attention(const float* q, const PagedKvCache& c, int kh, int64_t begin, int64_t end, double scale,
                                double cap, double* out) {
    std::vector<double> s;
    double mx = -1e300, sum = 0;
    for (int64_t p = begin; p < end; ++p) {
        double dot = 0;
        for (int i = 0; i < c.d; ++i) dot += double(q[i]) * c.k_ref[size_t((p * c.n_head_kv + kh) * c.d + i)];
        dot *= scale;
        if (cap > 0) dot = cap * std::tanh(dot / cap);
        s.push_back(dot);
        mx = std::max(mx, dot);
    }
    for (double& x : s) sum += (x = std::exp(x - mx));
    for (int i = 0; i < c.d; ++i) {
        double o = 0;
        for (int64_t p = begin; p < end; ++p)
            o += s[size_t(p - begin)] / sum * c.v_ref[size_t((p * c.n_head_kv + kh) * c.d + i)];
        out[i] = o;
    }
}

}  // namespace berth::test
