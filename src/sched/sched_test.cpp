// Scheduler tests with a fake clock and a fake loader: keep-alive parsing and countdown, LRU eviction against
// the budget and the model-count limit, pins, single-flight loading, the queue bound, context reuse.
#include "sched/sched.h"

#include <gtest/gtest.h>

#include <future>

#include <atomic>
#include <cstdio>
#include <fstream>

namespace berth {
namespace {

constexpr int64_t kSec = kNsPerSecond;
constexpr int64_t kMiB = int64_t(1) << 20;

class FakeClock final : public Clock {
  public:
    int64_t now_ns() const override { return t.load(); }
    int64_t wall_ns() const override { return 1700000000 * kSec + t.load(); }
    void advance(int64_t ns) { t += ns; }
    std::atomic<int64_t> t{1000 * kSec};
};

class FakeLoader final : public ModelLoader {
  public:
    std::map<std::string, int64_t> sizes;  // bytes per model path
    std::atomic<int> loads{0};
    std::atomic<int> load_delay_ms{0};
    std::atomic<bool> fail{false};
    int max_ctx = 1 << 20;  // a loader may settle on less context than asked for
    LoadOptions last;       // the options of the latest load
    Result<int64_t> plan_bytes(const ModelFile& ref, const LoadOptions&) override {
        auto it = sizes.find(ref.path);
        if (it == sizes.end()) return not_found("no such file %s", ref.path.c_str());
        return it->second;
    }
    Result<LoadedModel> load(const ModelFile& ref, const LoadOptions& o) override {
        if (load_delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(load_delay_ms.load()));
        if (fail) return corrupt_data("broken file %s", ref.path.c_str());
        ++loads;
        last = o;
        LoadedModel m;
        m.n_ctx = std::min(o.n_ctx > 0 ? o.n_ctx : 2048, max_ctx);
        m.weights_bytes = sizes[ref.path];
        return m;
    }
};

struct Fixture {
    FakeClock clock;
    FakeLoader loader;
    std::unique_ptr<Scheduler> sched;
    explicit Fixture(SchedConfig c = {}) {
        c.reaper_thread = false;
        if (c.max_memory == 0) c.max_memory = 100 * kMiB;
        loader.sizes = {{"a", 40 * kMiB}, {"b", 40 * kMiB}, {"c", 40 * kMiB}, {"big", 150 * kMiB}, {"s", kMiB}};
        sched = std::make_unique<Scheduler>(c, &loader, &clock);
    }
    Result<Lease> get(const std::string& m, std::optional<int64_t> ka = std::nullopt, int num_ctx = 0) {
        AcquireOptions o;
        o.keep_alive = ka;
        o.num_ctx = num_ctx;
        return sched->acquire(ModelFile{m, m}, o);
    }
    std::vector<std::string> resident() const {
        std::vector<std::string> out;
        for (auto& i : sched->list()) out.push_back(i.name);
        std::sort(out.begin(), out.end());
        return out;
    }
};

TEST(Duration, ParsesGoDurations) {
    EXPECT_EQ(*parse_duration("300ms"), 300 * 1000000);
    EXPECT_EQ(*parse_duration("5m"), 300 * kSec);
    EXPECT_EQ(*parse_duration("1h30m"), 5400 * kSec);
    EXPECT_EQ(*parse_duration("1.5h"), 5400 * kSec);
    EXPECT_EQ(*parse_duration("0"), 0);
    EXPECT_EQ(*parse_duration("-1m"), -60 * kSec);
    EXPECT_EQ(*parse_duration("10us"), 10000);
    EXPECT_EQ(parse_duration("3600").status().message(), "time: missing unit in duration \"3600\"");
    EXPECT_FALSE(parse_duration("1d").is_ok());
    EXPECT_FALSE(parse_duration("").is_ok());
    EXPECT_FALSE(parse_duration("m").is_ok());
    EXPECT_FALSE(parse_duration("-1").is_ok());
    // Near and past int64: saturates, never wraps to a negative duration (found by fuzz/duration_fuzz).
    EXPECT_EQ(*parse_duration("9223372036854775806ns"), 9223372036854775806);
    EXPECT_EQ(*parse_duration("9223372036854775807.9ns"), kForever);
    EXPECT_EQ(*parse_duration("300000000h"), kForever);
    EXPECT_EQ(*parse_duration("-9223372036854775806ns"), -9223372036854775806);
}

TEST(Duration, KeepAliveForms) {
    EXPECT_EQ(keep_alive_from_seconds(1.5), 1500000000);
    EXPECT_EQ(keep_alive_from_seconds(-1), kForever);
    EXPECT_EQ(keep_alive_from_seconds(0), 0);
    EXPECT_EQ(*keep_alive_from_string("-5m"), kForever);
    EXPECT_EQ(*keep_alive_from_string("24h"), 24 * 3600 * kSec);
    // The environment also takes integer seconds; junk falls back to 5 minutes.
    EXPECT_EQ(keep_alive_from_env("3600"), 3600 * kSec);
    EXPECT_EQ(keep_alive_from_env("-1"), kForever);
    EXPECT_EQ(keep_alive_from_env("10m"), 600 * kSec);
    EXPECT_EQ(keep_alive_from_env("soon"), 300 * kSec);
    EXPECT_EQ(format_duration(5400 * kSec), "1h30m0s");
}

TEST(Sched, DefaultKeepAliveCountsDownFromLastRequestEnd) {
    Fixture f;
    {
        auto l1 = f.get("a");
        ASSERT_TRUE(l1.is_ok()) << l1.status().to_string();
        auto l2 = f.get("a");
        ASSERT_TRUE(l2.is_ok());
        EXPECT_EQ(f.loader.loads, 1);
        f.clock.advance(3600 * kSec);  // busy models never expire
        f.sched->reap();
        EXPECT_EQ(f.resident().size(), 1u);
        l1->release();
        f.clock.advance(3600 * kSec);
        f.sched->reap();
        EXPECT_EQ(f.resident().size(), 1u) << "one request still in flight";
    }
    // Both ended now: 5 minutes from here.
    f.clock.advance(299 * kSec);
    f.sched->reap();
    EXPECT_EQ(f.resident().size(), 1u);
    auto info = f.sched->list();
    EXPECT_EQ(info[0].expiry_reason, "default");
    EXPECT_EQ(info[0].expires_at, f.clock.wall_ns() + 1 * kSec);
    f.clock.advance(2 * kSec);
    f.sched->reap();
    EXPECT_TRUE(f.resident().empty());
}

TEST(Sched, ClientKeepAliveIsStickyAndZeroUnloadsAtEnd) {
    Fixture f;
    { auto l = f.get("a", 60 * kSec); }
    { auto l = f.get("a"); }  // no keep_alive: keeps the client's 60 s
    f.clock.advance(59 * kSec);
    f.sched->reap();
    EXPECT_EQ(f.resident().size(), 1u);
    EXPECT_EQ(f.sched->list()[0].expiry_reason, "client");
    f.clock.advance(2 * kSec);
    f.sched->reap();
    EXPECT_TRUE(f.resident().empty());

    {
        auto l = f.get("a", int64_t(0));
        EXPECT_EQ(f.resident().size(), 1u) << "stays while the request runs";
    }
    EXPECT_TRUE(f.resident().empty()) << "keep_alive 0 unloads when the request ends";
}

TEST(Sched, NegativeKeepAliveIsForeverButStillEvictable) {
    Fixture f;
    { auto l = f.get("a", kForever); }
    f.clock.advance(1000 * 3600 * kSec);
    f.sched->reap();
    EXPECT_EQ(f.resident(), std::vector<std::string>{"a"});
    EXPECT_EQ(f.sched->list()[0].expires_at, kForever);
    { auto l = f.get("b"); }
    { auto l = f.get("c"); }  // 120 MiB > 100 MiB: the least recently used ("a") goes
    EXPECT_EQ(f.resident(), (std::vector<std::string>{"b", "c"}));
}

TEST(Sched, LruEvictionPicksLeastRecentlyUsedIdle) {
    Fixture f;
    { auto l = f.get("a"); }
    f.clock.advance(kSec);
    { auto l = f.get("b"); }
    f.clock.advance(kSec);
    { auto l = f.get("a"); }  // a is now more recent than b
    f.clock.advance(kSec);
    { auto l = f.get("c"); }
    EXPECT_EQ(f.resident(), (std::vector<std::string>{"a", "c"}));
    EXPECT_EQ(f.sched->stats().evictions, 1);
}

TEST(Sched, MaxLoadedModels) {
    SchedConfig c;
    c.max_loaded_models = 2;
    c.max_memory = 1000 * kMiB;
    Fixture f(c);
    { auto l = f.get("a"); }
    f.clock.advance(kSec);
    { auto l = f.get("b"); }
    f.clock.advance(kSec);
    { auto l = f.get("c"); }
    EXPECT_EQ(f.resident(), (std::vector<std::string>{"b", "c"}));
}

TEST(Sched, BusyModelsAreNotEvictedAndNoRoomIs503WithNumbers) {
    SchedConfig c;
    c.wait_timeout = 50 * 1000000;  // 50 ms of real time
    Fixture f(c);
    auto la = f.get("a");
    auto lb = f.get("b");
    ASSERT_TRUE(la.is_ok() && lb.is_ok());
    auto lc = f.get("c");
    ASSERT_FALSE(lc.is_ok());
    EXPECT_EQ(lc.status().code(), StatusCode::resource_exhausted);
    EXPECT_NE(lc.status().message().find("budget 100.0 MiB"), std::string::npos) << lc.status().message();
    EXPECT_NE(lc.status().message().find("timed out after 50ms waiting for room (BERTH_QUEUE_TIMEOUT)"),
              std::string::npos)
        << lc.status().message();
    // Larger than the whole budget: refused at once, without waiting.
    int64_t t0 = now_ns();
    auto lbig = f.get("big");
    EXPECT_EQ(lbig.status().code(), StatusCode::resource_exhausted);
    EXPECT_EQ(lbig.status().message().find("timed out"), std::string::npos) << lbig.status().message();
    EXPECT_LT(now_ns() - t0, 40 * 1000000) << "a hopeless request does not wait for the timeout";
    la->release();
    EXPECT_TRUE(f.get("c").is_ok()) << "room after a finished";
}

TEST(Sched, WaitsForABusyModelToFinish) {
    SchedConfig c;
    c.wait_timeout = 5 * kSec;
    Fixture f(c);
    auto la = f.get("a");
    auto lb = f.get("b");
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        la->release();
    });
    auto lc = f.get("c");
    t.join();
    EXPECT_TRUE(lc.is_ok()) << lc.status().to_string();
}

