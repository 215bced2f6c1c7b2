#include "server/pull.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "server/bounded_json.h"

namespace berth {
namespace fs = std::filesystem;
namespace {

bool valid_component(const std::string& s, bool allow_colon) {
    if (s.empty() || s.size() > 256 || s == "." || s == "..") return false;
    for (char c : s)
        if (!(isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || (allow_colon && c == ':'))) return false;
    return s[0] != '.' && s[0] != '-';
}

std::string to_hex(const unsigned char* d, size_t n) {
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; i++) s += hex[d[i] >> 4], s += hex[d[i] & 15];
    return s;
}

struct Sha256 {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    Sha256() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
    ~Sha256() { EVP_MD_CTX_free(ctx); }
    void update(const void* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
    std::string hex() {
        unsigned char d[32];
        unsigned n = 0;
        EVP_DigestFinal_ex(ctx, d, &n);
        return to_hex(d, n);
    }
};

void curl_global() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
    FILE* file = nullptr;  // blob download target, or null to collect into `body`
    std::string body;
    Sha256* hash = nullptr;
    int64_t received = 0;  // bytes written in this transfer
    int64_t limit = -1;    // refuse bodies larger than this
    int64_t base = 0;      // bytes already on disk before this transfer
    int64_t total = 0;
    const PullOptions* opts = nullptr;
    PullProgress* prog = nullptr;
    int64_t last_report_ns = 0;
    bool cancelled = false, too_large = false;
    int write_errno = 0;  // writing to the store failed (a full disk, a file-size limit)
};

size_t on_write(char* p, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t len = size * n;
    if (t->limit >= 0 && t->base + t->received + int64_t(len) > t->limit) {
        t->too_large = true;
        return 0;
    }
    if (t->file) {
        if (fwrite(p, 1, len, t->file) != len) {
            t->write_errno = errno ? errno : EIO;
            return 0;
        }
        if (t->hash) t->hash->update(p, len);
    } else {
        t->body.append(p, len);
    }
    t->received += int64_t(len);
    if (t->prog && t->opts->progress) {
        int64_t now = now_ns();
        if (now - t->last_report_ns > 100'000'000) {  // at most 10 progress events per second
            t->last_report_ns = now;
            t->prog->completed = t->base + t->received;
            if (!t->opts->progress(*t->prog)) {
                t->cancelled = true;
                return 0;
            }
        }
    }
    return len;
}

// GET url into t; `resume_from` > 0 sends a Range header. Returns the HTTP status or an error.
Result<long> http_get(const std::string& url, Transfer* t, int64_t resume_from, const char* accept,
                      const PullOptions& opts) {
    curl_global();
    std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
    if (!c) return internal_error("curl_easy_init failed");
    curl_slist* headers = nullptr;
    if (accept) headers = curl_slist_append(headers, (std::string("Accept: ") + accept).c_str());
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> hguard(headers, curl_slist_free_all);
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);  // blobs redirect to a CDN
    curl_easy_setopt(c.get(), CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, opts.low_speed_time_s);
    curl_easy_setopt(c.get(), CURLOPT_USERAGENT,
                     "berth/"
                     "0.1");
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    if (!opts.insecure) curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "https");
    if (resume_from > 0) curl_easy_setopt(c.get(), CURLOPT_RESUME_FROM_LARGE, curl_off_t(resume_from));
    CURLcode rc = curl_easy_perform(c.get());
    if (t->cancelled) return Status(StatusCode::cancelled, "pull cancelled");
    if (t->too_large) return corrupt_data("%s: the registry sent more bytes than the manifest declares", url.c_str());
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) return io_error("%s: %s", url.c_str(), curl_easy_strerror(rc));
    return status;
}

std::string registry_base(const ModelRef& ref, const PullOptions& opts) {
    return std::string(opts.insecure ? "http://" : "https://") + ref.host + "/v2/" + ref.ns + "/" + ref.model;
}

