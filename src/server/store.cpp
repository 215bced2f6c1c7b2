// Model catalog over Ollama-layout stores and models-dir directories.
#include "server/store.h"

#include <openssl/evp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/bounded_json.h"
#include "server/pull.h"
#include "template/template.h"

namespace berth {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kMediaPrefix = "application/vnd.ollama.image.";

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

Status write_text_atomic(const std::string& path, const std::string& bytes) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec) return io_error("cannot create %s: %s", fs::path(path).parent_path().c_str(), ec.message().c_str());
    std::string tmp = path + ".tmp" + std::to_string(getpid());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) return io_error("cannot write %s: %s", tmp.c_str(), strerror(errno));
        f.write(bytes.data(), std::streamsize(bytes.size()));
        f.close();  // a full disk often shows only when the buffer is flushed
        if (!f) {
            int e = errno;
            fs::remove(tmp, ec);
            return io_error("cannot write %s: %s (is the disk full?)", tmp.c_str(), strerror(e));
        }
    }
    fs::rename(tmp, path, ec);
    if (ec) return io_error("cannot move %s into place: %s", path.c_str(), ec.message().c_str());
    return Status::ok();
}

int64_t mtime_ns(const std::string& path) {
    struct stat sb;
    if (::stat(path.c_str(), &sb) != 0) return 0;
    return int64_t(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

// Name without a ":latest" tag, lower-cased, for matching.
std::string match_key(const std::string& name) {
    std::string n = lower(name);
    size_t slash = n.rfind('/');
    size_t colon = n.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash) && n.substr(colon) == ":latest")
        n.resize(colon);
    // Default host/namespace are not part of the display name.
    for (const char* p : {"registry.ollama.ai/library/", "library/"}) {
        if (n.rfind(p, 0) == 0) n = n.substr(strlen(p));
    }
    return n;
}

}  // namespace

std::string sha256_hex(const std::string& bytes) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(bytes.data(), bytes.size(), d, &n, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
        out.push_back(hex[d[i] >> 4]);
        out.push_back(hex[d[i] & 15]);
    }
    return out;
}

Status invalid_template_error(const Status& parse_error) {
    return invalid_argument(
        "invalid TEMPLATE: %s. berth takes a Jinja chat template like a GGUF's tokenizer.chat_template (variables: "
        "messages, tools, add_generation_prompt, bos_token, eos_token) or one of Ollama's Go templates "
        "({{ .Messages }}, {{ .System }}, {{ .Prompt }}, ...)",
        parse_error.message().c_str());
}

Status check_template(const std::string& text) {
    // Either syntax, detected as PromptTemplate does (a Go template that does not parse as Jinja is Go).
    Result<PromptTemplate> t = PromptTemplate::parse(text);
    if (!t.is_ok()) return invalid_template_error(t.status());
    return Status::ok();
}

Result<std::string> canonical_model_name(const std::string& name) {
    Result<ModelRef> r = parse_model_ref(name);
    if (!r.is_ok()) return invalid_argument("invalid model name");
    return r->display();
}

std::string manifest_path_for(const std::string& root, const std::string& name) {
    Result<ModelRef> r = parse_model_ref(name);
    if (!r.is_ok()) return "";
    return root + "/" + r->manifest_rel_path();
}

Store::Store(std::string berth_dir, std::vector<std::string> ollama_dirs, std::vector<std::string> models_dirs)
    : berth_dir_(std::move(berth_dir)), ollama_dirs_(std::move(ollama_dirs)), models_dirs_(std::move(models_dirs)) {}

