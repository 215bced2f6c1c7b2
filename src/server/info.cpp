// Status and listing routes: /, /api/version, /health, /api/tags, /api/ps, /api/show, /api/memory, /metrics,
// /ui, and the operator's /api/load and /api/unload.
#include <dirent.h>

#include <algorithm>

#include "backend/backend.h"
#include "server/server_internal.h"

extern const char dashboard_html[];
extern const unsigned long dashboard_html_size;

namespace berth {

namespace {

// Where a model runs, as Ollama's CLI prints it: "100% CPU", "100% GPU" (every layer and the output head on the
// device), else the byte split "48%/52% CPU/GPU".
std::string processor(const ResidentInfo& r, int64_t host) {
    const int64_t dev = r.device_bytes();
    if (dev == 0 || r.device < 0) return "100% CPU";
    if (r.n_gpu_layers > r.n_layer) return "100% GPU";
    const int cpu = int(double(host) / double(host + dev) * 100 + 0.5);
    return std::to_string(cpu) + "%/" + std::to_string(100 - cpu) + "% CPU/GPU";
}

// A model's name as Ollama lists it in /api/tags and /api/ps (`name` and `model` alike): with its tag,
// "stories260K:latest" for a models-dir file served as "stories260K". Any form of it finds the model again.
std::string listed_name(const std::string& name) {
    Result<std::string> c = canonical_model_name(name);
    return c.is_ok() ? *c : name;
}

// Threads and open descriptors of this process (/proc/self): they must not grow with requests or connections.
void threads_and_fds(int& threads, int& fds) {
    threads = fds = -1;
    if (FILE* f = fopen("/proc/self/status", "re")) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "Threads: %d", &threads) == 1) break;
        }
        fclose(f);
    }
    if (DIR* d = opendir("/proc/self/fd")) {
        int n = 0;
        while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
        closedir(d);
        fds = n - 1;  // less the listing's own descriptor
    }
}

json ps_json(Server::State& st) {
    json models = json::array();
    for (auto& r : st.sched->list()) {
        StoreEntry e;
        Result<StoreEntry> found = st.store->find(r.name);
        if (found.is_ok())
            e = *found;
        else
            e.name = r.name, e.model_path = r.path;
        const int64_t host = r.weights_bytes + r.kv_bytes + r.scratch_bytes + r.cache_bytes;
        const int64_t size = host + r.device_bytes();
        const std::string listed = listed_name(r.name);
        json m = {
            {"name", listed},
            {"model", listed},
            {"size", size},
            {"digest", e.digest},
            {"details", model_details(st, e)},
            {"expires_at", expires_rfc3339(r.expires_at)},
            {"size_vram", r.device_bytes()},
            {"context_length", r.n_ctx},
            {"size_weights", r.weights_bytes},
            {"size_kv", r.kv_bytes},
            {"size_scratch", r.scratch_bytes},
            {"size_cache", r.cache_bytes},
            {"resident_bytes", r.weights_resident + r.weights_repacked + r.kv_bytes + r.scratch_bytes + r.cache_bytes},
            {"weights_resident", r.weights_resident},
            {"weights_repacked", r.weights_repacked},
            {"kv_pages", r.kv_pages},
            {"kv_pages_free", r.kv_pages_free},
            {"kv_pages_kept", r.kv_pages_kept},
            {"pinned", r.pinned},
            {"state", r.state},
            {"in_flight", r.in_flight},
            {"keep_alive", r.keep_alive >= kForever ? -1 : r.keep_alive / 1000000000.0},
            {"expiry_reason", r.expiry_reason}};
        // Placement (berth's): the host share, the device's by kind, the layers there and the split.
        m["size_host"] = host;
        m["processor"] = processor(r, host);
        if (r.device >= 0) {
            m["device"] = r.device;
            m["gpu_layers"] = r.n_gpu_layers;
            m["layers"] = r.n_layer + 1;  // Ollama counts the output head as a layer
            m["size_device_weights"] = r.device_weights;
            m["size_device_kv"] = r.device_kv;
            m["size_device_scratch"] = r.device_scratch;
        }
        models.push_back(std::move(m));
    }
    return {{"models", models}};
}

