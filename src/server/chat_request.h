// Decoding of what agents send with a chat request, for both APIs, into one internal shape: messages in Ollama's
// message shape, tool definitions, `format` / `response_format`, `think` / `reasoning_effort`, `tool_choice`.
// Everything is validated here; a bad field is invalid_argument naming its path (the routes answer 400), so the
// route handlers run only what was decoded. Key order is kept (ordered JSON): tool definitions and arguments are
// rendered into prompts, which must stay byte-identical turn after turn for the prefix cache to hit.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/base.h"
#include "server/bounded_json.h"  // kMaxJsonDepth
#include "template/template.h"    // ThinkSetting

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace berth {

using ojson = nlohmann::ordered_json;

// Parses a JSON object body keeping key order, refusing nesting deeper than kMaxJsonDepth; writes the 400 reply
// and returns false on failure.
bool parse_body_ordered(const httplib::Request& req, httplib::Response& res, ojson& out, bool openai = false);

// `think` / `reasoning_effort` decode into ThinkSetting (template/template.h: what templates see).

// `format` (native) or `response_format` (OpenAI).
struct FormatSetting {
    enum Kind { none, json_object, json_schema } kind = none;
    ojson schema;  // kind == json_schema: the JSON Schema as sent
};

// `tool_choice` (OpenAI; berth accepts it on /api/chat too, and as a model PARAMETER for clients that cannot send it).
struct ToolChoice {
    enum Kind { automatic, none, required, named } kind = automatic;
    std::string name;  // kind == named
};

struct ChatRequest {
    // Each {role, content, [thinking], [tool_calls: [{[id], function: {[index], name, arguments: {...}}}]],
    // [tool_name], [tool_call_id]}: role lower-case, content a string, arguments an object.
    ojson messages = ojson::array();
    // Each {type: "function", function: {name, [description], [parameters]}}, as sent.
    ojson tools = ojson::array();
    FormatSetting format;
    ThinkSetting think;
    ToolChoice tool_choice;
    bool parallel_tool_calls = true;
    bool has_images = false;  // some message carried images (berth has no vision models yet)
};

// Ollama /api/chat: messages, tools, format, think; and, as berth's extension, tool_choice and parallel_tool_calls with
// the OpenAI API's meaning.
Status decode_native_chat(const ojson& body, ChatRequest& out);
// OpenAI /v1/chat/completions: messages (content parts, assistant tool_calls with arguments as JSON strings, tool
// results, reasoning), tools, tool_choice, parallel_tool_calls, response_format, reasoning_effort / reasoning.
Status decode_openai_chat(const ojson& body, ChatRequest& out);

// The parts, also used by /api/generate and /v1/completions.
Status decode_tools(const ojson& value, ojson& out);
Status decode_native_format(const ojson& value, FormatSetting& out);
Status decode_response_format(const ojson& value, FormatSetting& out);
Status decode_native_think(const ojson& value, ThinkSetting& out);
Status decode_reasoning_effort(const ojson& body, ThinkSetting& out);
Status decode_tool_choice(const ojson& body, const ojson& tools, ToolChoice& choice, bool& parallel_tool_calls);

}  // namespace berth
