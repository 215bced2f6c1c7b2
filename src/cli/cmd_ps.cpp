// berth ps: loaded models with their memory, context and expiry (and berth's pin / expiry reason).
#include <cstdio>
#include <ctime>

#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

std::string until(const std::string& rfc3339) {
    struct tm t = {};
    if (!strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &t)) return rfc3339;
    time_t then = timegm(&t);
    size_t tz = rfc3339.find_first_of("+-Z", 19);
    if (tz != std::string::npos && rfc3339[tz] != 'Z') {
        int hh = 0, mm = 0;
        sscanf(rfc3339.c_str() + tz + 1, "%d:%d", &hh, &mm);
        then -= (rfc3339[tz] == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
    }
    long s = long(then - time(nullptr));
    if (s > 20L * 365 * 86400) return "Forever";
    if (s < 0) return "Stopping...";
    if (s < 60) return std::to_string(s) + " seconds from now";
    if (s < 3600) return std::to_string(s / 60) + " minutes from now";
    if (s < 86400) return std::to_string(s / 3600) + " hours from now";
    return std::to_string(s / 86400) + " days from now";
}

int cmd_ps(const std::vector<std::string>&) {
    ApiClient api;
    Result<ApiReply> r = api.get("/api/ps");
    if (!r.is_ok()) return fail("%s", r.status().message().c_str());
    if (r->status != 200) return reply_error(*r);
    printf("%-32s %-14s %-10s %-9s %-8s %-22s %s\n", "NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL", "WHY");
    for (auto& m : r->body.value("models", json::array())) {
        std::string digest = m.value("digest", "");
        std::string why = m.value("expiry_reason", "");
        if (m.value("state", "") == "busy") why += ", busy";
        printf("%-32s %-14s %-10s %-9s %-8d %-22s %s\n", m.value("name", "").c_str(), digest.substr(0, 12).c_str(),
               human_size(m.value("size", int64_t(0))).c_str(), "100% CPU", m.value("context_length", 0),
               m.value("pinned", false) ? "Forever (pinned)" : until(m.value("expires_at", "")).c_str(), why.c_str());
    }
    return 0;
}

}  // namespace

BERTH_COMMAND(ps, "ps", "berth ps", "List loaded models.", cmd_ps);

}  // namespace berth::cli
