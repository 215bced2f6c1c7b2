// berth cp SOURCE DESTINATION: copy a model within berth's store (importing it when it lives elsewhere).
#include <cstdio>

#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

int cmd_cp(const std::vector<std::string>& argv) {
    Args args(argv);
    if (args.positional().size() != 2) return fail("usage: berth cp SOURCE DESTINATION");
    ApiClient api;
    Result<ApiReply> r =
        api.post("/api/copy", json{{"source", args.positional()[0]}, {"destination", args.positional()[1]}});
    if (!r.is_ok()) return fail("%s", r.status().message().c_str());
    if (r->status != 200) return reply_error(*r);
    printf("copied '%s' to '%s'\n", args.positional()[0].c_str(), args.positional()[1].c_str());
    return 0;
}

}  // namespace

BERTH_COMMAND(cp, "cp", "berth cp SOURCE DESTINATION", "Copy a model.", cmd_cp);

}  // namespace berth::cli
