// berth soak's workload files and request mix: parsing only, so the tests can cover it without a server.
#include <toml++/toml.h>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "cli/soak.h"

namespace berth::soak {

Result<std::vector<std::string>> workload_file_args(const std::string& path) {
    toml::table table;
    try {
        table = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        std::ostringstream where;
        where << e.source().begin;
        return invalid_argument("workload %s: %s (at %s)", path.c_str(), std::string(e.description()).c_str(),
                                where.str().c_str());
    }
    auto scalar = [](const toml::node& n) -> std::optional<std::string> {
        if (auto s = n.value<std::string>()) return *s;
        if (n.is_integer()) return std::to_string(*n.value<int64_t>());
        if (auto d = n.value<double>()) {
            std::ostringstream o;
            o << *d;
            return o.str();
        }
        return std::nullopt;
    };
    std::vector<std::string> args;
    for (const auto& [key, node] : table) {
        const std::string name(key.str());
        if (auto b = node.value<bool>(); b && node.is_boolean()) {
            if (*b) args.push_back("--" + name);
            continue;
        }
        std::string value;
        if (const toml::array* arr = node.as_array()) {
            for (const auto& item : *arr) {
                auto v = scalar(item);
                if (!v)
                    return invalid_argument("workload %s: %s: array items must be strings or numbers", path.c_str(),
                                            name.c_str());
                value += (value.empty() ? "" : ",") + *v;
            }
        } else if (auto v = scalar(node)) {
            value = *v;
        } else {
            return invalid_argument("workload %s: %s must be a string, a number, a boolean or an array", path.c_str(),
                                    name.c_str());
        }
        args.push_back("--" + name);
        args.push_back(value);
    }
    return args;
}

Result<Mix> parse_request_mix(const std::string& text) {
    Mix mix;
    mix.generate = 0;
    std::pair<const char*, double*> kinds[] = {
        {"generate", &mix.generate}, {"chat", &mix.chat},     {"embed", &mix.embed},
        {"tags", &mix.tags},         {"ps", &mix.ps},         {"show", &mix.show},
        {"load", &mix.load},         {"unload", &mix.unload}, {"disconnect", &mix.disconnect}};
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        size_t eq = item.find('=');
        std::string kind = item.substr(0, eq);
        char* end = nullptr;
        double w = eq == std::string::npos ? 1.0 : strtod(item.c_str() + eq + 1, &end);
        if (eq != std::string::npos && (end == item.c_str() + eq + 1 || *end != 0 || !std::isfinite(w) || w < 0))
            return invalid_argument("--mix: bad weight in \"%s\" (expected KIND=WEIGHT, WEIGHT >= 0)", item.c_str());
        double* weight = nullptr;
        for (auto& [name, ptr] : kinds) {
            if (kind == name) weight = ptr;
        }
        if (!weight)
            return invalid_argument(
                "--mix: unknown request kind \"%s\" (expected generate, chat, embed, tags, ps, show, load, unload or "
                "disconnect)",
                kind.c_str());
        *weight += w;
    }
    if (mix.total() <= 0) return invalid_argument("--mix: the weights add up to 0");
    return mix;
}

}  // namespace berth::soak