Status download_blob(const ModelRef& ref, const std::string& digest, int64_t size, const PullOptions& opts) {
    ASSIGN_OR_RETURN(std::string file_name, blob_file_name(digest));
    fs::path final_path = fs::path(opts.models_dir) / "blobs" / file_name;
    std::string hex = file_name.substr(7);
    PullProgress prog{"pulling " + hex.substr(0, 12), digest, size, 0};
    std::error_code ec;
    if (fs::exists(final_path, ec) && int64_t(fs::file_size(final_path, ec)) == size) {
        prog.completed = size;  // already present (verified when it was written)
        if (opts.progress && !opts.progress(prog)) return Status(StatusCode::cancelled, "pull cancelled");
        return Status::ok();
    }
    fs::path partial = final_path;
    partial += "-partial";
    std::string url = registry_base(ref, opts) + "/blobs/" + digest;
    Status last = Status::ok();
    for (int attempt = 0; attempt < opts.max_attempts; attempt++) {
        int64_t have = fs::exists(partial, ec) ? int64_t(fs::file_size(partial, ec)) : 0;
        if (have > size) {
            fs::remove(partial, ec);
            have = 0;
        }
        // Re-hash what is already on disk so that the digest covers the whole blob.
        Sha256 hash;
        if (have > 0) {
            FILE* in = fopen(partial.c_str(), "rb");
            if (!in) return io_error("cannot read %s", partial.c_str());
            std::vector<char> buf(1 << 20);
            size_t n;
            while ((n = fread(buf.data(), 1, buf.size(), in)) > 0) hash.update(buf.data(), n);
            fclose(in);
        }
        FILE* out = fopen(partial.c_str(), have > 0 ? "ab" : "wb");
        if (!out) return io_error("cannot write %s: %s", partial.c_str(), strerror(errno));
        Transfer t;
        t.file = out;
        t.hash = &hash;
        t.limit = size;
        t.base = have;
        t.opts = &opts;
        t.prog = &prog;
        auto status = have < size ? http_get(url, &t, have, nullptr, opts) : Result<long>(206L);
        if (fclose(out) != 0 && !t.write_errno) t.write_errno = errno ? errno : EIO;
        if (t.write_errno) {
            // Not worth retrying: the store cannot take the bytes. The partial file stays for a later resume.
            return io_error("cannot write %s: %s (is the disk full?)", partial.c_str(), strerror(t.write_errno));
        }
        if (!status.is_ok()) {
            if (status.status().code() == StatusCode::cancelled || status.status().code() == StatusCode::corrupt_data) {
                if (status.status().code() == StatusCode::corrupt_data) fs::remove(partial, ec);
                return status.status();
            }
            last = status.status();
            LOG_WARN("pull %s: attempt %d failed (%s); resuming", digest.c_str(), attempt + 1, last.message().c_str());
            continue;
        }
        if (*status == 200 && have > 0) {
            // The server ignored the Range request and sent the whole blob: start over cleanly.
            fs::remove(partial, ec);
            last = io_error("%s: registry does not support resuming; restarting", url.c_str());
            continue;
        }
        if (*status != 200 && *status != 206) {
            last = io_error("%s: registry answered HTTP %ld", url.c_str(), *status);
            if (*status == 404 || *status == 401 || *status == 403)
                return Status(StatusCode::not_found, last.message());
            continue;
        }
        int64_t now_have = have + t.received;
        if (now_have < size) {
            last = io_error("%s: transfer ended early (%lld of %lld bytes)", url.c_str(), (long long)now_have,
                            (long long)size);
            continue;
        }
        prog.completed = size;
        if (opts.progress && !opts.progress(prog)) return Status(StatusCode::cancelled, "pull cancelled");
        if (opts.progress && !opts.progress(PullProgress{"verifying sha256 digest", digest, size, size}))
            return Status(StatusCode::cancelled, "pull cancelled");
        std::string got = hash.hex();
        if (got != hex) {
            fs::remove(partial, ec);
            return corrupt_data("digest mismatch for %s: the downloaded blob hashes to sha256:%s; it was deleted",
                                digest.c_str(), got.c_str());
        }
        fs::rename(partial, final_path, ec);
        if (ec) return io_error("cannot move %s into place: %s", partial.c_str(), ec.message().c_str());
        return Status::ok();
    }
    return last.with_context(string_printf("pull %s failed after %d attempts", digest.c_str(), opts.max_attempts));
}

}  // namespace

std::string ModelRef::display() const {
    std::string s;
    if (host != "registry.ollama.ai")
        s = host + "/" + ns + "/";
    else if (ns != "library")
        s = ns + "/";
    return s + model + ":" + tag;
}

Result<ModelRef> parse_model_ref(const std::string& name) {
    if (name.empty()) return invalid_argument("model name is empty");
    if (name.size() > 512) return invalid_argument("model name is too long");
    ModelRef r;
    std::string rest = name;
    // The tag follows the last ':' after the last '/' (a ':' before it belongs to host:port).
    size_t slash = rest.rfind('/');
    size_t colon = rest.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
        r.tag = rest.substr(colon + 1);
        rest = rest.substr(0, colon);
    }
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        size_t p = rest.find('/', start);
        parts.push_back(rest.substr(start, p == std::string::npos ? std::string::npos : p - start));
        if (p == std::string::npos) break;
        start = p + 1;
    }
    if (parts.size() == 1) {
        r.model = parts[0];
    } else if (parts.size() == 2) {
        r.ns = parts[0], r.model = parts[1];
    } else if (parts.size() == 3) {
        r.host = parts[0], r.ns = parts[1], r.model = parts[2];
    } else {
        return invalid_argument("invalid model name \"%s\": use [host/][namespace/]model[:tag]", name.c_str());
    }
    if (!valid_component(r.host, true) || !valid_component(r.ns, false) || !valid_component(r.model, false) ||
        !valid_component(r.tag, false))
        return invalid_argument("invalid model name \"%s\": names use letters, digits, '.', '_' and '-'", name.c_str());
    // The limit holds for the canonical form too (":latest" added), so a canonical name parses again to itself.
    if (r.display().size() > 512) return invalid_argument("model name is too long");
    return r;
}

