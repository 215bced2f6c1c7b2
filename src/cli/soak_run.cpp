// Soak runner: worker threads send a mix of requests (generate, chat, embed, listings, loads, unloads, dropped
// streams); a sampler thread reads the server's memory once per interval (from /api/memory when the server is berth,
// else /proc/<pid>).
#include <dirent.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/base.h"
#include "cli/soak.h"
#include "memory/memory.h"

namespace berth::soak {
namespace {

using nlohmann::json;

struct Target {
    std::string scheme_host_port;  // for httplib::Client
    bool loopback = false;
};

Result<Target> parse_url(const std::string& url) {
    std::string u = url;
    if (u.rfind("http://", 0) != 0) {
        if (u.find("://") != std::string::npos)
            return invalid_argument("only http:// URLs are supported: %s", url.c_str());
        u = "http://" + u;
    }
    while (!u.empty() && u.back() == '/') u.pop_back();
    std::string host = u.substr(7);
    size_t colon = host.rfind(':');
    if (colon != std::string::npos && host.find(']') == std::string::npos) host = host.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.find(']') - 1);
    Target t;
    t.scheme_host_port = u;
    t.loopback = host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
    return t;
}

// Reads (rss_anon, rss, ledger, unaccounted) from berth's /api/memory; false when the server is not berth.
bool read_berth_memory(httplib::Client& c, Sample* s) {
    auto res = c.Get("/api/memory?history=0");
    if (!res || res->status != 200) return false;
    json j = json::parse(res->body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("process")) return false;
    const json& p = j["process"];
    auto num = [](const json& o, std::initializer_list<const char*> keys) -> int64_t {
        for (const char* k : keys)
            if (o.is_object() && o.contains(k) && o[k].is_number()) return o[k].get<int64_t>();
        return -1;
    };
    s->rss_anon = num(p, {"rss_anon", "rss_anon_bytes"});
    s->rss = num(p, {"rss", "rss_bytes"});
    s->unaccounted = num(j, {"unaccounted", "unaccounted_bytes"});
    if (s->unaccounted < 0) s->unaccounted = num(p, {"unaccounted", "unaccounted_bytes"});
    s->ledger = num(j, {"ledger_total", "ledger_bytes", "total"});
    if (j.contains("devices") && j["devices"].is_array() && !j["devices"].empty()) {
        s->device_used = s->device_ledger = s->device_allocations = 0;
        for (const json& d : j["devices"]) {
            s->device_used += num(d, {"used_by_process"});
            s->device_ledger += num(d, {"ledger"}) + num(d, {"context"});
            s->device_allocations += num(d, {"allocations"});
        }
    }
    s->threads = int(num(p, {"threads"}));
    s->fds = int(num(p, {"fds"}));
    return s->rss_anon >= 0;
}

// Threads and open descriptors of process `pid` from /proc.
void read_threads_and_fds(int pid, Sample* s) {
    std::string base = "/proc/" + std::to_string(pid);
    if (FILE* f = fopen((base + "/status").c_str(), "re")) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "Threads: %d", &s->threads) == 1) break;
        }
        fclose(f);
    }
    if (DIR* d = opendir((base + "/fd").c_str())) {
        int n = 0;
        while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
        closedir(d);
        s->fds = n - 1;  // less the descriptor of this listing when pid is ourselves; harmless otherwise
    }
}

enum class Kind { generate, chat, embed, tags, ps, show, load, unload, disconnect };
const char* kind_name(Kind k) {
    static const char* names[] = {"generate", "chat", "embed", "tags", "ps", "show", "load", "unload", "disconnect"};
    return names[int(k)];
}

Kind pick_kind(const Mix& m, double u) {
    const double w[] = {m.generate, m.chat, m.embed, m.tags, m.ps, m.show, m.load, m.unload, m.disconnect};
    double x = u * m.total();
    for (int i = 0; i < 9; ++i) {
        if (x < w[i]) return Kind(i);
        x -= w[i];
    }
    return Kind::generate;
}

