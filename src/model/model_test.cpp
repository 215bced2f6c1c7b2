// Plans, loading, sequences and batching on synthetic models of every architecture (oracle_test.cpp checks
// the numbers against a reference engine).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include "kernels/kernels.h"
#include "model/model.h"

namespace berth {
namespace {

std::string synth(const std::string& arch, const std::string& type, int n_layer = 2, int n_embd = 64, int n_ff = 96) {
    // Per process: ctest runs this file's tests as parallel processes, several of which make the same model.
    std::string path =
        ::testing::TempDir() + "berth_synth_" + arch + "_" + type + "." + std::to_string(getpid()) + ".gguf";
    SyntheticSpec s;
    s.arch = arch;
    s.type = type;
    s.n_embd = n_embd;
    s.n_ff = n_ff;
    s.n_layer = arch.rfind("gemma", 0) == 0 ? 7 : n_layer;  // gemma3 needs a 6th (global) layer
    s.n_head = 4;
    s.n_head_kv = 2;
    s.n_vocab = 320;
    s.n_threads = 1;
    Status st = write_synthetic_model(s, path);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return path;
}

double rel_rms(const float* a, const float* b, int n) {
    double d = 0, r = 0;
    for (int i = 0; i < n; ++i) {
        d += (a[i] - b[i]) * double(a[i] - b[i]);
        r += double(b[i]) * b[i];
    }
    return std::sqrt(d / (r + 1e-30));
}

TEST(Model, PlanEqualsWhatLoadingReservesAndTheLedger) {
    std::string path = synth("llama", "q8_0");
    ModelOptions opt;
    opt.n_ctx = 100;
    opt.n_parallel = 3;
    opt.n_batch = 64;
    opt.n_threads = 2;
    auto p = plan(path, opt);
    ASSERT_TRUE(p.is_ok()) << p.status().to_string();
    Ledger ledger;
    {
        auto m = Model::load(path, opt, &ledger, "synth");
        ASSERT_TRUE(m.is_ok()) << m.status().to_string();
        EXPECT_EQ((*m)->reserved_kv_bytes(), p->kv);
        EXPECT_EQ((*m)->reserved_scratch_bytes(), p->scratch);
        EXPECT_EQ(ledger.get("synth", MemoryKind::kv), p->kv);
        EXPECT_EQ(ledger.get("synth", MemoryKind::scratch), p->scratch);
        EXPECT_EQ(ledger.get("synth", MemoryKind::weights_mapped), p->weights_mapped);
        EXPECT_EQ(p->kv_pages, 3 * ((100 + 15) / 16));
        EXPECT_GT(p->scratch, 0);
    }
    EXPECT_EQ(ledger.model_total("synth"), 0);  // unloading erases the entries
    std::remove(path.c_str());
}

TEST(Model, RefusesUnknownArchitecturesAndMissingTensors) {
    GgufWriter w;
    w.set_string("general.architecture", "mamba");
    std::string path = ::testing::TempDir() + "berth_mamba.gguf";
    ASSERT_TRUE(w.write(path).is_ok());
    auto m = Model::load(path, ModelOptions{});
    ASSERT_FALSE(m.is_ok());
    EXPECT_EQ(m.status().code(), StatusCode::unsupported);
    EXPECT_NE(m.status().message().find("llama, qwen2"), std::string::npos) << m.status().message();

    GgufWriter w2;
    w2.set_string("general.architecture", "llama");
    w2.set_u32("llama.embedding_length", 32);
    w2.set_u32("llama.block_count", 1);
    w2.set_u32("llama.attention.head_count", 2);
    w2.set_u32("llama.feed_forward_length", 64);
    w2.add_tensor("token_embd.weight", DType::F32, {32, 300}, std::string(32 * 300 * 4, '\0'));
    ASSERT_TRUE(w2.write(path).is_ok());
    m = Model::load(path, ModelOptions{});
    ASSERT_FALSE(m.is_ok());
    EXPECT_NE(m.status().message().find("output_norm.weight"), std::string::npos) << m.status().message();
    std::remove(path.c_str());
}

// Batched prefill must agree with token-by-token decoding, and two interleaved sequences in one batch with
// each run alone: the same maths on the same rows. Float-rounding tolerance for f32; 8-bit activation
// quantization can differ between matrix-matrix and matrix-vector paths, so 2 % for q8_0/q4_k_m.
class Archs : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(Archs, PrefillMatchesDecodeAndSequencesAreIndependent) {
    auto [arch, type] = GetParam();
    std::string path = synth(arch, type);
    ModelOptions opt;
    opt.n_ctx = 40;
    opt.n_parallel = 2;
    opt.n_batch = 32;
    opt.n_logits = 32;
    opt.n_threads = 2;
    auto loaded = Model::load(path, opt);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    Model& m = **loaded;
    const int V = m.n_vocab(), n = 12;  // 12 > the gemma sliding window of 8
    // Quantized weights: batches of ≥ 16 tokens take the prefill GEMM, whose activations are quantized in
    // 32-blocks with f32 scales, one token at a time the row kernels with Q8_0 / Q8_K activations; the two
    // roundings differ (up to 0.026 relative RMS on these random models; an indexing bug gives O(1)).
    const double tol = type == "f32" ? 1e-4 : 0.04;
    std::vector<int32_t> toks, toks2;
    for (int i = 0; i < n; ++i) {
        toks.push_back(1 + (i * 37) % (V - 1));
        toks2.push_back(1 + (i * 53 + 11) % (V - 1));
    }
    int a = *m.create_sequence();
    std::vector<BatchToken> batch;
    for (int i = 0; i < n; ++i) batch.push_back({toks[size_t(i)], a, i, true});
    auto pre = m.forward(batch.data(), n);
    ASSERT_TRUE(pre.is_ok()) << pre.status().to_string();
    std::vector<float> prefill(*pre, *pre + size_t(n) * V);
    for (float f : prefill) ASSERT_TRUE(std::isfinite(f));
    m.free_sequence(a);

