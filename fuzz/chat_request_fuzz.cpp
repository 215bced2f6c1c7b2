// Chat request decoding of both APIs (chat_request.h): Ollama's /api/chat and OpenAI's /v1/chat/completions
// bodies into one shape: messages with tool calls and tool results, tools, format / response_format, think /
// reasoning_effort, tool_choice. Input: a byte of flags, then the request body.
// Properties: no crash or escaping exception; a refused body is a 400 with a JSON error; what decodes keeps the
// promised shape: roles lower-case strings, content strings, tool-call arguments objects, tools objects.
#include <httplib.h>

#include "fuzz_util.h"
#include "server/chat_request.h"

using namespace berth;

namespace {

void check_shape(const ChatRequest& r) {
    if (!r.messages.is_array() || !r.tools.is_array()) fuzz::fail("messages or tools not lists");
    for (const ojson& m : r.messages) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) fuzz::fail("a message without a role");
        for (char c : m["role"].get<std::string>()) {
            if (c >= 'A' && c <= 'Z') fuzz::fail("a role that is not lower-case");
        }
        if (!m.contains("content") || !m["content"].is_string()) fuzz::fail("content that is not a string");
        if (m.contains("tool_calls")) {
            for (const ojson& c : m["tool_calls"]) {
                if (!c.contains("function") || !c["function"].contains("arguments") ||
                    !c["function"]["arguments"].is_object())
                    fuzz::fail("tool-call arguments that are not an object");
            }
        }
    }
    for (const ojson& t : r.tools) {
        if (!t.is_object()) fuzz::fail("a tool that is not an object");
    }
    if (r.tool_choice.kind == ToolChoice::named && r.tool_choice.name.empty()) fuzz::fail("a named choice, no name");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Input in(data, size);
    const bool openai = in.byte() & 1;
    httplib::Request req;
    req.body = std::string(in.rest());
    httplib::Response res;
    ojson body;
    if (!parse_body_ordered(req, res, body, openai)) {
        if (res.status != 400 || nlohmann::json::parse(res.body, nullptr, false).is_discarded())
            fuzz::fail("a refused body is not a 400 with a JSON error");
        return 0;
    }
    ChatRequest r;
    if ((openai ? decode_openai_chat(body, r) : decode_native_chat(body, r)).is_ok()) check_shape(r);
    // The parts the completion routes use on their own.
    FormatSetting f;
    ThinkSetting t;
    (void)decode_native_format(body.contains("format") ? body["format"] : ojson(), f);
    (void)decode_response_format(body.contains("response_format") ? body["response_format"] : ojson(), f);
    (void)decode_native_think(body.contains("think") ? body["think"] : ojson(), t);
    (void)decode_reasoning_effort(body, t);
    return 0;
}
