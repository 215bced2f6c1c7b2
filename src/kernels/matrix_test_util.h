// Test helpers shared by gemm_test.cpp and matmul_test.cpp: Gaussian data, weight rows quantized by the
// reference quantizer, and a 2-D view of them.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace berth::test {

// n values drawn from N(0, 1), seeded.
inline std::vector<float> gaussian(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
}

// rows × cols Gaussian values (gaussian(rows · cols, seed)) quantized row by row with quantize_row_ref.
inline std::vector<uint8_t> quantized(DType type, int64_t rows, int64_t cols, uint32_t seed) {
    const std::vector<float> wf = gaussian(rows * cols, seed);
    const int64_t rb = row_bytes(type, cols);
    std::vector<uint8_t> wq(size_t(rb * rows));
    for (int64_t r = 0; r < rows; r++) quantize_row_ref(type, wf.data() + r * cols, wq.data() + r * rb, cols);
    return wq;
}

// n Q8_0 blocks with quants over the whole int8 range (block 0 starts with -128, which the quantizer never
// writes) and random scales in [0.01, 0.265], seeded.
inline std::vector<BlockQ8_0> q8_0_full_range(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(-128, 127);
    std::vector<BlockQ8_0> w(static_cast<size_t>(n));
    for (BlockQ8_0& b : w) {
        b.d = fp32_to_fp16(0.01f + 0.001f * float(byte(rng) + 128));
        for (int8_t& q : b.qs) q = int8_t(byte(rng));
    }
    w[0].qs[0] = -128;
    return w;
}

// A (rows, cols) weight matrix of `type` over `data` (row-major rows of row_bytes(type, cols)).
inline TensorView matrix_view(DType type, int64_t cols, int64_t rows, const void* data) {
    TensorView w;
    w.type = type;
    w.n_dims = 2;
    w.ne[0] = cols;
    w.ne[1] = rows;
    w.data = data;
    return w;
}

}  // namespace berth::test

namespace berth {
// matmul_test.cpp: matmul of Gaussian (n_tokens, n_cols) activations with a Gaussian (n_rows, n_cols) matrix of
// `type`, on every ISA, against the references (the tolerances are documented there). repack: on the matrix
// repacked into 16-row groups (repack_rows16).
void check_matmul(DType type, int64_t n_rows, int64_t n_cols, int64_t n_tokens, ThreadPool& pool, bool repack = false);
}  // namespace berth
