// sched: which models are resident. The registry of loaded models, single-flight loading through a loader,
// keep-alive timers (countdown from the end of the last in-flight request), operator policy (pins, client
// keep-alive obey/clamp/ignore), LRU eviction of idle unpinned models against the memory budget and the
// model-count limit, and the bounded request queue. Time comes from an injectable Clock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/base.h"
#include "engine/engine.h"
#include "memory/memory.h"

namespace berth {

// ---- durations -----------------------------------------------------------------------------------------
constexpr int64_t kForever = INT64_MAX;  // keep-alive that never expires
constexpr int64_t kNsPerSecond = 1000000000;

// Go's time.ParseDuration: "300ms", "1.5h", "1h30m", "-1m", "0". A number without a unit (other than 0) and
// unknown units ("1d") are invalid_argument. Overflow saturates to ±kForever.
Result<int64_t> parse_duration(std::string_view text);
// Keep-alive from a request: seconds (JSON number) or a duration string; negative → kForever.
int64_t keep_alive_from_seconds(double seconds);
Result<int64_t> keep_alive_from_string(std::string_view text);
// BERTH_KEEP_ALIVE / OLLAMA_KEEP_ALIVE: a duration or integer seconds; negative → kForever; invalid → 5m.
int64_t keep_alive_from_env(std::string_view text);
// BERTH_LOAD_TIMEOUT / BERTH_QUEUE_TIMEOUT and their config keys: a duration or integer seconds; 0 or
// negative → 0, which means no limit (as OLLAMA_LOAD_TIMEOUT ≤ 0). Anything else is invalid_argument.
Result<int64_t> parse_timeout(std::string_view text);
// "5m0s"-style rendering for logs; kForever → "forever".
std::string format_duration(int64_t ns);

// ---- time ----------------------------------------------------------------------------------------------
class Clock {
  public:
    virtual ~Clock() = default;
    virtual int64_t now_ns() const = 0;   // monotonic
    virtual int64_t wall_ns() const = 0;  // Unix epoch
};
// The process clocks.
const Clock& system_clock();

// ---- what the scheduler loads --------------------------------------------------------------------------
struct ModelFile {
    std::string name;  // canonical name ("stories260K:latest", "llama3.2:latest")
    std::string path;  // GGUF file
};

struct LoadOptions {
    int n_ctx = 0;               // 0: the model's default
    int n_parallel = 1;          // sequences
    DType kv_type = DType::F16;  // KV cache element type
    EngineLimits limits;         // waiting for a free sequence: BERTH_MAX_QUEUE and BERTH_QUEUE_TIMEOUT
    // Placement: the device (backend.h index; -1 none), Ollama's num_gpu (-1 as many layers as fit in
    // device_budget bytes, 0 none, N the first N; n_layer + 1 puts the output head there too).
    int device = -1;
    int num_gpu = -1;
    int64_t device_budget = 0;
};

// What a load would reserve, on the host and on the device.
struct LoadPlan {
    int64_t host = 0;    // weights mapped + kv + scratch + cache
    int64_t device = 0;  // weights + kv + scratch on the device
    int n_gpu_layers = 0;
};

// A loaded model as the server uses it.
struct LoadedModel {
    std::shared_ptr<Engine> engine;             // generative models
    std::shared_ptr<EmbeddingEngine> embedder;  // embedding models (engine is null then)
    int n_ctx = 0;
    int64_t weights_bytes = 0, kv_bytes = 0, scratch_bytes = 0;  // weights: the file mapping plus weights_repacked
    int64_t weights_repacked = 0;  // the anonymous copy of the matrices repacked at load (MemoryPlan)
    int64_t cache_bytes = 0;       // heap: tokenizer tables, chat template, samplers (the ledger's `cache`)
    // Placement: the first n_gpu_layers of n_layer on device `device` (-1 none), and their bytes there.
    int device = -1, n_gpu_layers = 0, n_layer = 0;
    int64_t device_weights = 0, device_kv = 0, device_scratch = 0;
    std::string chat_template;  // tokenizer.chat_template, may be empty
    std::string bos_token, eos_token;
    std::shared_ptr<void> extra;  // loader-specific (e.g. the tokenizer); kept alive with the model
};

// Planning and loading, injected (the real one wraps model::plan/Model::load; tests use fakes).
class ModelLoader {
  public:
    virtual ~ModelLoader() = default;
    // Bytes loading would reserve (weights + kv + scratch + cache), without loading.
    virtual Result<int64_t> plan_bytes(const ModelFile& ref, const LoadOptions& options) = 0;
    // The same with the device's share (loaders that place nothing on a device keep this default).
    virtual Result<LoadPlan> plan(const ModelFile& ref, const LoadOptions& options) {
        ASSIGN_OR_RETURN(int64_t host, plan_bytes(ref, options));
        LoadPlan p;
        p.host = host;
        return p;
    }
    virtual Result<LoadedModel> load(const ModelFile& ref, const LoadOptions& options) = 0;
};

// The real loader: plan_engine / load_engine, entering each model's bytes in `ledger` under its name.
std::unique_ptr<ModelLoader> make_engine_loader(Ledger* ledger);

// ---- policy --------------------------------------------------------------------------------------------
enum class ClientKeepAlive { obey, clamp, ignore };

struct ModelPolicy {
    bool pin = false;      // never unloaded except by an explicit unload
    bool preload = false;  // loaded at start-up
    ClientKeepAlive client_keep_alive = ClientKeepAlive::obey;
    int64_t keep_alive_min = 0, keep_alive_max = kForever;  // clamp range
    std::optional<int64_t> keep_alive;                      // this model's default instead of the global one
    int num_ctx = 0;                                        // default context for this model (0: global)
    std::optional<int> num_gpu;                             // layers on the device for this model (Ollama's num_gpu)
};

struct SchedConfig {
    int max_loaded_models = 3;
    int num_parallel = 1;
    int max_queue = 512;
    int64_t max_memory = 0;  // bytes; 0: 75 % of physical memory
    int64_t default_keep_alive = 300 * kNsPerSecond;
    int64_t wait_timeout = 300 * kNsPerSecond;  // waiting for room or a free sequence; ≤ 0: no limit
    int64_t load_timeout = 300 * kNsPerSecond;  // waiting for another request's load; ≤ 0: no limit
    int default_num_ctx = 0;                    // 0: the model's default
    DType kv_type = DType::F16;                 // BERTH_KV_CACHE_TYPE: f16, q8_0 or q4_0
    // The device models are placed on (backend.h index; -1: none, everything on the CPU), its budget
    // (BERTH_MAX_VRAM; 0: the device's free memory when the scheduler starts, less its reserve), and the default
    // num_gpu (BERTH_NUM_GPU; -1: as many layers as fit).
    int device = -1;
    int64_t max_vram = 0;
    int num_gpu = -1;
    std::map<std::string, ModelPolicy> policies;  // by canonical model name
    ModelPolicy default_policy;
    bool reaper_thread = true;  // false in tests: call reap() by hand
};

// Reads BERTH_MAX_LOADED_MODELS, BERTH_NUM_PARALLEL, BERTH_MAX_QUEUE, BERTH_MAX_MEMORY, BERTH_KEEP_ALIVE,
// BERTH_LOAD_TIMEOUT (falling back to the OLLAMA_ names), BERTH_QUEUE_TIMEOUT, BERTH_MAX_VRAM, BERTH_NUM_GPU and
// BERTH_CONFIG (TOML policy), and opens the devices (BERTH_DEVICE): the first one is where models go. Bad values
// are invalid_argument.
Result<SchedConfig> sched_config_from_env();
// Parses the TOML policy file into `config` (see docs in sched_config.cpp).
Status load_policy_file(const std::string& path, SchedConfig& config);
// 75 % of physical memory.
int64_t default_max_memory();

// ---- the scheduler -------------------------------------------------------------------------------------
struct AcquireOptions {
    int num_ctx = 0;                    // 0: default; a loaded model with n_ctx ≥ this is reused
    std::optional<int64_t> keep_alive;  // as sent by the client (ns; kForever for negative)
    // The client's num_gpu (absent or -1: the policy's). A loaded model with another layer count is reloaded.
    std::optional<int> num_gpu;
};

struct ResidentInfo {
    std::string name, path;
    std::string state;  // "loading" | "ready" (idle) | "busy" | "unloading"
    int n_ctx = 0;
    int in_flight = 0;
    bool pinned = false;
    int64_t weights_bytes = 0, kv_bytes = 0, scratch_bytes = 0, cache_bytes = 0;
    int64_t weights_resident = 0;                    // bytes of the weight mapping resident now (mincore)
    int64_t weights_repacked = 0;                    // included in weights_bytes; anonymous, always resident
    int device = -1, n_gpu_layers = 0, n_layer = 0;  // placement (LoadedModel)
    int64_t device_weights = 0, device_kv = 0, device_scratch = 0;
    int64_t device_bytes() const { return device_weights + device_kv + device_scratch; }
    int64_t kv_pages = 0, kv_pages_free = 0, kv_pages_kept = 0;                    // the KV pool's pages: EngineStats
    int64_t cancelled_waiting = 0, cancelled_prefill = 0, cancelled_decoding = 0;  // EngineStats
    int64_t keep_alive = 0;                                                        // ns, kForever
    int64_t expires_at = 0;     // wall ns; kForever when it never expires
    std::string expiry_reason;  // "pinned" | "client" | "client (clamped)" | "policy" | "default" | "busy"
    int64_t loaded_at = 0;      // wall ns
    int running = 0;            // requests generating now (the engine's active sequences)
    // KV positions the running requests hold, of kv_capacity = n_ctx × n_parallel (0 for embedding models).
    int64_t kv_positions = 0, kv_capacity = 0;
};

struct SchedStats {
    int64_t loads = 0, load_failures = 0, unloads = 0, evictions = 0, expirations = 0, rejected_busy = 0,
            rejected_memory = 0, requests = 0;
    int outstanding = 0;
    int64_t budget = 0, in_use = 0;
    int device = -1;  // the device models are placed on, -1 none
    int64_t device_budget = 0, device_in_use = 0;
    int64_t device_loads = 0;  // loads that placed layers on the device (each makes its three allocations there)
};

class Scheduler;
struct SchedRunner;  // a resident (or loading) model; internal

// One request's hold on a loaded model. Releasing it (destructor) starts the keep-alive countdown when it
// was the last one.
class Lease {
  public:
    Lease() = default;
    Lease(Lease&& o) noexcept { *this = std::move(o); }
    Lease& operator=(Lease&& o) noexcept;
    ~Lease() { release(); }
    void release();
    explicit operator bool() const { return sched_ != nullptr; }
    const LoadedModel& model() const;
    Engine& engine() const { return *model().engine; }
    const std::string& name() const;
    int64_t load_ns() const { return load_ns_; }  // time spent waiting for room and loading

