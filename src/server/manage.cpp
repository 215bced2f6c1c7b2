// Model management in berth's store: /api/create, /api/copy, /api/delete, /api/blobs/:digest, /api/pull.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "server/pull.h"
#include "server/server_internal.h"

namespace berth {

namespace {

void create(Server::State& st, const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!parse_body(req, res, body)) return;
    CreateSpec spec;
    json name = body.contains("model") ? body["model"] : body.value("name", json());
    if (!name.is_string() || name.get<std::string>().empty()) return reply_error(res, 400, "model is required");
    spec.name = name.get<std::string>();
    if (!canonical_model_name(spec.name).is_ok()) return reply_error(res, 400, "invalid model name");
    if (body.contains("from") && body["from"].is_string()) spec.from = body["from"].get<std::string>();
    if (body.contains("files") && body["files"].is_object()) {
        for (auto& [k, v] : body["files"].items()) {
            if (!v.is_string()) return reply_error(res, 400, "files must map file names to digests");
            spec.files[k] = v.get<std::string>();
        }
    }
    if (spec.from.empty() && spec.files.empty())
        return reply_error(res, 400, "neither 'from' or 'files' was specified");
    if (body.contains("quantize") && body["quantize"].is_string() && body["quantize"] != "")
        return reply_error(res, 400, "quantize is not supported yet");
    auto text = [&](const char* key, std::string& out, bool& has) -> bool {
        if (!body.contains(key) || body[key].is_null()) return true;
        if (body[key].is_string()) {
            out = body[key].get<std::string>();
        } else if (body[key].is_array()) {
            for (auto& x : body[key]) {
                if (!x.is_string()) return false;
                out += (out.empty() ? "" : "\n") + x.get<std::string>();
            }
        } else {
            return false;
        }
        has = true;
        return true;
    };
    if (!text("system", spec.system, spec.has_system) || !text("template", spec.template_text, spec.has_template) ||
        !text("license", spec.license, spec.has_license))
        return reply_error(res, 400, "system, template and license must be strings");
    if (body.contains("parameters") && !body["parameters"].is_null()) {
        if (!body["parameters"].is_object()) return reply_error(res, 400, "parameters must be an object");
        RequestOptions check;
        if (Status s = apply_options(body["parameters"], check); !s.is_ok()) return reply_error(res, 400, s.message());
        spec.params = body["parameters"];
        if (spec.params.contains("stop") && spec.params["stop"].is_string())
            spec.params["stop"] = json::array({spec.params["stop"]});
    }
    if (body.contains("messages") && !body["messages"].is_null()) {
        if (!body["messages"].is_array()) return reply_error(res, 400, "messages must be a list");
        spec.messages = body["messages"];
    }
    Status s = st.store->create(spec);
    if (!s.is_ok()) return reply_error(res, http_status(s), s.message());
    bool stream = !(body.contains("stream") && body["stream"].is_boolean() && !body["stream"].get<bool>());
    if (stream) {
        std::string out = dump(json{{"status", "using existing layer"}}) + "\n" +
                          dump(json{{"status", "writing manifest"}}) + "\n" + dump(json{{"status", "success"}}) + "\n";
        res.set_content(out, "application/x-ndjson");
    } else {
        reply_json(res, {{"status", "success"}});
    }
}

void pull(Server::State& st, const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!parse_body(req, res, body)) return;
    json name = body.contains("model") ? body["model"] : body.value("name", json());
    if (!name.is_string() || name.get<std::string>().empty()) return reply_error(res, 400, "model is required");
    std::string model = name.get<std::string>();
    if (!canonical_model_name(model).is_ok()) return reply_error(res, 400, "invalid model name");
    bool stream = !(body.contains("stream") && body["stream"].is_boolean() && !body["stream"].get<bool>());
    bool insecure = body.value("insecure", json(false)).is_boolean() && body.value("insecure", false);
    std::string dir = st.opt.store_dir;
    if (!stream) {
        PullOptions po;
        po.models_dir = dir;
        po.insecure = insecure;
        po.progress = [&st](const PullProgress&) { return !st.cancel_all; };  // shutdown; the partial file stays
        Status s = pull_model(model, po);
        // corrupt_data here is the registry's answer (a bad manifest, a digest mismatch): a bad gateway, not a 400.
        if (!s.is_ok())
            return reply_error(res, s.code() == StatusCode::corrupt_data ? 502 : http_status(s), s.message());
        return reply_json(res, {{"status", "success"}});
    }
    res.set_chunked_content_provider("application/x-ndjson",
                                     [&st, model, dir, insecure](size_t, httplib::DataSink& sink) {
                                         PullOptions po;
                                         po.models_dir = dir;
                                         po.insecure = insecure;
                                         po.progress = [&](const PullProgress& p) {
                                             json j = {{"status", p.status}};
                                             if (!p.digest.empty()) j["digest"] = p.digest;
                                             if (p.total) j["total"] = p.total, j["completed"] = p.completed;
                                             std::string line = dump(j) + "\n";
                                             return sink.write(line.data(), line.size()) && !st.cancel_all;
                                         };
                                         Status s = pull_model(model, po);
                                         if (!s.is_ok()) {
                                             std::string line = dump(json{{"error", s.message()}}) + "\n";
                                             sink.write(line.data(), line.size());
                                         }
                                         sink.done();
                                         return true;
                                     });
}

}  // namespace

