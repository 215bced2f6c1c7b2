// The registry of resident models: single-flight loads, keep-alive countdowns, LRU eviction, queue bound.
#include <algorithm>

#include "backend/backend.h"
#include "sched/sched.h"

namespace berth {

enum class RunnerState { loading, ready, failed };

struct SchedRunner {
    ModelFile ref;
    RunnerState state = RunnerState::loading;
    Status load_status;
    LoadedModel model;
    int n_ctx = 0;
    int64_t planned_bytes = 0;
    int64_t planned_device_bytes = 0;  // on config.device
    int refcount = 0;
    bool pinned = false;
    bool unload_pending = false;  // unload when the last request ends
    int64_t keep_alive = 0;
    bool keep_alive_set = false;  // sticky client value present
    std::string expiry_reason = "default";
    int64_t expires_at = kForever;  // monotonic ns; kForever while busy or forever
    int64_t last_used = 0;          // monotonic ns
    int64_t loaded_at_wall = 0;
    Scheduler* unloading_for = nullptr;  // set when removed: told when the model is gone
    bool file_changed_logged = false;

    // Unloading: the engine (and with it the model's mappings) goes first, then the heap memory the load
    // freed (tokenizer tables, metadata) is returned to the OS, so RssAnon falls back at once.
    ~SchedRunner() {
        bool had_model = model.engine != nullptr;
        model = LoadedModel();
        if (had_model) trim_heap();
        if (unloading_for) unloading_for->forget_unloading(this);
    }
};

// ---- Lease ---------------------------------------------------------------------------------------------
Lease& Lease::operator=(Lease&& o) noexcept {
    if (this != &o) {
        release();
        sched_ = o.sched_;
        runner_ = std::move(o.runner_);
        load_ns_ = o.load_ns_;
        o.sched_ = nullptr;
    }
    return *this;
}

void Lease::release() {
    if (!sched_) return;
    Scheduler* s = sched_;
    sched_ = nullptr;
    s->release(runner_);
    runner_.reset();
}

const LoadedModel& Lease::model() const {
    CHECK(runner_);
    return runner_->model;
}

const std::string& Lease::name() const {
    CHECK(runner_);
    return runner_->ref.name;
}

// ---- Scheduler -----------------------------------------------------------------------------------------
Scheduler::Scheduler(SchedConfig config, ModelLoader* loader, const Clock* clock)
    : config_(std::move(config)), loader_(loader), clock_(clock) {
    if (config_.max_memory <= 0) config_.max_memory = default_max_memory();
    if (config_.max_loaded_models <= 0) config_.max_loaded_models = 3;
    if (config_.num_parallel <= 0) config_.num_parallel = 1;
    stats_.budget = config_.max_memory;
    if (config_.device >= 0 && config_.max_vram <= 0) {
        // The default device budget: what is free when the scheduler starts, less the device's reserve.
        Device* d = berth::device(config_.device);
        config_.max_vram = d ? std::max<int64_t>(0, d->memory_info().free - d->default_reserve()) : 0;
    }
    if (config_.device >= 0)
        LOG_INFO("device budget %s on device %d (BERTH_MAX_VRAM), num_gpu %d (BERTH_NUM_GPU)",
                 format_bytes(config_.max_vram).c_str(), config_.device, config_.num_gpu);
    stats_.device = config_.device;
    stats_.device_budget = config_.max_vram;
    if (config_.reaper_thread) reaper_ = std::thread([this] { reaper_loop(); });
}

Scheduler::~Scheduler() {
    std::vector<std::shared_ptr<Runner>> dead;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
        for (auto& [name, r] : runners_) dead.push_back(r);
        runners_.clear();
    }
    cv_.notify_all();
    reaper_cv_.notify_all();
    if (reaper_.joinable()) reaper_.join();
    dead.clear();
}

const ModelPolicy& Scheduler::policy_for(const std::string& name) const {
    auto it = config_.policies.find(name);
    if (it != config_.policies.end()) return it->second;
    // Policies may name a model without its tag ("llama3.2" for "llama3.2:latest").
    size_t colon = name.rfind(':');
    if (colon != std::string::npos) {
        it = config_.policies.find(name.substr(0, colon));
        if (it != config_.policies.end()) return it->second;
    }
    return config_.default_policy;
}

int64_t Scheduler::in_use_locked() const {
    int64_t total = 0;
    for (auto& [name, r] : runners_) total += r->planned_bytes;
    return total;
}

