// berth debug bench-matmul: times matmul() per weight type and shape, printing GFLOP/s and GB/s of weight
// traffic. Copies of the matrix are cycled so that their total exceeds the last-level cache (as in a real
// forward pass, where every weight is read once per step from memory); --cached uses one copy instead, to
// see the kernels' compute speed.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "cli/command.h"
#include "kernels/kernels.h"

namespace berth::cli {
namespace {

double process_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

struct Shape {
    int64_t rows, cols;
};

// Builds one matrix of `rows` rows of `type` whose rows are 64 distinct reference-quantized Gaussian rows,
// repeated (quantizing 65M elements with the K-quant searches would take longer than the benchmark).
std::vector<uint8_t> make_matrix(DType type, int64_t rows, int64_t cols, uint32_t seed) {
    const int64_t rb = row_bytes(type, cols);
    const int64_t distinct = std::min<int64_t>(rows, 64);
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> row(cols);
    std::vector<uint8_t> m(size_t(rb * rows));
    for (int64_t r = 0; r < distinct; r++) {
        for (float& v : row) v = dist(rng);
        quantize_row_ref(type, row.data(), m.data() + r * rb, cols);
    }
    for (int64_t r = distinct; r < rows; r++) memcpy(m.data() + r * rb, m.data() + (r % distinct) * rb, rb);
    return m;
}

// Returns the seconds per matmul.
double bench_one(ThreadPool& pool, DType type, Shape s, int64_t tokens, double min_seconds, double bw_gbs,
                 bool cached) {
    const int64_t rb = row_bytes(type, s.cols);
    const size_t mat_bytes = size_t(rb * s.rows);
    const size_t target = size_t(256) << 20;  // ≫ 32 MiB L3
    const int copies = cached ? 1 : int(std::max<size_t>(1, (target + mat_bytes - 1) / mat_bytes));
    std::vector<uint8_t> first = make_matrix(type, s.rows, s.cols, 7);
    std::vector<std::vector<uint8_t>> mats(copies, first);

    std::mt19937 rng(11);
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> x(size_t(tokens * s.cols));
    for (float& v : x) v = dist(rng);
    std::vector<float> y(size_t(tokens * s.rows));
    std::vector<uint8_t> scratch(matmul_scratch_bytes(type, s.cols, tokens, pool.n_threads()) + 64);

    TensorView w;
    w.type = type;
    w.n_dims = 2;
    w.ne[0] = s.cols;
    w.ne[1] = s.rows;
    auto run = [&](int i) {
        w.data = mats[i % copies].data();
        matmul(pool, w, x.data(), tokens, y.data(), scratch.data());
    };
    for (int i = 0; i < copies; i++) run(i);  // warm-up: page faults, pool spin-up
    int64_t iters = 0;
    const double cpu0 = process_cpu_seconds();
    const int64_t t0 = now_ns();
    double elapsed = 0;
    while (elapsed < min_seconds || iters < 3) {
        run(int(iters));
        iters++;
        elapsed = double(now_ns() - t0) * 1e-9;
    }
    const double sec = elapsed / double(iters);
    // Share of the pool's threads' wall time they actually got a CPU (the machine may be shared); spinning
    // workers count as busy, so this is an upper bound of useful CPU.
    const double util = (process_cpu_seconds() - cpu0) / (elapsed * pool.n_threads());
    const double gflops = 2.0 * double(s.rows) * double(s.cols) * double(tokens) / sec * 1e-9;
    const double gbs = double(mat_bytes) / sec * 1e-9;
    printf("%-5s %6lld x %-6lld tokens %4lld  %9.3f ms  %8.1f GFLOP/s  %6.1f GB/s", dtype_name(type), (long long)s.rows,
           (long long)s.cols, (long long)tokens, sec * 1e3, gflops, gbs);
    if (bw_gbs > 0) printf("  (%3.0f%% of read bandwidth)", 100.0 * gbs / bw_gbs);
    if (tokens > 1) printf("  %7.1f tok/s-equiv", double(tokens) / sec);
    printf("  cpu %3.0f%%", 100.0 * util);
    printf("\n");
    fflush(stdout);
    return sec;
}

int cmd_bench_matmul(const std::vector<std::string>& argv) {
    Args args(argv, {"bandwidth", "cached"});
    const std::vector<std::string> known = {"type",    "rows", "cols",      "tokens", "threads",
                                            "seconds", "isa",  "bandwidth", "cached"};
    for (const std::string& k : args.unknown(known)) return fail("unknown option --%s", k.c_str());

    std::vector<DType> types;
    const std::string type_arg = args.get_or("type", "q8_0,q4_K,q6_K,f16,f32");
    for (size_t p = 0; p <= type_arg.size();) {
        size_t q = type_arg.find(',', p);
        if (q == std::string::npos) q = type_arg.size();
        DType t;
        std::string name = type_arg.substr(p, q - p);
        if (!parse_dtype(name, &t)) return fail("unknown type '%s'", name.c_str());
        types.push_back(t);
        p = q + 1;
    }
    std::vector<Shape> shapes;
    if (args.has("rows") || args.has("cols")) {
        shapes.push_back({args.get_int("rows", 2048), args.get_int("cols", 2048)});
    } else {  // TinyLlama-1.1B: attn (2048x2048), ffn up/gate (5632x2048), ffn down (2048x5632), output
        shapes = {{2048, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}, {256, 2048}};
    }
    const int64_t tokens = args.get_int("tokens", 1);
    const double seconds = args.get_double("seconds", 1.0);
    if (auto isa = args.get("isa")) {
        bool known_isa = false;
        for (Isa want : {Isa::scalar, Isa::avx2, Isa::avxvnni, Isa::avx512, Isa::amx}) {
            if (*isa != isa_name(want)) continue;
            if (!isa_supported(want)) return fail("this CPU does not support %s", isa->c_str());
            set_active_isa(want);
            known_isa = true;
        }
        if (!known_isa) return fail("unknown --isa %s (scalar, avx2, avxvnni, avx512, amx)", isa->c_str());
    }
    ThreadPool pool(int(args.get_int("threads", 0)));
    double bw = 0;
    if (args.has("bandwidth")) {
        bw = measure_read_bandwidth_gbs(pool);
        printf("read bandwidth (%d threads): %.1f GB/s\n", pool.n_threads(), bw);
    }
    printf("isa %s, %d threads\n", isa_name(active_isa()), pool.n_threads());
    const bool tinyllama = !args.has("rows") && !args.has("cols");
    for (DType t : types) {
        std::vector<double> sec;
        for (Shape s : shapes) {
            if (s.cols % dtype_info(t).block_elems) {
                printf("%-5s %lld cols: not a multiple of the block size, skipped\n", dtype_name(t), (long long)s.cols);
                sec.push_back(0);
                continue;
            }
            sec.push_back(bench_one(pool, t, s, tokens, seconds, bw, args.has("cached")));
        }
        if (tinyllama) {
            // TinyLlama-1.1B per layer: wq, wo (2048x2048), wk, wv (256x2048), gate, up (5632x2048), down
            // (2048x5632); 22 layers and the 32000x2048 output. Matmuls only (no attention, norms, rope).
            const double layer = 2 * sec[0] + 2 * sec[4] + 2 * sec[1] + sec[2];
            const double step = 22 * layer + sec[3];
            printf("%-5s TinyLlama-1.1B matmuls, all in this type: %.2f ms per step of %lld tokens = %.1f tok/s\n",
                   dtype_name(t), step * 1e3, (long long)tokens, double(tokens) / step);
        }
    }
    return 0;
}

}  // namespace

BERTH_COMMAND(bench_matmul, "debug bench-matmul",
              "berth debug bench-matmul [--type q4_K,q8_0] [--rows N --cols N] [--tokens T] "
              "[--threads N] [--seconds S] [--isa scalar|avx2|avxvnni|avx512|amx] [--bandwidth] [--cached]",
              "Times matmul per weight type and shape: GFLOP/s and GB/s of weight traffic.", cmd_bench_matmul);

}  // namespace berth::cli
