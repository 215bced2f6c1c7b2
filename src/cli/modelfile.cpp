// Modelfile parsing (see modelfile.h).
#include "cli/modelfile.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace berth::cli {
namespace {

using json = nlohmann::json;

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

// Splits "<word> <rest>" at the first blank; false when there is no word or no rest (blanks only).
bool split_word(const std::string& value, std::string& word, std::string& rest) {
    size_t k = value.find_first_of(" \t");
    if (k == std::string::npos || k == 0) return false;
    size_t r = value.find_first_not_of(" \t", k);
    if (r == std::string::npos) return false;
    word = value.substr(0, k);
    rest = value.substr(r);
    return true;
}

std::string unquote(std::string v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
}

}  // namespace

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
            std::string key, v;
            if (!split_word(value, key, v))
                return invalid_argument("Modelfile line %d: PARAMETER needs a name and a value", n);
            v = unquote(v);
            if (key == "stop") {
                if (!mf.params.contains("stop")) mf.params["stop"] = json::array();
                mf.params["stop"].push_back(v);
            } else if (v == "true" || v == "false") {
                mf.params[key] = v == "true";
            } else {
                char* end = nullptr;
                double d = std::strtod(v.c_str(), &end);
                if (!end || *end != '\0' || end == v.c_str() || !std::isfinite(d))
                    return invalid_argument("Modelfile line %d: PARAMETER %s needs a number", n, key.c_str());
                // Integers stay integers (within int64; larger ones keep their value as a float).
                if (v.find_first_of(".eE") == std::string::npos && std::fabs(d) < 9.2e18)
                    mf.params[key] = int64_t(d);
                else
                    mf.params[key] = d;
            }
        } else if (cmd == "MESSAGE") {
            std::string role, content;
            if (!split_word(value, role, content))
                return invalid_argument("Modelfile line %d: MESSAGE needs a role and text", n);
            content = unquote(content);
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

}  // namespace berth::cli