// Issue 16: at the end of the shutdown grace period, requests still waiting for room end with unavailable (503)
// at once, new loads are refused, and resident models keep serving.
TEST(Sched, ShutdownEndsWaitingRequestsWithUnavailable) {
    SchedConfig c;
    c.wait_timeout = 60 * kSec;
    Fixture f(c);
    auto la = f.get("a");
    auto lb = f.get("b");
    ASSERT_TRUE(la.is_ok() && lb.is_ok());
    auto waiting = std::async(std::launch::async, [&] { return f.get("c"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int64_t t0 = now_ns();
    f.sched->shutdown();
    Result<Lease> lc = waiting.get();
    ASSERT_FALSE(lc.is_ok());
    EXPECT_EQ(lc.status().code(), StatusCode::unavailable);
    EXPECT_NE(lc.status().message().find("shutting down"), std::string::npos) << lc.status().message();
    EXPECT_LT(now_ns() - t0, 2 * kSec) << "ended by shutdown(), not by the 60 s queue timeout";
    la->release();
    EXPECT_EQ(f.get("s").status().code(), StatusCode::unavailable) << "no new loads";
    EXPECT_TRUE(f.get("b").is_ok()) << "a resident model still serves";
}

TEST(Sched, PinnedModelsStay) {
    SchedConfig c;
    c.policies["a"].pin = true;
    c.wait_timeout = 10 * 1000000;
    Fixture f(c);
    { auto l = f.get("a", int64_t(0)); }  // the client's 0 does not unload a pinned model
    EXPECT_EQ(f.resident(), std::vector<std::string>{"a"});
    f.clock.advance(1000000 * kSec);
    f.sched->reap();
    { auto l = f.get("b"); }
    { auto l = f.get("c"); }  // evicts b, never a
    EXPECT_EQ(f.resident(), (std::vector<std::string>{"a", "c"}));
    EXPECT_TRUE(f.sched->list().back().pinned || f.sched->list().front().pinned);
    EXPECT_TRUE(f.sched->unload("a", /*admin=*/false));
    EXPECT_EQ(f.resident().size(), 2u);
    EXPECT_TRUE(f.sched->unload("a", /*admin=*/true));
    EXPECT_EQ(f.resident(), std::vector<std::string>{"c"});
}

TEST(Sched, ClampAndIgnorePolicies) {
    SchedConfig c;
    c.policies["a"].client_keep_alive = ClientKeepAlive::clamp;
    c.policies["a"].keep_alive_min = 600 * kSec;
    c.policies["b"].client_keep_alive = ClientKeepAlive::ignore;
    c.policies["b"].keep_alive = 3600 * kSec;
    Fixture f(c);
    { auto l = f.get("a", 5 * kSec); }
    { auto l = f.get("b", int64_t(0)); }
    auto info = f.sched->list();
    ASSERT_EQ(info.size(), 2u);
    for (auto& i : info) {
        if (i.name == "a") {
            EXPECT_EQ(i.keep_alive, 600 * kSec);
            EXPECT_EQ(i.expiry_reason, "client (clamped)");
        } else {
            EXPECT_EQ(i.keep_alive, 3600 * kSec);
            EXPECT_EQ(i.expiry_reason, "policy");
        }
    }
}

TEST(Sched, SingleFlightLoading) {
    Fixture f;
    f.loader.load_delay_ms = 50;
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 16; ++i) {  // 16 concurrent first requests for one model
        threads.emplace_back([&] { ok += f.get("a").is_ok(); });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 16);
    EXPECT_EQ(f.loader.loads.load(), 1);
}

// waiting(): requests inside acquire() per model, here three waiting for one slow load, then none once it is done
// (a model whose load is over is not "waiting"; its engine's waiting requests are added for real engines).
TEST(Sched, WaitingCountsRequestsWaitingForALoad) {
    Fixture f;
    f.loader.load_delay_ms = 300;
    EXPECT_TRUE(f.sched->waiting().empty());
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) threads.emplace_back([&] { EXPECT_TRUE(f.get("a").is_ok()); });
    std::map<std::string, int> seen;
    for (int i = 0; i < 250 && seen["a"] < 3; ++i) {
        seen = f.sched->waiting();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(seen["a"], 3);
    EXPECT_EQ(seen.size(), 1u);
    for (auto& t : threads) t.join();
    EXPECT_TRUE(f.sched->waiting().empty());
    auto held = f.get("a");  // holding a lease is not waiting
    ASSERT_TRUE(held.is_ok());
    EXPECT_TRUE(f.sched->waiting().empty());
    EXPECT_EQ(f.sched->stats().outstanding, 1);
}

TEST(Sched, QueueLimitIs503) {
    SchedConfig c;
    c.max_queue = 2;
    Fixture f(c);
    auto l1 = f.get("s");
    auto l2 = f.get("s");
    ASSERT_TRUE(l1.is_ok() && l2.is_ok());
    auto l3 = f.get("s");
    ASSERT_FALSE(l3.is_ok());
    EXPECT_EQ(l3.status().code(), StatusCode::resource_exhausted);
    EXPECT_NE(l3.status().message().find("maximum pending requests exceeded"), std::string::npos);
    l1->release();
    EXPECT_TRUE(f.get("s").is_ok());
}

TEST(Sched, ContextReuseAndReload) {
    Fixture f;
    { auto l = f.get("a", std::nullopt, 4096); }
    { auto l = f.get("a", std::nullopt, 1024); }  // smaller: served by the loaded model
    { auto l = f.get("a"); }
    EXPECT_EQ(f.loader.loads, 1);
    { auto l = f.get("a", std::nullopt, 8192); }  // larger: reload
    EXPECT_EQ(f.loader.loads, 2);
    EXPECT_EQ(f.sched->list()[0].n_ctx, 8192);
}

TEST(Sched, LoaderGivingLessContextDoesNotReloadForever) {
    Fixture f;
    f.loader.max_ctx = 1024;
    auto l = f.get("a", std::nullopt, 8192);
    ASSERT_TRUE(l.is_ok()) << l.status().to_string();
    EXPECT_EQ(f.loader.loads, 1);
}

// A request that finds its model loading waits at most load_timeout (real time), then 503 with the setting's
// name; the loading request itself completes.
TEST(Sched, WaitingForAnotherRequestsLoadIsBoundedByLoadTimeout) {
    SchedConfig c;
    c.load_timeout = 50 * 1000000;  // 50 ms
    c.wait_timeout = 10 * kSec;     // not the one that applies here
    Fixture f(c);
    f.loader.load_delay_ms = 400;
    std::thread loader_thread([&] { EXPECT_TRUE(f.get("a").is_ok()); });
    while (f.resident().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    int64_t t0 = now_ns();
    auto waiter = f.get("a");
    int64_t waited = now_ns() - t0;
    ASSERT_FALSE(waiter.is_ok());
    EXPECT_EQ(waiter.status().code(), StatusCode::timeout);
    EXPECT_NE(waiter.status().message().find("timed out after 50ms waiting for a to load (BERTH_LOAD_TIMEOUT)"),
              std::string::npos)
        << waiter.status().message();
    EXPECT_GE(waited, 50 * 1000000);
    EXPECT_EQ(f.loader.loads.load(), 0) << "gave up while the load (400 ms) was still running";
    loader_thread.join();
    EXPECT_EQ(f.loader.loads.load(), 1);
    EXPECT_TRUE(f.get("a").is_ok()) << "the model loaded meanwhile serves later requests";
}

// The engine's bound on waiting for a sequence comes from the scheduler's settings (BERTH_MAX_QUEUE,
// BERTH_QUEUE_TIMEOUT).
TEST(Sched, EngineWaitLimitsFollowTheConfig) {
    SchedConfig c;
    c.max_queue = 7;
    c.wait_timeout = 3 * kSec;
    Fixture f(c);
    ASSERT_TRUE(f.get("a").is_ok());
    EXPECT_EQ(f.loader.last.limits.max_waiting, 7);
    EXPECT_EQ(f.loader.last.limits.wait_timeout_ns, 3 * kSec);
}

TEST(Duration, Timeouts) {
    EXPECT_EQ(*parse_timeout("5m"), 300 * kSec);
    EXPECT_EQ(*parse_timeout("250ms"), 250 * 1000000);
    EXPECT_EQ(*parse_timeout("30"), 30 * kSec) << "integer seconds";
    EXPECT_EQ(*parse_timeout("0"), 0) << "0: no limit";
    EXPECT_EQ(*parse_timeout("-1"), 0) << "negative: no limit, as OLLAMA_LOAD_TIMEOUT";
    EXPECT_EQ(*parse_timeout("-5m"), 0);
    EXPECT_EQ(parse_timeout("soon").status().code(), StatusCode::invalid_argument);
    EXPECT_EQ(parse_timeout("").status().code(), StatusCode::invalid_argument);
}

TEST(Sched, LoadFailureIsReportedAndRetried) {
    Fixture f;
    f.loader.fail = true;
    auto l = f.get("a");
    EXPECT_EQ(l.status().code(), StatusCode::corrupt_data);
    EXPECT_TRUE(f.resident().empty());
    f.loader.fail = false;
    EXPECT_TRUE(f.get("a").is_ok());
    EXPECT_EQ(f.get("missing").status().code(), StatusCode::not_found);
}

TEST(Sched, ConfigFromEnvironment) {
    const char* vars[] = {
        "BERTH_MAX_LOADED_MODELS", "OLLAMA_MAX_LOADED_MODELS", "BERTH_NUM_PARALLEL", "BERTH_MAX_QUEUE",
        "BERTH_MAX_MEMORY",        "BERTH_KEEP_ALIVE",         "OLLAMA_KEEP_ALIVE",  "BERTH_CONFIG",
        "BERTH_QUEUE_TIMEOUT",     "BERTH_LOAD_TIMEOUT",       "OLLAMA_LOAD_TIMEOUT"};
    for (const char* v : vars) unsetenv(v);
    Result<SchedConfig> d = sched_config_from_env();
    ASSERT_TRUE(d.is_ok());
    EXPECT_EQ(d->max_loaded_models, 3);
    EXPECT_EQ(d->num_parallel, 1);
    EXPECT_EQ(d->max_queue, 512);
    EXPECT_EQ(d->default_keep_alive, 300 * kSec);
    EXPECT_EQ(d->max_memory, default_max_memory());
    EXPECT_EQ(d->wait_timeout, 300 * kSec);
    EXPECT_EQ(d->load_timeout, 300 * kSec);
    setenv("OLLAMA_MAX_LOADED_MODELS", "5", 1);
    setenv("OLLAMA_LOAD_TIMEOUT", "0", 1);
    setenv("BERTH_QUEUE_TIMEOUT", "45s", 1);
    setenv("OLLAMA_KEEP_ALIVE", "-1", 1);
    setenv("BERTH_NUM_PARALLEL", "4", 1);
    setenv("BERTH_MAX_MEMORY", "12GiB", 1);
    Result<SchedConfig> c = sched_config_from_env();
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_EQ(c->max_loaded_models, 5) << "OLLAMA_ names are the fallback";
    EXPECT_EQ(c->default_keep_alive, kForever);
    EXPECT_EQ(c->num_parallel, 4);
    EXPECT_EQ(c->max_memory, int64_t(12) << 30);
    EXPECT_EQ(c->load_timeout, 0) << "OLLAMA_LOAD_TIMEOUT=0: no limit";
    EXPECT_EQ(c->wait_timeout, 45 * kSec);
    setenv("BERTH_LOAD_TIMEOUT", "2m", 1);
    EXPECT_EQ(sched_config_from_env()->load_timeout, 120 * kSec) << "BERTH_ wins over OLLAMA_";
    setenv("BERTH_QUEUE_TIMEOUT", "a while", 1);
    EXPECT_EQ(sched_config_from_env().status().code(), StatusCode::invalid_argument);
    setenv("BERTH_QUEUE_TIMEOUT", "45s", 1);
    setenv("BERTH_KEEP_ALIVE", "10m", 1);
    EXPECT_EQ(sched_config_from_env()->default_keep_alive, 600 * kSec) << "BERTH_ wins over OLLAMA_";
    setenv("BERTH_MAX_MEMORY", "lots", 1);
    EXPECT_EQ(sched_config_from_env().status().code(), StatusCode::invalid_argument);
    setenv("BERTH_MAX_MEMORY", "1GiB", 1);
    setenv("BERTH_MAX_QUEUE", "-3", 1);
    EXPECT_EQ(sched_config_from_env().status().code(), StatusCode::invalid_argument);
    for (const char* v : vars) unsetenv(v);
}

TEST(Sched, PolicyFile) {
    std::string path = testing::TempDir() + "berth_policy_test.toml";
    {
        std::ofstream o(path);
        o << "[server]\nkeep_alive = \"10m\"\nmax_memory = \"2GiB\"\nqueue_timeout = \"90s\"\nload_timeout = 600\n"
             "[models.\"llama3.2\"]\npin = true\npreload = true\n"
             "[models.qwen]\nclient_keep_alive = \"clamp\"\nkeep_alive_max = \"1h\"\nnum_ctx = 8192\n";
    }
    SchedConfig c;
    ASSERT_TRUE(load_policy_file(path, c).is_ok());
    EXPECT_EQ(c.default_keep_alive, 600 * kSec);
    EXPECT_EQ(c.max_memory, int64_t(2) << 30);
    EXPECT_EQ(c.wait_timeout, 90 * kSec);
    EXPECT_EQ(c.load_timeout, 600 * kSec);
    EXPECT_TRUE(c.policies["llama3.2"].pin);
    EXPECT_TRUE(c.policies["llama3.2"].preload);
    EXPECT_EQ(c.policies["qwen"].client_keep_alive, ClientKeepAlive::clamp);
    EXPECT_EQ(c.policies["qwen"].keep_alive_max, 3600 * kSec);
    EXPECT_EQ(c.policies["qwen"].num_ctx, 8192);
    {
        std::ofstream o(path);
        o << "[models.x]\npin = \"yes\"\n";
    }
    SchedConfig bad;
    Status st = load_policy_file(path, bad);
    EXPECT_EQ(st.code(), StatusCode::invalid_argument);
    EXPECT_NE(st.message().find("models.x.pin"), std::string::npos) << st.message();
    std::remove(path.c_str());
}

// A config file nested 100,000 deep (the JSON body of issue 16, as TOML) is an error, not a stack overflow:
// toml++ stops at 256 nested values.
TEST(Sched, PolicyFileDeepNestingIsAnError) {
    std::string path = testing::TempDir() + "berth_policy_deep_test.toml";
    {
        std::ofstream o(path);
        o << "keep_alive = " << std::string(100000, '[') << std::string(100000, ']') << "\n";
    }
    SchedConfig c;
    Status st = load_policy_file(path, c);
    EXPECT_FALSE(st.is_ok());
    EXPECT_NE(st.message().find("nest"), std::string::npos) << st.message();
    std::remove(path.c_str());
}

// The format documented in the README and issue 5, verbatim: global settings at the top level.
TEST(Sched, PolicyFileDocumentedFormat) {
    std::string path = testing::TempDir() + "berth_policy_doc_test.toml";
    {
        std::ofstream o(path);
        o << "max_memory = \"12GiB\"          # or a number of bytes\n"
             "max_loaded_models = 3\n"
             "keep_alive = \"5m\"\n"
             "[models.\"llama3.2:3b\"]        # a model name as /api/tags lists it\n"
             "pin = true\n"
             "preload = true\n"
             "client_keep_alive = \"ignore\"  # obey | clamp | ignore\n"
             "keep_alive_min = \"10m\"\n"
             "keep_alive_max = \"-1\"\n";
    }
    SchedConfig c;
    Status st = load_policy_file(path, c);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_EQ(c.max_memory, int64_t(12) << 30);
    EXPECT_EQ(c.max_loaded_models, 3);
    EXPECT_EQ(c.default_keep_alive, 300 * kSec);
    const ModelPolicy& p = c.policies["llama3.2:3b"];
    EXPECT_TRUE(p.pin);
    EXPECT_TRUE(p.preload);
    EXPECT_EQ(p.client_keep_alive, ClientKeepAlive::ignore);
    EXPECT_EQ(p.keep_alive_min, 600 * kSec);
    EXPECT_EQ(p.keep_alive_max, kForever);
    {
        std::ofstream o(path);
        o << "max_memry = \"12GiB\"\n";
    }
    SchedConfig bad;
    st = load_policy_file(path, bad);
    EXPECT_NE(st.message().find("unknown setting max_memry"), std::string::npos) << st.message();
    std::remove(path.c_str());
}

TEST(Sched, KvCacheTypeFromEnvironmentAndFile) {
    unsetenv("BERTH_CONFIG");
    unsetenv("OLLAMA_KV_CACHE_TYPE");
    unsetenv("BERTH_KV_CACHE_TYPE");
    EXPECT_EQ(sched_config_from_env()->kv_type, DType::F16);
    setenv("OLLAMA_KV_CACHE_TYPE", "q8_0", 1);
    EXPECT_EQ(sched_config_from_env()->kv_type, DType::Q8_0) << "OLLAMA_ name is the fallback";
    setenv("BERTH_KV_CACHE_TYPE", "Q4_0", 1);
    EXPECT_EQ(sched_config_from_env()->kv_type, DType::Q4_0);
    setenv("BERTH_KV_CACHE_TYPE", "q5_1", 1);
    Result<SchedConfig> bad = sched_config_from_env();
    ASSERT_FALSE(bad.is_ok());
    EXPECT_NE(bad.status().message().find("f16, q8_0 or q4_0"), std::string::npos) << bad.status().message();
    unsetenv("OLLAMA_KV_CACHE_TYPE");
    unsetenv("BERTH_KV_CACHE_TYPE");

    std::string path = testing::TempDir() + "berth_kv_type_test.toml";
    {
        std::ofstream o(path);
        o << "kv_cache_type = \"q8_0\"\n";
    }
    SchedConfig c;
    ASSERT_TRUE(load_policy_file(path, c).is_ok());
    EXPECT_EQ(c.kv_type, DType::Q8_0);
    {
        std::ofstream o(path);
        o << "kv_cache_type = \"int3\"\n";
    }
    EXPECT_EQ(load_policy_file(path, c).code(), StatusCode::invalid_argument);
    std::remove(path.c_str());
}

// While a removed model's memory is being released, /api/ps lists it as "unloading"; then it is gone.
TEST(Sched, UnloadingModelIsListedUntilItsMemoryIsGone) {
    class SlowUnloadLoader final : public ModelLoader {
      public:
        std::promise<void> release_memory;
        std::shared_future<void> released = release_memory.get_future().share();
        Result<int64_t> plan_bytes(const ModelFile&, const LoadOptions&) override { return kMiB; }
        Result<LoadedModel> load(const ModelFile&, const LoadOptions&) override {
            LoadedModel m;
            m.n_ctx = 512;
            m.weights_bytes = kMiB;
            std::shared_future<void> wait = released;
            m.extra = std::shared_ptr<void>(new int(0), [wait](void* p) {
                wait.wait();  // the "munmap" takes until the test says so
                delete static_cast<int*>(p);
            });
            return m;
        }
    } loader;
    FakeClock clock;
    SchedConfig c;
    c.reaper_thread = false;
    c.max_memory = 100 * kMiB;
    Scheduler sched(c, &loader, &clock);
    ASSERT_TRUE(sched.acquire(ModelFile{"a", "a"}, AcquireOptions{}).is_ok());
    ASSERT_EQ(sched.list().size(), 1u);
    EXPECT_EQ(sched.list()[0].state, "ready");
    std::thread unloader([&] { EXPECT_TRUE(sched.unload("a", true)); });
    bool seen = false;
    for (int i = 0; i < 2000 && !seen; ++i) {  // bounded: 2 s
        auto l = sched.list();
        seen = l.size() == 1 && l[0].name == "a" && l[0].state == "unloading";
        if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_TRUE(seen) << "the model shows as unloading while its memory is released";
    loader.release_memory.set_value();
    unloader.join();
    EXPECT_TRUE(sched.list().empty());
}

// A model requested again while its previous instance still releases its memory is loaded only once that is done:
// the two never overlap (their ledger rows and device memory are the model's, by name).
TEST(Sched, AReloadWaitsForTheUnloadOfTheSameModel) {
    class SlowUnloadLoader final : public ModelLoader {
      public:
        std::promise<void> release_memory;
        std::shared_future<void> released = release_memory.get_future().share();
        std::atomic<int> loads{0}, held{0}, loads_while_held{0};
        Result<int64_t> plan_bytes(const ModelFile&, const LoadOptions&) override { return kMiB; }
        Result<LoadedModel> load(const ModelFile&, const LoadOptions&) override {
            if (held > 0) ++loads_while_held;
            ++loads;
            ++held;
            LoadedModel m;
            m.n_ctx = 512;
            m.weights_bytes = kMiB;
            std::shared_future<void> wait = loads == 1 ? released : std::shared_future<void>();
            m.extra = std::shared_ptr<void>(new int(0), [this, wait](void* p) {
                if (wait.valid()) wait.wait();  // the first instance's "munmap" takes until the test says so
                --held;
                delete static_cast<int*>(p);
            });
            return m;
        }
    } loader;
    FakeClock clock;
    SchedConfig c;
    c.reaper_thread = false;
    c.max_memory = 100 * kMiB;
    c.wait_timeout = 10 * kSec;
    Scheduler sched(c, &loader, &clock);
    ASSERT_TRUE(sched.acquire(ModelFile{"a", "a"}, AcquireOptions{}).is_ok());
    std::thread unloader([&] { EXPECT_TRUE(sched.unload("a", true)); });
    for (int i = 0; i < 2000 && (sched.list().empty() || sched.list()[0].state != "unloading"); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(sched.list().size(), 1u);
    std::atomic<bool> acquired{false};
    std::thread again([&] {
        EXPECT_TRUE(sched.acquire(ModelFile{"a", "a"}, AcquireOptions{}).is_ok());
        acquired = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(acquired) << "loaded again while the previous instance was still unloading";
    EXPECT_EQ(loader.loads, 1);
    loader.release_memory.set_value();
    unloader.join();
    again.join();
    EXPECT_TRUE(acquired);
    EXPECT_EQ(loader.loads, 2);
    EXPECT_EQ(loader.loads_while_held, 0);
}

}  // namespace
}  // namespace berth
