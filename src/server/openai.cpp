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

// `tool_calls` when the answer called tools (OpenAI's reason; Ollama's native API keeps "stop").
const char* finish_reason(const std::string& r, bool calls = false) {
    return r == "length" ? "length" : calls ? "tool_calls" : "stop";
}

struct OaStream {
    Server::State* st = nullptr;
    Prepared p;
    bool chat = true;
    bool include_usage = false;
    std::string id;
    int64_t created = 0;
    OutputPlan plan;
};

// The assistant message of a whole answer: content (null when only tools were called, as OpenAI sends it),
// reasoning under both names clients read (Ollama's `reasoning`, llama.cpp's and DeepSeek's `reasoning_content`),
// tool calls with their arguments as JSON text.
ojson answer_message(const ParsedOutput& out) {
    ojson m = {{"role", "assistant"}};
    m["content"] = out.content.empty() && !out.calls.empty() ? ojson() : ojson(out.content);
    if (!out.thinking.empty()) {
        m["reasoning_content"] = out.thinking;
        m["reasoning"] = out.thinking;
    }
    if (!out.calls.empty()) {
        ojson calls = ojson::array();
        for (size_t i = 0; i < out.calls.size(); ++i) calls.push_back(openai_tool_call(out.calls[i], int(i)));
        m["tool_calls"] = std::move(calls);
    }
    return m;
}

ojson usage(const GenerateResult& r) {
    return {{"prompt_tokens", r.prompt_eval_count},
            {"completion_tokens", r.eval_count},
            {"total_tokens", r.prompt_eval_count + r.eval_count}};
}

ojson base_object(const OaStream& s, const char* object) {
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
    if (stt.is_ok()) stt = check_format(st.grammars, creq.format);
    if (!stt.is_ok()) return reply_openai_error(res, 400, stt.message());
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
    PromptExtras extras;
    if (chat) {
        Result<std::shared_ptr<const ModelTemplate>> tmpl = model_template(st, *entry, lm);
        if (!tmpl.is_ok()) return reply_openai_error(res, http_status(tmpl.status()), tmpl.status().message());
        stt = plan_output(s.p.name, tmpl->get(), entry->params, creq, s.plan);
        if (!stt.is_ok()) return reply_openai_error(res, 400, stt.message());
        extras.tools = &creq.tools;
        extras.think = creq.think;
        stt = chat_prompt(lm, tmpl->get(), messages, extras, s.p.greq.prompt, s.p.truncated);
    } else {
        stt = completion_prompt(st, lm, nullptr, prompt, "", true, json(), extras, s.p.greq.prompt);
    }
    if (!stt.is_ok()) return reply_openai_error(res, http_status(stt), stt.message());
    plan_after_render(s.plan, extras.rendered);
    stt = plan_grammar(st.grammars, creq, s.plan);
    if (!stt.is_ok()) return reply_openai_error(res, 400, stt.message());
    apply_generation_options(s.p, ro, res);
    s.p.greq.grammar = s.plan.grammar;
    s.p.greq.render_special = s.plan.render_special;

    if (!stream) {
        OutputSplitter splitter(s.plan);
        ParsedOutput out;
        Result<GenerateResult> r = run_generation(st, s.p, [&](std::string_view t) {
            splitter.push(t, out);
            return true;
        });
        if (!r.is_ok()) return reply_openai_error(res, http_status(r.status()), r.status().message());
        splitter.finish(out);
        ojson j = base_object(s, chat ? "chat.completion" : "text_completion");
        if (chat) {
            j["choices"] = ojson::array({{{"index", 0},
                                          {"message", answer_message(out)},
                                          {"finish_reason", finish_reason(r->done_reason, !out.calls.empty())}}});
        } else {
            j["choices"] = ojson::array({{{"index", 0},
                                          {"text", out.content},
                                          {"logprobs", nullptr},
                                          {"finish_reason", finish_reason(r->done_reason)}}});
        }
        j["usage"] = usage(*r);
        if (s.p.truncated) j["truncated"] = true;
        return reply_ordered_json(res, j);
    }
    res.set_chunked_content_provider("text/event-stream", [sp](size_t, httplib::DataSink& sink) {
        OaStream& s = *sp;
        bool alive = true, first = true;
        auto send = [&](const ojson& j) {
            std::string ev = "data: " + dump(j) + "\n\n";
            alive = alive && sink.write(ev.data(), ev.size());
            return alive;
        };
        const char* object = s.chat ? "chat.completion.chunk" : "text_completion";
        // One chunk per delta: reasoning, content, each tool call whole (id, index, name, complete arguments).
        auto send_delta = [&](ojson delta) {
            ojson j = base_object(s, object);
            if (first) {
                ojson d = {{"role", "assistant"}};
                for (auto& [k, v] : delta.items()) d[k] = v;
                delta = std::move(d);
            }
            first = false;
            j["choices"] = ojson::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", nullptr}}});
            send(j);
        };
        OutputSplitter splitter(s.plan);
        ParsedOutput out;
        auto send_output = [&] {
            if (!s.chat) {
                if (out.content.empty()) return;
                ojson j = base_object(s, object);
                j["choices"] = ojson::array({{{"index", 0}, {"text", out.content}, {"finish_reason", nullptr}}});
                send(j);
                return;
            }
            if (!out.thinking.empty())
                send_delta({{"content", ""}, {"reasoning_content", out.thinking}, {"reasoning", out.thinking}});
            if (!out.content.empty()) send_delta({{"content", out.content}});
            int index = splitter.calls() - int(out.calls.size());
            for (auto& call : out.calls) send_delta({{"tool_calls", ojson::array({openai_tool_call(call, index++)})}});
        };
        Result<GenerateResult> r = run_generation(*s.st, s.p, [&](std::string_view t) {
            out = ParsedOutput{};
            splitter.push(t, out);
            send_output();
            return alive;
        });
        if (!alive) return false;
        s.p.lease.release();
        if (!r.is_ok()) {
            send(ojson{
                {"error",
                 {{"message", r.status().message()}, {"type", "api_error"}, {"param", nullptr}, {"code", nullptr}}}});
        } else {
            out = ParsedOutput{};
            splitter.finish(out);
            send_output();
            ojson j = base_object(s, object);
            const char* reason = finish_reason(r->done_reason, splitter.calls() > 0);
            if (s.chat) {
                ojson delta = ojson::object();
                if (first) delta = {{"role", "assistant"}, {"content", ""}};
                j["choices"] = ojson::array({{{"index", 0}, {"delta", delta}, {"finish_reason", reason}}});
            } else {
                j["choices"] = ojson::array({{{"index", 0}, {"text", ""}, {"finish_reason", reason}}});
            }
            send(j);
            if (s.include_usage) {
                ojson u = base_object(s, object);
                u["choices"] = ojson::array();
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