std::string random_prompt(std::mt19937_64& rng, int min_words, int max_words) {
    static const char* words[] = {"the",    "little", "dog",    "ran",    "over",  "a",     "hill",  "and",
                                  "saw",    "bright", "red",    "ball",   "under", "tree",  "where", "children",
                                  "played", "every",  "summer", "day",    "story", "about", "river", "boat",
                                  "friend", "happy",  "sun",    "garden", "cat",   "sky"};
    int n = min_words + int(rng() % uint64_t(std::max(1, max_words - min_words + 1)));
    std::string p = "Once upon a time";
    for (int i = 0; i < n; i++) {
        p += ' ';
        p += words[rng() % (sizeof words / sizeof *words)];
    }
    return p;
}

double uniform(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

json keep_alive_value(const std::string& k) {
    char* end = nullptr;
    double v = strtod(k.c_str(), &end);
    if (!k.empty() && *end == '\0') return v;
    return k;
}

}  // namespace

int run(const Config& cfg_in) {
    Config cfg = cfg_in;
    auto target = parse_url(cfg.url);
    if (!target.is_ok()) return fprintf(stderr, "berth soak: %s\n", target.status().message().c_str()), 2;
    if (!target->loopback && !cfg.allow_remote) {
        fprintf(stderr, "berth soak: %s is not a loopback address; pass --allow-remote to load a remote server\n",
                cfg.url.c_str());
        return 2;
    }
    if (cfg.out_dir.empty()) return fprintf(stderr, "berth soak: --out DIR is required\n"), 2;
    std::error_code ec;
    std::filesystem::create_directories(cfg.out_dir, ec);
    if (ec) return fprintf(stderr, "berth soak: cannot create %s: %s\n", cfg.out_dir.c_str(), ec.message().c_str()), 2;

    httplib::Client probe(target->scheme_host_port);
    probe.set_connection_timeout(5);
    probe.set_read_timeout(30);
    if (cfg.models.empty()) {
        auto res = probe.Get("/api/tags");
        if (!res) return fprintf(stderr, "berth soak: cannot reach %s\n", cfg.url.c_str()), 2;
        json j = json::parse(res->body, nullptr, false);
        if (!j.is_discarded() && j.contains("models"))
            for (auto& m : j["models"])
                if (cfg.models.size() < 3 && m.contains("name")) cfg.models.push_back(m["name"].get<std::string>());
        if (cfg.models.empty()) return fprintf(stderr, "berth soak: the server lists no models; pass --models\n"), 2;
    }
    Sample probe_sample;
    bool is_berth = read_berth_memory(probe, &probe_sample);
    if (!is_berth && cfg.pid <= 0) {
        fprintf(stderr, "berth soak: the server is not berth (no /api/memory); pass --pid PID to sample /proc\n");
        return 2;
    }
    auto sample_memory = [&](httplib::Client& c, Sample* s) {
        if (is_berth) {
            read_berth_memory(c, s);
            return;
        }
        auto m = read_process_memory(cfg.pid);
        if (m.is_ok()) s->rss_anon = m->rss_anon, s->rss = m->rss;
        read_threads_and_fds(cfg.pid, s);
    };
    if (cfg.mix.embed > 0 && cfg.embed_models.empty())
        return fprintf(stderr, "berth soak: --mix has embed requests: pass --embed-models\n"), 2;
    if (cfg.warm_up) {
        // One request per model and an unload: one-time allocations (thread stacks, first-use caches) happen
        // here, so the baseline and the retention figure measure what the load itself leaves behind.
        for (const auto& m : cfg.models) {
            json body = {
                {"model", m}, {"prompt", "Once upon a time"}, {"stream", false}, {"options", {{"num_predict", 2}}}};
            if (cfg.num_ctx > 0) body["options"]["num_ctx"] = cfg.num_ctx;
            probe.Post("/api/generate", body.dump(), "application/json");
            probe.Post("/api/generate", json({{"model", m}, {"keep_alive", 0}}).dump(), "application/json");
        }
        for (const auto& m : cfg.embed_models) {
            probe.Post("/api/embed", json({{"model", m}, {"input", "Once upon a time"}}).dump(), "application/json");
            probe.Post("/api/generate", json({{"model", m}, {"keep_alive", 0}}).dump(), "application/json");
        }
        std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    Sample first;
    sample_memory(probe, &first);
    fprintf(stderr, "berth soak: %s (%s), models %zu, concurrency %d, up to %.0f s%s\n", cfg.url.c_str(),
            is_berth ? "berth" : "other server", cfg.models.size(), cfg.concurrency, cfg.duration_s,
            cfg.max_requests ? string_printf(" or %lld requests", (long long)cfg.max_requests).c_str() : "");

    const int64_t start = now_ns();
    auto elapsed = [&] { return double(now_ns() - start) / 1e9; };
    std::atomic<int64_t> issued{0}, completed{0}, failed{0};
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<RequestRecord> records;
    std::vector<Sample> samples;
    std::vector<double> recent_ttft, recent_lat;

    auto worker = [&](int id) {
        std::mt19937_64 rng(cfg.seed * 7919 + uint64_t(id));
        httplib::Client c(target->scheme_host_port);
        c.set_keep_alive(true);
        c.set_tcp_nodelay(true);  // requests go out in one segment: no Nagle / delayed-ACK stalls
        c.set_connection_timeout(10);
        c.set_read_timeout(300);
        while (!stop.load()) {
            if (cfg.max_requests && issued.fetch_add(1) >= cfg.max_requests) break;
            if (elapsed() >= cfg.duration_s) break;
            RequestRecord rec;
            const Kind kind = pick_kind(cfg.mix, uniform(rng));
            rec.kind = kind_name(kind);
            rec.model = kind == Kind::embed ? cfg.embed_models[rng() % cfg.embed_models.size()]
                                            : cfg.models[rng() % cfg.models.size()];
            const bool generation = kind == Kind::generate || kind == Kind::chat || kind == Kind::disconnect;
            const bool stream = kind == Kind::disconnect || (generation && uniform(rng) < cfg.stream_share);
            std::string prompt = random_prompt(rng, cfg.prompt_words_min, cfg.prompt_words_max);
            json keep_alive = keep_alive_value(cfg.keep_alives[rng() % cfg.keep_alives.size()]);
            httplib::Request req;
            req.method = "POST";
            json body;
            switch (kind) {
                case Kind::generate:
                case Kind::chat:
                case Kind::disconnect:
                    body = {{"model", rec.model},
                            {"stream", stream},
                            {"keep_alive", keep_alive},
                            {"options",
                             {{"num_predict", cfg.num_predict}, {"temperature", 0.8}, {"seed", int(rng() % 1000)}}}};
                    if (kind == Kind::chat)
                        body["messages"] = json::array({{{"role", "user"}, {"content", std::move(prompt)}}});
                    else
                        body["prompt"] = std::move(prompt);
                    if (cfg.num_ctx > 0) body["options"]["num_ctx"] = cfg.num_ctx;
                    req.path = kind == Kind::chat ? "/api/chat" : "/api/generate";
                    break;
                case Kind::embed:
                    body = {{"model", rec.model}, {"input", std::move(prompt)}, {"keep_alive", keep_alive}};
                    req.path = "/api/embed";
                    break;
                case Kind::tags:
                case Kind::ps:
                    req.method = "GET";
                    req.path = kind == Kind::tags ? "/api/tags" : "/api/ps";
                    break;
                case Kind::show:
                    body = {{"model", rec.model}};
                    req.path = "/api/show";
                    break;
                case Kind::load:
                case Kind::unload:
                    body = {{"model", rec.model}, {"keep_alive", kind == Kind::unload ? json(0) : keep_alive}};
                    if (cfg.num_ctx > 0) body["options"] = {{"num_ctx", cfg.num_ctx}};
                    req.path = "/api/generate";
                    break;
            }
            if (req.method == "POST") {
                req.body = body.dump();
                req.set_header("Content-Type", "application/json");
            }
            std::string buf, last_line;
            int64_t t0 = now_ns(), t_first = 0;
            req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
                if (!t_first) t_first = now_ns();
                buf.append(data, len);
                size_t nl;
                while ((nl = buf.find('\n')) != std::string::npos) {
                    if (nl > 0) last_line = buf.substr(0, nl);
                    buf.erase(0, nl + 1);
                }
                // A dropped stream: the client goes away after the first chunk (the server must cancel).
                return !stop.load() && kind != Kind::disconnect;
            };
            auto res = c.send(req);
            int64_t t1 = now_ns();
            rec.t_s = double(t1 - start) / 1e9;
            rec.total_ms = double(t1 - t0) / 1e6;
            rec.ttft_ms = t_first ? double(t_first - t0) / 1e6 : rec.total_ms;
            if (!buf.empty()) last_line = buf;
            if (kind == Kind::disconnect) {
                // Cancelled by us after the first chunk: fine when the server had started answering.
                if (res && res->status != 200)
                    rec.status = res->status, rec.error_kind = "http " + std::to_string(res->status);
                else if (!t_first)
                    rec.error_kind = "disconnect: no answer";
                else
                    rec.status = 200;
                c.stop();  // the next request opens a new connection
            } else if (!res) {
                rec.error_kind = "connection: " + httplib::to_string(res.error());
            } else {
                rec.status = res->status;
                json fin = json::parse(last_line, nullptr, false);
                if (res->status != 200) {
                    rec.error_kind = "http " + std::to_string(res->status);
                } else if (!generation) {
                    if (fin.is_discarded()) rec.error_kind = "invalid JSON answer";
                } else if (fin.is_discarded() || !fin.value("done", false)) {
                    rec.error_kind = "incomplete stream";
                } else {
                    rec.eval_count = fin.value("eval_count", int64_t(0));
                    double ed = fin.value("eval_duration", 0.0);
                    if (ed > 0) rec.tokens_per_s = double(rec.eval_count) / (ed / 1e9);
                }
            }
            completed++;
            if (!rec.error_kind.empty()) failed++;
            {
                std::lock_guard<std::mutex> lock(mu);
                if (rec.error_kind.empty()) recent_ttft.push_back(rec.ttft_ms), recent_lat.push_back(rec.total_ms);
                records.push_back(std::move(rec));
            }
            if (cfg.idle_gap_ms > 0)
                std::this_thread::sleep_for(std::chrono::microseconds(int64_t(cfg.idle_gap_ms * 1000)));
        }
    };

    std::vector<std::thread> workers;
    for (int i = 0; i < cfg.concurrency; i++) workers.emplace_back(worker, i);
    std::atomic<int> running{cfg.concurrency};
    std::thread sampler([&] {
        httplib::Client c(target->scheme_host_port);
        c.set_connection_timeout(5);
        c.set_read_timeout(30);
        double next = 0, last_print = 0;
        while (running.load() > 0) {
            double t = elapsed();
            if (t >= next) {
                Sample s;
                s.t_s = t;
                sample_memory(c, &s);
                s.requests = completed.load();
                s.errors = failed.load();
                std::lock_guard<std::mutex> lock(mu);
                s.ttft_p50_ms = percentile(recent_ttft, 50);
                s.latency_p50_ms = percentile(recent_lat, 50);
                recent_ttft.clear();
                recent_lat.clear();
                samples.push_back(s);
                next = t + cfg.sample_interval_s;
                if (t - last_print >= 10) {
                    last_print = t;
                    fprintf(stderr, "  %6.0f s  %7lld requests  %5lld errors  RssAnon %s\n", t, (long long)s.requests,
                            (long long)s.errors, format_bytes(s.rss_anon).c_str());
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    for (auto& w : workers) w.join();
    running = 0;
    sampler.join();

    if (cfg.unload_at_end) {
        for (const auto& list : {cfg.models, cfg.embed_models})
            for (const auto& m : list)
                probe.Post("/api/generate", json({{"model", m}, {"keep_alive", 0}}).dump(), "application/json");
        std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    Sample last;
    last.t_s = elapsed();
    sample_memory(probe, &last);
    last.requests = completed.load();
    last.errors = failed.load();

    // The steady state is measured while the load runs; the final sample (after the unloads) only feeds the
    // retention figure and the CSV.
    Report r = analyze(cfg, samples, records, first, last);
    analyze_device(cfg, samples, first, last, &r);
    samples.push_back(last);
    r.server = is_berth ? "berth" : "other";
    auto write = [&](const std::string& name, const std::string& content) {
        std::ofstream f(cfg.out_dir + "/" + name, std::ios::binary);
        f << content;
        return bool(f);
    };
    bool ok = write("samples.csv", samples_csv(samples)) && write("report.json", report_json(r)) &&
              write("memory.svg", render_svg(samples, records, r));
    if (!ok) return fprintf(stderr, "berth soak: cannot write results to %s\n", cfg.out_dir.c_str()), 2;
    const double mib = 1024.0 * 1024.0;
    printf("requests      %lld (%lld failed, %lld server errors other than 503) in %.0f s over %zu models\n",
           (long long)r.requests, (long long)r.errors, (long long)r.server_errors, r.duration_s,
           cfg.models.size() + cfg.embed_models.size());
    for (auto& [k, n] : r.errors_by_kind) printf("  error       %s: %lld\n", k.c_str(), (long long)n);
    if (r.requests_by_kind.size() > 1) {
        std::string kinds;
        for (auto& [k, n] : r.requests_by_kind)
            kinds += string_printf("%s%s %lld", kinds.empty() ? "" : ", ", k.c_str(), (long long)n);
        printf("  by kind     %s\n", kinds.c_str());
    }
    printf("RssAnon       baseline %.1f MiB, peak %.1f MiB, final %.1f MiB\n", r.baseline / mib, r.peak / mib,
           r.final_ / mib);
    printf("growth        %.3f MiB per 1,000 requests, %.2f MiB per hour (steady state)\n",
           r.growth_per_1k_requests / mib, r.growth_per_hour / mib);
    printf("steady state  RssAnon between %.1f and %.1f MiB after warm-up (range %.2f MiB)\n", r.steady_min / mib,
           r.steady_max / mib, (r.steady_max - r.steady_min) / mib);
    printf("retention     %.1f %% (final - baseline) / (peak - baseline)\n", r.retention * 100);
    if (r.unaccounted_max >= 0)
        printf("unaccounted   max %.1f MiB, growth %.3f MiB per 1,000 requests\n", r.unaccounted_max / mib,
               r.unaccounted_growth_per_1k_requests / mib);
    if (r.device) {
        printf(
            "device        baseline %.1f MiB, peak %.1f MiB, final %.1f MiB; after warm-up between %.1f and %.1f MiB "
            "(range %lld bytes)\n",
            r.device_baseline / mib, r.device_peak / mib, r.device_final / mib, r.device_steady_min / mib,
            r.device_steady_max / mib, (long long)(r.device_steady_max - r.device_steady_min));
        printf("device        at most %lld bytes beyond the ledger; %lld allocations during the run\n",
               (long long)r.device_over_ledger_max, (long long)(r.device_allocations_end - r.device_allocations_start));
    }
    printf("TTFT          p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n", r.ttft_p50_ms, r.ttft_p95_ms, r.ttft_p99_ms);
    printf("latency       p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; decode p50 %.1f tokens/s\n", r.latency_p50_ms,
           r.latency_p95_ms, r.latency_p99_ms, r.tokens_per_s_p50);
    printf("throughput    %.1f generated tokens/s over all streams\n", r.aggregate_tokens_per_s);
    if (r.threads_baseline >= 0)
        printf("process       threads %d -> %d, descriptors %d -> %d (baseline -> after the final unload)\n",
               r.threads_baseline, r.threads_final, r.fds_baseline, r.fds_final);
    printf("wrote         %s/{samples.csv,report.json,memory.svg}\n", cfg.out_dir.c_str());
    printf("verdict       %s\n", r.verdict.c_str());
    return 0;
}

}  // namespace berth::soak
