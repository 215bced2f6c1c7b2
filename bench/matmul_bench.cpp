// berth_bench_matmul: one weight matrix times a batch of tokens through matmul(), the kernels the engine
// uses (row tiles up to 15 tokens, the GEMM from its threshold), timed alone. It prints the best time of REPS
// products as ns per weight row, ns per row and token, and the weight bytes read per second.
//
//   berth_bench_matmul TYPE COLS ROWS TOKENS [REPS] [THREADS] [COPIES]
//
// TYPE is q4_0, q8_0, q4_K, q5_K or q6_K, or q4_0_r16 / q8_0_r16 / q4_K_r16 / q6_K_r16 for those repacked as the model does at load
// (kernels.h: repack_rows16; ROWS a multiple of 16) (random weights quantized by the reference quantizer; rows beyond
// the first 16,000 repeat them). A matrix larger than the last-level cache (e.g. 2048 × 128000 Q4_K, 147 MB)
// measures the kernels with the weights streaming from DRAM, as in decode; a small one (2048 × 1024)
// measures them in cache. COPIES > 1 multiplies that many distinct matrices of ROWS rows one after the other, as
// the layers of a model do in decode (e.g. 2048 x 2048 Q4_K, 2.4 MB, 64 copies: each product starts on weights
// that are not in cache), and reports the time per product, dispatch and ramp-up included: the best of REPS
// passes over all copies. BERTH_ISA picks the instruction set as for the server.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/matrix_test_util.h"

using namespace berth;

namespace {

bool parse_type(const char* s, DType* t) {
    const struct {
        const char* name;
        DType type;
    } types[] = {{"q4_0", DType::Q4_0}, {"q8_0", DType::Q8_0}, {"q4_K", DType::Q4_K},
                 {"q5_K", DType::Q5_K}, {"q6_K", DType::Q6_K}};
    for (const auto& e : types)
        if (strcmp(s, e.name) == 0) return *t = e.type, true;
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    DType type{};
    const std::string name = argc > 1 ? argv[1] : "";
    const bool repack = name.size() > 4 && name.compare(name.size() - 4, 4, "_r16") == 0;
    if (argc < 5 || !parse_type(repack ? name.substr(0, name.size() - 4).c_str() : name.c_str(), &type) ||
        (repack && repacked_type(type) == type)) {
        fprintf(stderr, "usage: %s q4_0|q8_0|q4_0_r16|q8_0_r16|q4_K|q4_K_r16|q5_K|q6_K|q6_K_r16 COLS ROWS TOKENS [REPS] [THREADS] [COPIES]\n",
                argv[0]);
        return 2;
    }
    const int64_t cols = atoll(argv[2]), rows = atoll(argv[3]), tokens = atoll(argv[4]);
    const int reps = argc > 5 ? atoi(argv[5]) : 10, threads = argc > 6 ? atoi(argv[6]) : 1;
    const int copies = argc > 7 ? atoi(argv[7]) : 1;
    if (cols <= 0 || cols % 256 != 0 || rows <= 0 || tokens <= 0 || reps <= 0 || threads <= 0 || copies <= 0 ||
        (repack && rows % kRepackRows != 0)) {
        fprintf(stderr, "COLS must be a positive multiple of 256; ROWS, TOKENS, REPS, THREADS and COPIES positive\n");
        return 2;
    }
    const int64_t base_rows = std::min<int64_t>(rows, 16000);
    const std::vector<uint8_t> base = test::quantized(type, base_rows, cols, 1);
    const size_t matrix_bytes = size_t(row_bytes(type, cols)) * size_t(rows);
    std::vector<uint8_t> w(matrix_bytes * size_t(copies));
    for (size_t o = 0; o < w.size(); o += base.size()) memcpy(&w[o], base.data(), std::min(base.size(), w.size() - o));
    const std::vector<float> x = test::gaussian(tokens * cols, 2);
    std::vector<TensorView> views;
    for (int c = 0; c < copies; c++) views.push_back(test::matrix_view(type, cols, rows, &w[size_t(c) * matrix_bytes]));
    std::vector<uint8_t> packed(repack ? w.size() : 0);
    if (repack)
        for (int c = 0; c < copies; c++) {
            repack_rows16(views[size_t(c)], &packed[size_t(c) * matrix_bytes]);
            views[size_t(c)].data = &packed[size_t(c) * matrix_bytes];
            views[size_t(c)].type = repacked_type(type);
        }
    if (repack) type = repacked_type(type);
    ThreadPool pool(threads);
    std::vector<uint8_t> scratch(matmul_scratch_bytes(type, cols, tokens, threads));
    std::vector<float> y(size_t(tokens * rows));
    for (const TensorView& v : views) matmul(pool, v, x.data(), tokens, y.data(), scratch.data());  // warm-up
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const auto t0 = std::chrono::steady_clock::now();
        for (const TensorView& v : views) matmul(pool, v, x.data(), tokens, y.data(), scratch.data());
        const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        best = std::min(best, ns / copies);
    }
    printf("%s %lld cols x %lld rows, %lld tokens, %d threads (%s): %.1f ns/row, %.2f ns/row/token, %.1f GB/s of "
           "weights\n",
           argv[1], static_cast<long long>(cols), static_cast<long long>(rows), static_cast<long long>(tokens), threads,
           isa_name(active_isa()), best / double(rows), best / double(rows) / double(tokens), double(matrix_bytes) / best);
    return 0;
}