  private:
    friend class Scheduler;
    Scheduler* sched_ = nullptr;
    std::shared_ptr<SchedRunner> runner_;
    int64_t load_ns_ = 0;
};

class Scheduler {
  public:
    Scheduler(SchedConfig config, ModelLoader* loader, const Clock* clock = &system_clock());
    ~Scheduler();  // unloads everything (in-flight requests must have ended)
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    const SchedConfig& config() const { return config_; }
    // Returns a lease on the model, loading it (single-flight) after making room if needed. Errors:
    // resource_exhausted (queue full, or it does not fit: the message has the numbers, also after waiting
    // wait_timeout for room), timeout (another request's load took longer than load_timeout), unavailable
    // (shutdown() was called), and the loader's errors. The request that loads runs its load to the end (a load cannot
    // be interrupted).
    Result<Lease> acquire(const ModelFile& ref, const AcquireOptions& options);
    // The server is shutting down: requests waiting in acquire (for room, a load, a busy model) and any that
    // would have to load a model end with unavailable ("the server is shutting down", HTTP 503); resident models
    // keep serving the requests that hold them.
    void shutdown();
    // Unloads now if idle, otherwise as soon as its last request ends. false if not resident. `admin`
    // unloads pinned models too; otherwise a pinned model stays.
    bool unload(const std::string& name, bool admin);
    // Unloads idle models whose keep-alive has expired (the reaper thread calls it; tests call it).
    void reap();
    // Pins or unpins a model at run time (overrides the policy file until restart); applies if resident.
    void set_pinned(const std::string& name, bool pinned);
    std::vector<ResidentInfo> list() const;  // sorted by expires_at, latest first
    // Requests waiting, by model name: inside acquire() (for the model's load, for room, or for a reload with a
    // larger context) and holding a lease but waiting for a free sequence. Models with none are left out.
    std::map<std::string, int> waiting() const;
    SchedStats stats() const;
    const ModelPolicy& policy_for(const std::string& name) const;

