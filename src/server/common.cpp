// Helpers shared by the route files: responses, option mapping, keep-alive, model resolution, prompts.
#include <cmath>

#include "gguf/gguf.h"
#include "server/server_internal.h"
#include "template/template.h"

namespace berth {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

void reply_ordered_json(httplib::Response& res, const ojson& j, int status) {
    res.status = status;
    res.set_content(dump(j), "application/json; charset=utf-8");
}

void reply_json(httplib::Response& res, const json& j, int status) {
    res.status = status;
    res.set_content(dump(j), "application/json; charset=utf-8");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
    reply_json(res, json{{"error", message}}, status);
}

void reply_openai_error(httplib::Response& res, int status, const std::string& message) {
    const char* type = status == 404 ? "not_found_error" : status < 500 ? "invalid_request_error" : "api_error";
    reply_json(res, json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}},
               status);
}

int http_status(const Status& st) {
    switch (st.code()) {
        case StatusCode::ok: return 200;
        case StatusCode::invalid_argument: return 400;
        case StatusCode::not_found: return 404;
        case StatusCode::resource_exhausted:
        case StatusCode::timeout:
        case StatusCode::unavailable: return 503;
        case StatusCode::cancelled: return 499;
        // A model file that is malformed or uses what berth does not support: the message names what is wrong.
        case StatusCode::corrupt_data:
        case StatusCode::unsupported: return 400;
        default: return 500;
    }
}

std::string now_rfc3339() { return format_rfc3339(wall_time_ns()); }

std::string expires_rfc3339(int64_t wall_ns) {
    // Forever: far in the future, as Ollama shows it (a date centuries ahead).
    if (wall_ns >= kForever / 2) return format_rfc3339(int64_t(9000000000) * kNsPerSecond);
    return format_rfc3339(wall_ns);
}

bool parse_body(const httplib::Request& req, httplib::Response& res, json& out, bool openai) {
    auto fail = [&](const std::string& m) {
        if (openai)
            reply_openai_error(res, 400, m);
        else
            reply_error(res, 400, m);
        return false;
    };
    if (req.body.empty()) return fail("missing request body");
    Result<json> parsed = parse_json_bounded(req.body, "the request body");
    if (!parsed.is_ok()) return fail(parsed.status().message());
    out = std::move(parsed).value();
    if (!out.is_object()) return fail("the request body must be a JSON object");
    return true;
}

// ---- options -------------------------------------------------------------------------------------------
RequestOptions::RequestOptions() {
    sampling.temperature = 0.8f;
    sampling.top_k = 40;
    sampling.top_p = 0.9f;
    sampling.min_p = 0.0f;
    sampling.repeat_penalty = 1.0f;
    sampling.repeat_last_n = 64;
    sampling.seed = 0xFFFFFFFFu;
}