namespace {

constexpr size_t kMaxCachedManifests = 1024;

bool stat_file(const std::string& path, int64_t& mtime, int64_t& size) {
    struct stat sb;
    if (::stat(path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    mtime = int64_t(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec;
    size = int64_t(sb.st_size);
    return true;
}

}  // namespace

Result<StoreEntry> Store::read_manifest(const std::string& root, const std::string& manifest_path,
                                        const std::string& name, const std::string& source) const {
    int64_t mtime = 0, size = 0;
    if (!stat_file(manifest_path, mtime, size)) return not_found("model '%s' not found", name.c_str());
    {
        std::lock_guard<std::mutex> lock(cache_mu_);
        auto it = manifests_.find(manifest_path);
        if (it != manifests_.end() && it->second.mtime_ns == mtime && it->second.size == size &&
            it->second.entry.name == name && it->second.entry.source == source)
            return it->second.entry;
    }
    ASSIGN_OR_RETURN(StoreEntry e, parse_manifest(root, manifest_path, name, source));
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (manifests_.size() >= kMaxCachedManifests) manifests_.clear();
    manifests_[manifest_path] = CachedManifest{mtime, size, e};
    return e;
}

void Store::forget_manifest(const std::string& manifest_path) const {
    std::lock_guard<std::mutex> lock(cache_mu_);
    manifests_.erase(manifest_path);
}

size_t Store::remove_stale_temporaries() {
    size_t removed = 0;
    std::error_code ec;
    for (const char* sub : {"blobs", "manifests"}) {
        fs::path dir = fs::path(berth_dir_) / sub;
        if (!fs::is_directory(dir, ec)) continue;
        for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec)) {
            if (it.depth() > 4 || !it->is_regular_file(ec)) continue;
            std::string name = it->path().filename();
            size_t at = name.rfind(".tmp");
            size_t skip = 4;
            if (size_t up = name.rfind(".upload"); up != std::string::npos && (at == std::string::npos || up > at))
                at = up, skip = 7;
            if (at == std::string::npos) continue;
            long pid = std::strtol(name.c_str() + at + skip, nullptr, 10);
            if (pid <= 0 || (kill(pid_t(pid), 0) == 0 || errno != ESRCH)) continue;  // a live writer's
            std::error_code rm;
            if (fs::remove(it->path(), rm)) ++removed;
        }
    }
    return removed;
}

size_t Store::cached_manifests() const {
    std::lock_guard<std::mutex> lock(cache_mu_);
    return manifests_.size();
}

Result<StoreEntry> Store::parse_manifest(const std::string& root, const std::string& manifest_path,
                                         const std::string& name, const std::string& source) const {
    std::string bytes = read_text(manifest_path);
    Result<json> parsed = parse_json_bounded(bytes, "the manifest");
    json m = parsed.is_ok() ? std::move(parsed).value() : json();
    if (!m.is_object() || !m.contains("layers") || !m["layers"].is_array())
        return corrupt_data("manifest %s is not valid JSON", manifest_path.c_str());
    StoreEntry e;
    e.name = name;
    e.source = source;
    e.digest = sha256_hex(bytes);
    e.modified_ns = mtime_ns(manifest_path);
    // Sizes are summed with saturation and types checked without throwing: a manifest is outside input.
    auto add_size = [&e](int64_t n) { e.size = n > 0 && e.size < INT64_MAX - n ? e.size + n : e.size; };
    if (m.contains("config")) add_size(json_int_or(m["config"], "size", 0));
    for (const json& layer : m["layers"]) {
        if (!layer.is_object()) continue;
        std::string media = json_string_or(layer, "mediaType", "");
        std::string digest = json_string_or(layer, "digest", "");
        add_size(json_int_or(layer, "size", 0));
        Result<std::string> file = blob_file_name(digest);
        if (!file.is_ok()) continue;
        std::string path = root + "/blobs/" + *file;
        if (media.rfind(kMediaPrefix, 0) != 0) continue;
        std::string kind = media.substr(strlen(kMediaPrefix));
        if (kind == "model") {
            e.model_path = path;
            if (layer.contains("from") && layer["from"].is_string()) e.parent = layer["from"];
        } else if (kind == "system") {
            e.system = read_text(path);
        } else if (kind == "template" || kind == "prompt") {
            e.template_text = read_text(path);
        } else if (kind == "license") {
            e.license += (e.license.empty() ? "" : "\n") + read_text(path);
        } else if (kind == "params") {
            Result<json> p = parse_json_bounded(read_text(path), "the params layer");
            if (p.is_ok() && p->is_object()) e.params = std::move(p).value();
        } else if (kind == "messages") {
            Result<json> p = parse_json_bounded(read_text(path), "the messages layer");
            if (p.is_ok() && p->is_array()) e.messages = std::move(p).value();
        }
    }
    if (e.model_path.empty()) return unsupported("model %s has no GGUF layer", name.c_str());
    return e;
}

void Store::list_store(const std::string& root, const std::string& source, std::vector<StoreEntry>& out) const {
    std::error_code ec;
    fs::path base = fs::path(root) / "manifests";
    if (!fs::is_directory(base, ec)) return;
    // manifests/<host>/<namespace>/<model>/<tag>: exactly four levels.
    for (auto& host : fs::directory_iterator(base, ec)) {
        if (!host.is_directory()) continue;
        for (auto& ns : fs::directory_iterator(host.path(), ec)) {
            if (!ns.is_directory()) continue;
            for (auto& model : fs::directory_iterator(ns.path(), ec)) {
                if (!model.is_directory()) continue;
                for (auto& tag : fs::directory_iterator(model.path(), ec)) {
                    if (!tag.is_regular_file()) continue;
                    ModelRef r;
                    r.host = host.path().filename();
                    r.ns = ns.path().filename();
                    r.model = model.path().filename();
                    r.tag = tag.path().filename();
                    if (r.tag.find(".tmp") != std::string::npos) continue;
                    Result<StoreEntry> e = read_manifest(root, tag.path(), r.display(), source);
                    if (e.is_ok()) out.push_back(std::move(e).value());
                }
            }
        }
    }
}

std::vector<StoreEntry> Store::list() const {
    std::vector<StoreEntry> out;
    std::error_code ec;
    for (const std::string& dir : models_dirs_) {
        for (auto& f : fs::directory_iterator(dir, ec)) {
            if (!f.is_regular_file() || f.path().extension() != ".gguf") continue;
            StoreEntry e;
            e.name = f.path().stem();
            e.model_path = f.path();
            e.size = int64_t(f.file_size());
            e.modified_ns = mtime_ns(e.model_path);
            e.digest = sha256_hex(e.model_path + ":" + std::to_string(e.size) + ":" + std::to_string(e.modified_ns));
            e.source = "models-dir";
            out.push_back(std::move(e));
        }
    }
    list_store(berth_dir_, "berth", out);
    for (const std::string& d : ollama_dirs_) list_store(d, "ollama", out);
    // First occurrence of a name wins (models-dir, then berth, then ollama).
    std::vector<StoreEntry> unique;
    std::vector<std::string> seen;
    for (auto& e : out) {
        std::string k = match_key(e.name);
        if (std::find(seen.begin(), seen.end(), k) != seen.end()) continue;
        seen.push_back(k);
        unique.push_back(std::move(e));
    }
    std::stable_sort(unique.begin(), unique.end(),
                     [](const StoreEntry& a, const StoreEntry& b) { return a.modified_ns > b.modified_ns; });
    return unique;
}

std::optional<StoreEntry> Store::find_in_models_dir(const std::string& dir, const std::string& key) const {
    struct stat sb;
    if (::stat(dir.c_str(), &sb) != 0) return std::nullopt;
    const int64_t dir_mtime = int64_t(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec;
    std::string file;
    {
        std::lock_guard<std::mutex> lock(cache_mu_);
        CachedDir& d = dirs_[dir];
        if (d.mtime_ns != dir_mtime) {  // a file was added, removed or renamed: list the directory again
            d.files.clear();
            std::error_code ec;
            for (auto& f : fs::directory_iterator(dir, ec)) {
                if (f.path().extension() != ".gguf") continue;
                d.files.emplace_back(match_key(f.path().stem()), f.path().filename());
            }
            d.mtime_ns = dir_mtime;
        }
        for (auto& [k, name] : d.files) {
            if (k == key) {
                file = name;
                break;
            }
        }
    }
    if (file.empty()) return std::nullopt;
    StoreEntry e;
    e.model_path = dir + "/" + file;
    if (!stat_file(e.model_path, e.modified_ns, e.size)) return std::nullopt;
    e.name = fs::path(file).stem();
    e.digest = sha256_hex(e.model_path + ":" + std::to_string(e.size) + ":" + std::to_string(e.modified_ns));
    e.source = "models-dir";
    return e;
}

Result<StoreEntry> Store::find(const std::string& name) const {
    // The same answer as searching list() (models-dir, then berth, then Ollama's stores), without listing: the
    // models-dirs' names are cached per directory mtime, a store is first asked for the name's own manifest
    // (parsed once, cached), and only a name that differs in case from its manifest's path walks the store.
    std::string key = match_key(name);
    for (const std::string& dir : models_dirs_) {
        if (std::optional<StoreEntry> e = find_in_models_dir(dir, key)) return std::move(*e);
    }
    Result<ModelRef> ref = parse_model_ref(name);
    std::vector<std::pair<const std::string*, const char*>> stores = {{&berth_dir_, "berth"}};
    for (const std::string& d : ollama_dirs_) stores.push_back({&d, "ollama"});
    for (auto& [root, source] : stores) {
        if (ref.is_ok() && ref->tag.find(".tmp") == std::string::npos) {  // never a manifest being written
            Result<StoreEntry> e = read_manifest(*root, *root + "/" + ref->manifest_rel_path(), ref->display(), source);
            if (e.is_ok()) return e;
        }
        std::vector<StoreEntry> all;
        list_store(*root, source, all);
        for (auto& e : all) {
            if (match_key(e.name) == key) return std::move(e);
        }
    }
    return not_found("model '%s' not found", name.c_str());
}

bool Store::has_blob(const std::string& digest) const {
    std::string p = blob_path(digest);
    std::error_code ec;
    return !p.empty() && fs::is_regular_file(p, ec);
}

std::string Store::blob_path(const std::string& digest) const {
    Result<std::string> f = blob_file_name(digest);
    if (!f.is_ok()) return "";
    return berth_dir_ + "/blobs/" + *f;
}

Status Store::adopt_blob(const std::string& digest, const std::string& tmp_path) {
    std::string path = blob_path(digest);
    if (path.empty()) return invalid_argument("invalid digest");
    ASSIGN_OR_RETURN(std::string hex, sha256_file(tmp_path));
    if ("sha256:" + hex != digest && "sha256-" + hex != digest) {
        std::remove(tmp_path.c_str());
        return invalid_argument("digest mismatch, expected \"%s\", got \"sha256:%s\"", digest.c_str(), hex.c_str());
    }
    std::error_code ec;
    fs::create_directories(berth_dir_ + "/blobs", ec);
    fs::rename(tmp_path, path, ec);
    if (ec) return io_error("cannot store blob: %s", ec.message().c_str());
    return Status::ok();
}

Result<std::string> Store::write_blob_bytes(const std::string& bytes) {
    std::string digest = "sha256:" + sha256_hex(bytes);
    if (!has_blob(digest)) RETURN_IF_ERROR(write_text_atomic(blob_path(digest), bytes));
    return digest;
}

Result<std::string> Store::import_file_blob(const std::string& path, int64_t* size) {
    ASSIGN_OR_RETURN(std::string hex, sha256_file(path));
    std::string digest = "sha256:" + hex;
    std::error_code ec;
    *size = int64_t(fs::file_size(path, ec));
    if (has_blob(digest)) return digest;
    fs::create_directories(berth_dir_ + "/blobs", ec);
    std::string dst = blob_path(digest);
    std::string tmp = dst + ".tmp" + std::to_string(getpid());
    fs::create_hard_link(path, tmp, ec);  // same file system: no copy
    if (ec) {
        ec.clear();
        fs::copy_file(path, tmp, fs::copy_options::overwrite_existing, ec);
        if (ec) {
            std::error_code ignored;
            fs::remove(tmp, ignored);
            return io_error("cannot copy %s into the store: %s", path.c_str(), ec.message().c_str());
        }
    }
    fs::rename(tmp, dst, ec);
    if (ec) return io_error("cannot store blob: %s", ec.message().c_str());
    return digest;
}

Status Store::create(const CreateSpec& spec) {
    ASSIGN_OR_RETURN(std::string name, canonical_model_name(spec.name));
    if (spec.has_template && !spec.template_text.empty()) RETURN_IF_ERROR(check_template(spec.template_text));
    std::lock_guard<std::mutex> lock(mu_);
    StoreEntry base;
    std::string model_digest;
    int64_t model_size = 0;
    if (!spec.from.empty()) {
        ASSIGN_OR_RETURN(base, find(spec.from));
        ASSIGN_OR_RETURN(model_digest, import_file_blob(base.model_path, &model_size));
    } else {
        for (auto& [file, digest] : spec.files) {
            if (file.size() >= 5 && file.substr(file.size() - 5) == ".gguf") model_digest = digest;
        }
        if (model_digest.empty() && spec.files.size() == 1) model_digest = spec.files.begin()->second;
        if (model_digest.empty()) return invalid_argument("no GGUF file among 'files'");
        if (!has_blob(model_digest)) return invalid_argument("blob %s has not been uploaded", model_digest.c_str());
        std::error_code ec;
        model_size = int64_t(fs::file_size(blob_path(model_digest), ec));
    }
    json layers = json::array();
    json model_layer = {
        {"mediaType", std::string(kMediaPrefix) + "model"}, {"digest", model_digest}, {"size", model_size}};
    if (!base.name.empty()) model_layer["from"] = base.name;
    layers.push_back(model_layer);
    auto add_text = [&](const char* kind, const std::string& text) -> Status {
        if (text.empty()) return Status::ok();
        ASSIGN_OR_RETURN(std::string d, write_blob_bytes(text));
        layers.push_back({{"mediaType", std::string(kMediaPrefix) + kind}, {"digest", d}, {"size", text.size()}});
        return Status::ok();
    };
    RETURN_IF_ERROR(add_text("template", spec.has_template ? spec.template_text : base.template_text));
    RETURN_IF_ERROR(add_text("system", spec.has_system ? spec.system : base.system));
    RETURN_IF_ERROR(add_text("license", spec.has_license ? spec.license : base.license));
    json params = base.params.is_object() ? base.params : json::object();
    for (auto& [k, v] : spec.params.items()) params[k] = v;
    if (!params.empty()) RETURN_IF_ERROR(add_text("params", params.dump()));
    json messages = spec.messages.is_array() ? spec.messages : base.messages;
    if (messages.is_array() && !messages.empty()) RETURN_IF_ERROR(add_text("messages", messages.dump()));
    std::string config = json{{"model_format", "gguf"}, {"architecture", "amd64"}, {"os", "linux"}}.dump();
    ASSIGN_OR_RETURN(std::string config_digest, write_blob_bytes(config));
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                     {"config",
                      {{"mediaType", "application/vnd.docker.container.image.v1+json"},
                       {"digest", config_digest},
                       {"size", config.size()}}},
                     {"layers", layers}};
    std::string path = manifest_path_for(berth_dir_, name);
    Status written = write_text_atomic(path, manifest.dump());
    forget_manifest(path);  // after the write: a lookup meanwhile may have cached the old one
    return written;
}

Status Store::copy(const std::string& source, const std::string& destination) {
    ASSIGN_OR_RETURN(std::string dst, canonical_model_name(destination));
    ASSIGN_OR_RETURN(StoreEntry src, find(source));
    if (src.source == "berth") {
        std::lock_guard<std::mutex> lock(mu_);
        std::string bytes = read_text(manifest_path_for(berth_dir_, src.name));
        if (bytes.empty()) return not_found("model '%s' not found", source.c_str());
        Status written = write_text_atomic(manifest_path_for(berth_dir_, dst), bytes);
        forget_manifest(manifest_path_for(berth_dir_, dst));
        return written;
    }
    // From a models-dir file or Ollama's store: import into berth's store.
    CreateSpec spec;
    spec.name = dst;
    spec.from = src.name;
    return create(spec);
}

Status Store::remove(const std::string& name) {
    ASSIGN_OR_RETURN(StoreEntry e, find(name));
    if (e.source != "berth") {
        return invalid_argument("model '%s' is not in berth's store (%s); berth does not delete it", name.c_str(),
                                e.source.c_str());
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::string manifest = manifest_path_for(berth_dir_, e.name);
    std::error_code ec;
    bool removed = fs::remove(manifest, ec);
    forget_manifest(manifest);
    if (!removed) return not_found("model '%s' not found", name.c_str());
    // Drop blobs no other manifest references.
    std::vector<StoreEntry> rest;
    list_store(berth_dir_, "berth", rest);
    std::vector<std::string> keep;
    for (auto& x : rest) {
        std::string bytes = read_text(manifest_path_for(berth_dir_, x.name));
        Result<json> parsed = parse_json_bounded(bytes, "the manifest");
        if (!parsed.is_ok() || !parsed->is_object()) continue;
        const json& m = *parsed;
        if (m.contains("config")) keep.push_back(json_string_or(m["config"], "digest", ""));
        if (m.contains("layers") && m["layers"].is_array())
            for (auto& l : m["layers"]) keep.push_back(json_string_or(l, "digest", ""));
    }
    for (auto& f : fs::directory_iterator(berth_dir_ + "/blobs", ec)) {
        std::string fn = f.path().filename();
        if (fn.rfind("sha256-", 0) != 0 || fn.find('.') != std::string::npos || fn.find("partial") != std::string::npos)
            continue;
        std::string d = "sha256:" + fn.substr(7);
        if (std::find(keep.begin(), keep.end(), d) == keep.end()) fs::remove(f.path(), ec);
    }
    return Status::ok();
}

}  // namespace berth
