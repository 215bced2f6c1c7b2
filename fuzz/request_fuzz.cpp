// Request decoding shared by every route of both APIs, without a server: the body parser (nesting bounded),
// the options mapping (Ollama's `options`, Modelfile parameters, the OpenAI fields mapped onto them),
// keep_alive, the model name, and the non-throwing typed reads used on manifests.
// Input: a byte of flags, then the request body.
// Properties: no crash or escaping exception; a refused body gets 400 with a JSON error body, for the native
// and the OpenAI error shapes; an accepted body can be dumped again (the recursive walk stays within the stack).
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "server/server_internal.h"

using namespace berth;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    set_log_level(LogLevel::error);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Input in(data, size);
    const uint8_t flags = in.byte();
    const bool openai = flags & 1;
    httplib::Request req;
    req.body = std::string(in.rest());
    httplib::Response res;
    json body;
    if (!parse_body(req, res, body, openai)) {
        json err = json::parse(res.body, nullptr, false);
        if (res.status != 400 || !err.is_object() || !err.contains("error")) fuzz::fail("a refused body is not a 400");
        if (openai && !err["error"].is_object()) fuzz::fail("the OpenAI error shape is wrong");
        return 0;
    }
    volatile size_t sink = dump(body).size();
    (void)sink;

    RequestOptions ro;
    if (body.contains("options")) (void)apply_options(body["options"], ro);
    (void)apply_options(body, ro);  // every top-level field as an option too: each key with every JSON type
    if (ro.num_ctx < 0 || ro.sampling.top_k < 0) fuzz::fail("an option out of its range was accepted");
    if (ro.num_predict < -1) fuzz::fail("num_predict below -1 (no limit) was accepted");
    Result<std::optional<int64_t>> ka = parse_keep_alive(body);
    if (ka.is_ok() && *ka && **ka < 0) fuzz::fail("negative keep-alive");
    if (body.contains("model") && body["model"].is_string()) (void)canonical_model_name(body["model"]);
    for (const char* key : {"size", "digest", "model", "num_ctx"}) {
        (void)json_int_or(body, key, 0);
        (void)json_string_or(body, key, "");
    }
    return 0;
}
