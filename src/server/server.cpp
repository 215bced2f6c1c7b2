// The HTTP server: options from the environment, guards (Host header, bearer token, body size, CORS),
// route registration, the memory history sampler, preloading, start and stop.
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "server/server_internal.h"

namespace berth {

namespace fs = std::filesystem;

Status parse_host_port(const std::string& text, std::string& host, int& port) {
    std::string s = text;
    for (const char* scheme : {"http://", "https://"}) {
        if (s.rfind(scheme, 0) == 0) s = s.substr(strlen(scheme));
    }
    while (!s.empty() && s.back() == '/') s.pop_back();
    std::string h = s, p;
    if (!s.empty() && s[0] == '[') {
        size_t close = s.find(']');
        if (close == std::string::npos) return invalid_argument("invalid host \"%s\"", text.c_str());
        h = s.substr(1, close - 1);
        if (close + 1 < s.size() && s[close + 1] == ':') p = s.substr(close + 2);
    } else {
        size_t colon = s.rfind(':');
        if (colon != std::string::npos) {
            h = s.substr(0, colon);
            p = s.substr(colon + 1);
        }
    }
    if (h.empty()) h = "127.0.0.1";
    if (!p.empty()) {
        char* end = nullptr;
        long v = std::strtol(p.c_str(), &end, 10);
        if (!end || *end || v < 0 || v > 65535) return invalid_argument("invalid port in \"%s\"", text.c_str());
        port = int(v);
    }
    host = h;
    return Status::ok();
}

Result<ServerOptions> server_options_from_env() {
    ServerOptions o;
    std::string host = env_or("BERTH_HOST", "OLLAMA_HOST", "");
    if (!host.empty()) RETURN_IF_ERROR(parse_host_port(host, o.host, o.port));
    const char* home = std::getenv("HOME");
    std::string h = home ? home : "/tmp";
    o.store_dir = env_or("BERTH_MODELS", nullptr, h + "/.berth/models");
    std::vector<std::string> ollama = {h + "/.ollama/models", "/usr/share/ollama/.ollama/models"};
    if (const char* om = std::getenv("OLLAMA_MODELS"); om && *om) ollama.insert(ollama.begin(), om);
    std::error_code ec;
    for (auto& d : ollama) {
        if (fs::is_directory(d, ec) && fs::weakly_canonical(d, ec) != fs::weakly_canonical(o.store_dir, ec) &&
            std::find(o.ollama_dirs.begin(), o.ollama_dirs.end(), d) == o.ollama_dirs.end())
            o.ollama_dirs.push_back(d);
    }
    o.api_key = env_or("BERTH_API_KEY", nullptr, "");
    std::string grace = env_or("BERTH_SHUTDOWN_GRACE", nullptr, "");
    if (!grace.empty()) {
        Result<int64_t> g = parse_duration(grace);
        if (!g.is_ok() || *g < 0)
            return invalid_argument("BERTH_SHUTDOWN_GRACE=%s: expected a duration such as \"10s\"", grace.c_str());
        o.shutdown_grace_ns = *g;
    }
    std::string body = env_or("BERTH_MAX_BODY", nullptr, "");
    if (!body.empty()) { ASSIGN_OR_RETURN(o.max_body_bytes, parse_byte_size(body)); }
    std::string trunc = env_or("BERTH_TRUNCATE", nullptr, "");
    o.truncate_raw_prompts = trunc == "1" || trunc == "true";
    std::string origins = env_or("BERTH_ORIGINS", "OLLAMA_ORIGINS", "");
    for (size_t start = 0; start < origins.size();) {
        size_t comma = origins.find(',', start);
        std::string one = origins.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!one.empty()) o.origins.push_back(one);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (const char* gp = std::getenv("BERTH_GATEWAY_METRICS_PREFIX")) {
        std::string prefix = gp;
        if (prefix == "none") prefix.clear();
        // A Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
        for (size_t i = 0; i < prefix.size(); ++i) {
            char c = prefix[i];
            if (!(isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' || (i > 0 && isdigit(c))))
                return invalid_argument(
                    "BERTH_GATEWAY_METRICS_PREFIX=%s: a metric name prefix has only letters, digits, '_' and ':' "
                    "(and no digit first); \"none\" leaves the gateway metrics out",
                    gp);
        }
        o.gateway_metrics_prefix = prefix;
    }
    std::string threads = env_or("BERTH_HTTP_THREADS", nullptr, "");
    if (!threads.empty()) {
        char* end = nullptr;
        long n = strtol(threads.c_str(), &end, 10);
        if (*end || n < 8 || n > 1024)
            return invalid_argument("BERTH_HTTP_THREADS must be a number from 8 to 1024, got \"%s\"", threads.c_str());
        o.http_threads = int(n);
    }
    std::string conns = env_or("BERTH_MAX_CONNECTIONS", nullptr, "");
    if (!conns.empty()) {
        char* end = nullptr;
        long n = strtol(conns.c_str(), &end, 10);
        if (*end || n < 16 || n > 1000000)
            return invalid_argument("BERTH_MAX_CONNECTIONS must be a number from 16 to 1000000, got \"%s\"",
                                    conns.c_str());
        o.max_connections = int(n);
    }
    for (auto [name, out] :
         {std::pair{"BERTH_HEADER_TIMEOUT", &o.header_timeout_ns}, std::pair{"BERTH_BODY_TIMEOUT", &o.body_timeout_ns},
          std::pair{"BERTH_IDLE_TIMEOUT", &o.idle_timeout_ns}}) {
        std::string v = env_or(name, nullptr, "");
        if (v.empty()) continue;
        Result<int64_t> t = parse_timeout(v);
        if (!t.is_ok() || *t <= 0)
            return invalid_argument("%s=%s: expected a positive duration such as \"10s\"", name, v.c_str());
        *out = *t;
    }
    ASSIGN_OR_RETURN(o.sched, sched_config_from_env());
    return o;
}

namespace {

bool is_loopback_bind(const std::string& host) {
    return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Hosts a browser page may legitimately name when berth listens on loopback (DNS-rebinding guard).
bool allowed_host_header(const std::string& value) {
    if (value.empty()) return true;
    std::string h = value;
    if (h[0] == '[') {
        size_t close = h.find(']');
        h = close == std::string::npos ? h : h.substr(1, close - 1);
    } else if (size_t colon = h.rfind(':'); colon != std::string::npos && h.find(':') == colon) {
        h = h.substr(0, colon);
    }
    for (auto& c : h) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (h == "localhost" || h == "::1") return true;
    auto ends = [&](const char* s) {
        size_t n = strlen(s);
        return h.size() > n && h.compare(h.size() - n, n, s) == 0;
    };
    if (ends(".localhost") || ends(".local") || ends(".internal")) return true;
    in_addr a4;
    if (inet_pton(AF_INET, h.c_str(), &a4) == 1) {
        uint32_t ip = ntohl(a4.s_addr);
        return (ip >> 24) == 127 || (ip >> 24) == 10 || (ip >> 16) == 0xC0A8 || (ip >> 20) == 0xAC1 || ip == 0;
    }
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) == 0 && h == std::string(name)) return true;
    return false;
}

bool origin_allowed(const std::vector<std::string>& extra, const std::string& origin) {
    for (const char* p : {"http://localhost", "https://localhost", "http://127.0.0.1", "https://127.0.0.1",
                          "http://[::1]", "app://", "file://", "tauri://", "vscode-webview://", "vscode-file://"}) {
        if (origin.rfind(p, 0) == 0) return true;
    }
    for (auto& o : extra) {
        if (o == "*" || o == origin) return true;
        if (!o.empty() && o.back() == '*' && origin.rfind(o.substr(0, o.size() - 1), 0) == 0) return true;
    }
    return false;
}

// Collapses paths with parameters so metrics stay bounded.
std::string route_label(const std::string& path) {
    if (path.rfind("/api/blobs/", 0) == 0) return "/api/blobs/:digest";
    if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/:model";
    static const char* known[] = {"/",
                                  "/api/generate",
                                  "/api/chat",
                                  "/api/tags",
                                  "/api/ps",
                                  "/api/show",
                                  "/api/create",
                                  "/api/copy",
                                  "/api/delete",
                                  "/api/pull",
                                  "/api/embed",
                                  "/api/embeddings",
                                  "/api/version",
                                  "/api/memory",
                                  "/api/load",
                                  "/api/unload",
                                  "/metrics",
                                  "/health",
                                  "/ui",
                                  "/v1/chat/completions",
                                  "/v1/completions",
                                  "/v1/models",
                                  "/v1/embeddings"};
    for (const char* k : known) {
        if (path == k) return k;
    }
    return "other";
}

void sample_memory(Server::State& st) {
    MemorySample m;
    m.t_ms = wall_time_ns() / 1000000;
    if (auto pm = read_process_memory(); pm.is_ok()) {
        m.rss_anon = pm->rss_anon;
        m.rss_file = pm->rss_file;
        m.vm_swap = pm->vm_swap;
    }
    m.ledger = st.ledger.total();
    m.unaccounted = m.rss_anon - st.ledger.anonymous_total();
    m.requests = st.generations.load();
    m.requests_per_s = double(m.requests - st.last_sample_requests);  // one sample per second
    st.last_sample_requests = m.requests;
    {
        std::lock_guard<std::mutex> lock(st.latency_mu);
        size_t n = std::min<size_t>(st.latency_n, 64);
        if (n > 0) {
            std::vector<double> a(st.ttft_ms, st.ttft_ms + n), b(st.token_ms, st.token_ms + n);
            std::nth_element(a.begin(), a.begin() + n / 2, a.end());
            std::nth_element(b.begin(), b.begin() + n / 2, b.end());
            m.ttft_p50_ms = a[n / 2];
            m.token_p50_ms = b[n / 2];
        }
    }
    st.history.push(m);
}

}  // namespace

Server::Server(ServerOptions options) : state_(std::make_unique<State>()) {
    State& st = *state_;
    st.opt = std::move(options);
    st.started_wall = wall_time_ns();
    st.loader = make_engine_loader(&st.ledger);
    st.sched = std::make_unique<Scheduler>(st.opt.sched, st.loader.get());
    st.store = std::make_unique<Store>(st.opt.store_dir, st.opt.ollama_dirs, st.opt.models_dirs);
    if (size_t n = st.store->remove_stale_temporaries())
        LOG_INFO("removed %zu temporary files left in %s by an interrupted write", n, st.opt.store_dir.c_str());

    // Connections, deadlines and workers belong to the Acceptor (Server::bind); cpp-httplib routes and writes.
    // Blobs can be large; JSON bodies are bounded by the Acceptor (BERTH_MAX_BODY).
    st.http.set_payload_max_length(size_t(1) << 40);
    // Told to clients in the Keep-Alive header; the Acceptor closes idle connections after it.
    st.http.set_keep_alive_timeout(std::max<time_t>(1, time_t(st.opt.idle_timeout_ns / kNsPerSecond)));
    st.http.set_keep_alive_max_count(1000000);
    const bool loopback = is_loopback_bind(st.opt.host);
    st.http.set_pre_routing_handler([&st, loopback](const httplib::Request& req, httplib::Response& res) {
        bool openai = req.path.rfind("/v1/", 0) == 0;
        auto deny = [&](int status, const std::string& m) {
            if (openai)
                reply_openai_error(res, status, m);
            else
                reply_error(res, status, m);
            return httplib::Server::HandlerResponse::Handled;
        };
        if (loopback && !allowed_host_header(req.get_header_value("Host"))) return deny(403, "forbidden host");
        std::string origin = req.get_header_value("Origin");
        if (!origin.empty() && origin_allowed(st.opt.origins, origin)) {
            res.set_header("Access-Control-Allow-Origin", origin);
            res.set_header("Vary", "Origin");
            res.set_header("Access-Control-Allow-Headers",
                           "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, x-stainless-arch, "
                           "x-stainless-lang, x-stainless-os, x-stainless-package-version, x-stainless-runtime, "
                           "x-stainless-runtime-version, x-stainless-retry-count, x-stainless-timeout");
            res.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS");
            if (req.method == "OPTIONS") {
                res.status = 204;
                return httplib::Server::HandlerResponse::Handled;
            }
        }
        if (!st.opt.api_key.empty() && req.path != "/" && req.path != "/health" && req.path != "/ui") {
            if (req.get_header_value("Authorization") != "Bearer " + st.opt.api_key)
                return deny(401, "missing or wrong bearer token (BERTH_API_KEY)");
        }
        // `curl -d` labels its body application/x-www-form-urlencoded: cpp-httplib would then parse it as a form
        // and refuse bodies over 8 KiB with 413. Every berth route takes JSON (or raw blob bytes), and Ollama ignores
        // the label, so it is relabelled before the body is read. (The pre-routing handler gets the request as
        // const; the object itself is httplib's mutable per-request Request.)
        if (auto ct = req.headers.find("Content-Type");
            ct != req.headers.end() && ct->second.rfind("application/x-www-form-urlencoded", 0) == 0) {
            auto& headers = const_cast<httplib::Headers&>(req.headers);
            auto range = headers.equal_range("Content-Type");
            for (auto it = range.first; it != range.second; ++it) it->second = "application/json";
        }
        if (req.path.rfind("/api/blobs/", 0) != 0 && req.has_header("Content-Length")) {
            long long n = std::atoll(req.get_header_value("Content-Length").c_str());
            if (n > st.opt.max_body_bytes) {
                return deny(413, string_printf("request body too large (%lld bytes, limit %lld: BERTH_MAX_BODY)", n,
                                               (long long)st.opt.max_body_bytes));
            }
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    st.http.set_logger([&st](const httplib::Request& req, const httplib::Response& res) {
        std::string key = route_label(req.path) + "|" + std::to_string(res.status);
        {
            std::lock_guard<std::mutex> lock(st.metrics_mu);
            ++st.http_requests[key];
        }
        LOG_DEBUG("%s %s %d", req.method.c_str(), req.path.c_str(), res.status);
    });
    st.http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 404 && route_label(req.path) != "other" && req.path.rfind("/api/blobs/", 0) != 0 &&
            req.path.rfind("/v1/models/", 0) != 0) {
            res.status = 405;  // a known route with the wrong method, as Ollama answers
        }
        if (res.status == 404)
            res.set_content("404 page not found", "text/plain");
        else if (res.status == 413)
            reply_error(res, 413, "request body too large");
        else if (res.status == 405)
            res.set_content("405 method not allowed", "text/plain");
    });
    st.http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) { what = e.what(); } catch (...) {
        }
        LOG_ERROR("handler exception: %s", what.c_str());
        reply_error(res, 500, what);
    });
    register_info_routes(st);
    register_native_routes(st);
    register_openai_routes(st);
    register_manage_routes(st);
    register_embed_routes(st);
}