Result<std::string> blob_file_name(const std::string& digest) {
    if (digest.size() != 71 || digest.compare(0, 6, "sha256") != 0 || (digest[6] != ':' && digest[6] != '-'))
        return invalid_argument("invalid digest \"%s\" (expected sha256:<64 hex digits>)", digest.c_str());
    std::string hex = digest.substr(7);
    for (char& c : hex) {
        if (!isxdigit((unsigned char)c)) return invalid_argument("invalid digest \"%s\"", digest.c_str());
        c = char(tolower((unsigned char)c));
    }
    return "sha256-" + hex;
}

Result<std::string> sha256_file(const std::string& path) {
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) return io_error("cannot read %s: %s", path.c_str(), strerror(errno));
    Sha256 h;
    std::vector<char> buf(1 << 20);
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) h.update(buf.data(), n);
    fclose(f);
    return h.hex();
}

Status pull_model(const std::string& name, const PullOptions& opts) {
    ASSIGN_OR_RETURN(ModelRef ref, parse_model_ref(name));
    auto report = [&](PullProgress p) {
        return !opts.progress || opts.progress(p) ? Status::ok() : Status(StatusCode::cancelled, "pull cancelled");
    };
    RETURN_IF_ERROR(report({"pulling manifest", "", 0, 0}));
    Transfer mt;
    mt.limit = 4 << 20;  // manifests are small; anything larger is not a manifest
    mt.opts = &opts;
    std::string url = registry_base(ref, opts) + "/manifests/" + ref.tag;
    ASSIGN_OR_RETURN(long status, http_get(url, &mt, 0, "application/vnd.docker.distribution.manifest.v2+json", opts));
    if (status == 404) return not_found("pull model manifest: file does not exist (%s)", ref.display().c_str());
    if (status != 200) return io_error("pull model manifest: registry answered HTTP %ld for %s", status, url.c_str());
    Result<nlohmann::json> parsed = parse_json_bounded(mt.body, "the registry's manifest");
    nlohmann::json m = parsed.is_ok() ? std::move(parsed).value() : nlohmann::json();
    if (!m.is_object() || !m.contains("layers") || !m["layers"].is_array())
        return corrupt_data("pull model manifest: the registry's manifest for %s is not valid JSON",
                            ref.display().c_str());
    std::vector<std::pair<std::string, int64_t>> blobs;
    auto add = [&](const nlohmann::json& l) -> Status {
        if (!l.is_object() || !l.contains("digest") || !l["digest"].is_string() || !l.contains("size") ||
            !l["size"].is_number_integer() || l["size"].get<int64_t>() < 0)
            return corrupt_data("pull model manifest: a layer lacks a digest or size");
        ASSIGN_OR_RETURN(std::string fname, blob_file_name(l["digest"].get<std::string>()));
        (void)fname;
        blobs.push_back({l["digest"].get<std::string>(), l["size"].get<int64_t>()});
        return Status::ok();
    };
    if (m.contains("config")) RETURN_IF_ERROR(add(m["config"]));
    for (const auto& l : m["layers"]) RETURN_IF_ERROR(add(l));

    std::error_code ec;
    fs::create_directories(fs::path(opts.models_dir) / "blobs", ec);
    if (ec) return io_error("cannot create %s/blobs: %s", opts.models_dir.c_str(), ec.message().c_str());
    for (auto& [digest, size] : blobs) RETURN_IF_ERROR(download_blob(ref, digest, size, opts));

    RETURN_IF_ERROR(report({"writing manifest", "", 0, 0}));
    fs::path mpath = fs::path(opts.models_dir) / ref.manifest_rel_path();
    fs::create_directories(mpath.parent_path(), ec);
    fs::path tmp = mpath;
    tmp += ".tmp" + std::to_string(getpid());  // a killed pull's leftover is swept at the next start
    FILE* f = fopen(tmp.c_str(), "wb");
    if (!f) return io_error("cannot write %s: %s", tmp.c_str(), strerror(errno));
    bool ok = fwrite(mt.body.data(), 1, mt.body.size(), f) == mt.body.size();
    int e = errno;
    if (fclose(f) != 0 && ok) ok = false, e = errno;
    if (!ok) {
        fs::remove(tmp, ec);
        return io_error("cannot write %s: %s (is the disk full?)", tmp.c_str(), strerror(e));
    }
    fs::rename(tmp, mpath, ec);
    if (ec) return io_error("cannot move the manifest into place: %s", ec.message().c_str());
    return report({"success", "", 0, 0});
}

}  // namespace berth
