#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include "base/base.h"
#include "cli/command.h"

namespace berth::cli {

static std::map<std::string, Command>& registry() {
    static std::map<std::string, Command> r;
    return r;
}

bool register_command(const Command& c) {
    registry()[c.name] = c;
    return true;
}

const std::map<std::string, Command>& commands() { return registry(); }

int fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "berth: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

Args::Args(const std::vector<std::string>& argv, const std::vector<std::string>& flags) {
    for (size_t i = 0; i < argv.size(); i++) {
        const std::string& a = argv[i];
        if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
            std::string key = a.substr(2);
            size_t eq = key.find('=');
            if (eq != std::string::npos) {
                opts_[key.substr(0, eq)] = key.substr(eq + 1);
                continue;
            }
            bool is_flag = false;
            for (auto& f : flags) is_flag |= f == key;
            if (!is_flag && i + 1 < argv.size())
                opts_[key] = argv[++i];
            else
                opts_[key] = "";
        } else {
            positional_.push_back(a);
        }
    }
}

std::optional<std::string> Args::get(const std::string& key) const {
    auto it = opts_.find(key);
    if (it == opts_.end()) return std::nullopt;
    return it->second;
}

std::string Args::get_or(const std::string& key, const std::string& def) const { return get(key).value_or(def); }

long long Args::get_int(const std::string& key, long long def) const {
    auto v = get(key);
    if (!v) return def;
    char* end = nullptr;
    long long r = strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end) {
        fail("--%s expects an integer, got \"%s\"", key.c_str(), v->c_str());
        exit(2);
    }
    return r;
}

double Args::get_double(const std::string& key, double def) const {
    auto v = get(key);
    if (!v) return def;
    char* end = nullptr;
    double r = strtod(v->c_str(), &end);
    if (v->empty() || *end) {
        fail("--%s expects a number, got \"%s\"", key.c_str(), v->c_str());
        exit(2);
    }
    return r;
}

std::vector<std::string> Args::unknown(const std::vector<std::string>& known) const {
    std::vector<std::string> out;
    for (auto& [k, _] : opts_) {
        bool ok = false;
        for (auto& n : known) ok |= n == k;
        if (!ok) out.push_back(k);
    }
    return out;
}

static void print_usage() {
    printf("berth %s — a local LLM server with flat memory (Ollama- and OpenAI-compatible)\n\nUsage:\n", BERTH_VERSION);
    for (auto& [name, c] : commands())
        if (name.rfind("debug ", 0) != 0) printf("  %-60s %s\n", c.usage, c.help);
    printf("\nDeveloper commands:\n");
    for (auto& [name, c] : commands())
        if (name.rfind("debug ", 0) == 0) printf("  %-60s %s\n", c.usage, c.help);
}

}  // namespace berth::cli

namespace {

int run_command(const std::vector<std::string>& args) {
    using namespace berth::cli;
    // Longest match: two words first ("debug logits"), then one. `berth COMMAND --help` prints its usage.
    auto run = [&](const Command& c, size_t skip) {
        std::vector<std::string> rest(args.begin() + long(skip), args.end());
        for (auto& a : rest) {
            if (a == "--help" || a == "-h") {
                printf("%s\n\n%s\nSee berth(1) for the options and environment variables.\n", c.usage, c.help);
                return 0;
            }
        }
        return c.fn(rest);
    };
    if (args.size() >= 2) {
        auto it = commands().find(args[0] + " " + args[1]);
        if (it != commands().end()) return run(it->second, 2);
    }
    auto it = commands().find(args[0]);
    if (it != commands().end()) return run(it->second, 1);
    fail("unknown command \"%s\"; run `berth --help` for the list", args[0].c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace berth::cli;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
        print_usage();
        return args.empty() ? 1 : 0;
    }
    if (args[0] == "--version" || args[0] == "-v" || args[0] == "version") {
        printf("berth version %s\n", BERTH_VERSION);
        return 0;
    }
    if (getenv("BERTH_DEBUG")) berth::set_log_level(berth::LogLevel::debug);
    // Commands report failures as messages; an exception that still escapes one (an allocation a corrupt file
    // made impossible, a bug) ends the command with a message and exit status 1 instead of abort().
    try {
        return run_command(args);
    } catch (const std::bad_alloc&) {
        return fail("out of memory (a model file may declare impossible sizes)");
    } catch (const std::exception& e) { return fail("%s", e.what()); }
}
