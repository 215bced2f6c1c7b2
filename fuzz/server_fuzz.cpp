// Every route's request decoding in the real server, over loopback: a berth server (models: stories260K and a
// bert embedding model, a small memory budget) runs inside the fuzzer, and each input is one request to a route
// of either API. Input: a byte choosing the route, then the request body.
// Properties: the server survives every request and keeps answering; no answer is a 500 (an escaping exception or an
// unmapped error) nor any 5xx other than the documented 501 (embeddings from a generative model) and 503 (budget,
// queue, timeouts); every answer's body is complete JSON, and every line of a stream (NDJSON, or SSE data events) is.
#include <httplib.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "fuzz_util.h"
#include "server/server.h"

using namespace berth;
using json = nlohmann::json;

namespace {

const char* kRoutes[] = {"/api/generate", "/api/chat", "/api/embed",  "/api/embeddings",      "/api/show",
                         "/api/create",   "/api/copy", "/api/delete", "/v1/chat/completions", "/v1/completions",
                         "/v1/embeddings"};
constexpr size_t kNumRoutes = sizeof(kRoutes) / sizeof(kRoutes[0]);

Server* g_server = nullptr;
httplib::Client* g_client = nullptr;
httplib::Client* g_probe = nullptr;  // checks that the server still answers when a request runs long

bool complete_json(std::string_view text) { return !json::parse(text, nullptr, false).is_discarded(); }

// Each line of an NDJSON stream, or each "data:" event of an SSE stream, is one whole JSON document.
void check_body(const std::string& content_type, const std::string& body) {
    if (content_type.rfind("application/x-ndjson", 0) == 0 || content_type.rfind("text/event-stream", 0) == 0) {
        const bool sse = content_type.rfind("text/event-stream", 0) == 0;
        size_t start = 0;
        while (start < body.size()) {
            size_t end = body.find('\n', start);
            if (end == std::string::npos) fuzz::fail("a stream ends inside a line");
            std::string_view line(body.data() + start, end - start);
            start = end + 1;
            if (line.empty()) continue;
            if (sse) {
                if (line.rfind("data: ", 0) != 0) fuzz::fail("an SSE line that is not a data event");
                line.remove_prefix(6);
                if (line == "[DONE]") continue;
            }
            if (!complete_json(line)) fuzz::fail("a stream line is not a whole JSON document");
        }
    } else if (content_type.rfind("application/json", 0) == 0 && !complete_json(body)) {
        fuzz::fail("a JSON answer is not a whole JSON document");
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    set_log_level(LogLevel::error);
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/berth-server-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) abort();
    static fs::path dir = tmpl;
    // The server thread is never joined; the store and the links go when the fuzzer exits (-runs or -max_total_time).
    atexit([] {
        std::error_code ec;
        fs::remove_all(dir, ec);
    });
    fs::create_directories(dir / "models");
    fs::create_symlink(fs::path(BERTH_TESTDATA) / "models/stories260K.gguf", dir / "models/stories260K.gguf");
    fs::create_symlink(fs::path(BERTH_TESTDATA) / "models/bert-q8_0.gguf", dir / "models/bert.gguf");
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.store_dir = (dir / "store").string();
    o.models_dirs = {(dir / "models").string()};
    o.http_threads = 8;
    o.sched.max_memory = 64 << 20;  // bounds num_ctx (the KV pool) and so the longest generation
    o.sched.max_loaded_models = 2;
    o.sched.wait_timeout = 5 * kNsPerSecond;
    o.sched.load_timeout = 5 * kNsPerSecond;
    g_server = new Server(o);
    if (!g_server->bind().is_ok()) abort();
    std::thread([] { (void)g_server->run(); }).detach();
    g_client = new httplib::Client("127.0.0.1", g_server->port());
    g_client->set_read_timeout(20, 0);
    g_client->set_keep_alive(true);
    g_probe = new httplib::Client("127.0.0.1", g_server->port());
    g_probe->set_read_timeout(10, 0);
    for (int i = 0; i < 100 && !g_client->Get("/api/version"); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Input in(data, size);
    const char* route = kRoutes[in.byte() % kNumRoutes];
    httplib::Request req;
    req.method = route == std::string_view("/api/delete") ? "DELETE" : "POST";
    req.path = route;
    req.body = std::string(in.rest());
    req.set_header("Content-Type", "application/json");
    // A request may legitimately run long (streaming to the end of a large num_ctx): the client gives up after 20 s,
    // which cancels it, and the server must then still answer others at once.
    const int64_t deadline = now_ns() + 20 * kNsPerSecond;
    bool gave_up = false;
    std::string body;
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
        body.append(d, n);
        gave_up = now_ns() > deadline;
        return !gave_up;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    if (!g_client->send(req, res, err)) {
        if ((gave_up || err == httplib::Error::Read) && g_probe->Get("/api/version")) return 0;
        fprintf(stderr, "%s: no answer (%s)\n", route, httplib::to_string(err).c_str());
        fuzz::fail("the server did not answer");
    }
    const int status = res.status;
    if (status >= 500 && status != 501 && status != 503) {
        fprintf(stderr, "%s -> %d %s\n", route, status, body.c_str());
        fuzz::fail("a 5xx answer other than 501 or 503");
    }
    check_body(res.get_header_value("Content-Type"), body);
    return 0;
}
