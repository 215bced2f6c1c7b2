// berth list: the models the server can run (its store, Ollama's store read-only, --models-dir files).
#include <cstdio>

#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

std::string ago(const std::string& rfc3339) {
    std::optional<time_t> then = parse_rfc3339(rfc3339);
    if (!then) return rfc3339;
    long s = long(time(nullptr) - *then);
    if (s < 0) s = 0;
    if (s < 60) return "Less than a minute ago";
    if (s < 3600) return std::to_string(s / 60) + " minutes ago";
    if (s < 86400) return std::to_string(s / 3600) + " hours ago";
    return std::to_string(s / 86400) + " days ago";
}

int cmd_list(const std::vector<std::string>& argv) {
    Args args(argv, {"json"});
    auto unknown = args.unknown({"json"});
    if (!unknown.empty()) return fail("unknown option --%s (usage: berth list [--json])", unknown[0].c_str());
    ApiClient api;
    Result<ApiReply> r = api.get("/api/tags");
    if (!r.is_ok()) return fail("%s", r.status().message().c_str());
    if (r->status != 200) return reply_error(*r);
    if (args.has("json")) return print_json(*r);
    printf("%-40s %-14s %-10s %s\n", "NAME", "ID", "SIZE", "MODIFIED");
    for (auto& m : r->body.value("models", json::array())) {
        std::string digest = m.value("digest", "");
        printf("%-40s %-14s %-10s %s\n", m.value("name", "").c_str(), digest.substr(0, 12).c_str(),
               human_size(m.value("size", int64_t(0))).c_str(), ago(m.value("modified_at", "")).c_str());
    }
    return 0;
}

}  // namespace

BERTH_COMMAND(list, "list", "berth list [--json]", "List the models the server can run.", cmd_list);
BERTH_COMMAND(ls, "ls", "berth ls [--json]", "Same as list.", cmd_list);

}  // namespace berth::cli