// Each device: the driver's view (total, free, this process's use), the ledger (models, the context row), the
// allocation counter, the scheduler's budget, and what the driver reports beyond the ledger ("unaccounted").
json devices_json(Server::State& st) {
    json out = json::array();
    SchedStats ss = st.sched->stats();
    for (Device* d : devices()) {
        // The ledger is read before and after the device: a model's row is entered before its allocations and
        // erased after they are freed, so the larger reading covers a load or an unload between the two.
        const int64_t ledger_before = st.ledger.device_total(d->index());
        DeviceMemoryInfo mi = d->memory_info();
        const int64_t ledger = std::max(ledger_before, st.ledger.device_total(d->index()));
        const int64_t context = st.ledger.device_context(d->index());
        json j = {{"device", d->index()},
                  {"type", d->type()},
                  {"name", d->name()},
                  {"total", mi.total},
                  {"free", mi.free},
                  {"used_by_process", mi.used_by_process},
                  {"ledger", ledger},
                  {"context", context},
                  {"context_host", st.ledger.device_host_context(d->index())},
                  {"allocations", d->allocation_count()},
                  {"allocated", d->allocated_bytes()},
                  {"host_backed", d->host_backed()},
                  {"budget", ss.device == d->index() ? ss.device_budget : 0},
                  {"in_use", ss.device == d->index() ? ss.device_in_use : 0}};
        j["unaccounted"] = mi.used_by_process >= 0 ? json(mi.used_by_process - ledger - context) : json(nullptr);
        out.push_back(std::move(j));
    }
    return out;
}

// `max_history`: newest samples to include (0 = none); `since_ms`: only samples newer than this Unix time in
// ms, so that a poller fetches each sample once instead of the whole hour every time.
json memory_json(Server::State& st, size_t max_history, int64_t since_ms) {
    json rows = json::array();
    for (auto& row : st.ledger.snapshot()) {
        json k = json::object();
        for (int i = 0; i < int(MemoryKind::count_); ++i) k[memory_kind_name(MemoryKind(i))] = row.bytes[i];
        json r = {{"model", row.model}, {"bytes", k}, {"total", st.ledger.model_total(row.model)}};
        r["devices"] = json::array();  // the model's rows on each device it uses
        for (int d = 0; d < kMaxDevices; ++d) {
            if (row.device_total(d) == 0) continue;
            json dk = json::object();
            for (int i = 0; i < int(DeviceMemoryKind::count_); ++i)
                dk[device_memory_kind_name(DeviceMemoryKind(i))] = row.device_bytes[d][i];
            r["devices"].push_back({{"device", d}, {"bytes", dk}, {"total", row.device_total(d)}});
        }
        rows.push_back(std::move(r));
    }
    json process = json::object();
    int64_t unaccounted = 0;
    if (auto pm = read_process_memory(); pm.is_ok()) {
        process = {{"rss", pm->rss},           {"rss_anon", pm->rss_anon},
                   {"rss_file", pm->rss_file}, {"rss_shmem", pm->rss_shmem},
                   {"vm_swap", pm->vm_swap},   {"vm_size", pm->vm_size}};
        unaccounted = pm->rss_anon - st.ledger.anonymous_total();
    }
    json history = json::array();
    for (const MemorySample& m : max_history ? st.history.snapshot(max_history) : std::vector<MemorySample>()) {
        if (m.t_ms <= since_ms) continue;
        history.push_back({{"t_ms", m.t_ms},
                           {"rss_anon", m.rss_anon},
                           {"rss_file", m.rss_file},
                           {"vm_swap", m.vm_swap},
                           {"ledger", m.ledger},
                           {"unaccounted", m.unaccounted},
                           {"requests", m.requests},
                           {"requests_per_s", m.requests_per_s},
                           {"ttft_p50_ms", m.ttft_p50_ms},
                           {"token_p50_ms", m.token_p50_ms}});
    }
    HeapStats heap = heap_stats();
    process["heap_in_use"] = heap.in_use;
    process["heap_free"] = heap.free;
    int threads, fds;
    threads_and_fds(threads, fds);
    process["threads"] = threads;
    process["fds"] = fds;
    SchedStats ss = st.sched->stats();
    return {{"ledger", rows},
            {"devices", devices_json(st)},
            {"device_status", device_status()},
            {"ledger_total", st.ledger.total()},
            {"ledger_anonymous", st.ledger.anonymous_total()},
            {"budget", ss.budget},
            {"process", process},
            {"unaccounted", unaccounted},
            {"grammar_cache",
             {{"bytes", st.grammars.bytes()},
              {"entries", st.grammars.entries()},
              {"hits", st.grammars.hits()},
              {"misses", st.grammars.misses()}}},
            {"history", history}};
}

