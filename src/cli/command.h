// cli: argument parsing and wiring of subcommands. Each command lives in its own cmd_*.cpp and registers
// itself with BERTH_COMMAND; the dispatcher matches the longest registered name ("debug logits" before
// "debug").
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::cli {

// Parsed "--key value", "--flag" and positional arguments. Options given as --key=value work too.
class Args {
  public:
    // `flags` lists option names that take no value (e.g. {"json", "raw"}).
    Args(const std::vector<std::string>& argv, const std::vector<std::string>& flags = {});
    const std::vector<std::string>& positional() const { return positional_; }
    bool has(const std::string& key) const { return opts_.count(key) > 0; }
    std::optional<std::string> get(const std::string& key) const;
    std::string get_or(const std::string& key, const std::string& def) const;
    long long get_int(const std::string& key, long long def) const;  // exits with a message on bad numbers
    double get_double(const std::string& key, double def) const;
    // Options that no get()/has() asked for; commands call this last to reject typos.
    std::vector<std::string> unknown(const std::vector<std::string>& known) const;

  private:
    std::vector<std::string> positional_;
    std::map<std::string, std::string> opts_;
};

using CommandFn = int (*)(const std::vector<std::string>& args);  // args after the command name

struct Command {
    const char* name;   // "run", "debug logits"
    const char* usage;  // one line: "berth run MODEL [PROMPT]"
    const char* help;   // one sentence
    CommandFn fn;
};

bool register_command(const Command& c);
const std::map<std::string, Command>& commands();

// Prints "berth: <msg>" to stderr and returns 1; for `return fail("...")` in commands.
int fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace berth::cli

#define BERTH_COMMAND(ident, ...) \
    static const bool ident##_registered = ::berth::cli::register_command(::berth::cli::Command{__VA_ARGS__})