void register_manage_routes(Server::State& st) {
    st.http.Post("/api/create", [&st](const httplib::Request& req, httplib::Response& res) { create(st, req, res); });
    st.http.Post("/api/pull", [&st](const httplib::Request& req, httplib::Response& res) { pull(st, req, res); });
    st.http.Post("/api/copy", [&st](const httplib::Request& req, httplib::Response& res) {
        json body;
        if (!parse_body(req, res, body)) return;
        if (!body.contains("source") || !body["source"].is_string() || !body.contains("destination") ||
            !body["destination"].is_string())
            return reply_error(res, 400, "source and destination are required");
        std::string src = body["source"], dst = body["destination"];
        if (!canonical_model_name(src).is_ok() || !canonical_model_name(dst).is_ok())
            return reply_error(res, 400, "invalid model name");
        Status s = st.store->copy(src, dst);
        if (!s.is_ok()) return reply_error(res, http_status(s), s.message());
        res.status = 200;
    });
    st.http.Delete("/api/delete", [&st](const httplib::Request& req, httplib::Response& res) {
        json body;
        if (!parse_body(req, res, body)) return;
        if (!body.contains("model") && body.contains("name")) body["model"] = body["name"];
        Result<StoreEntry> e = resolve_model(st, body);
        if (!e.is_ok()) return reply_error(res, http_status(e.status()), e.status().message());
        Status s = st.store->remove(e->name);
        if (!s.is_ok()) return reply_error(res, http_status(s), s.message());
        res.status = 200;
    });
    auto bad_digest = [](const std::string& d) { return !blob_file_name(d).is_ok(); };
    st.http.Get(R"(/api/blobs/([^/]+))", [&st, bad_digest](const httplib::Request& req, httplib::Response& res) {
        std::string d = req.matches[1];
        if (bad_digest(d)) return reply_error(res, 400, "invalid digest format");
        res.status = st.store->has_blob(d) ? 200 : 404;
    });
    st.http.Post(R"(/api/blobs/([^/]+))", [&st, bad_digest](const httplib::Request& req, httplib::Response& res,
                                                            const httplib::ContentReader& reader) {
        std::string d = req.matches[1];
        if (bad_digest(d)) return reply_error(res, 400, "invalid digest format");
        if (st.store->has_blob(d)) {
            reader([](const char*, size_t) { return true; });
            res.status = 200;
            return;
        }
        std::string tmp =
            st.store->blob_path(d) + ".upload" + std::to_string(getpid()) + "-" + std::to_string(now_ns());
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(tmp).parent_path(), ec);
        std::ofstream f(tmp, std::ios::binary);
        if (!f) return reply_error(res, 500, std::string("cannot write to the store: ") + strerror(errno));
        int write_errno = 0;
        bool ok = reader([&](const char* data, size_t n) {
            f.write(data, std::streamsize(n));
            if (!f) write_errno = errno ? errno : EIO;
            return bool(f);
        });
        f.close();
        if (ok && !f) write_errno = errno ? errno : EIO;
        if (!ok || write_errno) {
            std::remove(tmp.c_str());
            if (write_errno)  // the store's disk, not the client: 507 Insufficient Storage, with the reason
                return reply_error(
                    res, 507, std::string("cannot store the blob: ") + strerror(write_errno) + " (is the disk full?)");
            return reply_error(res, 400, "upload interrupted");
        }
        Status s = st.store->adopt_blob(d, tmp);
        if (!s.is_ok()) return reply_error(res, http_status(s), s.message());
        res.status = 201;
    });
}

}  // namespace berth