Server::~Server() {
    stop();
    state_->finished = true;
    if (state_->sampler.joinable()) state_->sampler.join();
    if (state_->preloader.joinable()) state_->preloader.join();
}

Status Server::bind() {
    State& st = *state_;
    AcceptorOptions ao;
    ao.host = st.opt.host;
    ao.port = st.opt.port;
    ao.max_connections = st.opt.max_connections;
    ao.workers = std::max(8, st.opt.http_threads);
    ao.header_timeout_ns = st.opt.header_timeout_ns;
    ao.body_timeout_ns = st.opt.body_timeout_ns;
    ao.idle_timeout_ns = st.opt.idle_timeout_ns;
    ao.max_body_bytes = st.opt.max_body_bytes;
    ao.max_buffered_bytes = std::max<int64_t>(int64_t(256) << 20, 8 * st.opt.max_body_bytes);
    auto acceptor =
        std::make_unique<Acceptor>(ao, [&st](httplib::Stream& strm, bool close_connection, bool& connection_closed) {
            return st.http.process(strm, close_connection, connection_closed);
        });
    RETURN_IF_ERROR(acceptor->bind());
    st.port = acceptor->port();
    st.http.attach(acceptor->listen_fd());
    st.acceptor = std::move(acceptor);
    return Status::ok();
}