Status apply_options(const json& options, RequestOptions& out) {
    if (options.is_null()) return Status::ok();
    if (!options.is_object()) return invalid_argument("options must be an object");
    for (const auto& item : options.items()) {
        // Named references rather than a structured binding: the lambdas below use them, and clang 14 (the fuzz
        // build's compiler) cannot capture structured bindings.
        const std::string& key = item.key();
        const json& v = item.value();
        // Integers: any JSON number within ±2^31, also written as a float ("num_ctx": 2048.0), truncated toward
        // zero as Ollama converts them (its options are a map of float64); floats: finite as a 32-bit float. Each
        // option then has its own range, named in the message.
        auto need_int = [&]() -> Result<int64_t> {
            if (!v.is_number()) return invalid_argument("option \"%s\" must be of type integer", key.c_str());
            if (v.is_number_integer()) {
                const bool big = v.is_number_unsigned()
                                     ? v.get<uint64_t>() > 2147483647u
                                     : v.get<int64_t>() < -2147483647 || v.get<int64_t>() > 2147483647;
                if (big) return invalid_argument("option \"%s\" is out of range (%s)", key.c_str(), v.dump().c_str());
                return v.get<int64_t>();
            }
            double d = v.get<double>();
            if (!std::isfinite(d) || std::fabs(d) > 2147483647.0)
                return invalid_argument("option \"%s\" is out of range (%g)", key.c_str(), d);
            return int64_t(std::trunc(d));
        };
        auto need_float = [&]() -> Result<float> {
            if (!v.is_number()) return invalid_argument("option \"%s\" must be of type number", key.c_str());
            double d = v.get<double>();
            if (!std::isfinite(d) || std::fabs(d) > 3.0e38)
                return invalid_argument("option \"%s\" is out of range (%g)", key.c_str(), d);
            return float(d);
        };
        auto in_range = [&](double x, double lo, double hi) -> Status {
            if (x < lo || x > hi)
                return invalid_argument("option \"%s\" must be between %g and %g, got %g", key.c_str(), lo, hi, x);
            return Status::ok();
        };
        if (key == "temperature") {
            ASSIGN_OR_RETURN(out.sampling.temperature, need_float());
            RETURN_IF_ERROR(in_range(out.sampling.temperature, 0, 1e6));
        } else if (key == "top_k") {
            ASSIGN_OR_RETURN(int64_t x, need_int());
            RETURN_IF_ERROR(in_range(double(x), 0, 2147483647.0));  // 0 disables top-k
            out.sampling.top_k = int(x);
        } else if (key == "top_p") {
            ASSIGN_OR_RETURN(out.sampling.top_p, need_float());
            RETURN_IF_ERROR(in_range(out.sampling.top_p, 0, 1));
        } else if (key == "min_p") {
            ASSIGN_OR_RETURN(out.sampling.min_p, need_float());
            RETURN_IF_ERROR(in_range(out.sampling.min_p, 0, 1));
        } else if (key == "repeat_penalty") {
            ASSIGN_OR_RETURN(out.sampling.repeat_penalty, need_float());
        } else if (key == "presence_penalty") {
            ASSIGN_OR_RETURN(out.sampling.presence_penalty, need_float());
        } else if (key == "frequency_penalty") {
            ASSIGN_OR_RETURN(out.sampling.frequency_penalty, need_float());
        } else if (key == "repeat_last_n") {
            ASSIGN_OR_RETURN(int64_t x, need_int());
            RETURN_IF_ERROR(in_range(double(x), -1, 2147483647.0));  // -1: the whole context
            out.sampling.repeat_last_n = int(x);
        } else if (key == "seed") {
            ASSIGN_OR_RETURN(int64_t x, need_int());
            out.sampling.seed = x < 0 ? 0xFFFFFFFFu : uint64_t(x);
        } else if (key == "num_predict") {
            ASSIGN_OR_RETURN(int64_t x, need_int());
            // Any negative value means no limit (until the context is full), as in Ollama (-1, -2, ...).
            out.num_predict = x < 0 ? -1 : int(std::min<int64_t>(x, 1 << 30));
        } else if (key == "num_ctx") {
            ASSIGN_OR_RETURN(int64_t x, need_int());
            if (x < 0 || x > (1 << 24)) return invalid_argument("option \"num_ctx\" is out of range");
            out.num_ctx = int(x);
        } else if (key == "stop") {
            out.stop.clear();
            if (v.is_string()) {
                out.stop.push_back(v.get<std::string>());
            } else if (v.is_array()) {
                for (auto& s : v) {
                    if (!s.is_string()) return invalid_argument("option \"stop\" must be a list of strings");
                    out.stop.push_back(s.get<std::string>());
                }
            } else if (!v.is_null()) {
                return invalid_argument("option \"stop\" must be a list of strings");
            }
        } else if (key == "num_gpu") {
            // Layers on the device (Ollama's meaning): negative as many as fit, 0 the CPU, N the first N.
            if (!v.is_null()) {
                ASSIGN_OR_RETURN(int64_t x, need_int());
                out.num_gpu = x < 0 ? -1 : int(std::min<int64_t>(x, 1 << 20));
            }
        } else if (key == "num_keep" || key == "num_batch" || key == "main_gpu" || key == "num_thread" ||
                   key == "typical_p" || key == "draft_num_predict") {
            if (!v.is_number() && !v.is_null()) return invalid_argument("option \"%s\" must be a number", key.c_str());
        } else if (key == "use_mmap" || key == "use_mlock" || key == "numa" || key == "low_vram" || key == "f16_kv") {
            if (!v.is_boolean() && !v.is_null())
                return invalid_argument("option \"%s\" must be a boolean", key.c_str());
        }
        // Unknown keys are ignored, as Ollama does.
    }
    return Status::ok();
}

