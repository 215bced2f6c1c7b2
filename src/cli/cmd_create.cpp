// berth create NAME -f Modelfile: parses the Modelfile here (FROM, PARAMETER, SYSTEM, TEMPLATE, MESSAGE,
// LICENSE), uploads a local GGUF named by FROM as a blob when the server lacks it, then calls /api/create.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/client.h"
#include "cli/command.h"
#include "server/server.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;

struct Modelfile {
    std::string from, system, template_text, license;
    bool has_system = false, has_template = false, has_license = false;
    json params = json::object();
    json messages = json::array();
};

// Reads one argument: """multi-line""", "quoted" or the rest of the line.
bool read_value(std::istringstream& in, std::string& rest_of_line, std::string& out) {
    size_t i = rest_of_line.find_first_not_of(" \t");
    std::string v = i == std::string::npos ? "" : rest_of_line.substr(i);
    if (v.rfind("\"\"\"", 0) == 0) {
        v = v.substr(3);
        std::string acc;
        for (;;) {
            size_t end = v.find("\"\"\"");
            if (end != std::string::npos) {
                acc += v.substr(0, end);
                break;
            }
            acc += v + "\n";
            if (!std::getline(in, v)) return false;
        }
        out = acc;
        return true;
    }
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    out = v;
    return true;
}

Result<Modelfile> parse_modelfile(const std::string& text) {
    Modelfile mf;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        size_t i = line.find_first_not_of(" \t");
        if (i == std::string::npos || line[i] == '#') continue;
        size_t sp = line.find_first_of(" \t", i);
        std::string cmd = line.substr(i, sp == std::string::npos ? std::string::npos : sp - i);
        for (auto& c : cmd) c = char(std::toupper(static_cast<unsigned char>(c)));
        std::string rest = sp == std::string::npos ? "" : line.substr(sp);
        std::string value;
        if (!read_value(in, rest, value)) return invalid_argument("Modelfile line %d: unterminated \"\"\"", n);
        if (cmd == "FROM") {
            mf.from = value;
        } else if (cmd == "SYSTEM") {
            mf.system = value, mf.has_system = true;
        } else if (cmd == "TEMPLATE") {
            mf.template_text = value, mf.has_template = true;
        } else if (cmd == "LICENSE") {
            mf.license += (mf.license.empty() ? "" : "\n") + value, mf.has_license = true;
        } else if (cmd == "PARAMETER") {
            size_t k = value.find_first_of(" \t");
            if (k == std::string::npos)
                return invalid_argument("Modelfile line %d: PARAMETER needs a name and a value", n);
            std::string key = value.substr(0, k);
            std::string v = value.substr(value.find_first_not_of(" \t", k));
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            if (key == "stop") {
                if (!mf.params.contains("stop")) mf.params["stop"] = json::array();
                mf.params["stop"].push_back(v);
            } else if (v == "true" || v == "false") {
                mf.params[key] = v == "true";
            } else {
                char* end = nullptr;
                double d = std::strtod(v.c_str(), &end);
                if (end && *end == '\0' && end != v.c_str()) {
                    if (v.find_first_of(".eE") == std::string::npos)
                        mf.params[key] = int64_t(d);
                    else
                        mf.params[key] = d;
                } else {
                    return invalid_argument("Modelfile line %d: PARAMETER %s needs a number", n, key.c_str());
                }
            }
        } else if (cmd == "MESSAGE") {
            size_t k = value.find_first_of(" \t");
            if (k == std::string::npos) return invalid_argument("Modelfile line %d: MESSAGE needs a role and text", n);
            std::string role = value.substr(0, k), content = value.substr(value.find_first_not_of(" \t", k));
            if (content.size() >= 2 && content.front() == '"' && content.back() == '"')
                content = content.substr(1, content.size() - 2);
            if (role != "system" && role != "user" && role != "assistant")
                return invalid_argument("Modelfile line %d: MESSAGE role must be system, user or assistant", n);
            mf.messages.push_back({{"role", role}, {"content", content}});
        } else if (cmd == "ADAPTER" || cmd == "DRAFT" || cmd == "QUANTIZE") {
            return unsupported("Modelfile line %d: %s is not supported yet", n, cmd.c_str());
        } else {
            return invalid_argument("Modelfile line %d: unknown command %s", n, cmd.c_str());
        }
    }
    if (mf.from.empty()) return invalid_argument("the Modelfile has no FROM line");
    return mf;
}

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
