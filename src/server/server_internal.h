// Shared state and helpers of the server's route files (internal to the server module).
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_map>

#include "server/acceptor.h"
#include "server/agent.h"
#include "server/bounded_json.h"
#include "server/chat_request.h"
#include "server/server.h"
#include "server/store.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

namespace berth {

using json = nlohmann::json;

// A Prometheus histogram over fixed bucket bounds (seconds); lock-free, allocation-free.
class LatencyHistogram {
  public:
    static constexpr int kMaxBuckets = 16;
    explicit LatencyHistogram(std::initializer_list<double> upper_bounds);
    void observe(double seconds);
    // "# HELP/# TYPE" lines, the cumulative _bucket lines (with +Inf), _sum and _count.
    std::string render(const char* name, const char* help) const;

  private:
    double bounds_[kMaxBuckets] = {};
    int n_ = 0;
    std::atomic<int64_t> counts_[kMaxBuckets + 1] = {};  // last: above every bound
    std::atomic<int64_t> sum_us_{0}, count_{0};
};

// The connection a request came on: its address pair, and its socket (-1 when unknown).
struct PeerAddress {
    std::string remote_addr;
    int remote_port = -1;
    int local_port = -1;
    int fd = -1;  // open, and this request's, while its handler (or content provider) runs
    // On a worker thread, inside a handler: the connection the Acceptor handed to this thread.
    static PeerAddress of(const httplib::Request& req);
};

// Cancels generations whose client closed its connection, streamed or not, also while they wait for a slot or
// evaluate their prompt. One thread, asleep in epoll_wait on the registered requests' sockets: the peer's FIN or
// reset sets the request's cancel flag, which the engine polls every step.
class DisconnectWatcher {
  public:
    DisconnectWatcher();
    ~DisconnectWatcher();
    DisconnectWatcher(const DisconnectWatcher&) = delete;
    DisconnectWatcher& operator=(const DisconnectWatcher&) = delete;

    // Sets the cancel flag of every registered request, and of every one registered from now on (the shutdown
    // grace period is over).
    void cancel_all();

    // Watches `peer` for as long as the registration lives; `cancel` must outlive it, and it must end while the
    // connection is still open (before the handler or its content provider returns).
    class Registration {
      public:
        Registration(DisconnectWatcher& w, const PeerAddress& peer, std::atomic<bool>* cancel)
            : w_(w), id_(w.add(peer, cancel)) {}
        ~Registration() { w_.remove(id_); }
        Registration(const Registration&) = delete;
        Registration& operator=(const Registration&) = delete;

      private:
        DisconnectWatcher& w_;
        uint64_t id_;
    };

  private:
    struct Entry {
        int fd;  // the request's socket, registered with epoll
        std::atomic<bool>* cancel;
    };
    uint64_t add(const PeerAddress& peer, std::atomic<bool>* cancel);  // 0: not watched
    void remove(uint64_t id);
    void wake();
    void loop();

    std::mutex mu_;
    std::map<uint64_t, Entry> entries_;
    uint64_t next_id_ = 1;
    bool stopping_ = false;
    bool all_cancelled_ = false;  // cancel_all() was called
    int epoll_fd_ = -1, wake_fd_ = -1;
    std::thread thread_;
};

// cpp-httplib's routing, handlers and response writing, fed complete requests by the Acceptor instead of reading
// them from its own listener (which would give every connection a thread from its first byte).
class HttpCore : public httplib::Server {
  public:
    // Processes one request read from `strm` (see RequestProcessor).
    bool process(httplib::Stream& strm, bool close_connection, bool& connection_closed) {
        return process_request(strm, close_connection, connection_closed, nullptr);
    }
    // cpp-httplib stops calling content providers once its listening socket is gone; the Acceptor's is the one
    // that counts. Only compared with INVALID_SOCKET, never used or closed by cpp-httplib.
    void attach(int listen_fd) { svr_sock_ = listen_fd; }
};

struct Server::State {
    ServerOptions opt;
    Ledger ledger;
    std::unique_ptr<ModelLoader> loader;
    std::unique_ptr<Scheduler> sched;
    std::unique_ptr<Store> store;
    HttpCore http;
    std::unique_ptr<Acceptor> acceptor;  // from bind()
    int port = 0;
    int64_t started_wall = 0;