Result<std::optional<int64_t>> parse_keep_alive(const json& body) {
    auto it = body.find("keep_alive");
    if (it == body.end() || it->is_null()) return std::optional<int64_t>();
    if (it->is_number()) return std::optional<int64_t>(keep_alive_from_seconds(it->get<double>()));
    if (it->is_string()) {
        ASSIGN_OR_RETURN(int64_t ns, keep_alive_from_string(it->get<std::string>()));
        return std::optional<int64_t>(ns);
    }
    return invalid_argument("keep_alive must be a number of seconds or a duration string such as \"5m\"");
}

// ---- models --------------------------------------------------------------------------------------------
Result<StoreEntry> resolve_model(Server::State& st, const json& body, const char* field) {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return invalid_argument("model is required");
    if (!it->is_string()) return invalid_argument("model must be a string");
    std::string name = it->get<std::string>();
    if (name.empty()) return invalid_argument("model is required");
    if (!canonical_model_name(name).is_ok()) return invalid_argument("invalid model name");
    return st.store->find(name);
}

Result<Lease> acquire_model(Server::State& st, const StoreEntry& e, const RequestOptions& ro,
                            const std::optional<int64_t>& keep_alive) {
    AcquireOptions ao;
    ao.num_ctx = ro.num_ctx;
    ao.keep_alive = keep_alive;
    ao.num_gpu = ro.num_gpu;
    return st.sched->acquire(ModelFile{e.name, e.model_path}, ao);
}

Result<std::shared_ptr<const ModelTemplate>> parse_template(Server::State& st, const std::string& source) {
    {
        std::lock_guard<std::mutex> lock(st.templates_mu);
        auto it = st.templates.find(source);
        if (it != st.templates.end()) {
            if (it->second.tmpl) return it->second.tmpl;
            return it->second.error;
        }
    }
    Server::State::ParsedTemplate pt;
    Result<PromptTemplate> t = PromptTemplate::parse(source);
    if (t.is_ok())
        pt.tmpl = std::make_shared<const ModelTemplate>(
            ModelTemplate{std::move(t).value(), source, detect_output_format(source)});
    else
        pt.error = t.status();
    // Bounded in count and bytes (request templates come from clients): a handful of models in practice.
    constexpr size_t kMaxTemplates = 64, kMaxTemplateBytes = 8 << 20;
    if (source.size() <= kMaxTemplateBytes / 8) {
        std::lock_guard<std::mutex> lock(st.templates_mu);
        if (st.templates.size() >= kMaxTemplates || st.templates_bytes + source.size() > kMaxTemplateBytes) {
            st.templates.clear();
            st.templates_bytes = 0;
        }
        if (st.templates.emplace(source, pt).second) st.templates_bytes += source.size();
    }
    if (pt.tmpl) return pt.tmpl;
    return pt.error;
}

Result<std::shared_ptr<const ModelTemplate>> model_template(Server::State& st, const StoreEntry& e,
                                                            const LoadedModel& m) {
    if (!e.template_text.empty()) {
        bool seen;
        {
            std::lock_guard<std::mutex> lock(st.templates_mu);
            seen = st.templates.count(e.template_text) > 0;
        }
        Result<std::shared_ptr<const ModelTemplate>> t = parse_template(st, e.template_text);
        if (t.is_ok()) return *t;
        if (!seen) {
            LOG_WARN("%s: its TEMPLATE does not parse (%s); using the GGUF chat template", e.name.c_str(),
                     t.status().message().c_str());
        }
    }
    if (m.chat_template.empty()) return std::shared_ptr<const ModelTemplate>();
    return parse_template(st, m.chat_template);
}

