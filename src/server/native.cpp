// Ollama's /api/generate and /api/chat: NDJSON streaming by default, one object with stream:false.
#include "server/server_internal.h"

namespace berth {

namespace {

struct Stream {
    Server::State* st = nullptr;
    Prepared p;
    bool chat = false;
    bool raw = false;
    OutputPlan plan;
};

json final_fields(const Prepared& p, const GenerateResult& r) {
    int64_t total = now_ns() - p.t_start;
    json j = {{"done", true},
              {"done_reason", r.done_reason == "cancel" ? "stop" : r.done_reason},
              {"total_duration", total},
              {"load_duration", p.lease.load_ns() + r.queue_ns},  // as Ollama: waiting + loading
              {"prompt_eval_count", r.prompt_eval_count},
              {"prompt_eval_duration", r.prompt_eval_ns},
              {"eval_count", r.eval_count},
              {"eval_duration", r.eval_ns}};
    if (p.truncated) j["truncated"] = true;
    return j;
}

// The assistant's part of a chunk: `message` (chat) or `response` + `thinking` (generate). `thinking` and
// `tool_calls` only when there are some; tool calls keep the model's key order in their arguments.
void put_output(const Stream& s, ojson& j, const std::string& content, const std::string& thinking,
                const ojson& calls) {
    if (s.chat) {
        ojson m = {{"role", "assistant"}, {"content", content}};
        if (!thinking.empty()) m["thinking"] = thinking;
        if (!calls.empty()) m["tool_calls"] = calls;
        j["message"] = std::move(m);
    } else {
        j["response"] = content;
        if (!thinking.empty()) j["thinking"] = thinking;
    }
}

ojson chunk(const Stream& s, const std::string& content, const std::string& thinking, const ojson& calls) {
    ojson j = {{"model", s.p.name}, {"created_at", now_rfc3339()}};
    put_output(s, j, content, thinking, calls);
    j["done"] = false;
    return j;
}

ojson final_chunk(const Stream& s, const GenerateResult& r, const std::string& content, const std::string& thinking,
                  const ojson& calls) {
    ojson j = {{"model", s.p.name}, {"created_at", now_rfc3339()}};
    put_output(s, j, content, thinking, calls);
    const json fields = final_fields(s.p, r);
    for (auto& [k, v] : fields.items()) j[k] = v;
    if (!s.chat) {  // Ollama omits it for raw prompts; clients that chain requests expect it, so berth always sends it
        std::vector<int32_t> ctx = s.p.greq.prompt;
        for (int32_t t : r.output) {
            if (!s.p.lease.engine().codec().is_eog(t)) ctx.push_back(t);
        }
        j["context"] = ctx;
    }
    return j;
}

// Appends the calls of `out` (the last push of `splitter`) in the native shape.
void append_calls(const OutputSplitter& splitter, const ParsedOutput& out, ojson& calls) {
    int first = splitter.calls() - int(out.calls.size());
    for (size_t i = 0; i < out.calls.size(); ++i) calls.push_back(native_tool_call(out.calls[i], first + int(i)));
}

// Answers an empty prompt / empty messages: load the model, or unload it with keep_alive 0.
void load_or_unload(Server::State& st, const StoreEntry& e, const std::string& name, const RequestOptions& ro,
                    const std::optional<int64_t>& ka, bool chat, httplib::Response& res) {
    json j = {{"model", name}, {"created_at", now_rfc3339()}};
    if (chat)
        j["message"] = {{"role", "assistant"}, {"content", ""}};
    else
        j["response"] = "";
    j["done"] = true;
    if (ka && *ka == 0) {
        st.sched->unload(e.name, /*admin=*/false);
        j["done_reason"] = "unload";
        return reply_json(res, j);
    }
    Result<Lease> lease = acquire_model(st, e, ro, ka);
    if (!lease.is_ok()) return reply_error(res, http_status(lease.status()), lease.status().message());
    j["done_reason"] = "load";
    reply_json(res, j);
}

void handle(Server::State& st, const httplib::Request& req, httplib::Response& res, bool chat) {
    const int64_t t_start = now_ns();
    ojson obody;
    if (!parse_body_ordered(req, res, obody)) return;
    const json body = obody;  // sorted copy for the option helpers (nesting is bounded by parse_body_ordered)
    Result<StoreEntry> entry = resolve_model(st, body);
    if (!entry.is_ok()) return reply_error(res, http_status(entry.status()), entry.status().message());
    std::string name = body["model"].get<std::string>();
    Result<std::optional<int64_t>> ka = parse_keep_alive(body);
    if (!ka.is_ok()) return reply_error(res, 400, ka.status().message());
    bool stream = true;
    if (body.contains("stream") && !body["stream"].is_null()) {
        if (!body["stream"].is_boolean()) return reply_error(res, 400, "stream must be true or false");
        stream = body["stream"].get<bool>();
    }
    ChatRequest creq;
    Status s = chat ? decode_native_chat(obody, creq) : Status::ok();
    if (s.is_ok() && !chat) {
        s = decode_native_format(obody.contains("format") ? obody["format"] : ojson(), creq.format);
        if (s.is_ok()) s = decode_native_think(obody.contains("think") ? obody["think"] : ojson(), creq.think);
    }
    if (s.is_ok()) s = check_format(st.grammars, creq.format);
    if (!s.is_ok()) return reply_error(res, 400, s.message());
    if (creq.has_images) return reply_error(res, 400, "\"" + name + "\" does not support images");
    RequestOptions ro;
    s = apply_options(entry->params, ro);
    if (s.is_ok() && body.contains("options")) s = apply_options(body["options"], ro);
    if (!s.is_ok()) return reply_error(res, 400, s.message());

    auto st_ptr = std::make_shared<Stream>();
    Stream& sm = *st_ptr;
    sm.st = &st;
    sm.chat = chat;
    sm.p.name = name;
    sm.p.peer = PeerAddress::of(req);
    sm.p.entry = *entry;
    sm.p.t_start = t_start;

    ojson messages = ojson::array();
    std::string prompt, system;
    std::shared_ptr<const ModelTemplate> request_template;  // /api/generate's `template`
    if (chat) {
        messages = std::move(creq.messages);
        if (messages.empty()) return load_or_unload(st, *entry, name, ro, *ka, true, res);
        // Modelfile MESSAGEs first; its SYSTEM unless the conversation starts with one.
        ojson full = ojson::array();
        if (!entry->system.empty() && messages[0].value("role", "") != "system")
            full.push_back({{"role", "system"}, {"content", entry->system}});
        for (auto& m : entry->messages) full.push_back(ojson(m));
        for (auto& m : messages) full.push_back(m);
        messages = full;
    } else {
        if (body.contains("prompt") && !body["prompt"].is_null() && !body["prompt"].is_string())
            return reply_error(res, 400, "prompt must be a string");
        prompt = body.value("prompt", json("")).is_string() ? body.value("prompt", "") : "";
        if (body.contains("system") && body["system"].is_string())
            system = body["system"].get<std::string>();
        else
            system = entry->system;
        if (body.contains("raw") && !body["raw"].is_boolean() && !body["raw"].is_null())
            return reply_error(res, 400, "raw must be true or false");
        sm.raw = body.value("raw", json(false)).is_boolean() && body.value("raw", false);
        if (body.contains("images") && body["images"].is_array() && !body["images"].empty())
            return reply_error(res, 400, "\"" + name + "\" does not support images");
        if (sm.raw && ((body.contains("template") && body["template"].is_string() && body["template"] != "") ||
                       (body.contains("system") && body["system"].is_string() && body["system"] != "") ||
                       (body.contains("context") && body["context"].is_array() && !body["context"].empty())))
            return reply_error(res, 400, "raw mode does not support template, system, or context");
        if (body.contains("template") && !body["template"].is_null()) {
            if (!body["template"].is_string()) return reply_error(res, 400, "template must be a string");
            if (const std::string& t = body["template"].get_ref<const std::string&>(); !t.empty()) {
                Result<std::shared_ptr<const ModelTemplate>> parsed = parse_template(st, t);
                if (!parsed.is_ok()) return reply_error(res, 400, invalid_template_error(parsed.status()).message());
                request_template = *parsed;
            }
        }
        if (prompt.empty() && !(body.contains("context") && body["context"].is_array() && !body["context"].empty()))
            return load_or_unload(st, *entry, name, ro, *ka, false, res);
    }

    Result<Lease> lease = acquire_model(st, *entry, ro, *ka);
    if (!lease.is_ok()) return reply_error(res, http_status(lease.status()), lease.status().message());
    sm.p.lease = std::move(lease).value();
    const LoadedModel& lm = sm.p.lease.model();
    if (!lm.engine) return reply_error(res, 400, "\"" + name + "\" does not support " + (chat ? "chat" : "generate"));
    Result<std::shared_ptr<const ModelTemplate>> tmpl = request_template;
    if (!request_template && !sm.raw) tmpl = model_template(st, *entry, lm);
    if (!tmpl.is_ok()) return reply_error(res, http_status(tmpl.status()), tmpl.status().message());
    s = plan_output(name, tmpl->get(), entry->params, creq, sm.plan);
    if (!s.is_ok()) return reply_error(res, 400, s.message());
    PromptExtras extras;
    extras.tools = &creq.tools;
    extras.think = creq.think;
    if (chat)
        s = chat_prompt(lm, tmpl->get(), messages, extras, sm.p.greq.prompt, sm.p.truncated);
    else
        s = completion_prompt(st, lm, tmpl->get(), prompt, sm.raw ? "" : system, sm.raw, body.value("context", json()),
                              extras, sm.p.greq.prompt);
    if (!s.is_ok()) return reply_error(res, http_status(s), s.message());
    plan_after_render(sm.plan, extras.rendered);
    s = plan_grammar(st.grammars, creq, sm.plan);
    if (!s.is_ok()) return reply_error(res, 400, s.message());
    apply_generation_options(sm.p, ro, res);
    sm.p.greq.grammar = sm.plan.grammar;
    sm.p.greq.render_special = sm.plan.render_special;

    if (!stream) {
        OutputSplitter splitter(sm.plan);
        ParsedOutput out;
        ojson calls = ojson::array();
        Result<GenerateResult> r = run_generation(st, sm.p, [&](std::string_view t) {
            splitter.push(t, out);
            return true;
        });
        if (!r.is_ok()) return reply_error(res, http_status(r.status()), r.status().message());
        splitter.finish(out);
        for (size_t i = 0; i < out.calls.size(); ++i) calls.push_back(native_tool_call(out.calls[i], int(i)));
        return reply_ordered_json(res, final_chunk(sm, *r, out.content, out.thinking, calls));
    }
    res.set_chunked_content_provider("application/x-ndjson", [st_ptr](size_t, httplib::DataSink& sink) {
        Stream& s = *st_ptr;
        bool alive = true;
        OutputSplitter splitter(s.plan);
        ParsedOutput out;
        auto send = [&] {
            if (out.content.empty() && out.thinking.empty() && out.calls.empty()) return;
            ojson calls = ojson::array();
            append_calls(splitter, out, calls);
            std::string line = dump(chunk(s, out.content, out.thinking, calls)) + "\n";
            alive = alive && sink.write(line.data(), line.size());
        };
        Result<GenerateResult> r = run_generation(*s.st, s.p, [&](std::string_view t) {
            out = ParsedOutput{};
            splitter.push(t, out);
            send();
            return alive;  // a client that went away cancels the generation
        });
        if (!alive) return false;
        std::string line;
        if (r.is_ok()) {
            out = ParsedOutput{};
            splitter.finish(out);
            send();
            line = dump(final_chunk(s, *r, "", "", ojson::array())) + "\n";
        } else {
            line = dump(json{{"error", r.status().message()}}) + "\n";
        }
        s.p.lease.release();  // the keep-alive countdown starts when the generation is complete
        sink.write(line.data(), line.size());
        sink.done();
        return true;
    });
}

}  // namespace

void register_native_routes(Server::State& st) {
    st.http.Post("/api/generate",
                 [&st](const httplib::Request& req, httplib::Response& res) { handle(st, req, res, false); });
    st.http.Post("/api/chat",
                 [&st](const httplib::Request& req, httplib::Response& res) { handle(st, req, res, true); });
}

}  // namespace berth