int64_t Scheduler::device_in_use_locked() const {
    int64_t total = 0;
    for (auto& [name, r] : runners_) total += r->planned_device_bytes;
    return total;
}

void Scheduler::apply_keep_alive_locked(Runner& r, const std::optional<int64_t>& client) {
    const ModelPolicy& p = policy_for(r.ref.name);
    auto rt = runtime_pins_.find(r.ref.name);
    r.pinned = rt != runtime_pins_.end() ? rt->second : p.pin;
    if (r.pinned) {
        r.keep_alive = kForever;
        r.expiry_reason = "pinned";
        return;
    }
    if (client && p.client_keep_alive != ClientKeepAlive::ignore) {
        int64_t v = *client;
        r.expiry_reason = "client";
        if (p.client_keep_alive == ClientKeepAlive::clamp) {
            int64_t c = std::clamp(v, p.keep_alive_min, p.keep_alive_max);
            if (c != v) r.expiry_reason = "client (clamped)";
            v = c;
        }
        r.keep_alive = v;
        r.keep_alive_set = true;  // sticky: later requests without keep_alive keep it (as Ollama does)
        return;
    }
    if (r.keep_alive_set) return;
    if (p.keep_alive) {
        r.keep_alive = *p.keep_alive;
        r.expiry_reason = "policy";
    } else {
        r.keep_alive = config_.default_keep_alive;
        r.expiry_reason = "default";
    }
}

void Scheduler::start_countdown_locked(Runner& r) {
    int64_t now = clock_->now_ns();
    r.last_used = now;
    if (r.pinned || r.keep_alive >= kForever) {
        r.expires_at = kForever;
    } else {
        r.expires_at = now + r.keep_alive;
    }
}

void Scheduler::remove_locked(const std::shared_ptr<Runner>& r, std::vector<std::shared_ptr<Runner>>& dead) {
    auto it = runners_.find(r->ref.name);
    if (it != runners_.end() && it->second == r) runners_.erase(it);
    dead.push_back(r);
    if (r->state == RunnerState::ready) {
        ResidentInfo info = info_locked(*r);
        info.state = "unloading";
        info.expiry_reason = "unloading";
        std::lock_guard<std::mutex> lock(unloading_mu_);
        unloading_[r.get()] = std::move(info);
        r->unloading_for = this;
    }
    ++stats_.unloads;
    LOG_INFO("unloading %s", r->ref.name.c_str());
}

