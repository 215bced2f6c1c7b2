// The model catalog (internal to server): berth's own store in Ollama's layout (read-write), existing Ollama
// stores (read-only: never written), and `--models-dir` directories whose *.gguf files are served under
// their file names.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/base.h"

namespace berth {

struct StoreEntry {
    std::string name;         // as listed: "stories260K" (models-dir) or "mystories:latest" (stores)
    std::string model_path;   // the GGUF file
    std::string digest;       // hex: sha256 of the manifest (stores) or of name+size+mtime (models-dir)
    int64_t size = 0;         // bytes of all layers
    int64_t modified_ns = 0;  // wall clock
    std::string source;       // "models-dir" | "berth" | "ollama"
    std::string system, template_text, license;
    nlohmann::json params = nlohmann::json::object();   // Modelfile PARAMETERs
    nlohmann::json messages = nlohmann::json::array();  // Modelfile MESSAGEs
    std::string parent;                                 // the model it was created from, if any
};

// What /api/create asks for.
struct CreateSpec {
    std::string name;
    std::string from;                          // a model name, or empty when `files` are given
    std::map<std::string, std::string> files;  // file name → "sha256:<hex>" (uploaded blobs)
    std::string system, template_text, license;
    bool has_system = false, has_template = false, has_license = false;
    nlohmann::json params = nlohmann::json::object();
    nlohmann::json messages;  // null: keep the base's
};

class Store {
  public:
    Store(std::string berth_dir, std::vector<std::string> ollama_dirs, std::vector<std::string> models_dirs);

    const std::string& berth_dir() const { return berth_dir_; }
    // Every model, newest first. Names shadow in order: models-dir, berth, ollama.
    std::vector<StoreEntry> list() const;
    // By name, with or without ":latest", case-insensitively. not_found "model 'x' not found".
    Result<StoreEntry> find(const std::string& name) const;

    Status create(const CreateSpec& spec);
    Status copy(const std::string& source, const std::string& destination);
    Status remove(const std::string& name);  // only in berth's store

    // Blobs in berth's store ("sha256:<hex>" digests).
    bool has_blob(const std::string& digest) const;
    std::string blob_path(const std::string& digest) const;  // "" for an invalid digest
    // Moves a finished upload into place after checking its hash. invalid_argument on mismatch.
    Status adopt_blob(const std::string& digest, const std::string& tmp_path);

    // Manifests parsed and held in the cache now (for tests).
    size_t cached_manifests() const;
    // Deletes the temporary files of writes a killed process never finished (".tmp<pid>", ".upload<pid>-<n>" in
    // berth's store, whose process is gone); those of a live process stay. Pull's "-partial" files are kept: the
    // next pull resumes them. Returns how many were deleted.
    size_t remove_stale_temporaries();

  private:
    Result<StoreEntry> read_manifest(const std::string& root, const std::string& manifest_path, const std::string& name,
                                     const std::string& source) const;
    Result<StoreEntry> parse_manifest(const std::string& root, const std::string& manifest_path,
                                      const std::string& name, const std::string& source) const;
    void list_store(const std::string& root, const std::string& source, std::vector<StoreEntry>& out) const;
    std::optional<StoreEntry> find_in_models_dir(const std::string& dir, const std::string& key) const;
    void forget_manifest(const std::string& manifest_path) const;
    Result<std::string> write_blob_bytes(const std::string& bytes);                // returns "sha256:<hex>"
    Result<std::string> import_file_blob(const std::string& path, int64_t* size);  // returns "sha256:<hex>"

    std::string berth_dir_;
    std::vector<std::string> ollama_dirs_;
    std::vector<std::string> models_dirs_;
    mutable std::mutex mu_;  // serializes writes to berth's store

    // Parsed manifests by path, valid while the file keeps its mtime and size (layers are content-addressed, so
    // a manifest's entry cannot change under it otherwise); dropped by create/copy/remove. Bounded.
    struct CachedManifest {
        int64_t mtime_ns = 0, size = 0;
        StoreEntry entry;
    };
    // A models-dir's *.gguf names (match key, file name), valid while the directory keeps its mtime.
    struct CachedDir {
        int64_t mtime_ns = -1;
        std::vector<std::pair<std::string, std::string>> files;
    };
    mutable std::mutex cache_mu_;
    mutable std::unordered_map<std::string, CachedManifest> manifests_;
    mutable std::unordered_map<std::string, CachedDir> dirs_;
};

// The manifest path of a model name inside a store root ("" if the name is invalid).
std::string manifest_path_for(const std::string& root, const std::string& name);
// Canonical display name ("llama3.2" → "llama3.2:latest"); invalid_argument for bad names (path traversal...).
Result<std::string> canonical_model_name(const std::string& name);
// Checks that a TEMPLATE (Modelfile, /api/create) parses as a Jinja chat template or as one of Ollama's Go
// templates; invalid_argument naming the parse error(s) and the two syntaxes otherwise.
Status check_template(const std::string& text);
// That message for a template's parse error.
Status invalid_template_error(const Status& parse_error);
// sha256 of bytes as 64 hex digits.
std::string sha256_hex(const std::string& bytes);

}  // namespace berth
