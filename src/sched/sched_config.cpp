// Scheduler configuration from the environment and the operator's TOML policy file (BERTH_CONFIG):
//
//   max_memory = "12GiB"           # global settings at the top level (or in a [server] table);
//   max_loaded_models = 3          # environment variables win over these
//   keep_alive = "5m"              # default keep-alive (duration string or seconds)
//   num_parallel = 1
//   max_queue = 512
//   queue_timeout = "5m"           # waiting for room or a free sequence (0: no limit)
//   load_timeout = "5m"            # waiting for another request's load (0: no limit)
//   kv_cache_type = "f16"          # f16 | q8_0 | q4_0
//   max_vram = "20GiB"             # device budget (default: free device memory at start less 512 MiB)
//   num_gpu = -1                   # layers on the device: -1 as many as fit, 0 none, N the first N
//
//   [default]                      # policy for models without a section of their own
//   client_keep_alive = "obey"     # obey | clamp | ignore
//
//   [models."llama3.2"]            # by name, with or without the tag
//   pin = true                     # never unloaded except by POST /api/unload
//   preload = true                 # loaded at start-up
//   keep_alive = "1h"              # this model's default
//   client_keep_alive = "clamp"
//   keep_alive_min = "5m"
//   keep_alive_max = "2h"
//   num_ctx = 8192
//   num_gpu = 0                    # this model on the CPU (or N layers on the device)
#include <unistd.h>

#include <toml++/toml.h>
#include <cctype>
#include <cstdlib>
#include <tuple>

#include "backend/backend.h"
#include "sched/sched.h"