    int b = *m.create_sequence();
    for (int i = 0; i < n; ++i) {
        BatchToken bt{toks[size_t(i)], b, i, true};
        auto out = m.forward(&bt, 1);
        ASSERT_TRUE(out.is_ok()) << out.status().to_string();
        EXPECT_LE(rel_rms(*out, prefill.data() + size_t(i) * V, V), tol) << "position " << i;
    }
    EXPECT_EQ(m.sequence_length(b), n);
    m.free_sequence(b);

    // Two sequences interleaved in one batch; only the last row of each asks for logits.
    int s1 = *m.create_sequence(), s2 = *m.create_sequence();
    EXPECT_FALSE(m.create_sequence().is_ok());  // n_parallel = 2
    batch.clear();
    for (int i = 0; i < n; ++i) {
        batch.push_back({toks[size_t(i)], s1, i, i == n - 1});
        batch.push_back({toks2[size_t(i)], s2, i, i == n - 1});
    }
    auto both = m.forward(batch.data(), int(batch.size()));
    ASSERT_TRUE(both.is_ok()) << both.status().to_string();
    EXPECT_LE(rel_rms(*both, prefill.data() + size_t(n - 1) * V, V), tol);
    std::vector<float> second(*both + V, *both + 2 * V);
    m.free_sequence(s1);
    m.free_sequence(s2);
    int s3 = *m.create_sequence();
    batch.clear();
    for (int i = 0; i < n; ++i) batch.push_back({toks2[size_t(i)], s3, i, i == n - 1});
    auto alone = m.forward(batch.data(), n);
    ASSERT_TRUE(alone.is_ok());
    EXPECT_LE(rel_rms(*alone, second.data(), V), tol);
    m.free_sequence(s3);
    EXPECT_EQ(m.kv_pool().n_free(), m.kv_pool().n_pages());  // every page came back
    std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Synthetic, Archs,
                         ::testing::Combine(::testing::Values("llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3",
                                                              "llama-moe"),
                                            ::testing::Values("f32", "q8_0", "q4_k_m")),
                         [](const auto& info) {
                             std::string s = std::get<0>(info.param) + "_" + std::get<1>(info.param);
                             for (char& c : s)
                                 if (c == '-') c = '_';
                             return s;
                         });

// A sequence that shares another's prefix pages computes the same logits as one that recomputed the prefix,
// and writing its own tail does not disturb the source (the partly filled page is never shared).
TEST(Model, SharedPrefixGivesTheSameLogits) {
    std::string path = synth("llama", "f32");
    ModelOptions opt;
    opt.n_ctx = 64;
    opt.n_parallel = 2;
    opt.n_batch = 40;
    opt.n_threads = 1;
    auto loaded = Model::load(path, opt);
    ASSERT_TRUE(loaded.is_ok());
    Model& m = **loaded;
    const int V = m.n_vocab();
    auto run = [&](int seq, int from, int to) {
        std::vector<BatchToken> b;
        for (int i = from; i < to; ++i) b.push_back({1 + (i * 31) % (V - 1), seq, i, i == to - 1});
        auto out = m.forward(b.data(), int(b.size()));
        CHECK(out.is_ok());
        return std::vector<float>(*out, *out + V);
    };
    int a = *m.create_sequence();
    std::vector<float> full = run(a, 0, 37);
    std::vector<float> a_next = run(a, 37, 38);  // a's next step before anything is shared
    m.truncate_sequence(a, 37);
    int b = *m.create_sequence();
    int64_t shared = m.share_prefix(b, a, 37);
    EXPECT_EQ(shared, 32);  // two whole pages of 16
    EXPECT_EQ(m.sequence_length(b), 32);
    std::vector<float> tail = run(b, int(shared), 37);
    EXPECT_LE(rel_rms(tail.data(), full.data(), V), 1e-5);
    // Rewinding b into the shared pages and rewriting them (other tokens) copies them first.
    m.truncate_sequence(b, 20);
    std::vector<BatchToken> other;
    for (int i = 20; i < 37; ++i) other.push_back({7, b, i, i == 36});
    ASSERT_TRUE(m.forward(other.data(), int(other.size())).is_ok());
    m.free_sequence(b);
    std::vector<float> again = run(a, 37, 38);  // a is undisturbed
    EXPECT_LE(rel_rms(again.data(), a_next.data(), V), 1e-6);
    m.free_sequence(a);
    EXPECT_EQ(m.kv_pool().n_free(), m.kv_pool().n_pages());
    std::remove(path.c_str());
}

TEST(Model, BadBatchesAreErrorsAndLeaveSequencesUnchanged) {
    std::string path = synth("llama", "f32");
    ModelOptions opt;
    opt.n_ctx = 20;
    opt.n_parallel = 1;
    opt.n_batch = 8;
    opt.n_threads = 1;
    auto loaded = Model::load(path, opt);
    ASSERT_TRUE(loaded.is_ok());
    Model& m = **loaded;
    int s = *m.create_sequence();
    BatchToken bad_token{100000, s, 0, true};
    EXPECT_EQ(m.forward(&bad_token, 1).status().code(), StatusCode::invalid_argument);
    BatchToken gap{5, s, 3, true};  // position 3 of an empty sequence
    EXPECT_EQ(m.forward(&gap, 1).status().code(), StatusCode::invalid_argument);
    BatchToken no_seq{5, 7, 0, true};
    EXPECT_EQ(m.forward(&no_seq, 1).status().code(), StatusCode::invalid_argument);
    std::vector<BatchToken> two_logits = {{5, s, 0, true}, {6, s, 1, true}};  // n_logits = n_parallel = 1
    EXPECT_EQ(m.forward(two_logits.data(), 2).status().code(), StatusCode::invalid_argument);
    EXPECT_EQ(m.sequence_length(s), 0);
    // Fill the context, then one more position is refused.
    for (int start = 0; start < 20; start += 5) {
        std::vector<BatchToken> b;
        for (int i = 0; i < 5; ++i) b.push_back({7, s, start + i, i == 4});
        ASSERT_TRUE(m.forward(b.data(), 5).is_ok());
    }
    BatchToken past{7, s, 20, true};
    EXPECT_EQ(m.forward(&past, 1).status().code(), StatusCode::invalid_argument);
    EXPECT_EQ(m.sequence_length(s), 20);
    m.truncate_sequence(s, 10);  // rewind and continue
    EXPECT_EQ(m.sequence_length(s), 10);
    BatchToken next{7, s, 10, true};
    EXPECT_TRUE(m.forward(&next, 1).is_ok());
    std::remove(path.c_str());
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// Quantized KV caches change only the rounding of K and V: the logits stay close to the f16 cache's.
// Tolerances: Q8_0 rounds each element to ~0.5 % of its block's range, Q4_0 to ~7 %; measured logit errors
// are 0.005 and 0.11 (random weights amplify through 2 layers), bounded here at about twice that.
// Decode at a long context with more threads than (token, kv head) jobs splits each job's keys across threads
// (flash-decoding) and merges the partial softmax states: the logits must equal the unsplit run's (1 thread)
// up to float summation order. Every other part of a step computes each output on one thread either way.
TEST(Model, SplitDecodeAttentionMatchesOneThread) {
    std::string path = synth("llama", "f32");
    std::vector<float> ref;
    for (int threads : {1, 8}) {
        ModelOptions opt;
        opt.n_ctx = 700;
        opt.n_batch = 128;
        opt.n_threads = threads;
        auto loaded = Model::load(path, opt);
        ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
        Model& m = **loaded;
        const int s = *m.create_sequence(), n = 600;  // 600 keys: 2 chunks per job with 8 threads, 2 kv heads
        std::vector<BatchToken> b;
        for (int i = 0; i < n; ++i) {
            b.push_back({1 + (i * 7) % 300, s, i, false});
            if (b.size() == 128 || i == n - 1) {
                ASSERT_TRUE(m.forward(b.data(), int(b.size())).is_ok());
                b.clear();
            }
        }
        BatchToken last{5, s, n, true};
        auto out = m.forward(&last, 1);
        ASSERT_TRUE(out.is_ok());
        if (ref.empty()) {
            ref.assign(*out, *out + m.n_vocab());
            continue;
        }
        EXPECT_LE(rel_rms(*out, ref.data(), m.n_vocab()), 1e-5);
    }
    std::remove(path.c_str());
}

TEST(Model, QuantizedKvCachesStayCloseToF16) {
    const std::string path = std::string(BERTH_TESTDATA) + "/models/llama-spm-f16.gguf";
    std::vector<float> ref;
    for (DType kv : {DType::F16, DType::F32, DType::Q8_0, DType::Q4_0}) {
        SCOPED_TRACE(dtype_name(kv));
        ModelOptions opt;
        opt.n_ctx = 32;
        opt.n_batch = 32;
        opt.n_threads = 2;
        opt.kv_type = kv;
        auto loaded = Model::load(path, opt);
        ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
        Model& m = **loaded;
        int s = *m.create_sequence();
        std::vector<BatchToken> b;
        for (int i = 0; i < 20; ++i) b.push_back({1 + i * 13, s, i, i == 19});
        auto out = m.forward(b.data(), 20);
        ASSERT_TRUE(out.is_ok());
        if (ref.empty()) {
            ref.assign(*out, *out + m.n_vocab());
            continue;
        }
        double tol = kv == DType::F32 ? 1e-3 : kv == DType::Q8_0 ? 0.02 : 0.2;
        const double err = rel_rms(*out, ref.data(), m.n_vocab());
        printf("  kv %s: relative RMS vs f16 %.5f\n", dtype_name(kv), err);
        EXPECT_LE(err, tol);
    }
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// Q8_0 and Q4_0 matrices repacked at load (BERTH_REPACK, on by default where the avx512 kernels run): the plan
// counts the copy as weights_repacked and leaves its file bytes out of weights_mapped, the ledger shows both,
// and a batch and decode steps give the logits of the file layout's row kernels (the integer sums are exact;
// only the f32 order of the block sums differs).
TEST(Model, RepackedWeightsPlanTheirBytesAndKeepTheLogits) {
    for (const char* type : {"q8_0", "q4_0", "q4_k_m"}) {
        // Q4_K needs rows of whole 256-blocks.
        const bool k = std::string(type) == "q4_k_m";
        const std::string path = k ? synth("llama", type, 2, 256, 512) : synth("llama", type);
        ModelOptions opt;
        opt.n_ctx = 64;
        opt.n_batch = 32;
        opt.n_threads = 2;
        std::vector<float> logits[2];
        MemoryPlan plans[2];
        for (int repack = 0; repack < 2; repack++) {
            setenv("BERTH_REPACK", repack ? "1" : "0", 1);
            auto p = plan(path, opt);
            ASSERT_TRUE(p.is_ok()) << p.status().to_string();
            plans[repack] = *p;
            Ledger ledger;
            auto loaded = Model::load(path, opt, &ledger, "r");
            ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
            EXPECT_EQ(ledger.get("r", MemoryKind::weights_repacked), p->weights_repacked);
            EXPECT_EQ(ledger.get("r", MemoryKind::weights_mapped), p->weights_mapped);
            Model& m = **loaded;
            const int V = m.n_vocab(), seq = *m.create_sequence();
            std::vector<BatchToken> b;
            // A prefill below the GEMM's batch sizes (which quantizes activations its own way), then decode.
            for (int i = 0; i < 8; ++i) b.push_back({1 + (i * 37) % (V - 1), seq, i, i == 7});
            ASSERT_TRUE(m.forward(b.data(), int(b.size())).is_ok());
            for (int i = 8; i < 11; ++i) {
                const BatchToken t{1 + i % (V - 1), seq, i, true};
                auto out = m.forward(&t, 1);
                ASSERT_TRUE(out.is_ok());
                logits[repack].insert(logits[repack].end(), *out, *out + V);
            }
        }
        unsetenv("BERTH_REPACK");
        EXPECT_EQ(plans[0].weights_repacked, 0) << type;
        if (repack_applies(DType::Q8_0, 64, 64)) {  // the avx512 kernels run here
            EXPECT_GT(plans[1].weights_repacked, 0) << type;
            EXPECT_EQ(plans[1].weights_repacked % int64_t(page_size()), 0);
            // The layer matrices and the classifier of the repacked types (64 × 64, 64 × 32, 96 × 64, 64 × 96,
            // 320 × 64; q4_k_m: its Q4_K ones) left the mapping.
            EXPECT_LT(plans[1].weights_mapped, plans[0].weights_mapped) << type;
            EXPECT_GE(plans[1].weights_repacked, plans[0].weights_mapped - plans[1].weights_mapped) << type;
        }
        ASSERT_EQ(logits[0].size(), logits[1].size());
        EXPECT_LE(rel_rms(logits[1].data(), logits[0].data(), int(logits[0].size())), 1e-5) << type;
        std::remove(path.c_str());
    }
}

}  // namespace
}  // namespace berth
