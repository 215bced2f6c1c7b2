// berth soak: a bounded load generator against any Ollama-compatible server that samples the server's memory
// and request latency, and writes samples.csv, report.json and memory.svg.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/base.h"

namespace berth::soak {

// The kinds of request a workload sends, by weight (--mix generate=4,chat=2,embed=1,...).
struct Mix {
    double generate = 1, chat = 0;
    double embed = 0;                   // /api/embed on one of Config::embed_models
    double tags = 0, ps = 0, show = 0;  // listings (show: of one of the models)
    double load = 0, unload = 0;        // an empty /api/generate with a random keep-alive, or keep_alive 0
    double disconnect = 0;              // a streamed generation the client drops after its first chunk
    double total() const { return generate + chat + embed + tags + ps + show + load + unload + disconnect; }
};

struct Config {
    std::string url = "http://127.0.0.1:11434";
    std::vector<std::string> models;  // empty: the first three of /api/tags
    int concurrency = 2;
    double duration_s = 60;                         // stop after this long...
    int64_t max_requests = 0;                       // ...or after this many requests (0 = no count bound)
    std::vector<std::string> keep_alives = {"5m"};  // chosen at random per request (JSON numbers or strings)
    int prompt_words_min = 4, prompt_words_max = 64;
    int num_predict = 16;
    int num_ctx = 0;                        // options.num_ctx per request (0 = server default)
    Mix mix;                                // request kinds and their weights
    std::vector<std::string> embed_models;  // for `embed` requests
    double stream_share = 1;                // share of requests streamed (TTFT of a non-streamed one is its total)
    double idle_gap_ms = 0;                 // pause between a worker's requests
    double warmup_fraction = 0.1;           // share of requests before the steady state is measured
    int pid = 0;                            // read /proc/<pid> when the server is not berth
    double sample_interval_s = 1.0;
    bool unload_at_end = true;  // ask the server to unload the models afterwards (keep_alive 0)
    bool warm_up = true;        // one request per model, then unload, before the baseline
    bool allow_remote = false;
    uint64_t seed = 1;
    std::string out_dir;
};

struct Sample {
    double t_s = 0;        // since start
    int64_t requests = 0;  // completed so far (ok + failed)
    int64_t errors = 0;
    int64_t rss_anon = -1;  // bytes; -1 when unknown
    int64_t rss = -1;
    int threads = -1, fds = -1;                  // of the server process; -1 when unknown
    int64_t unaccounted = -1;                    // berth only
    int64_t ledger = -1;                         // berth only
    double ttft_p50_ms = 0, latency_p50_ms = 0;  // of requests completed since the previous sample
    // berth with a device (summed over its devices): memory in use as the driver reports it, the ledger's
    // device rows plus each device's context row, and the device allocations made so far. -1 when unknown.
    int64_t device_used = -1, device_ledger = -1, device_allocations = -1;
};

struct RequestRecord {
    double t_s = 0;
    std::string kind;  // "generate", "chat", "embed", "tags", "ps", "show", "load", "unload", "disconnect"
    std::string model;
    int status = 0;          // HTTP status, 0 = connection error
    std::string error_kind;  // empty when ok
    double ttft_ms = 0, total_ms = 0;
    int64_t eval_count = 0;
    double tokens_per_s = 0;
};

struct Report {
    std::string server;  // "berth" or "other"
    std::vector<std::string> models;
    int64_t requests = 0, errors = 0;
    std::vector<std::pair<std::string, int64_t>> errors_by_kind;
    std::vector<std::pair<std::string, int64_t>> requests_by_kind;  // "generate", "tags", ... (RequestRecord::kind)
    double duration_s = 0;
    int64_t baseline = 0, peak = 0, final_ = 0;     // RssAnon, bytes
    double growth_per_1k_requests = 0;              // bytes, steady-state least-squares slope
    double growth_per_hour = 0;                     // bytes
    int64_t steady_min = 0, steady_max = 0;         // RssAnon range after warm-up, while the load runs
    double unaccounted_growth_per_1k_requests = 0;  // berth only: RssAnon minus the ledger, same slope
    double retention = 0;                           // (final - baseline) / (peak - baseline)
    // The growth the verdict judges: RssAnon's slope, or, when the run loaded and unloaded models on berth (its
    // ledger moved after warm-up), the robust slope of RssAnon net of the ledger, since RssAnon then follows
    // whichever models happen to be resident at each sample.
    double judged_growth_per_1k_requests = 0;
    bool judged_net_of_ledger = false;
    int64_t unaccounted_max = -1;
    // Threads and descriptors of the server at the baseline and at the end (both with every model unloaded).
    int threads_baseline = -1, threads_final = -1, fds_baseline = -1, fds_final = -1;
    int64_t server_errors = 0;  // answers 500-599 other than 503 (a 503 is the documented "busy" answer)
    double ttft_p50_ms = 0, ttft_p95_ms = 0, ttft_p99_ms = 0;
    double latency_p50_ms = 0, latency_p95_ms = 0, latency_p99_ms = 0;
    double tokens_per_s_p50 = 0;
    double aggregate_tokens_per_s = 0;  // all generated tokens / the run's duration (concurrency throughput)
    std::string verdict;
    bool pass = false;
    // Device memory (berth with a device): in use before the run, after it (the models unloaded), at its
    // peak, its range after warm-up, the most it exceeded the ledger (models + context) at any sample, and
    // the allocation counter before and after.
    bool device = false;
    int64_t device_baseline = 0, device_final = 0, device_peak = 0, device_steady_min = 0, device_steady_max = 0;
    int64_t device_over_ledger_max = 0;
    int64_t device_allocations_start = 0, device_allocations_end = 0;
};

// A workload file (TOML) as command-line options: each top-level key is an option name ("concurrency = 4",
// "models = [\"a\", \"b\"]", "duration = \"5m\"", "no-unload = true"); arrays become comma-separated
// lists. Options given on the command line afterwards override the file.
Result<std::vector<std::string>> workload_file_args(const std::string& path);
// "generate=3,chat=1,embed=1,tags=1" → the weights (kinds left out weigh 0; a kind without "=W" weighs 1);
// invalid_argument for unknown kinds, bad weights or a total of 0.
Result<Mix> parse_request_mix(const std::string& text);

// Runs the workload; returns 0 on a completed run (whatever the verdict), non-zero on setup errors.
int run(const Config& cfg);

// Pure analysis, separated for tests. `first` and `last` are the samples taken before the load (after the warm-up)
// and after it (after the final unload).
Report analyze(const Config& cfg, const std::vector<Sample>& samples, const std::vector<RequestRecord>& reqs,
               const Sample& first, const Sample& last);
// The device figures of a run (Report::device...), from the samples while the load runs and the readings before
// and after it.
void analyze_device(const Config& cfg, const std::vector<Sample>& samples, const Sample& before, const Sample& after,
                    Report* r);
std::string render_svg(const std::vector<Sample>& samples, const std::vector<RequestRecord>& reqs, const Report& r);
std::string samples_csv(const std::vector<Sample>& samples);
std::string report_json(const Report& r);
double percentile(std::vector<double> v, double p);  // p in [0, 100]
// Least-squares slope of y over x; 0 with fewer than two distinct x.
double slope(const std::vector<double>& x, const std::vector<double>& y);
// Theil-Sen slope: the median of the slopes between pairs of points (of at most 400 points, evenly thinned),
// which a minority of outlying samples does not move; 0 with fewer than two distinct x.
double robust_slope(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace berth::soak
