// A small HTTP client of the running server for the CLI commands (run, ps, list, show, stop, pull, create,
// cp, rm): the address comes from BERTH_HOST (fallback OLLAMA_HOST), default 127.0.0.1:11434.
#pragma once

#include <ctime>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/base.h"

namespace berth::cli {

using json = nlohmann::json;

struct ApiReply {
    int status = 0;
    json body;         // parsed JSON (null when the body was not JSON)
    std::string text;  // raw body
};

class ApiClient {
  public:
    ApiClient();  // from the environment
    std::string address() const { return host_ + ":" + std::to_string(port_); }
    // Transport failures (server not running) are io_error with a hint; HTTP errors come back as replies.
    Result<ApiReply> get(const std::string& path) const;
    Result<ApiReply> post(const std::string& path, const json& body) const;
    Result<ApiReply> del(const std::string& path, const json& body) const;
    Result<ApiReply> head(const std::string& path) const;
    Result<ApiReply> upload(const std::string& path, const std::string& file) const;
    // POSTs and calls on_line for each NDJSON object; return false from on_line to stop. Errors in the
    // stream ({"error": ...}) and HTTP errors become a Status.
    Status stream(const std::string& path, const json& body, const std::function<bool(const json&)>& on_line) const;

  private:
    std::string host_;
    int port_ = 11434;
    std::string api_key_;
};

// "Error: <message>" from a reply's {"error": ...} (or its status line) to stderr; returns 1.
int reply_error(const ApiReply& r);
// "2026-11-23T11:04:34.62Z" or with a "+01:00" offset → Unix time; nullopt when it does not parse.
std::optional<time_t> parse_rfc3339(const std::string& text);
// The reply's JSON body, indented, to stdout (for --json); returns 0.
int print_json(const ApiReply& r);
// 1536 → "1.5 KB" (decimal units, as ollama prints sizes).
std::string human_size(int64_t bytes);

}  // namespace berth::cli