// Device rows of /metrics: the ledger per model and kind, the driver's readings, the budget and the allocation
// counter (constant while models serve: every allocation happens at load).
template <typename Line>
void device_metrics(Server::State& st, Line& line) {
    if (devices().empty()) return;
    SchedStats ss = st.sched->stats();
    line(
        "# HELP berth_device_model_bytes Bytes held per model, device and kind (the ledger).\n# TYPE "
        "berth_device_model_bytes gauge");
    for (auto& row : st.ledger.snapshot())
        for (int d = 0; d < kMaxDevices; ++d)
            for (int i = 0; i < int(DeviceMemoryKind::count_); ++i)
                if (row.device_bytes[d][i])
                    line(string_printf("berth_device_model_bytes{model=\"%s\",device=\"%d\",kind=\"%s\"} %lld",
                                       row.model.c_str(), d, device_memory_kind_name(DeviceMemoryKind(i)),
                                       (long long)row.device_bytes[d][i]));
    auto gauge = [&](const char* name, const char* help, auto value_of) {
        line(string_printf("# HELP %s %s\n# TYPE %s gauge", name, help, name));
        for (Device* d : devices())
            line(string_printf("%s{device=\"%d\"} %lld", name, d->index(), (long long)value_of(d)));
    };
    gauge("berth_device_memory_total_bytes", "Device memory.", [](Device* d) { return d->memory_info().total; });
    gauge("berth_device_memory_free_bytes", "Free device memory (the driver's view, all processes).",
          [](Device* d) { return d->memory_info().free; });
    gauge("berth_device_process_used_bytes", "Device memory this process uses as the driver reports it (-1: unknown).",
          [](Device* d) { return d->memory_info().used_by_process; });
    gauge("berth_device_context_bytes", "The device's own overhead (driver context, library workspaces).",
          [&](Device* d) { return st.ledger.device_context(d->index()); });
    gauge("berth_device_host_context_bytes", "Host memory opening the device took (its runtime's libraries).",
          [&](Device* d) { return st.ledger.device_host_context(d->index()); });
    gauge("berth_device_budget_bytes", "BERTH_MAX_VRAM.",
          [&](Device* d) { return ss.device == d->index() ? ss.device_budget : 0; });
    gauge("berth_device_in_use_bytes", "Planned device bytes of resident models.",
          [&](Device* d) { return ss.device == d->index() ? ss.device_in_use : 0; });
    line(
        string_printf("# HELP berth_model_device_loads_total Model loads that placed layers on a device.\n# TYPE "
                      "berth_model_device_loads_total counter\nberth_model_device_loads_total %lld",
                      (long long)ss.device_loads));
    line(
        "# HELP berth_device_allocations_total Device allocations (three at each load that places layers there).\n"
        "# TYPE berth_device_allocations_total counter");
    for (Device* d : devices())
        line(string_printf("berth_device_allocations_total{device=\"%d\"} %lld", d->index(),
                           (long long)d->allocation_count()));
}

