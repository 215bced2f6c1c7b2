// berth list: the models the server can run (its store, Ollama's store read-only, --models-dir files).
#include <cstdio>

#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

std::string ago(const std::string& rfc3339) {
    // "2026-11-23T11:04:34.62Z" → a short relative time; on any parse problem the date itself.
    struct tm t = {};
    if (!strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &t)) return rfc3339;
    time_t then = timegm(&t);
    size_t tz = rfc3339.find_first_of("+-Z", 19);
    if (tz != std::string::npos && rfc3339[tz] != 'Z') {
        int hh = 0, mm = 0;
        sscanf(rfc3339.c_str() + tz + 1, "%d:%d", &hh, &mm);
        then -= (rfc3339[tz] == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
    }
    long s = long(time(nullptr) - then);
    if (s < 0) s = 0;
    if (s < 60) return "Less than a minute ago";
    if (s < 3600) return std::to_string(s / 60) + " minutes ago";
    if (s < 86400) return std::to_string(s / 3600) + " hours ago";
    return std::to_string(s / 86400) + " days ago";
}

int cmd_list(const std::vector<std::string>& argv) {
    ApiClient api;
    Result<ApiReply> r = api.get("/api/tags");
    if (!r.is_ok()) return fail("%s", r.status().message().c_str());
    if (r->status != 200) return reply_error(*r);
    printf("%-40s %-14s %-10s %s\n", "NAME", "ID", "SIZE", "MODIFIED");
    for (auto& m : r->body.value("models", json::array())) {
        std::string digest = m.value("digest", "");
        printf("%-40s %-14s %-10s %s\n", m.value("name", "").c_str(), digest.substr(0, 12).c_str(),
               human_size(m.value("size", int64_t(0))).c_str(), ago(m.value("modified_at", "")).c_str());
    }
    return 0;
}

}  // namespace

BERTH_COMMAND(list, "list", "berth list", "List the models the server can run.", cmd_list);
BERTH_COMMAND(ls, "ls", "berth ls", "Same as list.", cmd_list);

}  // namespace berth::cli
