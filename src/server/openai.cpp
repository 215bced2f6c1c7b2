// OpenAI-compatible /v1: chat completions, completions (SSE with data: [DONE]), models.
#include <random>

#include "server/server_internal.h"

namespace berth {

namespace {

std::string random_id(const char* prefix) {
    static thread_local std::mt19937_64 rng(std::random_device{}());
    static const char* chars = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s = prefix;
    for (int i = 0; i < 24; ++i) s.push_back(chars[rng() % 36]);
    return s;
}

const char* finish_reason(const std::string& r) { return r == "length" ? "length" : "stop"; }

struct OaStream {
    Server::State* st = nullptr;
    Prepared p;
    bool chat = true;
    bool include_usage = false;
    std::string id;
    int64_t created = 0;
};

json usage(const GenerateResult& r) {
    return {{"prompt_tokens", r.prompt_eval_count},
            {"completion_tokens", r.eval_count},
            {"total_tokens", r.prompt_eval_count + r.eval_count}};
}

json base_object(const OaStream& s, const char* object) {
    return {{"id", s.id},
            {"object", object},
            {"created", s.created},
            {"model", s.p.name},
            {"system_fingerprint", "fp_berth"}};
}

// Maps the OpenAI body onto options; 400 text on failure.
Status map_options(const json& body, RequestOptions& ro) {
    json o = json::object();
    // Absent temperature / top_p mean 1.0, as Ollama's compatibility layer does.
    o["temperature"] = body.contains("temperature") && !body["temperature"].is_null() ? body["temperature"] : json(1.0);
    o["top_p"] = body.contains("top_p") && !body["top_p"].is_null() ? body["top_p"] : json(1.0);
    for (const char* k : {"seed", "frequency_penalty", "presence_penalty", "stop"}) {
        if (body.contains(k) && !body[k].is_null()) o[k] = body[k];
    }
    if (body.contains("max_completion_tokens") && !body["max_completion_tokens"].is_null())
        o["num_predict"] = body["max_completion_tokens"];
    else if (body.contains("max_tokens") && !body["max_tokens"].is_null())
        o["num_predict"] = body["max_tokens"];
    return apply_options(o, ro);
}

void handle(Server::State& st, const httplib::Request& req, httplib::Response& res, bool chat) {
    const int64_t t_start = now_ns();
    ojson obody;
    if (!parse_body_ordered(req, res, obody, true)) return;
    const json body = obody;  // sorted copy for the option helpers (nesting is bounded by parse_body_ordered)
    Result<StoreEntry> entry = resolve_model(st, body);
    if (!entry.is_ok()) return reply_openai_error(res, http_status(entry.status()), entry.status().message());
    auto sp = std::make_shared<OaStream>();
    OaStream& s = *sp;
    s.st = &st;
    s.chat = chat;
    s.p.name = body["model"].get<std::string>();
    s.p.peer = PeerAddress::of(req);
    s.p.entry = *entry;
    s.p.t_start = t_start;
    s.id = random_id(chat ? "chatcmpl-" : "cmpl-");
    s.created = wall_time_ns() / kNsPerSecond;
    bool stream = body.value("stream", json(false)).is_boolean() && body.value("stream", false);
    if (body.contains("stream_options") && body["stream_options"].is_object())
        s.include_usage = body["stream_options"].value("include_usage", json(false)).is_boolean() &&
                          body["stream_options"].value("include_usage", false);
    if (body.contains("n") && body["n"].is_number() && body["n"].get<double>() != 1)
        return reply_openai_error(res, 400, "only n = 1 is supported");
    RequestOptions ro;
    Status stt = apply_options(entry->params, ro);
    if (stt.is_ok()) stt = map_options(body, ro);
    if (!stt.is_ok()) return reply_openai_error(res, 400, stt.message());

    ChatRequest creq;
    if (chat) {
        stt = decode_openai_chat(obody, creq);
    } else {
        stt =
            decode_response_format(obody.contains("response_format") ? obody["response_format"] : ojson(), creq.format);
    }
    if (!stt.is_ok()) return reply_openai_error(res, 400, stt.message());
    if (creq.format.kind != FormatSetting::none)
        return reply_openai_error(res, 400, "response_format (JSON mode and schemas) is not supported yet");
    if (!creq.tools.empty()) return reply_openai_error(res, 400, "tools are not supported yet");
    if (creq.has_images) return reply_openai_error(res, 400, "\"" + s.p.name + "\" does not support images");
    ojson messages = ojson::array();
    std::string prompt;
    if (chat) {
        messages = std::move(creq.messages);
        ojson full = ojson::array();
        if (!entry->system.empty() && messages[0].value("role", "") != "system")
            full.push_back({{"role", "system"}, {"content", entry->system}});
        for (auto& m : entry->messages) full.push_back(ojson(m));
        for (auto& m : messages) full.push_back(m);
        messages = full;
    } else {
        if (!body.contains("prompt") || !body["prompt"].is_string())
            return reply_openai_error(res, 400, "prompt must be a string");
        prompt = body["prompt"].get<std::string>();
        if (prompt.empty()) return reply_openai_error(res, 400, "prompt must not be empty");
    }
    Result<Lease> lease = acquire_model(st, *entry, ro, std::nullopt);
    if (!lease.is_ok()) return reply_openai_error(res, http_status(lease.status()), lease.status().message());
    s.p.lease = std::move(lease).value();
    const LoadedModel& lm = s.p.lease.model();
    if (!lm.engine)
        return reply_openai_error(res, 400, "\"" + s.p.name + "\" is an embedding model; use /v1/embeddings");
    // Completions run the prompt as given (no template), so a completion continues the text it was handed.
    if (chat) {
        Result<std::shared_ptr<const ChatTemplate>> tmpl = model_template(st, *entry, lm);
        if (!tmpl.is_ok()) return reply_openai_error(res, http_status(tmpl.status()), tmpl.status().message());
        stt = chat_prompt(lm, tmpl->get(), messages, s.p.greq.prompt, s.p.truncated);
    } else {
        stt = completion_prompt(st, lm, nullptr, prompt, "", true, json(), s.p.greq.prompt);
    }
    if (!stt.is_ok()) return reply_openai_error(res, http_status(stt), stt.message());
    apply_generation_options(s.p, ro, res);

    if (!stream) {
        std::string text;
        Result<GenerateResult> r = run_generation_to_text(st, s.p, text);
        if (!r.is_ok()) return reply_openai_error(res, http_status(r.status()), r.status().message());
        json j = base_object(s, chat ? "chat.completion" : "text_completion");
        if (chat) {
            j["choices"] = json::array({{{"index", 0},
                                         {"message", {{"role", "assistant"}, {"content", text}}},
                                         {"finish_reason", finish_reason(r->done_reason)}}});
        } else {
            j["choices"] = json::array({{{"index", 0},
                                         {"text", text},
                                         {"logprobs", nullptr},
                                         {"finish_reason", finish_reason(r->done_reason)}}});
        }
        j["usage"] = usage(*r);
        if (s.p.truncated) j["truncated"] = true;
        return reply_json(res, j);
    }
    res.set_chunked_content_provider("text/event-stream", [sp](size_t, httplib::DataSink& sink) {
        OaStream& s = *sp;
        bool alive = true, first = true;
        auto send = [&](const json& j) {
            std::string ev = "data: " + dump(j) + "\n\n";
            alive = alive && sink.write(ev.data(), ev.size());
            return alive;
        };
        const char* object = s.chat ? "chat.completion.chunk" : "text_completion";
        Result<GenerateResult> r = run_generation(*s.st, s.p, [&](std::string_view t) {
            json j = base_object(s, object);
            if (s.chat) {
                json delta = {{"content", std::string(t)}};
                if (first) delta["role"] = "assistant";
                j["choices"] = json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", nullptr}}});
            } else {
                j["choices"] = json::array({{{"index", 0}, {"text", std::string(t)}, {"finish_reason", nullptr}}});
            }
            first = false;
            return send(j);
        });
        if (!alive) return false;
        s.p.lease.release();
        if (!r.is_ok()) {
            send(json{
                {"error",
                 {{"message", r.status().message()}, {"type", "api_error"}, {"param", nullptr}, {"code", nullptr}}}});
        } else {
            json j = base_object(s, object);
            if (s.chat) {
                json delta = json::object();
                if (first) delta = {{"role", "assistant"}, {"content", ""}};
                j["choices"] =
                    json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason(r->done_reason)}}});
            } else {
                j["choices"] =
                    json::array({{{"index", 0}, {"text", ""}, {"finish_reason", finish_reason(r->done_reason)}}});
            }
            send(j);
            if (s.include_usage) {
                json u = base_object(s, object);
                u["choices"] = json::array();
                u["usage"] = usage(*r);
                send(u);
            }
        }
        std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
    });
}