namespace {

Result<std::string> render_messages(const LoadedModel& m, const ModelTemplate* tmpl, const ojson& messages,
                                    const PromptExtras& extras) {
    if (tmpl) {
        ChatRenderInput in;
        in.messages = &messages;
        in.tools = extras.tools && !extras.tools->empty() ? extras.tools : nullptr;
        in.think = extras.think;
        in.add_generation_prompt = true;
        in.bos_token = m.bos_token;
        in.eos_token = m.eos_token;
        return tmpl->tmpl.render(in);
    }
    return render_plain_chat(json(messages), true);
}

}  // namespace

Status chat_prompt(const LoadedModel& m, const ModelTemplate* tmpl, ojson messages, PromptExtras& extras,
                   std::vector<int32_t>& tokens, bool& truncated) {
    const TextCodec& codec = m.engine->codec();
    const int n_ctx = m.n_ctx;
    truncated = false;
    for (int guard = 0; guard < 100000; ++guard) {
        ASSIGN_OR_RETURN(extras.rendered, render_messages(m, tmpl, messages, extras));
        const std::string& text = extras.rendered;
        bool has_bos = !m.bos_token.empty() && text.rfind(m.bos_token, 0) == 0;
        ASSIGN_OR_RETURN(tokens, codec.encode(text, !has_bos, true));
        if (int64_t(tokens.size()) < n_ctx) return Status::ok();
        // Drop the oldest message that is neither a system message nor the last one.
        bool dropped = false;
        for (size_t i = 0; i + 1 < messages.size(); ++i) {
            if (messages[i].value("role", "") == "system") continue;
            messages.erase(i);
            dropped = truncated = true;
            break;
        }
        if (!dropped) {
            return invalid_argument(
                "the prompt is longer than the context length (%zu tokens, context %d) even "
                "after dropping older messages; shorten it or raise num_ctx",
                tokens.size(), n_ctx);
        }
    }
    return internal_error("truncation did not converge");
}

Status completion_prompt(Server::State& st, const LoadedModel& m, const ModelTemplate* tmpl, const std::string& prompt,
                         const std::string& system, bool raw, const json& context, PromptExtras& extras,
                         std::vector<int32_t>& tokens) {
    const TextCodec& codec = m.engine->codec();
    tokens.clear();
    if (context.is_array()) {
        for (auto& t : context) {
            // Token ids, also written as floats (1.0); the engine refuses ids outside the vocabulary.
            const double id = t.is_number() ? t.get<double>() : -1.0;
            if (!(id >= 0 && id <= 2147483647.0) || id != std::trunc(id))
                return invalid_argument("context must be a list of token ids");
            tokens.push_back(int32_t(id));
        }
    }
    std::string& text = extras.rendered;
    bool add_special = tokens.empty();
    if (raw) {
        text = prompt;
    } else if (tmpl) {
        ojson messages = ojson::array();
        if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
        messages.push_back({{"role", "user"}, {"content", prompt}});
        ASSIGN_OR_RETURN(text, render_messages(m, tmpl, messages, extras));
        if (!m.bos_token.empty() && text.rfind(m.bos_token, 0) == 0) add_special = false;
    } else {
        text = system.empty() ? prompt : system + "\n\n" + prompt;
    }
    ASSIGN_OR_RETURN(std::vector<int32_t> more, codec.encode(text, add_special, true));
    tokens.insert(tokens.end(), more.begin(), more.end());
    if (int64_t(tokens.size()) >= m.n_ctx) {
        if (!st.opt.truncate_raw_prompts) {
            return invalid_argument(
                "the prompt is longer than the context length (%zu tokens, context %d); shorten "
                "it or raise num_ctx",
                tokens.size(), m.n_ctx);
        }
        tokens.erase(tokens.begin(), tokens.begin() + (int64_t(tokens.size()) - m.n_ctx + 1));
    }
    return Status::ok();
}

