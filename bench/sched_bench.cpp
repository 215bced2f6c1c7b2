// berth_bench_sched: what the scheduler adds to a request, with a fake instant loader so that only scheduling
// is timed. Every request is timed on its own (steady clock around acquire + release); the program prints the
// median, p99 and max per request for each scenario. Not a test: run it by hand (bench/README.md).
//
//   build/bench/berth_bench_sched [requests per scenario, default 200000]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "sched/sched.h"

namespace berth {
namespace {

constexpr int64_t kMiB = int64_t(1) << 20;

// Plans and "loads" at once: a model is a name with a size; no engine, no memory.
class InstantLoader final : public ModelLoader {
  public:
    Result<int64_t> plan_bytes(const ModelFile&, const LoadOptions&) override { return 40 * kMiB; }
    Result<LoadedModel> load(const ModelFile&, const LoadOptions& o) override {
        LoadedModel m;
        m.n_ctx = o.n_ctx > 0 ? o.n_ctx : 2048;
        m.weights_bytes = 40 * kMiB;
        return m;
    }
};

// An instant backend for the engine's hand-off: every logits row says "token 1 next".
class InstantBackend final : public Backend {
  public:
    explicit InstantBackend(int n_parallel) : n_parallel_(n_parallel), logits_(size_t(n_parallel) * 8, 0.f) {
        for (int r = 0; r < n_parallel; ++r) logits_[size_t(r) * 8 + 1] = 1.f;
        free_.assign(size_t(n_parallel), true);
    }
    int n_vocab() const override { return 8; }
    int n_ctx() const override { return 64; }
    int n_parallel() const override { return n_parallel_; }
    int n_batch() const override { return 64; }
    Result<int> create_sequence() override {
        for (int i = 0; i < n_parallel_; ++i)
            if (free_[size_t(i)]) {
                free_[size_t(i)] = false;
                return i;
            }
        return resource_exhausted("no free sequence");
    }
    void free_sequence(int seq) override { free_[size_t(seq)] = true; }
    Result<const float*> forward(const BatchToken*, int) override { return logits_.data(); }

  private:
    int n_parallel_;
    std::vector<float> logits_;
    std::vector<bool> free_;  // touched by the engine's worker thread only
};

class LetterCodec final : public TextCodec {
  public:
    Result<std::vector<int32_t>> encode(std::string_view, bool, bool) const override { return std::vector<int32_t>{1}; }
    void append_piece(int32_t token, std::string& out) const override { out.push_back(char('a' + token)); }
    bool is_eog(int32_t) const override { return false; }
};

int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Figures {
    double median_us = 0, p99_us = 0, max_us = 0, mean_us = 0, per_s = 0;  // per_s: requests per second
};

Figures summarize(std::vector<int64_t>& ns) {
    std::sort(ns.begin(), ns.end());
    Figures f;
    if (ns.empty()) return f;
    double sum = 0;
    for (int64_t v : ns) sum += double(v);
    f.median_us = double(ns[ns.size() / 2]) / 1e3;
    f.p99_us = double(ns[std::min(ns.size() - 1, ns.size() * 99 / 100)]) / 1e3;
    f.max_us = double(ns.back()) / 1e3;
    f.mean_us = sum / double(ns.size()) / 1e3;
    return f;
}

// Runs `one(thread, i)` `total` times split over `threads` threads, timing each call.
Figures run(int threads, int total, const std::function<void(int, int)>& one) {
    std::vector<std::vector<int64_t>> per(static_cast<size_t>(threads));
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    int each = total / threads;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            auto& out = per[size_t(t)];
            out.reserve(size_t(each));
            ++ready;
            while (!go.load()) std::this_thread::yield();
            for (int i = 0; i < each; ++i) {
                int64_t t0 = steady_ns();
                one(t, i);
                out.push_back(steady_ns() - t0);
            }
        });
    }
    while (ready.load() < threads) std::this_thread::yield();
    int64_t t0 = steady_ns();
    go = true;
    for (auto& th : pool) th.join();
    int64_t wall = steady_ns() - t0;
    std::vector<int64_t> all;
    for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
    Figures f = summarize(all);
    f.per_s = double(all.size()) / (double(wall) / 1e9);
    return f;
}