  private:
    friend class Lease;
    friend struct SchedRunner;  // tells forget_unloading when its model is gone
    using Runner = SchedRunner;
    void release(const std::shared_ptr<Runner>& r);
    int64_t in_use_locked() const;
    int64_t device_in_use_locked() const;
    void apply_keep_alive_locked(Runner& r, const std::optional<int64_t>& client);
    void start_countdown_locked(Runner& r);
    // Removes runners; their models are destroyed by the caller outside the lock.
    void remove_locked(const std::shared_ptr<Runner>& r, std::vector<std::shared_ptr<Runner>>& dead);
    void reaper_loop();
    ResidentInfo info_locked(const Runner& r) const;
    // Called by a removed runner once its model is gone (any thread, with or without mu_ held).
    void forget_unloading(const Runner* r);
    bool unloading_named(const std::string& name) const;  // a removed runner of this name is releasing its memory

    SchedConfig config_;
    ModelLoader* loader_;
    const Clock* clock_;
    mutable std::mutex mu_;
    std::condition_variable cv_;         // waiting requests: a load ended, a request ended, room was made
    std::condition_variable reaper_cv_;  // the reaper's 250 ms tick; woken only to stop
    std::map<std::string, std::shared_ptr<Runner>> runners_;
    std::map<std::string, bool> runtime_pins_;
    std::map<std::string, int> acquiring_;  // requests inside acquire() by model name
    SchedStats stats_;
    bool stopping_ = false;       // destroying: every wait ends
    bool shutting_down_ = false;  // shutdown(): waits end with unavailable, no new loads
    static Status shutting_down_status();
    std::thread reaper_;
    // Removed models whose memory is still being released, listed with state "unloading". Its own mutex
    // (taken after mu_, never before), so a runner may finish unloading with or without mu_ held.
    mutable std::mutex unloading_mu_;
    std::map<const Runner*, ResidentInfo> unloading_;
};

}  // namespace berth