Result<Lease> Scheduler::acquire(const ModelFile& ref, const AcquireOptions& options) {
    const int64_t t0 = clock_->now_ns();
    std::vector<std::shared_ptr<Runner>> dead;  // destroyed after the lock is dropped
    std::unique_lock<std::mutex> lock(mu_);
    ++stats_.requests;
    if (stats_.outstanding >= config_.max_queue) {
        ++stats_.rejected_busy;
        return resource_exhausted("server busy, please try again.  maximum pending requests exceeded");
    }
    ++stats_.outstanding;
    ++acquiring_[ref.name];
    auto leave_locked = [&] {
        auto a = acquiring_.find(ref.name);
        CHECK(a != acquiring_.end() && a->second > 0);
        if (--a->second == 0) acquiring_.erase(a);
    };
    auto give_up = [&](Status st) -> Result<Lease> {
        --stats_.outstanding;
        leave_locked();
        lock.unlock();
        dead.clear();
        return st;
    };
    const ModelPolicy& pol = policy_for(ref.name);
    int want_ctx = options.num_ctx > 0 ? options.num_ctx : pol.num_ctx > 0 ? pol.num_ctx : config_.default_num_ctx;
    // Layers on the device: the client's num_gpu, else the policy's, else BERTH_NUM_GPU; -1 as many as fit.
    const bool client_gpu = options.num_gpu && *options.num_gpu >= 0;
    const int want_gpu = config_.device < 0 ? 0
                         : client_gpu       ? *options.num_gpu
                         : pol.num_gpu      ? *pol.num_gpu
                                            : config_.num_gpu;
    // Deadlines are real time (waiting is real): room and busy models within wait_timeout, another request's
    // load within load_timeout from when this request first found it loading. ≤ 0: no limit.
    auto deadline_after = [](int64_t from, int64_t timeout) {
        return timeout > 0 && timeout < kForever - from ? from + timeout : kForever;
    };
    const int64_t room_deadline = deadline_after(berth::now_ns(), config_.wait_timeout);
    int64_t load_deadline = 0;  // set when first waiting for a load
    // Waits for a change (a load finishing, a request ending); false when `deadline` passed or stopping.
    auto wait = [&](int64_t deadline) -> bool {
        if (stopping_ || shutting_down_) return false;
        int64_t left = deadline - berth::now_ns();
        if (left <= 0) return false;
        cv_.wait_for(lock, std::chrono::nanoseconds(std::min<int64_t>(left, 100 * 1000000)));
        return !stopping_ && !shutting_down_;
    };
    auto timed_out = [&](const char* waiting_for, int64_t timeout, const char* knob) {
        return Status(StatusCode::timeout, "timed out after " + format_duration(timeout) + " waiting for " + ref.name +
                                               " " + waiting_for + " (" + knob + ")");
    };

    for (int iter = 0;; ++iter) {
        auto it = runners_.find(ref.name);
        if (it != runners_.end()) {
            std::shared_ptr<Runner> r = it->second;
            if (r->state == RunnerState::loading) {
                if (load_deadline == 0) load_deadline = deadline_after(berth::now_ns(), config_.load_timeout);
                if (!wait(load_deadline)) {
                    if (stopping_ || shutting_down_) return give_up(shutting_down_status());
                    return give_up(timed_out("to load", config_.load_timeout, "BERTH_LOAD_TIMEOUT"));
                }
                continue;
            }
            // A weight file written or truncated in place: the mapping may hold other bytes now; load it again.
            const bool changed = r->state == RunnerState::ready &&
                                 ((r->model.engine && r->model.engine->weights_file_state() == FileState::changed) ||
                                  (r->model.embedder && r->model.embedder->weights_file_state() == FileState::changed));
            if (changed && !r->file_changed_logged) {
                r->file_changed_logged = true;
                LOG_WARN("%s: %s changed on disk while loaded; it is loaded again once its requests end",
                         ref.name.c_str(), r->ref.path.c_str());
            }
            // A client that names a layer count gets it (a generative model loaded with another is reloaded).
            const bool gpu_ok = !client_gpu || r->model.n_layer == 0 ||
                                std::min(want_gpu, r->model.n_layer + 1) == r->model.n_gpu_layers;
            if (r->state == RunnerState::ready && !changed && (want_ctx <= 0 || want_ctx <= r->n_ctx) && gpu_ok) {
                ++r->refcount;
                r->unload_pending = false;
                r->expires_at = kForever;
                apply_keep_alive_locked(*r, options.keep_alive);
                Lease lease;
                lease.sched_ = this;
                lease.runner_ = r;
                lease.load_ns_ = clock_->now_ns() - t0;
                leave_locked();
                return lease;
            }
            // Loaded with a smaller context or another layer count, or from a file that changed since: reload
            // once idle.
            if (r->state == RunnerState::ready && r->refcount == 0) {
                remove_locked(r, dead);
                continue;
            }
            if (!wait(room_deadline)) {
                if (stopping_ || shutting_down_) return give_up(shutting_down_status());
                return give_up(
                    timed_out("(loaded with a smaller context or other num_gpu, or changed on disk) to finish its "
                              "requests before reloading",
                              config_.wait_timeout, "BERTH_QUEUE_TIMEOUT"));
            }
            continue;
        }

        // Still unloading (its memory being released): a new load of the same model waits for it, so that the two
        // never overlap (the ledger's rows and the device's memory are the model's, by name).
        if (unloading_named(ref.name)) {
            if (!dead.empty()) {  // this request removed it (a reload): release it here, then look again
                lock.unlock();
                dead.clear();
                lock.lock();
                continue;
            }
            if (!wait(room_deadline)) {
                if (stopping_ || shutting_down_) return give_up(shutting_down_status());
                return give_up(timed_out("to finish unloading before it loads again", config_.wait_timeout,
                                         "BERTH_QUEUE_TIMEOUT"));
            }
            continue;
        }

        // Not resident: plan, make room, load (single-flight through the placeholder runner). Not once the server
        // is shutting down: nothing would be left to run on it.
        if (shutting_down_) return give_up(shutting_down_status());
        LoadOptions lo;
        lo.n_ctx = want_ctx;
        lo.n_parallel = config_.num_parallel;
        lo.limits.max_waiting = config_.max_queue;
        lo.limits.wait_timeout_ns = config_.wait_timeout;
        lo.kv_type = config_.kv_type;
        lo.device = config_.device;
        lo.num_gpu = want_gpu;
        lo.device_budget = config_.max_vram;
        lock.unlock();
        dead.clear();
        Result<LoadPlan> need = loader_->plan(ref, lo);
        lock.lock();
        if (!need.is_ok()) return give_up(need.status());
        if (runners_.count(ref.name)) continue;  // someone else started loading it meanwhile

        // Room on the host (BERTH_MAX_MEMORY) and, for a plan with a device part, on the device (BERTH_MAX_VRAM):
        // evict idle unpinned models, least recently used first; with num_gpu -1 and nothing left to evict, plan
        // again for the device memory that is left (fewer layers there, more on the CPU).
        bool fits = false, restart = false, replanned = false;
        for (;;) {
            const int64_t in_use = in_use_locked(), dev_in_use = device_in_use_locked();
            const bool count_ok = int(runners_.size()) < config_.max_loaded_models;
            const bool host_ok = in_use + need->host <= config_.max_memory;
            const bool dev_ok = need->device == 0 || dev_in_use + need->device <= config_.max_vram;
            if (count_ok && host_ok && dev_ok) {
                fits = true;
                break;
            }
            // Least recently used idle, unpinned model (one that holds device memory when that is all that lacks).
            const bool device_only = count_ok && host_ok;
            std::shared_ptr<Runner> victim;
            for (auto& [name, r] : runners_) {
                if (r->state != RunnerState::ready || r->refcount > 0 || r->pinned) continue;
                if (device_only && r->planned_device_bytes == 0) continue;
                if (!victim || r->last_used < victim->last_used) victim = r;
            }
            if (victim) {
                LOG_INFO("evicting %s to make room for %s", victim->ref.name.c_str(), ref.name.c_str());
                ++stats_.evictions;
                remove_locked(victim, dead);
                continue;
            }
            if (!dev_ok && want_gpu < 0 && !replanned) {
                replanned = true;
                lo.device_budget = std::max<int64_t>(0, config_.max_vram - dev_in_use);
                lock.unlock();
                dead.clear();
                need = loader_->plan(ref, lo);
                lock.lock();
                if (!need.is_ok()) return give_up(need.status());
                if (runners_.count(ref.name)) {
                    restart = true;
                    break;
                }
                continue;
            }
            break;
        }
        if (restart) continue;
        if (!fits) {
            // Could waiting help? Only if busy unpinned models would free enough when idle.
            int64_t pinned_bytes = 0, busy_bytes = 0, pinned_dev = 0, busy_dev = 0;
            int unpinned = 0;
            for (auto& [name, r] : runners_) {
                if (r->pinned) {
                    pinned_bytes += r->planned_bytes;
                    pinned_dev += r->planned_device_bytes;
                } else {
                    busy_bytes += r->planned_bytes;
                    busy_dev += r->planned_device_bytes;
                    ++unpinned;
                }
            }
            const bool host_short = in_use_locked() + need->host > config_.max_memory;
            const bool dev_short = need->device > 0 && device_in_use_locked() + need->device > config_.max_vram;
            bool hopeless = need->host > config_.max_memory - pinned_bytes ||
                            (need->device > 0 && need->device > config_.max_vram - pinned_dev) ||
                            (unpinned == 0 && int(runners_.size()) >= config_.max_loaded_models);
            if (!hopeless && wait(room_deadline)) continue;
            if (stopping_ || shutting_down_) return give_up(shutting_down_status());
            ++stats_.rejected_memory;
            std::string waited = hopeless ? ""
                                          : "timed out after " + format_duration(config_.wait_timeout) +
                                                " waiting for room (BERTH_QUEUE_TIMEOUT): ";
            if (dev_short && !host_short) {
                return give_up(resource_exhausted(
                    "%smodel %s needs %s on device %d (%d layers) but does not fit: device budget %s "
                    "(BERTH_MAX_VRAM), in use %s (pinned %s, busy %s); num_gpu 0 runs it on the CPU",
                    waited.c_str(), ref.name.c_str(), format_bytes(need->device).c_str(), config_.device,
                    need->n_gpu_layers, format_bytes(config_.max_vram).c_str(),
                    format_bytes(device_in_use_locked()).c_str(), format_bytes(pinned_dev).c_str(),
                    format_bytes(busy_dev).c_str()));
            }
            return give_up(resource_exhausted(
                "%smodel %s needs %s but does not fit: budget %s, in use %s (pinned %s, busy %s), %zu of %d "
                "models loaded",
                waited.c_str(), ref.name.c_str(), format_bytes(need->host).c_str(),
                format_bytes(config_.max_memory).c_str(), format_bytes(in_use_locked()).c_str(),
                format_bytes(pinned_bytes).c_str(), format_bytes(busy_bytes).c_str(), runners_.size(),
                config_.max_loaded_models));
        }
        // The load reserves exactly what was planned: the layer count the plan settled on.
        lo.num_gpu = need->n_gpu_layers;

        auto r = std::make_shared<Runner>();
        r->ref = ref;
        r->planned_bytes = need->host;
        r->planned_device_bytes = need->device;
        runners_[ref.name] = r;
        lock.unlock();
        dead.clear();
        if (need->device > 0)
            LOG_INFO("loading %s from %s (%s, and %s for %d layers on device %d)", ref.name.c_str(), ref.path.c_str(),
                     format_bytes(need->host).c_str(), format_bytes(need->device).c_str(), need->n_gpu_layers,
                     config_.device);
        else
            LOG_INFO("loading %s from %s (%s)", ref.name.c_str(), ref.path.c_str(), format_bytes(need->host).c_str());
        Result<LoadedModel> loaded = loader_->load(ref, lo);
        lock.lock();
        if (!loaded.is_ok()) {
            ++stats_.load_failures;
            auto cur = runners_.find(ref.name);
            if (cur != runners_.end() && cur->second == r) runners_.erase(cur);
            cv_.notify_all();
            return give_up(loaded.status());
        }
        ++stats_.loads;
        r->model = std::move(loaded).value();
        if (r->model.device >= 0 && r->model.n_gpu_layers > 0) ++stats_.device_loads;
        r->n_ctx = r->model.n_ctx;
        int64_t actual = r->model.weights_bytes + r->model.kv_bytes + r->model.scratch_bytes + r->model.cache_bytes;
        if (actual > 0) r->planned_bytes = actual;
        const int64_t actual_dev = r->model.device_weights + r->model.device_kv + r->model.device_scratch;
        if (actual_dev > 0) r->planned_device_bytes = actual_dev;
        r->state = RunnerState::ready;
        r->loaded_at_wall = clock_->wall_ns();
        r->last_used = clock_->now_ns();
        apply_keep_alive_locked(*r, std::nullopt);
        start_countdown_locked(*r);
        // Whatever context the loader settled on serves this request (no reload loop if it chose less).
        if (want_ctx > r->n_ctx) want_ctx = r->n_ctx;
        cv_.notify_all();
        if (iter > 1000000) return give_up(internal_error("scheduler loop did not settle"));
    }
}

