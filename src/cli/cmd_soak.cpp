#include <cstdlib>
#include <sstream>

#include "base/base.h"
#include "cli/command.h"
#include "cli/soak.h"

namespace berth::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

// "5m", "90s", "1h", "300" (seconds) → seconds; -1 on error.
double parse_duration_s(const std::string& s) {
    char* end = nullptr;
    double v = strtod(s.c_str(), &end);
    if (end == s.c_str() || v < 0) return -1;
    std::string unit(end);
    if (unit.empty() || unit == "s") return v;
    if (unit == "ms") return v / 1000;
    if (unit == "m") return v * 60;
    if (unit == "h") return v * 3600;
    return -1;
}

int soak_main(const std::vector<std::string>& argv_in) {
    const std::vector<std::string> flags = {"allow-remote", "no-unload", "no-warm-up"};
    std::vector<std::string> argv = argv_in;
    if (auto w = Args(argv_in, flags).get("workload")) {
        auto file_args = soak::workload_file_args(*w);
        if (!file_args.is_ok()) return fail("soak: %s", file_args.status().message().c_str());
        argv = *file_args;  // the file first, so that the command line overrides it
        argv.insert(argv.end(), argv_in.begin(), argv_in.end());
    }
    Args a(argv, flags);
    const std::vector<std::string> known = {
        "url",         "models",       "concurrency",  "duration",    "requests",        "pid",         "out",
        "mix",         "keep-alive",   "prompt-words", "num-predict", "num-ctx",         "idle-gap-ms", "seed",
        "workload",    "allow-remote", "no-unload",    "no-warm-up",  "sample-interval", "warmup",      "stream-share",
        "embed-models"};
    auto bad = a.unknown(known);
    if (!bad.empty()) return fail("soak: unknown option --%s", bad[0].c_str());
    soak::Config c;
    if (auto mix = a.get("mix")) {
        auto parsed = soak::parse_request_mix(*mix);
        if (!parsed.is_ok()) return fail("soak: %s", parsed.status().message().c_str());
        c.mix = *parsed;
    }
    c.embed_models = split_list(a.get_or("embed-models", ""));
    c.stream_share = a.get_double("stream-share", 1.0);
    if (!(c.stream_share >= 0 && c.stream_share <= 1)) return fail("soak: --stream-share must be between 0 and 1");
    c.url = a.get_or("url", env_or("BERTH_HOST", "OLLAMA_HOST", "127.0.0.1:11434"));
    c.models = split_list(a.get_or("models", ""));
    c.concurrency = int(a.get_int("concurrency", 2));
    c.max_requests = a.get_int("requests", 0);
    c.duration_s = parse_duration_s(a.get_or("duration", c.max_requests ? "24h" : "60s"));
    if (c.duration_s <= 0) return fail("soak: --duration expects e.g. 90s, 5m or 1h");
    c.pid = int(a.get_int("pid", 0));
    c.out_dir = a.get_or("out", "");
    c.keep_alives = split_list(a.get_or("keep-alive", "5m"));
    c.num_predict = int(a.get_int("num-predict", 16));
    c.num_ctx = int(a.get_int("num-ctx", 0));
    c.idle_gap_ms = a.get_double("idle-gap-ms", 0);
    c.seed = uint64_t(a.get_int("seed", 1));
    c.sample_interval_s = a.get_double("sample-interval", 1.0);
    c.warmup_fraction = a.get_double("warmup", 0.1);
    c.allow_remote = a.has("allow-remote");
    c.unload_at_end = !a.has("no-unload");
    c.warm_up = !a.has("no-warm-up");
    auto pw = split_list(a.get_or("prompt-words", "4,64"));
    if (pw.size() != 2) return fail("soak: --prompt-words expects MIN,MAX");
    c.prompt_words_min = atoi(pw[0].c_str());
    c.prompt_words_max = atoi(pw[1].c_str());
    if (c.concurrency < 1 || c.concurrency > 256) return fail("soak: --concurrency must be 1..256");
    if (c.keep_alives.empty()) return fail("soak: --keep-alive needs at least one value");
    if (c.prompt_words_min < 0 || c.prompt_words_max < c.prompt_words_min) return fail("soak: bad --prompt-words");
    return soak::run(c);
}

}  // namespace

BERTH_COMMAND(
    soak, "soak",
    "berth soak [--url URL] [--models a,b,c] [--concurrency N] [--duration 5m | --requests N] [--pid PID] "
    "[--keep-alive 0,5s,-1] [--mix generate=3,chat=1,embed=1,tags=1,ps=1,show=1,load=1,unload=1,disconnect=1] "
    "[--embed-models e] [--stream-share 0.5] [--prompt-words 4,64] [--idle-gap-ms MS] [--workload FILE.toml] "
    "--out DIR",
    "load-test a running Ollama-compatible server and report memory growth and latency", soak_main);

}  // namespace berth::cli