    // Metrics.
    std::mutex metrics_mu;
    std::map<std::string, int64_t> http_requests;  // "route|status" → count
    std::atomic<int64_t> tokens_prompt{0}, tokens_generated{0}, generations{0}, cancelled{0};
    std::atomic<int64_t> eval_ns{0}, prompt_ns{0};
    // Latencies of the last 64 generations (ms): time to first token, time per generated token.
    std::mutex latency_mu;
    double ttft_ms[64] = {}, token_ms[64] = {};
    size_t latency_n = 0;
    // Time to first token: handler entry to the first generated token (queueing and loading included).
    LatencyHistogram ttft_hist{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    // Mean time per generated token of each generation.
    LatencyHistogram token_hist{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
    int64_t last_sample_requests = 0;

    // Memory history: one sample per second, the last hour.
    MemoryHistory history{3600};
    std::thread sampler;
    std::thread preloader;
    std::atomic<bool> stopping{false};
    // The preloads are done (or there were none): /health answers 200 and systemd was told READY=1.
    std::atomic<bool> ready{false};
    std::atomic<bool> finished{false};          // run() has returned from the HTTP loop
    std::atomic<int64_t> stop_requested_ns{0};  // monotonic; 0 until stop()
    std::atomic<bool> told_stopping{false};     // STOPPING=1 went to the service manager
    // Set when the shutdown grace period is over: pulls poll it; generations are cancelled through the watcher.
    std::atomic<bool> cancel_all{false};
    DisconnectWatcher watcher;

    // GGUF details per file (path → details/model_info), read once.
    std::mutex details_mu;
    std::map<std::string, json> details_cache;

    // Parsed chat templates by source text (GGUF templates, Modelfile TEMPLATEs, request templates), so a request
    // does not parse its template again. An entry with a null template records the parse error. Bounded.
    struct ParsedTemplate {
        std::shared_ptr<const ModelTemplate> tmpl;  // null: neither valid Jinja nor a valid Go template
        Status error;
    };
    std::mutex templates_mu;
    std::unordered_map<std::string, ParsedTemplate> templates;
    size_t templates_bytes = 0;  // of the keys

    // Compiled grammars of `format` schemas and forced tool calls, by schema / tool set (bounded; its bytes are
    // reported in /api/memory and /metrics).
    GrammarCache grammars;
};

// ---- responses -----------------------------------------------------------------------------------------
// Dumps JSON replacing invalid UTF-8 (model output may end inside a character).
std::string dump(const json& j);
std::string dump(const ojson& j);
void reply_ordered_json(httplib::Response& res, const ojson& j, int status = 200);
// {"error": message} with `status`.
void reply_error(httplib::Response& res, int status, const std::string& message);
// {"error": {"message","type","param","code"}} for /v1 routes.
void reply_openai_error(httplib::Response& res, int status, const std::string& message);
void reply_json(httplib::Response& res, const json& j, int status = 200);
// HTTP status for a Status: invalid_argument, corrupt_data (a malformed model file) and unsupported 400,
// not_found 404, resource_exhausted, timeout and unavailable 503, cancelled 499, others 500.
int http_status(const Status& st);
std::string now_rfc3339();

// Parses a JSON object body (nesting bounded by kMaxJsonDepth); 400 replies are written on failure (false returned).
bool parse_body(const httplib::Request& req, httplib::Response& res, json& out, bool openai = false);

// ---- model info ----------------------------------------------------------------------------------------
// {format, family, families, parameter_size, quantization_level, parent_model} and the GGUF metadata map.
json model_details(Server::State& st, const StoreEntry& e);
json model_info(Server::State& st, const StoreEntry& e, bool verbose);
std::string expires_rfc3339(int64_t wall_ns);

// ---- requests ------------------------------------------------------------------------------------------
struct RequestOptions {
    SamplingParams sampling;  // Ollama's defaults (temperature 0.8, top_k 40, top_p 0.9, repeat_penalty 1)
    int num_predict = -1;
    int num_ctx = 0;
    std::optional<int> num_gpu;  // layers on the device (Ollama's num_gpu); absent: the policy's
    std::vector<std::string> stop;
    RequestOptions();
};
// Applies an options object (Modelfile parameters, then the request's). Wrong types are invalid_argument.
Status apply_options(const json& options, RequestOptions& out);
// keep_alive from JSON: number (seconds), duration string, null/absent (unset). Others are invalid_argument.
Result<std::optional<int64_t>> parse_keep_alive(const json& body);

// A model resolved from the store and held through the scheduler, with the prompt tokens to run.
struct Prepared {
    std::string name;  // as the client named it (echoed back)
    PeerAddress peer;  // the client's connection
    StoreEntry entry;
    Lease lease;
    GenerateRequest greq;
    int64_t t_start = 0;     // handler entry (monotonic)
    bool truncated = false;  // chat messages were dropped to fit the context
};

// Validates the name and finds the model; sets status 400/404 on failure.
Result<StoreEntry> resolve_model(Server::State& st, const json& body, const char* field = "model");
// Acquires a lease (load if needed) for the entry.
Result<Lease> acquire_model(Server::State& st, const StoreEntry& e, const RequestOptions& ro,
                            const std::optional<int64_t>& keep_alive);
// Parses a chat template, Jinja or Ollama's Go syntax (detected), once (cached by its text); invalid_argument naming
// the parse errors when it is neither.
Result<std::shared_ptr<const ModelTemplate>> parse_template(Server::State& st, const std::string& source);
// The chat template of a model: its Modelfile TEMPLATE (Jinja, or a Go template as Ollama stores carry), else the
// GGUF's tokenizer.chat_template; null when it has neither: the plain fallback then renders the messages.
Result<std::shared_ptr<const ModelTemplate>> model_template(Server::State& st, const StoreEntry& e,
                                                            const LoadedModel& m);
// The chat template source a model would use, read without loading it (for /api/show's capabilities).
std::string model_template_source(Server::State& st, const StoreEntry& e);

// What a prompt is rendered from besides the messages.
struct PromptExtras {
    const ojson* tools = nullptr;  // tool definitions (null or empty: none)
    ThinkSetting think;
    std::string rendered;  // out: the prompt text as rendered (before tokenization)
};
// Renders chat messages with `tmpl` (or the plain fallback when null) and tokenizes them, dropping the oldest
// non-system messages until the prompt fits the context.
Status chat_prompt(const LoadedModel& m, const ModelTemplate* tmpl, ojson messages, PromptExtras& extras,
                   std::vector<int32_t>& tokens, bool& truncated);
// Tokenizes a completion prompt (`tmpl` applied unless raw or null); 400 when it does not fit (unless truncation).
Status completion_prompt(Server::State& st, const LoadedModel& m, const ModelTemplate* tmpl, const std::string& prompt,
                         const std::string& system, bool raw, const json& context, PromptExtras& extras,
                         std::vector<int32_t>& tokens);
// Runs the generation; `emit` gets text pieces and returns false when the client went away. The generation is also
// cancelled (done_reason "cancel") when the watcher sees p.peer's connection closed. A generation cancelled because
// the shutdown grace period is over is unavailable (503, or a final error frame once a stream has begun).
Result<GenerateResult> run_generation(Server::State& st, Prepared& p,
                                      const std::function<bool(std::string_view)>& emit);
// What run_generation returns for a result `r` of the engine: `r` itself, or unavailable when the shutdown
// cancelled it (a stream cut after N tokens, or a request that never started).
Result<GenerateResult> shutdown_outcome(Server::State& st, Result<GenerateResult> r);
// Puts the request's sampling options, num_predict and stop strings into the generation, and marks a truncated
// prompt with the X-Berth-Truncated header (shared by the native and OpenAI routes).
void apply_generation_options(Prepared& p, const RequestOptions& ro, httplib::Response& res);
// Runs a non-streamed generation, collecting its whole text into `text`.
Result<GenerateResult> run_generation_to_text(Server::State& st, Prepared& p, std::string& text);

// ---- systemd -------------------------------------------------------------------------------------------
// Sends `state` ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=...", newline-separated) to the service manager
// over $NOTIFY_SOCKET (sd_notify's protocol). false when the variable is unset or sending failed (logged once).
bool systemd_notify(const std::string& state);
// The watchdog interval the service manager asks for (WATCHDOG_USEC, when WATCHDOG_PID is unset or this
// process), in ns; 0 when there is none.
int64_t systemd_watchdog_ns();

// ---- metrics ---------------------------------------------------------------------------------------------
// The model-server metrics the Gateway API Inference Extension's endpoint picker scrapes (its model-server
// protocol), under opt.gateway_metrics_prefix; empty when that is empty.
std::string gateway_metrics_text(Server::State& st);

// ---- route registration --------------------------------------------------------------------------------
void register_native_routes(Server::State& st);
void register_openai_routes(Server::State& st);
void register_manage_routes(Server::State& st);
void register_info_routes(Server::State& st);
void register_embed_routes(Server::State& st);

}  // namespace berth
