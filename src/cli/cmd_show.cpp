// berth show MODEL [--modelfile | --parameters | --template | --system | --license]: model information.
#include <cstdio>

#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

int cmd_show(const std::vector<std::string>& argv) {
    Args args(argv, {"modelfile", "parameters", "template", "system", "license", "verbose", "json"});
    auto unknown = args.unknown({"modelfile", "parameters", "template", "system", "license", "verbose", "json"});
    if (!unknown.empty()) return fail("unknown option --%s", unknown[0].c_str());
    if (args.positional().size() != 1)
        return fail("usage: berth show MODEL [--modelfile|--parameters|--template|--system|--license]");
    ApiClient api;
    Result<ApiReply> r = api.post("/api/show", json{{"model", args.positional()[0]}, {"verbose", args.has("verbose")}});
    if (!r.is_ok()) return fail("%s", r.status().message().c_str());
    if (r->status != 200) return reply_error(*r);
    if (args.has("json")) return print_json(*r);
    const json& j = r->body;
    for (const char* k : {"modelfile", "parameters", "template", "system", "license"}) {
        if (args.has(k)) {
            printf("%s\n", j.value(k, "").c_str());
            return 0;
        }
    }
    const json& d = j.value("details", json::object());
    const json& info = j.value("model_info", json::object());
    std::string arch = d.value("family", "");
    printf("  Model\n");
    printf("    %-20s %s\n", "architecture", arch.c_str());
    printf("    %-20s %s\n", "parameters", d.value("parameter_size", "").c_str());
    auto num = [&](const std::string& key) -> std::string {
        auto it = info.find(key);
        return it != info.end() && it->is_number() ? it->dump() : "";
    };
    printf("    %-20s %s\n", "context length", num(arch + ".context_length").c_str());
    printf("    %-20s %s\n", "embedding length", num(arch + ".embedding_length").c_str());
    printf("    %-20s %s\n\n", "quantization", d.value("quantization_level", "").c_str());
    printf("  Capabilities\n");
    for (auto& c : j.value("capabilities", json::array())) printf("    %s\n", c.get<std::string>().c_str());
    if (!j.value("parameters", "").empty()) printf("\n  Parameters\n    %s\n", j.value("parameters", "").c_str());
    if (!j.value("system", "").empty()) printf("\n  System\n    %s\n", j.value("system", "").c_str());
    if (!j.value("license", "").empty()) printf("\n  License\n    %s\n", j.value("license", "").substr(0, 200).c_str());
    return 0;
}

}  // namespace

BERTH_COMMAND(show, "show", "berth show MODEL [--modelfile|--parameters|--template|--system|--license|--json]",
              "Show information about a model.", cmd_show);

}  // namespace berth::cli