std::string metrics_text(Server::State& st) {
    std::string o;
    auto line = [&](const std::string& s) { o += s + "\n"; };
    SchedStats ss = st.sched->stats();
    line("# HELP berth_models_loaded Models resident in memory.\n# TYPE berth_models_loaded gauge");
    auto list = st.sched->list();
    line("berth_models_loaded " + std::to_string(list.size()));
    line("# HELP berth_model_bytes Bytes held per model and kind (the ledger).\n# TYPE berth_model_bytes gauge");
    for (auto& row : st.ledger.snapshot()) {
        for (int i = 0; i < int(MemoryKind::count_); ++i) {
            if (!row.bytes[i]) continue;
            line(string_printf("berth_model_bytes{model=\"%s\",kind=\"%s\"} %lld", row.model.c_str(),
                               memory_kind_name(MemoryKind(i)), (long long)row.bytes[i]));
        }
    }
    line("# HELP berth_kv_pages Pages of a model's KV pool.\n# TYPE berth_kv_pages gauge");
    for (auto& r : list)
        line(string_printf("berth_kv_pages{model=\"%s\"} %lld", r.name.c_str(), (long long)r.kv_pages));
    line("# HELP berth_kv_pages_free Free pages of a model's KV pool.\n# TYPE berth_kv_pages_free gauge");
    for (auto& r : list)
        line(string_printf("berth_kv_pages_free{model=\"%s\"} %lld", r.name.c_str(), (long long)r.kv_pages_free));
    line(
        "# HELP berth_kv_pages_kept KV pages held by finished sequences kept for prefix reuse.\n"
        "# TYPE berth_kv_pages_kept gauge");
    for (auto& r : list)
        line(string_printf("berth_kv_pages_kept{model=\"%s\"} %lld", r.name.c_str(), (long long)r.kv_pages_kept));
    line(
        "# HELP berth_model_cancelled_total Generations of a resident model cancelled, by where they were.\n"
        "# TYPE berth_model_cancelled_total counter");
    for (auto& r : list) {
        for (auto [phase, n] : {std::pair{"waiting", r.cancelled_waiting}, std::pair{"prefill", r.cancelled_prefill},
                                std::pair{"decoding", r.cancelled_decoding}})
            line(string_printf("berth_model_cancelled_total{model=\"%s\",phase=\"%s\"} %lld", r.name.c_str(), phase,
                               (long long)n));
    }
    line("# HELP berth_memory_budget_bytes BERTH_MAX_MEMORY.\n# TYPE berth_memory_budget_bytes gauge");
    line("berth_memory_budget_bytes " + std::to_string(ss.budget));
    line("# HELP berth_memory_in_use_bytes Planned bytes of resident models.\n# TYPE berth_memory_in_use_bytes gauge");
    line("berth_memory_in_use_bytes " + std::to_string(ss.in_use));
    if (auto pm = read_process_memory(); pm.is_ok()) {
        line(
            "# HELP berth_process_rss_anon_bytes RssAnon of the server process.\n# TYPE berth_process_rss_anon_bytes "
            "gauge");
        line("berth_process_rss_anon_bytes " + std::to_string(pm->rss_anon));
        line("# TYPE berth_process_rss_file_bytes gauge");
        line("berth_process_rss_file_bytes " + std::to_string(pm->rss_file));
        line("# HELP berth_process_swap_bytes VmSwap of the server process.\n# TYPE berth_process_swap_bytes gauge");
        line("berth_process_swap_bytes " + std::to_string(pm->vm_swap));
        line(
            "# HELP berth_unaccounted_bytes RssAnon minus the ledger's anonymous bytes.\n# TYPE "
            "berth_unaccounted_bytes gauge");
        line("berth_unaccounted_bytes " + std::to_string(pm->rss_anon - st.ledger.anonymous_total()));
    }
    int threads, fds;
    threads_and_fds(threads, fds);
    line("# HELP berth_process_threads Threads of the server process.\n# TYPE berth_process_threads gauge");
    line("berth_process_threads " + std::to_string(threads));
    line("# HELP berth_process_open_fds Open descriptors of the server process.\n# TYPE berth_process_open_fds gauge");
    line("berth_process_open_fds " + std::to_string(fds));
    auto counter = [&](const char* name, const char* help, int64_t v) {
        line(string_printf("# HELP %s %s\n# TYPE %s counter\n%s %lld", name, help, name, name, (long long)v));
    };
    device_metrics(st, line);
    counter("berth_model_loads_total", "Model loads.", ss.loads);
    line(
        "# HELP berth_grammar_cache_bytes Compiled grammars kept for format schemas and forced tool calls.\n"
        "# TYPE berth_grammar_cache_bytes gauge");
    line("berth_grammar_cache_bytes " + std::to_string(st.grammars.bytes()));
    counter("berth_model_load_failures_total", "Failed model loads.", ss.load_failures);
    counter("berth_model_unloads_total", "Model unloads.", ss.unloads);
    counter("berth_model_evictions_total", "Models evicted to make room.", ss.evictions);
    counter("berth_model_expirations_total", "Models unloaded when their keep-alive expired.", ss.expirations);
    counter("berth_rejected_busy_total", "Requests refused because the queue was full.", ss.rejected_busy);
    counter("berth_rejected_memory_total", "Requests refused because the model did not fit.", ss.rejected_memory);
    counter("berth_generations_total", "Completed generations.", st.generations.load());
    counter("berth_generations_cancelled_total", "Generations cancelled (client gone).", st.cancelled.load());
    counter("berth_prompt_tokens_total", "Prompt tokens processed.", st.tokens_prompt.load());
    counter("berth_generated_tokens_total", "Tokens generated.", st.tokens_generated.load());
    counter("berth_prompt_seconds_total", "Time in prompt evaluation.", st.prompt_ns.load() / kNsPerSecond);
    counter("berth_eval_seconds_total", "Time generating.", st.eval_ns.load() / kNsPerSecond);
    o += st.ttft_hist.render("berth_time_to_first_token_seconds",
                             "Request start to the first generated token (queueing and loading included).");
    o += st.token_hist.render("berth_time_per_token_seconds", "Mean time per generated token of a generation.");
    line(
        "# HELP berth_queue_outstanding Requests holding or waiting for a model.\n# TYPE berth_queue_outstanding "
        "gauge");
    line("berth_queue_outstanding " + std::to_string(ss.outstanding));
    // Per model: requests waiting (for the load, room or a free sequence) and generating, and the KV positions the
    // generating ones hold as a fraction of the model's pool (n_ctx × n_parallel).
    std::map<std::string, int> waiting = st.sched->waiting();
    line("# HELP berth_requests_waiting Requests waiting per model.\n# TYPE berth_requests_waiting gauge");
    for (auto& [name, n] : waiting) line(string_printf("berth_requests_waiting{model=\"%s\"} %d", name.c_str(), n));
    line("# HELP berth_requests_running Requests generating per model.\n# TYPE berth_requests_running gauge");
    for (auto& r : list) {
        if (r.state != "unloading")
            line(string_printf("berth_requests_running{model=\"%s\"} %d", r.name.c_str(), r.running));
    }
    line(
        "# HELP berth_kv_cache_usage_ratio KV positions held by running requests per model, of n_ctx x n_parallel.\n"
        "# TYPE berth_kv_cache_usage_ratio gauge");
    for (auto& r : list) {
        if (r.kv_capacity > 0)
            line(string_printf("berth_kv_cache_usage_ratio{model=\"%s\"} %.6f", r.name.c_str(),
                               double(r.kv_positions) / double(r.kv_capacity)));
    }
    o += gateway_metrics_text(st);
    if (st.acceptor) {
        AcceptorStats as = st.acceptor->stats();
        auto gauge = [&](const char* name, const char* help, int64_t v) {
            line(string_printf("# HELP %s %s\n# TYPE %s gauge\n%s %lld", name, help, name, name, (long long)v));
        };
        gauge("berth_http_connections", "Client connections open.", as.open);
        gauge("berth_http_connections_max", "BERTH_MAX_CONNECTIONS (after the descriptor limit).", as.max_connections);
        gauge("berth_http_requests_waiting", "Complete requests waiting for a worker.", as.queued);
        gauge("berth_http_workers_busy", "Workers answering a request.", as.busy);
        gauge("berth_http_buffered_bytes", "Bytes of requests held in connection buffers.", as.buffered);
        counter("berth_http_connections_total", "Connections accepted.", as.accepted);
        counter("berth_http_connections_refused_total", "Connections refused at BERTH_MAX_CONNECTIONS.", as.refused);
        counter("berth_http_header_timeouts_total", "Requests whose header did not arrive in time.",
                as.header_timeouts);
        counter("berth_http_body_timeouts_total", "Requests whose body did not arrive in time.", as.body_timeouts);
        counter("berth_http_idle_closed_total", "Connections closed for sending nothing.", as.idle_closed);
        counter("berth_http_malformed_total", "Requests refused before routing (malformed, too large).",
                as.bad_requests);
    }
    line(
        "# HELP berth_http_requests_total HTTP requests by route and status.\n# TYPE berth_http_requests_total "
        "counter");
    std::lock_guard<std::mutex> lock(st.metrics_mu);
    for (auto& [k, v] : st.http_requests) {
        size_t bar = k.find('|');
        line(string_printf("berth_http_requests_total{path=\"%s\",status=\"%s\"} %lld", k.substr(0, bar).c_str(),
                           k.substr(bar + 1).c_str(), (long long)v));
    }
    return o;
}

