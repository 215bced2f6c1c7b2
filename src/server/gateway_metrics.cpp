// The model-server metrics of the Gateway API Inference Extension: its endpoint picker (EPP) scrapes /metrics of
// every server in an InferencePool and routes each request by queue depth, running requests, KV-cache use and the
// models (LoRA adapters, in its protocol) a server holds. The protocol fixes types and meaning, not names; the names
// here are those of the picker's default ("vllm") engine configuration under a configurable prefix
// (BERTH_GATEWAY_METRICS_PREFIX), so that a picker with its defaults reads berth unchanged.
#include <algorithm>

#include "server/server_internal.h"

namespace berth {

namespace {

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '\\' || c == '"')
            o += '\\', o += c;
        else if (c == '\n')
            o += "\\n";
        else
            o += c;
    }
    return o;
}

std::string joined(const std::vector<std::string>& names) {
    std::string o;
    for (auto& n : names) o += (o.empty() ? "" : ",") + n;
    return o;
}

}  // namespace

std::string gateway_metrics_text(Server::State& st) {
    const std::string& p = st.opt.gateway_metrics_prefix;
    if (p.empty()) return "";
    std::vector<ResidentInfo> models = st.sched->list();
    std::map<std::string, int> waiting = st.sched->waiting();
    int64_t n_waiting = 0, n_running = 0, kv_positions = 0, kv_capacity = 0;
    for (auto& [name, n] : waiting) n_waiting += n;
    std::vector<std::string> running_models, waiting_models;
    for (auto& m : models) {
        if (m.state == "unloading") continue;
        n_running += m.running;
        kv_positions += m.kv_positions;
        kv_capacity += m.kv_capacity;
        if (m.state != "loading") running_models.push_back(m.name);
    }
    for (auto& [name, n] : waiting) {
        if (std::find(running_models.begin(), running_models.end(), name) == running_models.end())
            waiting_models.push_back(name);
    }
    // One series each, without labels: the picker reads the first series of a family, so a per-model breakdown
    // here would hide every model but one (berth_requests_waiting{model} etc. carry that).
    std::string o;
    auto gauge = [&](const char* name, const char* help, const std::string& value) {
        o += string_printf("# HELP %s%s %s\n# TYPE %s%s gauge\n%s%s %s\n", p.c_str(), name, help, p.c_str(), name,
                           p.c_str(), name, value.c_str());
    };
    gauge("num_requests_waiting",
          "Requests waiting for a model to load, for memory or model-count room, or for a free sequence "
          "(model-server protocol: TotalQueuedRequests).",
          std::to_string(n_waiting));
    gauge("num_requests_running", "Requests generating now (model-server protocol: TotalRunningRequests).",
          std::to_string(n_running));
    gauge("kv_cache_usage_perc",
          "KV-cache positions held by running requests over all loaded models, as a fraction from 0 to 1 "
          "(model-server protocol: KVCacheUtilization).",
          string_printf("%.6f", kv_capacity > 0 ? double(kv_positions) / double(kv_capacity) : 0.0));
    // The protocol's adapter list carries berth's models: running = loaded, waiting = requested and not loaded
    // yet; max_lora = BERTH_MAX_LOADED_MODELS. The value is the time of this reading (Unix seconds), as vLLM's.
    o += string_printf(
        "# HELP %slora_requests_info Models loaded (running_lora_adapters) and waiting to load "
        "(waiting_lora_adapters), and the most that may be loaded at once (max_lora).\n# TYPE %slora_requests_info "
        "gauge\n%slora_requests_info{max_lora=\"%d\",running_lora_adapters=\"%s\",waiting_lora_adapters=\"%s\"} %.3f\n",
        p.c_str(), p.c_str(), p.c_str(), st.sched->config().max_loaded_models,
        label_value(joined(running_models)).c_str(), label_value(joined(waiting_models)).c_str(),
        double(wall_time_ns()) / 1e9);
    return o;
}

}  // namespace berth
