// berth serve: the HTTP server (Ollama and OpenAI APIs) on BERTH_HOST (default 127.0.0.1:11434).
#include <csignal>
#include <cstdlib>

#include "base/base.h"
#include "cli/command.h"
#include "memory/memory.h"
#include "server/server.h"

namespace berth::cli {
namespace {

Server* g_server = nullptr;

// BERTH_DEBUG / OLLAMA_DEBUG as Ollama reads it: a boolean ("1", "true", "t") or a level (1 debug, 2 trace: berth has
// no finer level than debug); "0", "false" and anything else keep info.
bool debug_requested(const std::string& v) {
    if (v == "true" || v == "TRUE" || v == "True" || v == "t" || v == "T") return true;
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    return !v.empty() && *end == '\0' && n > 0;
}

void on_signal(int) {
    if (g_server) g_server->stop();
}

int cmd_serve(const std::vector<std::string>& argv) {
    exec_with_malloc_tunables();
    Args args(argv);
    auto unknown = args.unknown({"host", "models-dir", "models", "config"});
    if (!unknown.empty())
        return fail("unknown option --%s (usage: berth serve [--host H:P] [--models-dir DIR])", unknown[0].c_str());
    if (auto cfg = args.get("config")) setenv("BERTH_CONFIG", cfg->c_str(), 1);
    Result<ServerOptions> opts = server_options_from_env();
    if (!opts.is_ok()) return fail("%s", opts.status().message().c_str());
    if (auto h = args.get("host")) {
        Status s = parse_host_port(*h, opts->host, opts->port);
        if (!s.is_ok()) return fail("%s", s.message().c_str());
    }
    if (auto m = args.get("models")) opts->store_dir = *m;
    for (size_t i = 0; i < argv.size(); ++i) {
        if (argv[i] == "--models-dir" && i + 1 < argv.size())
            opts->models_dirs.push_back(argv[i + 1]);
        else if (argv[i].rfind("--models-dir=", 0) == 0)
            opts->models_dirs.push_back(argv[i].substr(13));
    }
    if (debug_requested(env_or("BERTH_DEBUG", "OLLAMA_DEBUG", ""))) set_log_level(LogLevel::debug);
    configure_process_allocator();
    Server server(std::move(opts).value());
    Status s = server.bind();
    if (!s.is_ok()) return fail("%s", s.message().c_str());
    g_server = &server;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    // A file-size limit (RLIMIT_FSIZE) makes the write fail with EFBIG, answered as an error, instead of killing the
    // server in the middle of a pull.
    std::signal(SIGXFSZ, SIG_IGN);
    s = server.run();
    g_server = nullptr;
    if (!s.is_ok()) return fail("%s", s.message().c_str());
    return 0;
}

}  // namespace

BERTH_COMMAND(serve, "serve", "berth serve [--host HOST:PORT] [--models-dir DIR] [--config FILE]",
              "Run the server (Ollama and OpenAI APIs).", cmd_serve);

}  // namespace berth::cli