namespace berth {

int64_t default_max_memory() {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return int64_t(8) << 30;
    return int64_t(pages) * page / 4 * 3;
}

namespace {

Result<int64_t> toml_duration(const toml::node* n, const std::string& key) {
    if (n->is_integer())
        if (auto v = n->value<int64_t>()) return keep_alive_from_seconds(double(*v));
    if (auto v = n->value<double>()) return keep_alive_from_seconds(*v);
    if (auto v = n->value<std::string>()) {
        Result<int64_t> d = keep_alive_from_string(*v);
        if (d.is_ok()) return d;
        // A plain number in quotes ("-1", "3600") is seconds, as in the environment variables.
        char* end = nullptr;
        double secs = std::strtod(v->c_str(), &end);
        if (!v->empty() && end && *end == '\0') return keep_alive_from_seconds(secs);
        return invalid_argument("%s: %s", key.c_str(), d.status().message().c_str());
    }
    return invalid_argument("%s must be a duration string or a number of seconds", key.c_str());
}

// "f16" | "q8_0" | "q4_0" (any case) → the KV element type.
Result<DType> parse_kv_cache_type(const std::string& text) {
    std::string t;
    for (char c : text) t += char(std::tolower(static_cast<unsigned char>(c)));
    if (t == "f16") return DType::F16;
    if (t == "q8_0") return DType::Q8_0;
    if (t == "q4_0") return DType::Q4_0;
    return invalid_argument("KV cache type must be f16, q8_0 or q4_0, got \"%s\"", text.c_str());
}

Status read_policy(const toml::table& t, const std::string& where, ModelPolicy& p) {
    for (auto&& [k, node] : t) {
        std::string key(k.str());
        std::string full = where + "." + key;
        if (key == "pin" || key == "preload") {
            auto b = node.value<bool>();
            if (!b) return invalid_argument("%s must be true or false", full.c_str());
            (key == "pin" ? p.pin : p.preload) = *b;
        } else if (key == "client_keep_alive") {
            auto s = node.value<std::string>();
            if (s && *s == "obey")
                p.client_keep_alive = ClientKeepAlive::obey;
            else if (s && *s == "clamp")
                p.client_keep_alive = ClientKeepAlive::clamp;
            else if (s && *s == "ignore")
                p.client_keep_alive = ClientKeepAlive::ignore;
            else
                return invalid_argument("%s must be \"obey\", \"clamp\" or \"ignore\"", full.c_str());
        } else if (key == "keep_alive" || key == "keep_alive_min" || key == "keep_alive_max") {
            ASSIGN_OR_RETURN(int64_t d, toml_duration(&node, full));
            if (key == "keep_alive")
                p.keep_alive = d;
            else if (key == "keep_alive_min")
                p.keep_alive_min = d;
            else
                p.keep_alive_max = d;
        } else if (key == "num_ctx") {
            auto v = node.value<int64_t>();
            if (!v || *v < 0) return invalid_argument("%s must be a non-negative integer", full.c_str());
            p.num_ctx = int(*v);
        } else if (key == "num_gpu") {
            auto v = node.value<int64_t>();
            if (!v || *v < -1 || *v > 100000)
                return invalid_argument("%s must be -1 (as many layers as fit), 0 (CPU) or a number of layers",
                                        full.c_str());
            p.num_gpu = int(*v);
        } else {
            return invalid_argument("unknown key %s", full.c_str());
        }
    }
    return Status::ok();
}

// The variable env_or(name, fallback, ...) read: `name` when set, else `fallback` (for messages that name it).
const char* env_name(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return (v && *v) || !fallback ? name : fallback;
}

Result<int> env_int(const char* name, const char* fallback, int def) {
    std::string v = env_or(name, fallback, "");
    if (v.empty()) return def;
    char* end = nullptr;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (!end || *end != '\0' || x < 0 || x > 1000000)
        return invalid_argument("%s=%s is not a valid count", env_name(name, fallback), v.c_str());
    return int(x);
}

}  // namespace

Status load_policy_file(const std::string& path, SchedConfig& config) {
    toml::table root;
    try {
        root = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        return invalid_argument("%s: %s (line %d)", path.c_str(), std::string(e.description()).c_str(),
                                int(e.source().begin.line));
    }
    // Global settings stand at the top level (the documented format) or, equivalently, in a [server] table.
    auto server_key = [&](const std::string& s, const toml::node& sn) -> Status {
        if (s == "keep_alive") {
            ASSIGN_OR_RETURN(config.default_keep_alive, toml_duration(&sn, "keep_alive"));
        } else if (s == "max_memory") {
            if (auto str = sn.value<std::string>()) {
                Result<int64_t> b = parse_byte_size(*str);
                if (!b.is_ok())
                    return invalid_argument("%s: max_memory: %s", path.c_str(), b.status().message().c_str());
                config.max_memory = *b;
            } else if (auto n = sn.value<int64_t>(); n && *n > 0) {
                config.max_memory = *n;
            } else {
                return invalid_argument("%s: max_memory must be a number of bytes or a size such as \"12GiB\"",
                                        path.c_str());
            }
        } else if (s == "max_vram") {
            Result<int64_t> b = invalid_argument("must be a number of bytes or a size such as \"20GiB\"");
            if (auto str = sn.value<std::string>())
                b = parse_byte_size(*str);
            else if (auto n = sn.value<int64_t>(); n && *n > 0)
                b = *n;
            if (!b.is_ok()) return invalid_argument("%s: max_vram: %s", path.c_str(), b.status().message().c_str());
            config.max_vram = *b;
        } else if (s == "num_gpu") {
            auto n = sn.value<int64_t>();
            if (!n || *n < -1 || *n > 100000)
                return invalid_argument("%s: num_gpu must be -1 (as many layers as fit), 0 (CPU) or a number of layers",
                                        path.c_str());
            config.num_gpu = int(*n);
        } else if (s == "queue_timeout" || s == "load_timeout") {
            Result<int64_t> t = invalid_argument("must be a duration string or a number of seconds");
            if (auto str = sn.value<std::string>())
                t = parse_timeout(*str);
            else if (auto n = sn.value<int64_t>())
                t = parse_timeout(std::to_string(*n));
            if (!t.is_ok())
                return invalid_argument("%s: %s: %s", path.c_str(), s.c_str(), t.status().message().c_str());
            (s == "queue_timeout" ? config.wait_timeout : config.load_timeout) = *t;
        } else if (s == "kv_cache_type") {
            auto str = sn.value<std::string>();
            if (!str) return invalid_argument("%s: kv_cache_type must be a string", path.c_str());
            Result<DType> t = parse_kv_cache_type(*str);
            if (!t.is_ok()) return invalid_argument("%s: %s", path.c_str(), t.status().message().c_str());
            config.kv_type = *t;
        } else if (s == "max_loaded_models" || s == "num_parallel" || s == "max_queue") {
            auto n = sn.value<int64_t>();
            if (!n || *n <= 0) return invalid_argument("%s: %s must be a positive integer", path.c_str(), s.c_str());
            (s == "max_loaded_models" ? config.max_loaded_models
             : s == "num_parallel"    ? config.num_parallel
                                      : config.max_queue) = int(*n);
        } else {
            return invalid_argument("%s: unknown setting %s", path.c_str(), s.c_str());
        }
        return Status::ok();
    };
    for (auto&& [k, node] : root) {
        std::string key(k.str());
        if (!node.is_table()) {
            RETURN_IF_ERROR(server_key(key, node));
        } else if (key == "server") {
            for (auto&& [sk, sn] : *node.as_table()) RETURN_IF_ERROR(server_key(std::string(sk.str()), sn));
        } else if (key == "default") {
            const toml::table* t = node.as_table();
            if (!t) return invalid_argument("%s: [default] must be a table", path.c_str());
            RETURN_IF_ERROR(read_policy(*t, "default", config.default_policy));
        } else if (key == "models") {
            const toml::table* t = node.as_table();
            if (!t) return invalid_argument("%s: [models] must be a table", path.c_str());
            for (auto&& [name, mn] : *t) {
                const toml::table* mt = mn.as_table();
                std::string n(name.str());
                if (!mt) return invalid_argument("%s: models.%s must be a table", path.c_str(), n.c_str());
                ModelPolicy p = config.default_policy;
                RETURN_IF_ERROR(read_policy(*mt, "models." + n, p));
                config.policies[n] = p;
            }
        } else {
            return invalid_argument("%s: unknown section [%s]", path.c_str(), key.c_str());
        }
    }
    return Status::ok();
}

Result<SchedConfig> sched_config_from_env() {
    SchedConfig c;
    std::string cfg = env_or("BERTH_CONFIG", nullptr, "");
    if (!cfg.empty()) RETURN_IF_ERROR(load_policy_file(cfg, c));
    std::string ka = env_or("BERTH_KEEP_ALIVE", "OLLAMA_KEEP_ALIVE", "");
    if (!ka.empty()) c.default_keep_alive = keep_alive_from_env(ka);
    ASSIGN_OR_RETURN(c.max_loaded_models,
                     env_int("BERTH_MAX_LOADED_MODELS", "OLLAMA_MAX_LOADED_MODELS", c.max_loaded_models));
    ASSIGN_OR_RETURN(c.num_parallel, env_int("BERTH_NUM_PARALLEL", "OLLAMA_NUM_PARALLEL", c.num_parallel));
    ASSIGN_OR_RETURN(c.max_queue, env_int("BERTH_MAX_QUEUE", "OLLAMA_MAX_QUEUE", c.max_queue));
    ASSIGN_OR_RETURN(c.default_num_ctx, env_int("BERTH_CONTEXT_LENGTH", "OLLAMA_CONTEXT_LENGTH", c.default_num_ctx));
    if (c.max_loaded_models == 0) c.max_loaded_models = 3;
    if (c.num_parallel == 0) c.num_parallel = 1;
    if (c.max_queue == 0) c.max_queue = 512;
    for (auto [name, fallback, field] : {std::tuple{"BERTH_QUEUE_TIMEOUT", (const char*)nullptr, &c.wait_timeout},
                                         std::tuple{"BERTH_LOAD_TIMEOUT", "OLLAMA_LOAD_TIMEOUT", &c.load_timeout}}) {
        std::string v = env_or(name, fallback, "");
        if (v.empty()) continue;
        Result<int64_t> t = parse_timeout(v);
        if (!t.is_ok())
            return invalid_argument("%s=%s: %s", env_name(name, fallback), v.c_str(), t.status().message().c_str());
        *field = *t;
    }
    std::string kv = env_or("BERTH_KV_CACHE_TYPE", "OLLAMA_KV_CACHE_TYPE", "");
    if (!kv.empty()) {
        Result<DType> t = parse_kv_cache_type(kv);
        if (!t.is_ok())
            return invalid_argument("%s: %s", env_name("BERTH_KV_CACHE_TYPE", "OLLAMA_KV_CACHE_TYPE"),
                                    t.status().message().c_str());
        c.kv_type = *t;
    }
    std::string mem = env_or("BERTH_MAX_MEMORY", nullptr, "");
    if (!mem.empty()) {
        Result<int64_t> b = parse_byte_size(mem);
        if (!b.is_ok()) return invalid_argument("BERTH_MAX_MEMORY=%s: %s", mem.c_str(), b.status().message().c_str());
        c.max_memory = *b;
    }
    if (c.max_memory <= 0) c.max_memory = default_max_memory();
    std::string vram = env_or("BERTH_MAX_VRAM", nullptr, "");
    if (!vram.empty()) {
        Result<int64_t> b = parse_byte_size(vram);
        if (!b.is_ok() || *b <= 0)
            return invalid_argument("BERTH_MAX_VRAM=%s: expected a size such as \"20GiB\"", vram.c_str());
        c.max_vram = *b;
    }
    std::string num_gpu = env_or("BERTH_NUM_GPU", nullptr, "");
    if (!num_gpu.empty()) {
        char* end = nullptr;
        long long n = std::strtoll(num_gpu.c_str(), &end, 10);
        if (!end || *end || n < -1 || n > 100000)
            return invalid_argument(
                "BERTH_NUM_GPU=%s: expected -1 (as many layers as fit), 0 (CPU) or a number of "
                "layers",
                num_gpu.c_str());
        c.num_gpu = int(n);
    }
    // The devices (BERTH_DEVICE): models go to the first one; its budget is resolved when the scheduler starts.
    RETURN_IF_ERROR(parse_device_spec(env_or("BERTH_DEVICE", nullptr, "")));
    if (!devices().empty()) c.device = devices().front()->index();
    return c;
}

}  // namespace berth