Result<GenerateResult> run_generation(Server::State& st, Prepared& p,
                                      const std::function<bool(std::string_view)>& emit) {
    const int64_t t_call = now_ns();
    // Polled every decode step: set by the disconnect watcher when the client goes away, and for every request
    // when the shutdown grace period is over.
    std::atomic<bool> cancel{false};
    DisconnectWatcher::Registration watch(st.watcher, p.peer, &cancel);
    Result<GenerateResult> r = p.lease.engine().generate(
        p.greq, [&](std::string_view t) { return emit(t); }, &cancel);
    if (r.is_ok()) {
        ++st.generations;
        st.tokens_prompt += r->prompt_eval_count;
        st.tokens_generated += r->eval_count;
        st.eval_ns += r->eval_ns;
        st.prompt_ns += r->prompt_eval_ns;
        if (r->done_reason == "cancel") ++st.cancelled;
        if (r->eval_count > 0) {
            st.ttft_hist.observe(double(t_call - p.t_start + r->queue_ns + r->prompt_eval_ns) * 1e-9);
            st.token_hist.observe(double(r->eval_ns) * 1e-9 / r->eval_count);
        }
        std::lock_guard<std::mutex> lock(st.latency_mu);
        size_t i = st.latency_n++ % 64;
        st.ttft_ms[i] = double(r->prompt_eval_ns) / 1e6;
        st.token_ms[i] = r->eval_count > 0 ? double(r->eval_ns) / 1e6 / r->eval_count : 0;
    }
    return shutdown_outcome(st, std::move(r));
}

Result<GenerateResult> shutdown_outcome(Server::State& st, Result<GenerateResult> r) {
    // Once the shutdown grace period is over every generation is cancelled (cancel_all is set before the watcher
    // cancels). Such an end is not a normal one: a stream cut short gets a final error frame and a request that
    // never started gets 503, instead of done_reason "stop" with HTTP 200.
    if (!st.cancel_all.load()) return r;
    const bool cut = r.is_ok() ? r->done_reason == "cancel" : r.status().code() == StatusCode::cancelled;
    if (!cut) return r;
    const int n = r.is_ok() ? r->eval_count : 0;
    if (n > 0) {
        return Status(StatusCode::unavailable,
                      string_printf("the server is shutting down: the generation was cut after %d tokens "
                                    "(BERTH_SHUTDOWN_GRACE); try again later",
                                    n));
    }
    return Status(StatusCode::unavailable,
                  "the server is shutting down: the request was cancelled before it produced any output; try "
                  "again later");
}

void apply_generation_options(Prepared& p, const RequestOptions& ro, httplib::Response& res) {
    p.greq.sampling = ro.sampling;
    p.greq.num_predict = ro.num_predict;
    p.greq.stop = ro.stop;
    if (p.truncated) res.set_header("X-Berth-Truncated", "true");
}

Result<GenerateResult> run_generation_to_text(Server::State& st, Prepared& p, std::string& text) {
    return run_generation(st, p, [&](std::string_view t) {
        text.append(t);
        return true;
    });
}

// ---- latency histograms -------------------------------------------------------------------------------
LatencyHistogram::LatencyHistogram(std::initializer_list<double> upper_bounds) {
    for (double b : upper_bounds) {
        CHECK(n_ < kMaxBuckets);
        bounds_[n_++] = b;
    }
}

