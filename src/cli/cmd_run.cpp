// berth run MODEL [PROMPT]: one answer for a prompt (or piped stdin), or an interactive chat on a terminal
// (/bye, /clear, /set parameter NAME VALUE, /set system TEXT, """ for multi-line input).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/client.h"
#include "cli/command.h"

namespace berth::cli {
namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

struct Session {
    ApiClient api;
    std::string model;
    json options = json::object();
    json messages = json::array();
    std::string system;
    json keep_alive;  // null: server default
    bool raw = false;
    bool verbose = false;
};

// Streams one answer; returns the assistant text. Ctrl-C stops the answer (the server cancels it).
Result<std::string> answer(Session& s, const std::string& prompt) {
    std::string text;
    json final;
    g_interrupted = false;
    auto on_line = [&](const json& j) {
        std::string piece = s.raw                   ? j.value("response", "")
                            : j.contains("message") ? j["message"].value("content", "")
                                                    : "";
        fwrite(piece.data(), 1, piece.size(), stdout);
        fflush(stdout);
        text += piece;
        if (j.value("done", false)) final = j;
        return !g_interrupted.load();
    };
    json body = {{"model", s.model}, {"options", s.options}};
    if (!s.keep_alive.is_null()) body["keep_alive"] = s.keep_alive;
    Status st;
    if (s.raw) {
        body["prompt"] = prompt;
        body["raw"] = true;
        st = s.api.stream("/api/generate", body, on_line);
    } else {
        json msgs = json::array();
        if (!s.system.empty()) msgs.push_back({{"role", "system"}, {"content", s.system}});
        for (auto& m : s.messages) msgs.push_back(m);
        msgs.push_back({{"role", "user"}, {"content", prompt}});
        body["messages"] = msgs;
        st = s.api.stream("/api/chat", body, on_line);
    }
    printf("\n");
    if (!st.is_ok()) return st;
    if (s.verbose && final.is_object()) {
        auto sec = [&](const char* k) { return double(final.value(k, int64_t(0))) / 1e9; };
        fprintf(stderr, "total duration:       %.3fs\nload duration:        %.3fs\n", sec("total_duration"),
                sec("load_duration"));
        fprintf(stderr, "prompt eval count:    %d token(s)\nprompt eval duration: %.3fs\n",
                final.value("prompt_eval_count", 0), sec("prompt_eval_duration"));
        fprintf(stderr, "eval count:           %d token(s)\neval duration:        %.3fs\n",
                final.value("eval_count", 0), sec("eval_duration"));
        if (sec("eval_duration") > 0)
            fprintf(stderr, "eval rate:            %.2f tokens/s\n",
                    final.value("eval_count", 0) / sec("eval_duration"));
    }
    return text;
}

json parse_param_value(const std::string& key, const std::string& v) {
    if (key == "stop") return json::array({v});
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (end && *end == '\0' && end != v.c_str())
        return v.find_first_of(".eE") == std::string::npos ? json(int64_t(d)) : json(d);
    if (v == "true" || v == "false") return v == "true";
    return v;
}

int interactive(Session& s) {
    // Load first so that the first answer does not include the load.
    Result<ApiReply> r = s.api.post("/api/chat", json{{"model", s.model}, {"messages", json::array()}});
    if (!r.is_ok()) return fail("%s", r.status().message().c_str());
    if (r->status != 200) return reply_error(*r);
    std::signal(SIGINT, on_sigint);
    printf("Send a message (/? for help)\n");
    for (;;) {
        printf(">>> ");
        fflush(stdout);
        g_interrupted = false;
        std::string line;
        if (!std::getline(std::cin, line)) {
            printf("\n");
            return 0;
        }
        if (line.rfind("\"\"\"", 0) == 0) {
            std::string acc = line.substr(3), more;
            while (acc.find("\"\"\"") == std::string::npos && std::getline(std::cin, more)) acc += "\n" + more;
            size_t end = acc.find("\"\"\"");
            line = end == std::string::npos ? acc : acc.substr(0, end);
        }
        if (line.empty()) continue;
        if (line == "/bye" || line == "/exit") return 0;
        if (line == "/?" || line == "/help") {
            printf(
                "  /set parameter NAME VALUE   set a sampling option (temperature, top_k, num_predict, stop ...)\n"
                "  /set system TEXT            set the system message\n"
                "  /clear                      forget the conversation\n"
                "  /bye                        exit\n"
                "  \"\"\"                         begin or end a multi-line message\n");
            continue;
        }
        if (line == "/clear") {
            s.messages = json::array();
            printf("Cleared session context\n");
            continue;
        }
        if (line.rfind("/set ", 0) == 0) {
            std::istringstream in(line.substr(5));
            std::string what;
            in >> what;
            if (what == "parameter") {
                std::string key, value;
                in >> key;
                std::getline(in, value);
                value.erase(0, value.find_first_not_of(" \t"));
                if (key.empty() || value.empty()) {
                    printf("Usage: /set parameter NAME VALUE\n");
                    continue;
                }
                s.options[key] = parse_param_value(key, value);
                printf("Set parameter '%s' to '%s'\n", key.c_str(), value.c_str());
            } else if (what == "system") {
                std::getline(in, s.system);
                s.system.erase(0, s.system.find_first_not_of(" \t"));
                printf("Set system message.\n");
            } else {
                printf("Unknown /set command; try /?\n");
            }
            continue;
        }
        if (line[0] == '/') {
            printf("Unknown command '%s'; type /? for help\n", line.c_str());
            continue;
        }
        Result<std::string> a = answer(s, line);
        if (!a.is_ok()) {
            fprintf(stderr, "Error: %s\n", a.status().message().c_str());
            continue;
        }
        if (!s.raw) {
            s.messages.push_back({{"role", "user"}, {"content", line}});
            s.messages.push_back({{"role", "assistant"}, {"content", *a}});
        }
    }
}

int cmd_run(const std::vector<std::string>& argv) {
    Args args(argv, {"verbose", "raw", "nowordwrap", "insecure"});
    auto unknown = args.unknown({"verbose", "raw", "nowordwrap", "insecure", "keepalive"});
    if (!unknown.empty()) return fail("unknown option --%s", unknown[0].c_str());
    if (args.positional().empty()) return fail("usage: berth run MODEL [PROMPT]");
    Session s;
    s.model = args.positional()[0];
    s.raw = args.has("raw");
    s.verbose = args.has("verbose");
    if (auto ka = args.get("keepalive")) s.keep_alive = *ka;
    std::string prompt;
    for (size_t i = 1; i < args.positional().size(); ++i) prompt += (i > 1 ? " " : "") + args.positional()[i];
    bool tty = isatty(STDIN_FILENO);
    if (!tty) {
        std::stringstream in;
        in << std::cin.rdbuf();
        std::string piped = in.str();
        prompt = prompt.empty() ? piped : piped + "\n\n" + prompt;
    }
    if (prompt.empty() && tty) return interactive(s);
    std::signal(SIGINT, on_sigint);
    Result<std::string> a = answer(s, prompt);
    if (!a.is_ok()) return fail("%s", a.status().message().c_str());
    return 0;
}

}  // namespace

BERTH_COMMAND(run, "run", "berth run MODEL [PROMPT] [--raw] [--verbose] [--keepalive D]",
              "Answer a prompt (or chat interactively) with a model on the running server.", cmd_run);

}  // namespace berth::cli
