// Embeddings: Ollama's /api/embed (batch, L2-normalized) and /api/embeddings (legacy, raw), OpenAI's
// /v1/embeddings. Served by embedding models (bert); generative models answer 501 for now.
#include <bit>
#include <cmath>

#include "server/server_internal.h"

namespace berth {

namespace {

void normalize(std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += double(x) * x;
    if (s <= 0) return;
    float inv = float(1.0 / std::sqrt(s));
    for (float& x : v) x *= inv;
}

// Standard base64 (RFC 4648, with padding) of `n` bytes.
std::string base64(const uint8_t* p, size_t n) {
    static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((n + 2) / 3 * 4);
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v =
            uint32_t(p[i]) << 16 | (i + 1 < n ? uint32_t(p[i + 1]) << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out.push_back(digits[v >> 18]);
        out.push_back(digits[(v >> 12) & 63]);
        out.push_back(i + 1 < n ? digits[(v >> 6) & 63] : '=');
        out.push_back(i + 2 < n ? digits[v & 63] : '=');
    }
    return out;
}

// An embedding as OpenAI's encoding_format "base64" sends it: the float32 values, little-endian, in base64.
std::string base64_floats(const std::vector<float>& v) {
    static_assert(std::endian::native == std::endian::little, "float32 bytes are sent little-endian");
    return base64(reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float));
}

enum class Api { embed, embeddings, openai };

void handle(Server::State& st, const httplib::Request& req, httplib::Response& res, Api api) {
    const int64_t t_start = now_ns();
    bool oa = api == Api::openai;
    auto error = [&](int status, const std::string& m) {
        if (oa)
            reply_openai_error(res, status, m);
        else
            reply_error(res, status, m);
    };
    json body;
    if (!parse_body(req, res, body, oa)) return;
    Result<StoreEntry> entry = resolve_model(st, body);
    if (!entry.is_ok()) return error(http_status(entry.status()), entry.status().message());
    std::string name = body["model"].get<std::string>();
    Result<std::optional<int64_t>> ka = parse_keep_alive(body);
    if (!ka.is_ok()) return error(400, ka.status().message());
    std::vector<std::string> inputs;
    const char* field = api == Api::embeddings ? "prompt" : "input";
    static const json absent;
    const json& in = body.contains(field) ? body[field] : absent;
    if (in.is_string()) {
        if (!in.get<std::string>().empty() || api == Api::openai) inputs.push_back(in.get<std::string>());
    } else if (in.is_array() && api != Api::embeddings) {
        for (auto& x : in) {
            if (!x.is_string()) return error(400, "invalid input type: use a string or a list of strings");
            inputs.push_back(x.get<std::string>());
        }
    } else if (!in.is_null()) {
        return error(400, "invalid input type: use a string or a list of strings");
    }
    bool truncate = !(body.contains("truncate") && body["truncate"].is_boolean() && !body["truncate"].get<bool>());
    int dimensions = 0;
    if (body.contains("dimensions") && !body["dimensions"].is_null()) {
        // A positive integer, also written as a float (8.0).
        const json& d = body["dimensions"];
        const double x = d.is_number() ? d.get<double>() : 0.0;
        if (!(x >= 1 && x <= 1e9) || x != std::trunc(x)) return error(400, "dimensions must be a positive integer");
        dimensions = int(x);
    }
    bool as_base64 = false;  // OpenAI's encoding_format (its SDKs ask for base64 by default)
    if (oa && body.contains("encoding_format") && !body["encoding_format"].is_null()) {
        const json& f = body["encoding_format"];
        if (!f.is_string() || (f != "float" && f != "base64"))
            return error(400, "encoding_format must be \"float\" or \"base64\"");
        as_base64 = f == "base64";
    }
    RequestOptions ro;
    if (body.contains("options")) {
        if (Status s = apply_options(body["options"], ro); !s.is_ok()) return error(400, s.message());
    }
    Result<Lease> lease = acquire_model(st, *entry, ro, *ka);
    if (!lease.is_ok()) return error(http_status(lease.status()), lease.status().message());
    const LoadedModel& lm = lease->model();
    if (!lm.embedder)
        return error(501, "embeddings from generative models are not supported yet; use an embedding model");
    std::vector<std::vector<float>> vectors;
    int total_tokens = 0;
    for (auto& text : inputs) {
        int n = 0;
        Result<std::vector<float>> v = lm.embedder->embed(text, truncate, &n);
        if (!v.is_ok()) return error(http_status(v.status()), v.status().message());
        total_tokens += n;
        if (api != Api::embeddings) {
            if (dimensions > 0 && dimensions < int(v->size())) v->resize(size_t(dimensions));
            normalize(*v);  // /api/embed and /v1 return unit vectors, as Ollama does
        }
        vectors.push_back(std::move(v).value());
    }
    int64_t load_ns = lease->load_ns();
    lease->release();
    if (api == Api::embeddings) {
        return reply_json(res, {{"embedding", vectors.empty() ? json::array() : json(vectors[0])}});
    }
    if (api == Api::embed) {
        return reply_json(res, {{"model", name},
                                {"embeddings", vectors},
                                {"total_duration", now_ns() - t_start},
                                {"load_duration", load_ns},
                                {"prompt_eval_count", total_tokens}});
    }
    json data = json::array();
    for (size_t i = 0; i < vectors.size(); ++i) {
        data.push_back({{"object", "embedding"},
                        {"embedding", as_base64 ? json(base64_floats(vectors[i])) : json(vectors[i])},
                        {"index", i}});
    }
    reply_json(res, {{"object", "list"},
                     {"data", data},
                     {"model", name},
                     {"usage", {{"prompt_tokens", total_tokens}, {"total_tokens", total_tokens}}}});
}

}  // namespace

void register_embed_routes(Server::State& st) {
    st.http.Post("/api/embed",
                 [&st](const httplib::Request& q, httplib::Response& r) { handle(st, q, r, Api::embed); });
    st.http.Post("/api/embeddings",
                 [&st](const httplib::Request& q, httplib::Response& r) { handle(st, q, r, Api::embeddings); });
    st.http.Post("/v1/embeddings",
                 [&st](const httplib::Request& q, httplib::Response& r) { handle(st, q, r, Api::openai); });
}

}  // namespace berth
