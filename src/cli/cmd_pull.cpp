// berth pull MODEL: pull a model from an Ollama-style registry into berth's store (done by the server).
#include <cstdio>

#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

int cmd_pull(const std::vector<std::string>& argv) {
    Args args(argv, {"insecure"});
    if (args.positional().size() != 1) return fail("usage: berth pull MODEL [--insecure]");
    ApiClient api;
    std::string last;
    Status s = api.stream("/api/pull", json{{"model", args.positional()[0]}, {"insecure", args.has("insecure")}},
                          [&](const json& j) {
                              std::string status = j.value("status", "");
                              int64_t total = j.value("total", int64_t(0)), done = j.value("completed", int64_t(0));
                              if (total > 0) {
                                  fprintf(stderr, "\r%s %3d%% %s/%s   ", status.c_str(), int(100 * done / total),
                                          human_size(done).c_str(), human_size(total).c_str());
                              } else {
                                  fprintf(stderr, "%s%s\n", last.rfind("pulling", 0) == 0 ? "\n" : "", status.c_str());
                              }
                              last = status;
                              return true;
                          });
    if (!s.is_ok()) return fail("%s", s.message().c_str());
    return 0;
}

}  // namespace

BERTH_COMMAND(pull, "pull", "berth pull MODEL [--insecure]", "Pull a model from a registry.", cmd_pull);

}  // namespace berth::cli