// Ollama's capability names: what the model does, and what its chat template renders (tools, thinking).
json capabilities(Server::State& st, const StoreEntry& e) {
    if (model_details(st, e).value("family", "") == "bert") return json::array({"embedding"});
    json caps = json::array({"completion"});
    std::string source = model_template_source(st, e);
    if (source.empty()) return caps;
    Result<std::shared_ptr<const ModelTemplate>> t = parse_template(st, source);
    if (!t.is_ok()) return caps;
    if ((*t)->tmpl.capabilities().tools) caps.push_back("tools");
    if ((*t)->tmpl.capabilities().thinking) caps.push_back("thinking");
    return caps;
}

void show(Server::State& st, const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!parse_body(req, res, body)) return;
    if (!body.contains("model") && body.contains("name")) body["model"] = body["name"];
    Result<StoreEntry> e = resolve_model(st, body);
    if (!e.is_ok()) return reply_error(res, http_status(e.status()), e.status().message());
    bool verbose = body.value("verbose", json(false)).is_boolean() && body.value("verbose", false);
    std::string params;
    for (auto& [k, v] : e->params.items()) {
        if (v.is_array()) {
            for (auto& x : v) params += k + " " + (x.is_string() ? x.get<std::string>() : dump(x)) + "\n";
        } else {
            params += k + " " + (v.is_string() ? v.get<std::string>() : dump(v)) + "\n";
        }
    }
    std::string modelfile = "# Modelfile generated by \"berth show\"\nFROM " + e->model_path + "\n";
    if (!e->template_text.empty()) modelfile += "TEMPLATE \"\"\"" + e->template_text + "\"\"\"\n";
    if (!e->system.empty()) modelfile += "SYSTEM \"\"\"" + e->system + "\"\"\"\n";
    for (auto& [k, v] : e->params.items()) {
        if (v.is_array())
            for (auto& x : v)
                modelfile += "PARAMETER " + k + " " + (x.is_string() ? x.get<std::string>() : dump(x)) + "\n";
        else
            modelfile += "PARAMETER " + k + " " + (v.is_string() ? v.get<std::string>() : dump(v)) + "\n";
    }
    json info = model_info(st, *e, verbose);
    std::string tmpl = e->template_text;
    json j = {{"license", e->license},
              {"modelfile", modelfile},
              {"parameters", params},
              {"template", tmpl},
              {"system", e->system},
              {"details", model_details(st, *e)},
              {"model_info", info},
              {"capabilities", capabilities(st, *e)},
              {"modified_at", format_rfc3339(e->modified_ns)}};
    if (!e->messages.empty()) j["messages"] = e->messages;
    reply_json(res, j);
}

}  // namespace

