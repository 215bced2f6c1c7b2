// server: the Ollama and OpenAI HTTP APIs over the scheduler. Routes, option mapping, NDJSON and SSE
// streaming, /metrics, /api/memory, /health, /ui, model management over berth's store.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/base.h"
#include "sched/sched.h"

namespace berth {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 11434;
    std::string store_dir;                 // berth's store (BERTH_MODELS, default ~/.berth/models)
    std::vector<std::string> ollama_dirs;  // read-only Ollama stores that exist
    std::vector<std::string> models_dirs;  // --models-dir: *.gguf served under their file names
    std::string api_key;                   // BERTH_API_KEY: required as a bearer token when set
    int64_t max_body_bytes = 32 << 20;     // BERTH_MAX_BODY: larger request bodies get 413 (blobs excepted)
    bool truncate_raw_prompts = false;     // BERTH_TRUNCATE: cut raw prompts from the front instead of 400
    std::vector<std::string> origins;      // BERTH_ORIGINS / OLLAMA_ORIGINS: extra CORS origins
    // BERTH_HTTP_THREADS: requests answered at once (a streamed generation holds its worker until it ends; a
    // quarter of them are kept for quick requests such as /api/tags). Waiting connections hold no thread. Every
    // worker's stack and heap cache warm up once, ~70 KiB each (measured), so the default stays small.
    int http_threads = 16;
    int max_connections = 4096;                     // BERTH_MAX_CONNECTIONS: more get 503 (capped by RLIMIT_NOFILE)
    int64_t header_timeout_ns = 10 * kNsPerSecond;  // BERTH_HEADER_TIMEOUT: connection to end of request header
    int64_t body_timeout_ns = 60 * kNsPerSecond;    // BERTH_BODY_TIMEOUT: end of header to end of body
    int64_t idle_timeout_ns = 30 * kNsPerSecond;    // BERTH_IDLE_TIMEOUT: keep-alive wait for the next request
    // BERTH_SHUTDOWN_GRACE: on SIGTERM/SIGINT, in-flight generations may finish for this long; then they are
    // cancelled (their clients get what was generated so far) and the server unloads and exits.
    int64_t shutdown_grace_ns = 10 * kNsPerSecond;
    // BERTH_GATEWAY_METRICS_PREFIX: /metrics also exposes the gauges the Gateway API Inference Extension's
    // endpoint picker reads, named as its default (vLLM) engine configuration expects: "vllm:num_requests_waiting",
    // ... ("none": left out).
    std::string gateway_metrics_prefix = "vllm:";
    SchedConfig sched;
};

// "127.0.0.1:11434", "0.0.0.0", ":8080", "http://host:port", "[::1]:11434" → host and port.
Status parse_host_port(const std::string& text, std::string& host, int& port);
// Options from BERTH_HOST/OLLAMA_HOST, BERTH_MODELS, OLLAMA_MODELS, BERTH_API_KEY, BERTH_MAX_BODY, the connection
// limits (BERTH_HTTP_THREADS, BERTH_MAX_CONNECTIONS, BERTH_*_TIMEOUT), BERTH_GATEWAY_METRICS_PREFIX, the scheduler's
// variables and BERTH_CONFIG.
Result<ServerOptions> server_options_from_env();

// sha256 of a file's content as 64 hex digits (blob digests; defined with the registry pull).
Result<std::string> sha256_file(const std::string& path);

class Server {
  public:
    explicit Server(ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds (port 0 picks a free one); io_error when the address is taken.
    Status bind();
    int port() const;
    // Serves until stop(); loads the models the policy marks for preloading first.
    Status run();
    void stop();

    struct State;

  private:
    std::unique_ptr<State> state_;
};

}  // namespace berth
