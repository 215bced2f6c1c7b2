// berth stop MODEL: unload a model now (a generate request with keep_alive 0, as ollama stop does).
#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

int cmd_stop(const std::vector<std::string>& argv) {
    Args args(argv);
    if (args.positional().size() != 1) return fail("usage: berth stop MODEL");
    ApiClient api;
    Result<ApiReply> r =
        api.post("/api/generate", json{{"model", args.positional()[0]}, {"prompt", ""}, {"keep_alive", 0}});
    if (!r.is_ok()) return fail("%s", r.status().message().c_str());
    if (r->status != 200) return reply_error(*r);
    return 0;
}

}  // namespace

BERTH_COMMAND(stop, "stop", "berth stop MODEL", "Unload a running model.", cmd_stop);

}  // namespace berth::cli
