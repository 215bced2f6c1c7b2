// berth ps: loaded models with their memory, context and expiry (and berth's pin / expiry reason).
#include <cstdio>
#include <ctime>

#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

std::string until(const std::string& rfc3339) {
    std::optional<time_t> then = parse_rfc3339(rfc3339);
    if (!then) return rfc3339;
    long s = long(*then - time(nullptr));
    if (s > 20L * 365 * 86400) return "Forever";
    if (s < 0) return "Stopping...";
    if (s < 60) return std::to_string(s) + " seconds from now";
    if (s < 3600) return std::to_string(s / 60) + " minutes from now";
    if (s < 86400) return std::to_string(s / 3600) + " hours from now";
    return std::to_string(s / 86400) + " days from now";
}

int cmd_ps(const std::vector<std::string>& argv) {
    Args args(argv, {"json"});
    auto unknown = args.unknown({"json"});
    if (!unknown.empty()) return fail("unknown option --%s (usage: berth ps [--json])", unknown[0].c_str());
    ApiClient api;
    Result<ApiReply> r = api.get("/api/ps");
    if (!r.is_ok()) return fail("%s", r.status().message().c_str());
    if (r->status != 200) return reply_error(*r);
    if (args.has("json")) return print_json(*r);
    // Ollama's columns, then berth's: the memory by kind (from the ledger; VRAM is the device's share), the layers
    // on the device and why the model stays.
    printf("%-28s %-13s %-9s %-17s %-8s %-9s %-9s %-9s %-9s %-9s %-7s %-8s %-9s %-20s %s\n", "NAME", "ID", "SIZE",
           "PROCESSOR", "CONTEXT", "WEIGHTS", "KV", "SCRATCH", "CACHE", "VRAM", "LAYERS", "RESIDENT", "STATE", "UNTIL",
           "WHY");
    for (auto& m : r->body.value("models", json::array())) {
        std::string digest = m.value("digest", "");
        auto size = [&](const char* k) { return human_size(m.value(k, int64_t(0))); };
        std::string layers = m.contains("gpu_layers")
                                 ? std::to_string(m.value("gpu_layers", 0)) + "/" + std::to_string(m.value("layers", 0))
                                 : "-";
        printf("%-28s %-13s %-9s %-17s %-8d %-9s %-9s %-9s %-9s %-9s %-7s %-8s %-9s %-20s %s\n",
               m.value("name", "").c_str(), digest.substr(0, 12).c_str(), size("size").c_str(),
               m.value("processor", "100% CPU").c_str(), m.value("context_length", 0), size("size_weights").c_str(),
               size("size_kv").c_str(), size("size_scratch").c_str(), size("size_cache").c_str(),
               size("size_vram").c_str(), layers.c_str(), size("resident_bytes").c_str(), m.value("state", "").c_str(),
               m.value("pinned", false) ? "Forever (pinned)" : until(m.value("expires_at", "")).c_str(),
               m.value("expiry_reason", "").c_str());
    }
    return 0;
}

}  // namespace

BERTH_COMMAND(ps, "ps", "berth ps [--json]", "List loaded models with their memory by kind and expiry.", cmd_ps);

}  // namespace berth::cli