void Scheduler::release(const std::shared_ptr<Runner>& r) {
    std::vector<std::shared_ptr<Runner>> dead;
    {
        std::lock_guard<std::mutex> lock(mu_);
        --stats_.outstanding;
        CHECK(r->refcount > 0);
        if (--r->refcount == 0) {
            start_countdown_locked(*r);
            bool expired_now = !r->pinned && r->keep_alive == 0;
            if ((expired_now || r->unload_pending) && runners_.count(r->ref.name) && runners_[r->ref.name] == r) {
                remove_locked(r, dead);
            }
        }
    }
    cv_.notify_all();
}

bool Scheduler::unload(const std::string& name, bool admin) {
    std::vector<std::shared_ptr<Runner>> dead;
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = runners_.find(name);
        if (it == runners_.end()) return false;
        std::shared_ptr<Runner> r = it->second;
        if (r->pinned && !admin) return true;
        if (r->state == RunnerState::ready && r->refcount == 0) {
            remove_locked(r, dead);
        } else {
            r->unload_pending = true;
            r->keep_alive = 0;
            r->expiry_reason = "unload pending";
        }
    }
    cv_.notify_all();
    return true;
}

void Scheduler::set_pinned(const std::string& name, bool pinned) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        runtime_pins_[name] = pinned;
        auto it = runners_.find(name);
        if (it != runners_.end() && it->second->state == RunnerState::ready) {
            Runner& r = *it->second;
            r.keep_alive_set = false;
            apply_keep_alive_locked(r, std::nullopt);
            if (r.refcount == 0) start_countdown_locked(r);
        }
    }
    cv_.notify_all();
}