void LatencyHistogram::observe(double seconds) {
    int i = 0;
    while (i < n_ && seconds > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(int64_t(seconds * 1e6), std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
}

std::string LatencyHistogram::render(const char* name, const char* help) const {
    std::string o = string_printf("# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    int64_t cumulative = 0;
    for (int i = 0; i <= n_; ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        std::string le = i < n_ ? string_printf("%g", bounds_[i]) : "+Inf";
        o += string_printf("%s_bucket{le=\"%s\"} %lld\n", name, le.c_str(), (long long)cumulative);
    }
    o += string_printf("%s_sum %.6f\n%s_count %lld\n", name, double(sum_us_.load()) * 1e-6, name,
                       (long long)count_.load());
    return o;
}

// ---- details -------------------------------------------------------------------------------------------
namespace {

const char* file_type_name(int64_t ft) {
    switch (ft) {
        case 0: return "F32";
        case 1: return "F16";
        case 2: return "Q4_0";
        case 3: return "Q4_1";
        case 7: return "Q8_0";
        case 8: return "Q5_0";
        case 9: return "Q5_1";
        case 10: return "Q2_K";
        case 11: return "Q3_K_S";
        case 12: return "Q3_K_M";
        case 13: return "Q3_K_L";
        case 14: return "Q4_K_S";
        case 15: return "Q4_K_M";
        case 16: return "Q5_K_S";
        case 17: return "Q5_K_M";
        case 18: return "Q6_K";
        case 32: return "BF16";
        default: return "unknown";
    }
}

std::string human_count(int64_t n) {
    if (n >= 1000000000) return string_printf("%.1fB", double(n) / 1e9);
    if (n >= 1000000) return string_printf("%.1fM", double(n) / 1e6);
    if (n >= 1000) return string_printf("%.0fK", double(n) / 1e3);
    return std::to_string(n);
}

json gguf_value_json(const GgufValue& v, bool verbose) {
    switch (v.type) {
        case GgufType::STRING: return std::string(v.str);
        case GgufType::BOOL: return v.i != 0;
        case GgufType::FLOAT32:
        case GgufType::FLOAT64: return v.f;
        case GgufType::UINT64: return v.u;
        case GgufType::ARRAY: {
            if (!verbose && v.count > 5) return nullptr;  // long arrays blanked unless verbose, as Ollama
            json a = json::array();
            uint64_t n = std::min<uint64_t>(v.count, 100000);
            for (uint64_t i = 0; i < n; ++i) {
                if (v.elem_type == GgufType::STRING)
                    a.push_back(i < v.strings.size() ? std::string(v.strings[i]) : "");
                else if (v.elem_type == GgufType::FLOAT32 || v.elem_type == GgufType::FLOAT64)
                    a.push_back(v.float_at(i));
                else
                    a.push_back(v.int_at(i));
            }
            return a;
        }
        default: return v.i;
    }
}

json read_details(Server::State& st, const StoreEntry& e, bool verbose) {
    std::string key = e.model_path + (verbose ? "#v" : "");
    {
        std::lock_guard<std::mutex> lock(st.details_mu);
        auto it = st.details_cache.find(key);
        if (it != st.details_cache.end()) return it->second;
    }
    json d = {{"parent_model", ""},  {"format", "gguf"},     {"family", ""},
              {"families", nullptr}, {"parameter_size", ""}, {"quantization_level", ""}};
    json info = json::object();
    Result<std::unique_ptr<GgufFile>> g = GgufFile::open(e.model_path);
    if (g.is_ok()) {
        const GgufFile& f = **g;
        std::string arch(f.get_string("general.architecture").value_or(""));
        d["family"] = arch;
        d["families"] = json::array({arch});
        int64_t params = 0;
        for (auto& t : f.tensors()) {
            int64_t n = 1;
            for (int i = 0; i < t.n_dims; ++i) n *= t.ne[i];
            params += n;
        }
        d["parameter_size"] = human_count(params);
        if (auto ft = f.get_int("general.file_type"))
            d["quantization_level"] = file_type_name(*ft);
        else if (!f.tensors().empty())
            d["quantization_level"] = "F32";
        for (auto& [k, v] : f.metadata()) {
            if (k == "general.name" || k == "tokenizer.chat_template") continue;
            info[k] = gguf_value_json(v, verbose);
        }
        info["general.parameter_count"] = params;
    }
    json both = {{"details", d}, {"model_info", info}, {"chat_template", ""}};
    if (g.is_ok()) both["chat_template"] = std::string((*g)->get_string("tokenizer.chat_template").value_or(""));
    std::lock_guard<std::mutex> lock(st.details_mu);
    if (st.details_cache.size() > 256) st.details_cache.clear();
    st.details_cache[key] = both;
    return both;
}

}  // namespace

json model_details(Server::State& st, const StoreEntry& e) {
    json d = read_details(st, e, false)["details"];
    if (!e.parent.empty()) d["parent_model"] = e.parent;
    return d;
}

std::string model_template_source(Server::State& st, const StoreEntry& e) {
    if (!e.template_text.empty() && parse_template(st, e.template_text).is_ok()) return e.template_text;
    return read_details(st, e, false).value("chat_template", "");
}

json model_info(Server::State& st, const StoreEntry& e, bool verbose) {
    return read_details(st, e, verbose)["model_info"];
}

}  // namespace berth