int Server::port() const { return state_->port; }

constexpr int64_t kTrimFreeBytes = 256 << 10;

Status Server::run() {
    State& st = *state_;
    if (!st.acceptor) RETURN_IF_ERROR(bind());
    st.sampler = std::thread([&st] {
        // systemd's watchdog (WatchdogSec=): a keep-alive at half the interval, from this thread, which runs as
        // long as the process is sound.
        const int64_t watchdog_ns = systemd_watchdog_ns();
        int64_t last_watchdog = 0;
        auto check_grace = [&st] {
            int64_t stop_ns = st.stop_requested_ns.load();
            if (stop_ns && !st.cancel_all && now_ns() - stop_ns >= st.opt.shutdown_grace_ns) {
                LOG_INFO("shutdown grace period over: cancelling the generations still running");
                st.cancel_all = true;
                st.watcher.cancel_all();
                st.sched->shutdown();  // requests still waiting for a model or room get 503
            }
        };
        while (!st.finished) {
            // Freed heap blocks (request bodies, JSON, the last unload's leftovers) stay resident until trimmed;
            // returning them once a second keeps RssAnon at what is in use. Cheap on a heap of a few MiB.
            if (heap_stats().free > kTrimFreeBytes) trim_heap();
            sample_memory(st);
            for (int i = 0; i < 10 && !st.finished; ++i) {
                check_grace();
                // While in-flight requests drain (run() tells it too, when they are done before this sees it).
                if (st.stop_requested_ns.load() && !st.told_stopping.exchange(true)) systemd_notify("STOPPING=1");
                if (watchdog_ns > 0 && now_ns() - last_watchdog >= watchdog_ns / 2) {
                    systemd_notify("WATCHDOG=1");
                    last_watchdog = now_ns();
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        }
    });
    // Preload the models the policy asks for (in the background: the server answers meanwhile).
    std::vector<std::string> preload;
    for (auto& [name, p] : st.opt.sched.policies) {
        if (p.preload) preload.push_back(name);
    }
    // Ready: listening (bind() came first) and preloaded. A failed preload is logged, not fatal: the server still
    // serves every other model. Without preloads it is ready before the first request can be accepted.
    auto become_ready = [&st] {
        st.ready = true;
        systemd_notify(string_printf("READY=1\nSTATUS=serving on %s:%d", st.opt.host.c_str(), st.port));
    };
    if (preload.empty()) {
        become_ready();
    } else {
        st.preloader = std::thread([&st, preload, become_ready] {
            for (auto& name : preload) {
                if (st.stopping) break;
                Result<StoreEntry> e = st.store->find(name);
                if (!e.is_ok()) {
                    LOG_WARN("preload: %s", e.status().message().c_str());
                    continue;
                }
                Result<Lease> l = st.sched->acquire(ModelFile{e->name, e->model_path}, AcquireOptions{});
                if (!l.is_ok()) LOG_WARN("preload %s: %s", name.c_str(), l.status().message().c_str());
            }
            if (!st.stopping) become_ready();
        });
    }
    LOG_INFO("berth listening on %s:%d (store %s)", st.opt.host.c_str(), st.port, st.opt.store_dir.c_str());
    if (st.stopping) st.acceptor->stop();  // stop() came before run()
    st.acceptor->run();                    // returns when stop() was called and every request has been answered
    if (!st.told_stopping.exchange(true)) systemd_notify("STOPPING=1");
    st.stopping = true;
    st.finished = true;
    return Status::ok();
}

void Server::stop() {
    int64_t zero = 0;
    state_->stop_requested_ns.compare_exchange_strong(zero, now_ns());
    state_->stopping = true;
    // Stops accepting; requests in flight go on (see shutdown_grace_ns). Async-signal-safe (called from SIGTERM).
    if (Acceptor* a = state_->acceptor.get()) a->stop();
}

}  // namespace berth
