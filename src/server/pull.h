// Pulling models from an Ollama-style registry (Docker registry v2 layout) into berth's store, over HTTPS with
// libcurl: resumable (<blob>-partial files survive interruptions and are continued with Range requests),
// every blob verified by sha256 before it is moved into place, the manifest written last.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/base.h"

namespace berth {

// A model reference split the way Ollama stores it: manifests/<host>/<ns>/<model>/<tag>.
struct ModelRef {
    std::string host = "registry.ollama.ai";
    std::string ns = "library";
    std::string model;
    std::string tag = "latest";
    std::string manifest_rel_path() const { return "manifests/" + host + "/" + ns + "/" + model + "/" + tag; }
    std::string display() const;  // shortest form: "llama3.2:latest", "user/m:tag", "host/ns/m:tag"
};
// Parses "llama3.2", "llama3.2:3b", "user/model:tag", "host[:port]/ns/model:tag". Refuses names that could
// escape the store (.., slashes in the wrong place, characters outside [A-Za-z0-9._-]).
Result<ModelRef> parse_model_ref(const std::string& name);
// "sha256:<64 hex>" (or "sha256-<64 hex>") → "sha256-<hex>" blob file name; error otherwise.
Result<std::string> blob_file_name(const std::string& digest);

struct PullProgress {
    std::string
        status;  // "pulling manifest", "pulling <hex12>", "verifying sha256 digest", "writing manifest", "success"
    std::string digest;
    int64_t total = 0, completed = 0;
};

struct PullOptions {
    std::string models_dir;      // berth's store (never Ollama's)
    bool insecure = false;       // plain http:// to the registry (tests, local registries)
    int max_attempts = 5;        // per blob; each retry resumes from the partial file
    long low_speed_time_s = 60;  // abort a transfer that moves less than 1 byte/s for this long, then retry
    // Called for each progress event; return false to cancel the pull (the partial files stay for resuming).
    std::function<bool(const PullProgress&)> progress;
};

Status pull_model(const std::string& name, const PullOptions& opts);

// sha256 of a file's content as 64 hex digits.
Result<std::string> sha256_file(const std::string& path);

}  // namespace berth
