// berth rm MODEL...: delete models from berth's store (never from Ollama's).
#include <cstdio>

#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

int cmd_rm(const std::vector<std::string>& argv) {
    Args args(argv);
    if (args.positional().empty()) return fail("usage: berth rm MODEL [MODEL...]");
    ApiClient api;
    for (auto& m : args.positional()) {
        Result<ApiReply> r = api.del("/api/delete", json{{"model", m}});
        if (!r.is_ok()) return fail("%s", r.status().message().c_str());
        if (r->status != 200) return reply_error(*r);
        printf("deleted '%s'\n", m.c_str());
    }
    return 0;
}

}  // namespace

BERTH_COMMAND(rm, "rm", "berth rm MODEL [MODEL...]", "Remove models from berth's store.", cmd_rm);

}  // namespace berth::cli
