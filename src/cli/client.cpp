// HTTP client of the running server for the CLI commands.
#include "cli/client.h"

#include <httplib.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "server/server.h"

namespace berth::cli {

namespace {

std::unique_ptr<httplib::Client> make_client(const std::string& host, int port) {
    auto c = std::make_unique<httplib::Client>(host, port);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(3600, 0);  // generation and loads can take a while
    c->set_write_timeout(600, 0);
    return c;
}

Status transport_error(const std::string& addr, httplib::Error e) {
    return io_error("could not reach berth at %s (%s); is `berth serve` running?", addr.c_str(),
                    httplib::to_string(e).c_str());
}

ApiReply to_reply(const httplib::Response& res) {
    ApiReply r;
    r.status = res.status;
    r.text = res.body;
    r.body = json::parse(res.body, nullptr, false);
    if (r.body.is_discarded()) r.body = nullptr;
    return r;
}

}  // namespace

ApiClient::ApiClient() {
    std::string h = env_or("BERTH_HOST", "OLLAMA_HOST", "127.0.0.1:11434");
    std::string host = "127.0.0.1";
    int port = 11434;
    if (parse_host_port(h, host, port).is_ok()) {
        host_ = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host;
        port_ = port;
    } else {
        host_ = "127.0.0.1";
    }
    api_key_ = env_or("BERTH_API_KEY", nullptr, "");
}

static httplib::Headers headers(const std::string& key) {
    httplib::Headers h;
    if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
    return h;
}

Result<ApiReply> ApiClient::get(const std::string& path) const {
    auto c = make_client(host_, port_);
    auto res = c->Get(path, headers(api_key_));
    if (!res) return transport_error(address(), res.error());
    return to_reply(*res);
}

Result<ApiReply> ApiClient::head(const std::string& path) const {
    auto c = make_client(host_, port_);
    auto res = c->Head(path, headers(api_key_));
    if (!res) return transport_error(address(), res.error());
    return to_reply(*res);
}

Result<ApiReply> ApiClient::post(const std::string& path, const json& body) const {
    auto c = make_client(host_, port_);
    auto res = c->Post(path, headers(api_key_), body.dump(), "application/json");
    if (!res) return transport_error(address(), res.error());
    return to_reply(*res);
}

Result<ApiReply> ApiClient::del(const std::string& path, const json& body) const {
    auto c = make_client(host_, port_);
    auto res = c->Delete(path, headers(api_key_), body.dump(), "application/json");
    if (!res) return transport_error(address(), res.error());
    return to_reply(*res);
}

Result<ApiReply> ApiClient::upload(const std::string& path, const std::string& file) const {
    std::ifstream f(file, std::ios::binary);
    if (!f) return io_error("cannot read %s", file.c_str());
    std::ostringstream s;
    s << f.rdbuf();
    auto c = make_client(host_, port_);
    auto res = c->Post(path, headers(api_key_), s.str(), "application/octet-stream");
    if (!res) return transport_error(address(), res.error());
    return to_reply(*res);
}

Status ApiClient::stream(const std::string& path, const json& body,
                         const std::function<bool(const json&)>& on_line) const {
    auto c = make_client(host_, port_);
    std::string buf, err_body;
    int status = 0;
    Status stream_error;
    bool stopped = false;
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.headers = headers(api_key_);
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.response_handler = [&](const httplib::Response& r) {
        status = r.status;
        return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        if (status != 200) {
            err_body.append(data, n);
            return true;
        }
        buf.append(data, n);
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
            std::string line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            if (line.empty()) continue;
            json j = json::parse(line, nullptr, false);
            if (j.is_discarded()) continue;
            if (j.is_object() && j.contains("error")) {
                stream_error = internal_error(
                    "%s", j["error"].is_string() ? j["error"].get<std::string>().c_str() : j["error"].dump().c_str());
                return false;
            }
            if (!on_line(j)) {
                stopped = true;
                return false;
            }
        }
        return true;
    };
    auto res = c->send(req);
    if (!stream_error.is_ok()) return stream_error;
    if (stopped) return Status::ok();
    if (!res) return transport_error(address(), res.error());
    if (status != 200) {
        json j = json::parse(err_body, nullptr, false);
        std::string m = !j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string()
                            ? j["error"].get<std::string>()
                            : err_body;
        return Status(status == 404 ? StatusCode::not_found : StatusCode::invalid_argument, m);
    }
    return Status::ok();
}

int reply_error(const ApiReply& r) {
    std::string m;
    if (r.body.is_object() && r.body.contains("error")) {
        const json& e = r.body["error"];
        m = e.is_string()                            ? e.get<std::string>()
            : e.is_object() && e.contains("message") ? e["message"].dump()
                                                     : e.dump();
    } else {
        m = "HTTP " + std::to_string(r.status) + (r.text.empty() ? "" : ": " + r.text);
    }
    fprintf(stderr, "Error: %s\n", m.c_str());
    return 1;
}

std::optional<time_t> parse_rfc3339(const std::string& text) {
    struct tm t = {};
    if (!strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &t)) return std::nullopt;
    time_t when = timegm(&t);
    size_t tz = text.find_first_of("+-Z", 19);
    if (tz != std::string::npos && text[tz] != 'Z') {
        int hh = 0, mm = 0;
        sscanf(text.c_str() + tz + 1, "%d:%d", &hh, &mm);
        when -= (text[tz] == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
    }
    return when;
}

int print_json(const ApiReply& r) {
    printf("%s\n", r.body.dump(2).c_str());
    return 0;
}

std::string human_size(int64_t b) {
    if (b >= 1000000000) return string_printf("%.1f GB", double(b) / 1e9);
    if (b >= 1000000) return string_printf("%.1f MB", double(b) / 1e6);
    if (b >= 1000) return string_printf("%.1f KB", double(b) / 1e3);
    return string_printf("%lld B", (long long)b);
}

}  // namespace berth::cli
