// Placement on a device, through the stand-in device (BERTH_DEVICE=fake semantics): the device part of the
// plan equals what loading allocates there and what the ledger shows, num_gpu picks the layers, a budget picks
// as many as fit, and a model run on the device (fully or partly) gives the logits of the CPU path: the
// stand-in runs the same CPU kernels, so the two must agree to float rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "kernels/kernels.h"
#include "model/model.h"
#include "model/test_device.h"

namespace berth {
namespace {

constexpr int64_t kMiB = int64_t(1) << 20;

std::string model_path(const std::string& file) { return std::string(BERTH_TESTDATA) + "/models/" + file; }

ModelOptions small_options() {
    ModelOptions o;
    o.n_ctx = 96;
    o.n_parallel = 2;
    o.n_batch = 32;
    o.n_logits = 4;
    o.n_threads = 2;
    return o;
}

TEST(Placement, PlanEqualsWhatTheDeviceAllocatesAndTheLedger) {
    auto dev = make_fake_device(0, 256 * kMiB);
    const std::string path = model_path("llama-spm-q4_k_m.gguf");  // 2 layers
    for (int num_gpu : {0, 1, 2, 3, 99}) {
        SCOPED_TRACE("num_gpu " + std::to_string(num_gpu));
        ModelOptions o = small_options();
        o.device = dev.get();
        o.num_gpu = num_gpu;
        auto p = plan(path, o);
        ASSERT_TRUE(p.is_ok()) << p.status().to_string();
        ModelOptions cpu = small_options();
        auto p_cpu = plan(path, cpu);
        ASSERT_TRUE(p_cpu.is_ok());
        EXPECT_EQ(p->n_layer, 2);
        EXPECT_EQ(p->n_gpu_layers, std::min(num_gpu, 3));
        EXPECT_EQ(p->device, num_gpu > 0 ? 0 : -1);
        if (num_gpu == 0) {
            EXPECT_EQ(p->device_total(), 0);
            EXPECT_EQ(p->total(), p_cpu->total());
        } else {
            EXPECT_GT(p->device_weights, 0);
            EXPECT_GT(p->device_kv, 0);
            EXPECT_GT(p->device_scratch, 0);
            // The CPU reads less of the file, and its KV pool holds only its own layers.
            EXPECT_LT(p->weights_mapped, p_cpu->weights_mapped);
            EXPECT_EQ(p->kv, num_gpu >= 2 ? 0 : p_cpu->kv / 2);
            EXPECT_EQ(p->device_weights % int64_t(dev->allocation_granularity()), 0);
        }
        Ledger ledger;
        const int64_t count0 = dev->allocation_count();
        {
            auto m = Model::load(path, o, &ledger, "m");
            ASSERT_TRUE(m.is_ok()) << m.status().to_string();
            const MemoryPlan& mp = (*m)->memory_plan();
            EXPECT_EQ(mp.device_total(), p->device_total());
            EXPECT_EQ(mp.weights_mapped, p->weights_mapped);
            EXPECT_EQ((*m)->reserved_device_bytes(DeviceMemoryKind::weights), p->device_weights);
            EXPECT_EQ((*m)->reserved_device_bytes(DeviceMemoryKind::kv), p->device_kv);
            EXPECT_EQ((*m)->reserved_device_bytes(DeviceMemoryKind::scratch), p->device_scratch);
            EXPECT_EQ((*m)->reserved_kv_bytes(), p->kv);
            EXPECT_EQ(ledger.get_device("m", 0, DeviceMemoryKind::weights), p->device_weights);
            EXPECT_EQ(ledger.get_device("m", 0, DeviceMemoryKind::kv), p->device_kv);
            EXPECT_EQ(ledger.get_device("m", 0, DeviceMemoryKind::scratch), p->device_scratch);
            EXPECT_EQ(ledger.get("m", MemoryKind::weights_mapped), p->weights_mapped);
            EXPECT_EQ(ledger.get("m", MemoryKind::kv), p->kv);
            // One allocation per kind, and exactly the ledger's bytes on the device.
            EXPECT_EQ(dev->allocation_count() - count0, num_gpu > 0 ? 3 : 0);
            EXPECT_EQ(dev->allocated_bytes(), p->device_total());
        }
        // Unloading returns the device memory at once, and the ledger row goes with it.
        EXPECT_EQ(dev->allocated_bytes(), 0);
        EXPECT_EQ(dev->memory_info().free, 256 * kMiB);
        EXPECT_EQ(ledger.device_total(0), 0);
    }
}

TEST(Placement, ABudgetTakesAsManyLayersAsFit) {
    auto dev = make_fake_device(0, 256 * kMiB);
    const std::string path = model_path("gemma2-q8_0.gguf");  // 26 layers
    ModelOptions o = small_options();
    o.device = dev.get();
    std::vector<int64_t> totals;
    for (int n : {0, 1, 13, 26, 27}) {
        o.num_gpu = n;
        auto p = plan(path, o);
        ASSERT_TRUE(p.is_ok());
        totals.push_back(p->device_total());
    }
    EXPECT_EQ(totals[0], 0);
    for (size_t i = 1; i < totals.size(); ++i) EXPECT_GT(totals[i], totals[i - 1]);
    // A budget of exactly 13 layers' worth gives 13; one byte less gives 12; everything gives 27 (with the head).
    o.num_gpu = -1;
    o.device_budget = totals[2];
    EXPECT_EQ(plan(path, o)->n_gpu_layers, 13);
    o.device_budget = totals[2] - 1;
    EXPECT_EQ(plan(path, o)->n_gpu_layers, 12);
    o.device_budget = totals[4];
    EXPECT_EQ(plan(path, o)->n_gpu_layers, 27);
    o.device_budget = totals[1] - 1;
    auto none = plan(path, o);
    EXPECT_EQ(none->n_gpu_layers, 0);
    EXPECT_EQ(none->device, -1);
    // No budget: the device's free memory.
    o.device_budget = 0;
    EXPECT_EQ(plan(path, o)->n_gpu_layers, 27);
}

TEST(Placement, ADeviceTooSmallIsACleanErrorThatHoldsNothing) {
    auto dev = make_fake_device(0, 1 * kMiB);
    ModelOptions o = small_options();
    o.device = dev.get();
    o.num_gpu = 99;
    Ledger ledger;
    auto m = Model::load(model_path("llama-spm-q8_0.gguf"), o, &ledger, "m");
    ASSERT_FALSE(m.is_ok());
    EXPECT_EQ(m.status().code(), StatusCode::resource_exhausted);
    EXPECT_NE(m.status().message().find("fake:0"), std::string::npos) << m.status().message();
    EXPECT_EQ(dev->allocated_bytes(), 0);
    EXPECT_TRUE(ledger.snapshot().empty());
}

// Runs a prompt on two sequences, a shared prefix (copy-on-write of a KV page) and decode steps; returns every
// logits row in order.
std::vector<float> run_script(Model& m) {
    std::vector<float> out;
    const int V = m.n_vocab();
    int a = *m.create_sequence(), b = *m.create_sequence();
    std::vector<BatchToken> batch;
    for (int i = 0; i < 20; ++i) batch.push_back({(7 * i + 3) % V, a, i, i >= 18});
    for (int i = 0; i < 5; ++i) batch.push_back({(11 * i + 5) % V, b, i, i == 4});
    auto r = m.forward(batch.data(), int(batch.size()));
    CHECK_MSG(r.is_ok(), r.status().to_string().c_str());
    out.insert(out.end(), *r, *r + 3 * V);
    for (int step = 0; step < 6; ++step) {
        BatchToken two[2] = {{(step * 13 + 1) % V, a, 20 + step, true}, {(step * 5 + 2) % V, b, 5 + step, true}};
        auto d = m.forward(two, 2);
        CHECK(d.is_ok());
        out.insert(out.end(), *d, *d + 2 * V);
    }
    // b restarts from a's first 16 positions (one shared page) and overwrites its last one: the page is copied
    // (copy-on-write, on the device too) and a's stays as it was.
    m.free_sequence(b);
    b = *m.create_sequence();
    EXPECT_EQ(m.share_prefix(b, a, 17), 16);
    BatchToken t{42 % V, b, 15, true};
    auto s = m.forward(&t, 1);
    CHECK(s.is_ok());
    out.insert(out.end(), *s, *s + V);
    BatchToken ta{43 % V, a, 26, true};
    auto sa = m.forward(&ta, 1);
    CHECK(sa.is_ok());
    out.insert(out.end(), *sa, *sa + V);
    return out;
}

class OnDevice : public ::testing::TestWithParam<std::string> {};

// Sets the CPU kernels' ISA for a scope (both models are loaded and run inside it), and restores it.
struct IsaGuard {
    Isa saved = active_isa();
    explicit IsaGuard(Isa isa) { set_active_isa(isa); }
    ~IsaGuard() { set_active_isa(saved); }
};

// Every architecture on the test device (test_device.h), fully and split after its first layer: the same
// logits as the CPU. Tolerance on the stand-in: 1e-5 of the logits' spread for every value (it runs the CPU
// kernels; q/k/v go through three products instead of one shared one, which may round differently). The
// stand-in's attention is attention_group per token, the CPU decoder's kernel below AVX-512; with AVX-512 the
// CPU decoder takes the tiled attention_rows (other summation order and exp, which the random-weight test models
// amplify to several % of the spread over their layers), so on such a CPU both run with the AVX2 kernels here.
// On a GPU (f16 tensor-core products, other summation orders): relative RMS 2 % and every value within 20 % of
// the spread.
TEST_P(OnDevice, SameLogitsAsTheCpu) {
    Device* dev = test_device();
    ASSERT_NE(dev, nullptr) << "BERTH_TEST_DEVICE=" << test_device_spec() << ": " << device_status();
    std::optional<IsaGuard> isa;
    if (test_device_is_stand_in() && active_isa() >= Isa::avx512) isa.emplace(Isa::avx2);
    const std::string path = model_path(GetParam());
    ModelOptions o = small_options();
    auto cpu = Model::load(path, o);
    ASSERT_TRUE(cpu.is_ok()) << cpu.status().to_string();
    const std::vector<float> want = run_script(**cpu);
    double mean = 0, var = 0;
    for (float v : want) mean += v;
    mean /= double(want.size());
    for (float v : want) var += (v - mean) * (v - mean);
    const double spread = std::sqrt(var / double(want.size()));
    for (int num_gpu : {1, 99}) {
        SCOPED_TRACE("num_gpu " + std::to_string(num_gpu));
        o.device = dev;
        o.num_gpu = num_gpu;
        auto m = Model::load(path, o);
        ASSERT_TRUE(m.is_ok()) << m.status().to_string();
        const int64_t allocs = dev->allocation_count();
        const std::vector<float> got = run_script(**m);
        EXPECT_EQ(dev->allocation_count(), allocs) << "the device allocated while serving";
        ASSERT_EQ(got.size(), want.size());
        double worst = 0, se = 0;
        for (size_t i = 0; i < got.size(); ++i) {
            const double d = double(got[i]) - want[i];
            worst = std::max(worst, std::fabs(d));
            se += d * d;
        }
        const double rel_rms = std::sqrt(se / double(got.size())) / spread;
        if (test_device_is_stand_in()) {
            EXPECT_LE(worst, 1e-5 * spread) << "largest difference " << worst << ", spread " << spread;
        } else {
            EXPECT_LE(rel_rms, 0.02) << "largest difference " << worst << ", spread " << spread;
            EXPECT_LE(worst, 0.2 * spread) << "relative RMS " << rel_rms;
        }
        printf("  %-24s %s num_gpu %2d: relative RMS %.2e, largest difference %.2e of spread %.3f\n",
               GetParam().c_str(), dev->type(), num_gpu, rel_rms, worst / spread, spread);
    }
}

INSTANTIATE_TEST_SUITE_P(Archs, OnDevice,
                         ::testing::Values("stories260K.gguf", "llama-spm-q4_k_m.gguf", "llama-bpe-q8_0.gguf",
                                           "qwen2-q8_0.gguf", "qwen3-f16.gguf", "phi3-q8_0.gguf", "gemma2-q8_0.gguf",
                                           "gemma3-q8_0.gguf", "llama-moe-q8_0.gguf"),
                         [](const auto& info) {
                             std::string s = info.param.substr(0, info.param.size() - 5);
                             for (char& ch : s)
                                 if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             return s;
                         });

}  // namespace
}  // namespace berth