json model_object(const StoreEntry& e) {
    std::string owner = "library";
    size_t slash = e.name.find('/');
    if (slash != std::string::npos) owner = e.name.substr(0, slash);
    return {{"id", e.name}, {"object", "model"}, {"created", e.modified_ns / kNsPerSecond}, {"owned_by", owner}};
}

}  // namespace

void register_openai_routes(Server::State& st) {
    st.http.Post("/v1/chat/completions",
                 [&st](const httplib::Request& req, httplib::Response& res) { handle(st, req, res, true); });
    st.http.Post("/v1/completions",
                 [&st](const httplib::Request& req, httplib::Response& res) { handle(st, req, res, false); });
    st.http.Get("/v1/models", [&st](const httplib::Request&, httplib::Response& res) {
        json data = json::array();
        for (auto& e : st.store->list()) data.push_back(model_object(e));
        reply_json(res, {{"object", "list"}, {"data", data}});
    });
    st.http.Get(R"(/v1/models/(.+))", [&st](const httplib::Request& req, httplib::Response& res) {
        std::string name = req.matches[1];
        if (!canonical_model_name(name).is_ok()) return reply_openai_error(res, 400, "invalid model name");
        Result<StoreEntry> e = st.store->find(name);
        if (!e.is_ok()) return reply_openai_error(res, 404, e.status().message());
        reply_json(res, model_object(*e));
    });
}

}  // namespace berth
