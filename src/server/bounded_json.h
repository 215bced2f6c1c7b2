// JSON from outside (request bodies, manifests, registry replies) parsed with a bound on nesting, so that no
// recursive walk of a parsed value (copy, dump, comparison, template rendering) can exhaust a thread's stack.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "base/base.h"

namespace berth {

// Deepest nesting of arrays and objects accepted in JSON from outside; deeper bodies get 400. Real requests need a
// few dozen levels (a JSON Schema in `format`, tool parameters); 128 levels cost a few KiB of stack in the deepest
// recursive walk (a copy, a dump, a template rendering tools).
inline constexpr int kMaxJsonDepth = 128;

// The nesting depth of the arrays and objects in `text` (0 for a scalar), scanning bytes and skipping strings.
// Stops at the first level past `limit` and returns limit + 1. Meaningless for invalid JSON, which the parser
// refuses anyway.
int json_nesting_depth(std::string_view text, int limit = kMaxJsonDepth);

// Parses `text`. invalid_argument naming `what` ("the request body") when it nests deeper than kMaxJsonDepth
// ("<what> nests JSON deeper than 128 levels") or is not valid JSON ("invalid JSON in <what>").
Result<nlohmann::json> parse_json_bounded(std::string_view text, const char* what);

// Typed reads of an object's member that never throw (nlohmann's value() throws on a type mismatch): `fallback`
// when `j` is not an object, lacks `key`, or holds another type. Integers accept any number that is integral
// and within int64 (2048.0 too).
std::string json_string_or(const nlohmann::json& j, const char* key, const std::string& fallback);
int64_t json_int_or(const nlohmann::json& j, const char* key, int64_t fallback);

}  // namespace berth