void register_info_routes(Server::State& st) {
    auto root = [](const httplib::Request&, httplib::Response& res) {
        res.set_content("berth is running", "text/plain; charset=utf-8");
    };
    st.http.Get("/", root);
    st.http.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
#ifdef BERTH_VERSION
        reply_json(res, {{"version", BERTH_VERSION}});
#else
        reply_json(res, {{"version", "0.1.0"}});
#endif
    });
    // Readiness: 503 {"status": "starting"} until the models the policy preloads are loaded (or failed to), then
    // 200 {"status": "ok"}. Liveness probes use GET /, which answers 200 from the start.
    st.http.Get("/health", [&st](const httplib::Request&, httplib::Response& res) {
        SchedStats ss = st.sched->stats();
        bool ready = st.ready.load();
        reply_json(res,
                   {{"status", ready ? "ok" : "starting"},
                    {"models_loaded", st.sched->list().size()},
                    {"outstanding", ss.outstanding},
                    {"uptime_s", (wall_time_ns() - st.started_wall) / kNsPerSecond}},
                   ready ? 200 : 503);
    });
    st.http.Get("/api/tags", [&st](const httplib::Request&, httplib::Response& res) {
        json models = json::array();
        for (auto& e : st.store->list()) {
            const std::string listed = listed_name(e.name);
            models.push_back({{"name", listed},
                              {"model", listed},
                              {"modified_at", format_rfc3339(e.modified_ns)},
                              {"size", e.size},
                              {"digest", e.digest},
                              {"details", model_details(st, e)}});
        }
        reply_json(res, {{"models", models}});
    });
    st.http.Get("/api/ps", [&st](const httplib::Request&, httplib::Response& res) { reply_json(res, ps_json(st)); });
    st.http.Post("/api/show", [&st](const httplib::Request& req, httplib::Response& res) { show(st, req, res); });
    // GET /api/memory[?history=N][&since=T_MS]: the last N one-second samples (default and most: one hour), or
    // only those after T_MS. Bad values are 400.
    st.http.Get("/api/memory", [&st](const httplib::Request& req, httplib::Response& res) {
        size_t max_history = st.history.capacity();
        int64_t since_ms = 0;
        auto number = [&](const char* key, int64_t lo, int64_t hi, int64_t& out) {
            if (!req.has_param(key)) return true;
            std::string v = req.get_param_value(key);
            char* end = nullptr;
            long long x = std::strtoll(v.c_str(), &end, 10);
            if (v.empty() || *end || x < lo || x > hi) {
                reply_error(res, 400,
                            string_printf("query parameter %s must be a number from %lld to %lld", key, (long long)lo,
                                          (long long)hi));
                return false;
            }
            out = x;
            return true;
        };
        int64_t h = int64_t(max_history);
        if (!number("history", 0, int64_t(st.history.capacity()), h) || !number("since", 0, INT64_MAX, since_ms))
            return;
        reply_json(res, memory_json(st, size_t(h), since_ms));
    });
    st.http.Get("/metrics", [&st](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics_text(st), "text/plain; version=0.0.4; charset=utf-8");
    });
    st.http.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    st.http.Get("/ui", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(std::string(dashboard_html, dashboard_html_size), "text/html; charset=utf-8");
    });
    // Operator endpoints: load (optionally pinning) and unload, whatever the keep-alive policy.
    st.http.Post("/api/load", [&st](const httplib::Request& req, httplib::Response& res) {
        json body;
        if (!parse_body(req, res, body)) return;
        Result<StoreEntry> e = resolve_model(st, body);
        if (!e.is_ok()) return reply_error(res, http_status(e.status()), e.status().message());
        Result<std::optional<int64_t>> ka = parse_keep_alive(body);
        if (!ka.is_ok()) return reply_error(res, 400, ka.status().message());
        if (body.contains("pin")) {
            if (!body["pin"].is_boolean()) return reply_error(res, 400, "pin must be true or false");
            st.sched->set_pinned(e->name, body["pin"].get<bool>());
        }
        RequestOptions ro;
        if (Status s = body.contains("options") ? apply_options(body["options"], ro) : Status::ok(); !s.is_ok())
            return reply_error(res, 400, s.message());
        Result<Lease> lease = acquire_model(st, *e, ro, *ka);
        if (!lease.is_ok()) return reply_error(res, http_status(lease.status()), lease.status().message());
        int64_t load_ns = lease->load_ns();
        lease->release();
        reply_json(res, {{"model", e->name}, {"status", "loaded"}, {"load_duration", load_ns}});
    });
    st.http.Post("/api/unload", [&st](const httplib::Request& req, httplib::Response& res) {
        json body;
        if (!parse_body(req, res, body)) return;
        Result<StoreEntry> e = resolve_model(st, body);
        std::string name = e.is_ok()                                   ? e->name
                           : body.value("model", json("")).is_string() ? body.value("model", "")
                                                                       : "";
        if (name.empty()) return reply_error(res, 400, "model is required");
        bool was = st.sched->unload(name, /*admin=*/true);
        if (!was) return reply_error(res, 404, "model '" + name + "' is not loaded");
        reply_json(res, {{"model", name}, {"status", "unloaded"}});
    });
}

}  // namespace berth
