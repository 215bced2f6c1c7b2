// berth create NAME -f Modelfile: parses the Modelfile here (modelfile.cpp), uploads a local GGUF named by FROM
// as a blob when the server lacks it, then calls /api/create.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/client.h"
#include "cli/command.h"
#include "cli/modelfile.h"
#include "server/server.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;

int cmd_create(const std::vector<std::string>& argv) {
    std::string name, file = "Modelfile";
    for (size_t i = 0; i < argv.size(); ++i) {
        if ((argv[i] == "-f" || argv[i] == "--file") && i + 1 < argv.size())
            file = argv[++i];
        else if (name.empty() && argv[i][0] != '-')
            name = argv[i];
        else
            return fail("usage: berth create NAME [-f Modelfile]");
    }
    if (name.empty()) return fail("usage: berth create NAME [-f Modelfile]");
    std::ifstream in(file);
    if (!in) return fail("cannot read %s", file.c_str());
    std::stringstream ss;
    ss << in.rdbuf();
    Result<Modelfile> mf = parse_modelfile(ss.str());
    if (!mf.is_ok()) return fail("%s", mf.status().message().c_str());
    ApiClient api;
    json body = {{"model", name}, {"stream", false}};
    // FROM a file (relative to the Modelfile): upload it as a blob unless the server has it.
    fs::path from = mf->from;
    if (from.is_relative()) from = fs::path(file).parent_path() / from;
    std::error_code ec;
    const bool names_a_file = mf->from.find('/') != std::string::npos ||
                              (mf->from.size() > 5 && mf->from.substr(mf->from.size() - 5) == ".gguf");
    if (names_a_file && fs::is_regular_file(from, ec)) {
        Result<std::string> hex = sha256_file(from);
        if (!hex.is_ok()) return fail("%s", hex.status().message().c_str());
        std::string digest = "sha256:" + *hex;
        Result<ApiReply> h = api.head("/api/blobs/" + digest);
        if (!h.is_ok()) return fail("%s", h.status().message().c_str());
        if (h->status != 200) {
            fprintf(stderr, "uploading %s\n", from.c_str());
            Result<ApiReply> u = api.upload("/api/blobs/" + digest, from);
            if (!u.is_ok()) return fail("%s", u.status().message().c_str());
            if (u->status != 200 && u->status != 201) return reply_error(*u);
        }
        body["files"] = {{from.filename().string(), digest}};
    } else {
        body["from"] = mf->from;
    }
    if (mf->has_system) body["system"] = mf->system;
    if (mf->has_template) body["template"] = mf->template_text;
    if (mf->has_license) body["license"] = mf->license;
    if (!mf->params.empty()) body["parameters"] = mf->params;
    if (!mf->messages.empty()) body["messages"] = mf->messages;
    Result<ApiReply> r = api.post("/api/create", body);
    if (!r.is_ok()) return fail("%s", r.status().message().c_str());
    if (r->status != 200) return reply_error(*r);
    printf("success\n");
    return 0;
}

}  // namespace

BERTH_COMMAND(create, "create", "berth create NAME [-f Modelfile]", "Create a model from a Modelfile.", cmd_create);

}  // namespace berth::cli