void Scheduler::reap() {
    std::vector<std::shared_ptr<Runner>> dead;
    {
        std::lock_guard<std::mutex> lock(mu_);
        int64_t now = clock_->now_ns();
        std::vector<std::shared_ptr<Runner>> expired;
        for (auto& [name, r] : runners_) {
            if (r->state == RunnerState::ready && r->refcount == 0 && !r->pinned && r->expires_at <= now) {
                expired.push_back(r);
            }
        }
        for (auto& r : expired) {
            ++stats_.expirations;
            remove_locked(r, dead);
        }
    }
    if (!dead.empty()) cv_.notify_all();
}

Status Scheduler::shutting_down_status() {
    return Status(StatusCode::unavailable, "the server is shutting down; try again later");
}

void Scheduler::shutdown() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        shutting_down_ = true;
    }
    cv_.notify_all();
}

void Scheduler::reaper_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
        reaper_cv_.wait_for(lock, std::chrono::milliseconds(250));  // not cv_: releases need not wake it
        if (stopping_) break;
        lock.unlock();
        reap();
        lock.lock();
    }
}

void Scheduler::forget_unloading(const Runner* r) {
    {
        std::lock_guard<std::mutex> lock(unloading_mu_);
        unloading_.erase(r);
    }
    cv_.notify_all();  // a request waiting to load this model again
}