void print(const char* scenario, int threads, int requests, const Figures& f) {
    std::printf("%-48s %3d thr %7d req  median %7.2f us  p99 %8.2f us  max %9.2f us  mean %7.2f us  %8.0f req/s\n",
                scenario, threads, requests, f.median_us, f.p99_us, f.max_us, f.mean_us, f.per_s);
    std::fflush(stdout);
}

void check(const Result<Lease>& l) {
    if (!l.is_ok()) {
        std::fprintf(stderr, "acquire failed: %s\n", l.status().to_string().c_str());
        std::exit(1);
    }
}

int main_impl(int argc, char** argv) {
    int requests = argc > 1 ? std::atoi(argv[1]) : 200000;
    if (requests < 16) requests = 16;
    set_log_level(LogLevel::warn);  // loads and evictions log at info; the figures are the scheduler's alone
    InstantLoader loader;
    SchedConfig c;
    c.max_memory = 1024 * kMiB;
    c.max_loaded_models = 3;
    c.max_queue = 512;
    c.reaper_thread = true;  // as in the server: the reaper shares the lock

    {
        Scheduler sched(c, &loader);
        const ModelFile model{"resident:latest", "resident"};
        { check(sched.acquire(model, {})); }  // load once; every timed request finds it resident
        for (int threads : {1, 16}) {
            Figures f = run(threads, requests, [&](int, int) {
                Result<Lease> l = sched.acquire(model, {});
                check(l);
                l->release();
            });
            print("resident model: acquire + release", threads, requests, f);
        }
        for (int threads : {1, 16}) {
            Figures f = run(threads, requests, [&](int t, int i) {
                AcquireOptions o;
                o.keep_alive = int64_t(60 + (t * 7 + i) % 600) * kNsPerSecond;  // a new client value each time
                Result<Lease> l = sched.acquire(model, o);
                check(l);
                l->release();
            });
            print("resident model, client keep_alive each request", threads, requests, f);
        }
    }
    {
        // Room for one model only: every request evicts the other model and loads its own (instantly).
        SchedConfig one = c;
        one.max_loaded_models = 1;
        Scheduler sched(one, &loader);
        const ModelFile models[2] = {{"a:latest", "a"}, {"b:latest", "b"}};
        int n = std::max(16, requests / 10);
        Figures f = run(1, n, [&](int, int i) {
            Result<Lease> l = sched.acquire(models[i % 2], {});
            check(l);
            l->release();
        });
        print("evict idle model + instant load", 1, n, f);
        // 16 threads over 16 models with room for 8: most requests evict one and load another.
        SchedConfig eight = c;
        eight.max_loaded_models = 8;
        eight.max_memory = 8 * 40 * kMiB;
        Scheduler sched16(eight, &loader);
        std::vector<ModelFile> many;
        for (int m = 0; m < 16; ++m) many.push_back({"m" + std::to_string(m) + ":latest", "m" + std::to_string(m)});
        f = run(16, n, [&](int t, int i) {
            Result<Lease> l = sched16.acquire(many[size_t((t + i) % 16)], {});
            check(l);
            l->release();
        });
        SchedStats s = sched16.stats();
        print("16 models, room for 8: evict + instant load", 16, n, f);
        std::printf("  (that run: %lld loads, %lld evictions, %lld requests)\n", (long long)s.loads,
                    (long long)s.evictions, (long long)s.requests);
    }
    {
        // The engine's part: a request joins the worker, gets a sequence, one step, one token, ends.
        for (int threads : {1, 16}) {
            Engine engine(std::make_unique<InstantBackend>(threads), std::make_shared<LetterCodec>());
            GenerateRequest req;
            req.prompt = {1, 2, 3};
            req.num_predict = 1;
            req.sampling.temperature = 0;
            int n = std::max(16, requests / 10);
            Figures f = run(threads, n, [&](int, int) {
                Result<GenerateResult> r = engine.generate(req, nullptr);
                if (!r.is_ok()) {
                    std::fprintf(stderr, "generate failed: %s\n", r.status().to_string().c_str());
                    std::exit(1);
                }
            });
            print(threads == 1 ? "engine: join + 1 token, instant backend" : "engine: same, 16 sequences", threads, n,
                  f);
        }
    }
    return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) { return berth::main_impl(argc, argv); }
