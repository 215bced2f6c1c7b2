// The device budget in the scheduler, with a fake loader whose plans have a device part: admission against
// BERTH_MAX_VRAM, LRU eviction of models that hold device memory, "as many layers as fit" when nothing can be
// evicted, the 503 with the numbers, the client's num_gpu, and the configuration keys. (The real loader over the
// stand-in device is tested end to end by tests/soak/run-device and the model module's placement tests.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "sched/sched.h"

namespace berth {
namespace {

constexpr int64_t kMiB = int64_t(1) << 20;

class DeviceClock final : public Clock {
  public:
    int64_t now_ns() const override { return t; }
    int64_t wall_ns() const override { return 1700000000 * kNsPerSecond + t; }
    int64_t t = 1000 * kNsPerSecond;
};

// Each model: host bytes, n_layer, device bytes per layer, and the output head's device bytes.
struct FakeModel {
    int64_t host = 10 * kMiB;
    int n_layer = 4;
    int64_t per_layer = 10 * kMiB, head = 5 * kMiB;
};

class DeviceLoader final : public ModelLoader {
  public:
    std::map<std::string, FakeModel> models;
    std::vector<LoadOptions> loads;  // the options of every load, in order

    static int64_t device_bytes(const FakeModel& m, int layers) {
        return int64_t(std::min(layers, m.n_layer)) * m.per_layer + (layers > m.n_layer ? m.head : 0);
    }
    static int layers_for(const FakeModel& m, const LoadOptions& o) {
        if (o.device < 0 || o.num_gpu == 0) return 0;
        if (o.num_gpu > 0) return std::min(o.num_gpu, m.n_layer + 1);
        int n = m.n_layer + 1;
        while (n > 0 && device_bytes(m, n) > o.device_budget) --n;
        return n;
    }
    Result<int64_t> plan_bytes(const ModelFile& ref, const LoadOptions& o) override {
        ASSIGN_OR_RETURN(LoadPlan p, plan(ref, o));
        return p.host;
    }
    Result<LoadPlan> plan(const ModelFile& ref, const LoadOptions& o) override {
        auto it = models.find(ref.path);
        if (it == models.end()) return not_found("no such model %s", ref.path.c_str());
        LoadPlan p;
        p.n_gpu_layers = layers_for(it->second, o);
        p.device = device_bytes(it->second, p.n_gpu_layers);
        // Layers not on the device add their weights to the host's share.
        p.host = it->second.host + (it->second.n_layer - std::min(p.n_gpu_layers, it->second.n_layer)) * kMiB;
        return p;
    }
    Result<LoadedModel> load(const ModelFile& ref, const LoadOptions& o) override {
        loads.push_back(o);
        ASSIGN_OR_RETURN(LoadPlan p, plan(ref, o));
        const FakeModel& fm = models[ref.path];
        LoadedModel m;
        m.n_ctx = 2048;
        m.weights_bytes = p.host;
        m.n_layer = fm.n_layer;
        m.device = p.n_gpu_layers > 0 ? o.device : -1;
        m.n_gpu_layers = p.n_gpu_layers;
        m.device_weights = p.device;
        return m;
    }
};

struct Fixture {
    DeviceClock clock;
    DeviceLoader loader;
    std::unique_ptr<Scheduler> sched;
    explicit Fixture(int64_t max_vram = 100 * kMiB, int max_loaded = 5) {
        SchedConfig c;
        c.reaper_thread = false;
        c.max_memory = 1000 * kMiB;
        c.max_loaded_models = max_loaded;
        c.device = 0;
        c.max_vram = max_vram;
        c.wait_timeout = kNsPerSecond / 10;
        loader.models = {{"a", {}}, {"b", {}}, {"c", {}}, {"cpu", {}}};
        sched = std::make_unique<Scheduler>(c, &loader, &clock);
    }
    Result<Lease> get(const std::string& m, std::optional<int> num_gpu = std::nullopt) {
        AcquireOptions o;
        o.num_gpu = num_gpu;
        clock.t += kNsPerSecond;  // distinct last-used times for the LRU order
        return sched->acquire(ModelFile{m, m}, o);
    }
    ResidentInfo info(const std::string& name) {
        for (auto& i : sched->list())
            if (i.name == name) return i;
        return ResidentInfo();
    }
};

TEST(SchedDevice, FullOffloadWhenItFitsAndTheDeviceRowsShow) {
    Fixture f;
    ASSERT_TRUE(f.get("a").is_ok());
    ResidentInfo a = f.info("a");
    EXPECT_EQ(a.device, 0);
    EXPECT_EQ(a.n_gpu_layers, 5);  // 4 layers and the head
    EXPECT_EQ(a.n_layer, 4);
    EXPECT_EQ(a.device_bytes(), 45 * kMiB);
    EXPECT_EQ(f.loader.loads.back().num_gpu, 5) << "the load reserves the planned layer count";
    SchedStats s = f.sched->stats();
    EXPECT_EQ(s.device_budget, 100 * kMiB);
    EXPECT_EQ(s.device_in_use, 45 * kMiB);
    EXPECT_EQ(s.device_loads, 1);
    EXPECT_TRUE(f.sched->unload("a", true));
    EXPECT_EQ(f.sched->stats().device_in_use, 0);
}

// The device budget evicts the least recently used idle model that holds device memory, even when the host
// budget and the model count would allow one more.
TEST(SchedDevice, TheDeviceBudgetEvictsLeastRecentlyUsed) {
    Fixture f;
    f.loader.models["cpu"].n_layer = 2;
    ASSERT_TRUE(f.get("cpu", 0).is_ok());  // on the CPU: holds no device memory
    ASSERT_TRUE(f.get("a").is_ok());
    ASSERT_TRUE(f.get("b").is_ok());  // 45 + 45 of 100
    EXPECT_EQ(f.info("cpu").device_bytes(), 0);
    ASSERT_TRUE(f.get("c").is_ok());  // needs 45 more: a (least recently used with device memory) goes
    EXPECT_EQ(f.info("a").name, "");
    EXPECT_EQ(f.info("cpu").name, "cpu") << "a model without device memory is not evicted for device room";
    EXPECT_EQ(f.info("c").n_gpu_layers, 5);
    EXPECT_EQ(f.sched->stats().evictions, 1);
    EXPECT_EQ(f.sched->stats().device_in_use, 90 * kMiB);
}

// num_gpu -1 and nothing evictable (the others busy): as many layers as fit in what is left; the rest on the CPU.
TEST(SchedDevice, AsManyLayersAsFitWhenNothingCanBeEvicted) {
    Fixture f;
    auto a = f.get("a");
    auto b = f.get("b");
    ASSERT_TRUE(a.is_ok() && b.is_ok());  // both busy: 90 of 100 MiB
    auto c = f.get("c");
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    ResidentInfo ci = f.info("c");
    EXPECT_EQ(ci.n_gpu_layers, 1);  // 10 MiB left: one layer
    EXPECT_EQ(ci.device_bytes(), 10 * kMiB);
    EXPECT_EQ(ci.weights_bytes, 10 * kMiB + 3 * kMiB) << "the other three layers on the host";
    EXPECT_EQ(f.loader.loads.back().num_gpu, 1);
    EXPECT_EQ(f.sched->stats().device_in_use, 100 * kMiB);
}

// A client's num_gpu is honoured: 0 runs on the CPU; a count that cannot fit (pinned models hold the device) is a
// 503 that names the device budget; a loaded model with another layer count is reloaded.
TEST(SchedDevice, TheClientsNumGpu) {
    Fixture f(60 * kMiB);
    {
        auto a = f.get("a", 2);
        ASSERT_TRUE(a.is_ok());
        EXPECT_EQ(f.info("a").n_gpu_layers, 2);
    }
    ASSERT_TRUE(f.get("a", 2).is_ok());
    EXPECT_EQ(f.loader.loads.size(), 1u) << "the same layer count: no reload";
    ASSERT_TRUE(f.get("a").is_ok());
    EXPECT_EQ(f.loader.loads.size(), 1u) << "no num_gpu: whatever is loaded serves";
    ASSERT_TRUE(f.get("a", 0).is_ok());
    EXPECT_EQ(f.loader.loads.size(), 2u) << "another layer count: reloaded";
    EXPECT_EQ(f.info("a").device, -1);
    EXPECT_EQ(f.info("a").device_bytes(), 0);
    f.sched->set_pinned("b", true);
    ASSERT_TRUE(f.get("b", 4).is_ok());  // 40 MiB, pinned
    auto c = f.get("c", 5);              // 45 MiB cannot fit next to the pinned 40 of 60
    ASSERT_FALSE(c.is_ok());
    EXPECT_EQ(c.status().code(), StatusCode::resource_exhausted);
    const std::string& msg = c.status().message();
    EXPECT_NE(msg.find("on device 0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("BERTH_MAX_VRAM"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pinned 40.0 MiB"), std::string::npos) << msg;
    EXPECT_EQ(f.sched->stats().rejected_memory, 1);
}

TEST(SchedDevice, NoDeviceMeansTheCpu) {
    DeviceClock clock;
    DeviceLoader loader;
    loader.models = {{"a", {}}};
    SchedConfig c;
    c.reaper_thread = false;
    c.max_memory = 1000 * kMiB;
    Scheduler sched(c, &loader, &clock);  // device -1
    AcquireOptions o;
    o.num_gpu = 3;
    ASSERT_TRUE(sched.acquire(ModelFile{"a", "a"}, o).is_ok());
    EXPECT_EQ(loader.loads.back().num_gpu, 0);
    EXPECT_EQ(sched.list()[0].device, -1);
    EXPECT_EQ(sched.stats().device, -1);
}

TEST(SchedDevice, ConfigurationKeys) {
    unsetenv("BERTH_CONFIG");
    setenv("BERTH_MAX_VRAM", "6GiB", 1);
    setenv("BERTH_NUM_GPU", "12", 1);
    Result<SchedConfig> c = sched_config_from_env();
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_EQ(c->max_vram, int64_t(6) << 30);
    EXPECT_EQ(c->num_gpu, 12);
    setenv("BERTH_NUM_GPU", "-2", 1);
    EXPECT_EQ(sched_config_from_env().status().code(), StatusCode::invalid_argument);
    setenv("BERTH_NUM_GPU", "all", 1);
    EXPECT_EQ(sched_config_from_env().status().code(), StatusCode::invalid_argument);
    unsetenv("BERTH_NUM_GPU");
    setenv("BERTH_MAX_VRAM", "much", 1);
    EXPECT_EQ(sched_config_from_env().status().code(), StatusCode::invalid_argument);
    unsetenv("BERTH_MAX_VRAM");
    setenv("BERTH_DEVICE", "gpu0", 1);
    Result<SchedConfig> bad = sched_config_from_env();
    EXPECT_EQ(bad.status().code(), StatusCode::invalid_argument);
    EXPECT_NE(bad.status().message().find("BERTH_DEVICE"), std::string::npos);
    unsetenv("BERTH_DEVICE");

    const std::string path = std::string(BERTH_BINARY_DIR) + "/sched_device_policy.toml";
    std::ofstream(path) << "max_vram = \"3GiB\"\nnum_gpu = 20\n[models.\"big\"]\nnum_gpu = 0\n";
    SchedConfig p;
    ASSERT_TRUE(load_policy_file(path, p).is_ok());
    EXPECT_EQ(p.max_vram, int64_t(3) << 30);
    EXPECT_EQ(p.num_gpu, 20);
    ASSERT_TRUE(p.policies.count("big"));
    EXPECT_EQ(p.policies["big"].num_gpu, 0);
    std::ofstream(path) << "[models.\"big\"]\nnum_gpu = -5\n";
    SchedConfig q;
    Status st = load_policy_file(path, q);
    EXPECT_EQ(st.code(), StatusCode::invalid_argument);
    EXPECT_NE(st.message().find("num_gpu"), std::string::npos) << st.message();
    std::remove(path.c_str());
}

// The per-model policy's num_gpu applies when the client sends none.
TEST(SchedDevice, PolicyNumGpu) {
    DeviceClock clock;
    DeviceLoader loader;
    loader.models = {{"a", {}}, {"b", {}}};
    SchedConfig c;
    c.reaper_thread = false;
    c.max_memory = 1000 * kMiB;
    c.device = 0;
    c.max_vram = 100 * kMiB;
    c.policies["a"].num_gpu = 0;
    c.num_gpu = 2;  // BERTH_NUM_GPU for the others
    Scheduler sched(c, &loader, &clock);
    ASSERT_TRUE(sched.acquire(ModelFile{"a", "a"}, AcquireOptions{}).is_ok());
    ASSERT_TRUE(sched.acquire(ModelFile{"b", "b"}, AcquireOptions{}).is_ok());
    EXPECT_EQ(loader.loads[0].num_gpu, 0);
    EXPECT_EQ(loader.loads[1].num_gpu, 2);
}

}  // namespace
}  // namespace berth