bool Scheduler::unloading_named(const std::string& name) const {
    std::lock_guard<std::mutex> lock(unloading_mu_);
    for (auto& [runner, info] : unloading_)
        if (info.name == name) return true;
    return false;
}

ResidentInfo Scheduler::info_locked(const Runner& r) const {
    int64_t now = clock_->now_ns(), wall = clock_->wall_ns();
    ResidentInfo i;
    i.name = r.ref.name;
    i.path = r.ref.path;
    i.state = r.state == RunnerState::loading ? "loading" : r.refcount > 0 ? "busy" : "ready";
    i.n_ctx = r.n_ctx;
    i.in_flight = r.refcount;
    i.pinned = r.pinned;
    i.weights_bytes = r.model.weights_bytes;
    i.weights_repacked = r.model.weights_repacked;
    i.kv_bytes = r.model.kv_bytes;
    i.scratch_bytes = r.model.scratch_bytes;
    i.cache_bytes = r.model.cache_bytes;
    i.device = r.model.device;
    i.n_gpu_layers = r.model.n_gpu_layers;
    i.n_layer = r.model.n_layer;
    i.device_weights = r.model.device_weights;
    i.device_kv = r.model.device_kv;
    i.device_scratch = r.model.device_scratch;
    if (r.state == RunnerState::ready && r.model.engine) {
        i.weights_resident = r.model.engine->weights_resident_bytes();
        EngineStats es = r.model.engine->stats();
        i.running = es.active;
        i.kv_positions = es.kv_positions;
        i.kv_capacity = int64_t(r.model.engine->n_ctx()) * r.model.engine->n_parallel();
        i.kv_pages = es.kv_pages;
        i.kv_pages_free = es.kv_pages_free;
        i.kv_pages_kept = es.kv_pages_kept;
        i.cancelled_waiting = es.cancelled_waiting;
        i.cancelled_prefill = es.cancelled_prefill;
        i.cancelled_decoding = es.cancelled_decoding;
    }
    if (r.state == RunnerState::ready && r.model.embedder)
        i.weights_resident = r.model.embedder->weights_resident_bytes();
    i.keep_alive = r.keep_alive;
    i.expiry_reason = r.expiry_reason;
    i.loaded_at = r.loaded_at_wall;
    if (r.pinned || r.keep_alive >= kForever) {
        i.expires_at = kForever;
    } else if (r.refcount > 0 || r.state == RunnerState::loading) {
        // Busy: the countdown starts when the last request ends; show now + keep_alive as Ollama does.
        i.expires_at = wall + r.keep_alive;
    } else {
        i.expires_at = wall + (r.expires_at - now);
    }
    return i;
}

std::vector<ResidentInfo> Scheduler::list() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<ResidentInfo> out;
    for (auto& [name, r] : runners_) out.push_back(info_locked(*r));
    {
        std::lock_guard<std::mutex> ul(unloading_mu_);
        for (auto& [runner, info] : unloading_) out.push_back(info);
    }
    std::sort(out.begin(), out.end(),
              [](const ResidentInfo& a, const ResidentInfo& b) { return a.expires_at > b.expires_at; });
    return out;
}

std::map<std::string, int> Scheduler::waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, int> out = acquiring_;
    for (auto& [name, r] : runners_) {
        if (r->state != RunnerState::ready || !r->model.engine) continue;
        if (int w = r->model.engine->stats().waiting; w > 0) out[name] += w;
    }
    return out;
}

SchedStats Scheduler::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    SchedStats s = stats_;
    s.in_use = in_use_locked();
    s.device_in_use = device_in_use_locked();
    return s;
}

}  // namespace berth
