// Depth-bounded JSON parsing (see bounded_json.h).
#include "server/bounded_json.h"

namespace berth {

int json_nesting_depth(std::string_view text, int limit) {
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;  // the escaped character cannot end the string
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > limit) return limit + 1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

Result<nlohmann::json> parse_json_bounded(std::string_view text, const char* what) {
    if (json_nesting_depth(text, kMaxJsonDepth) > kMaxJsonDepth)
        return invalid_argument("%s nests JSON deeper than %d levels", what, kMaxJsonDepth);
    // The SAX parser is iterative, so parsing itself cannot overflow; only walks of the result could.
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return invalid_argument("invalid JSON in %s", what);
    return j;
}

std::string json_string_or(const nlohmann::json& j, const char* key, const std::string& fallback) {
    if (!j.is_object()) return fallback;
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

int64_t json_int_or(const nlohmann::json& j, const char* key, int64_t fallback) {
    if (!j.is_object()) return fallback;
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return fallback;
    if (it->is_number_integer()) {
        // An unsigned value above INT64_MAX is out of range, not negative.
        if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX)) return fallback;
        return it->get<int64_t>();
    }
    double d = it->get<double>();
    // 2^63 is the first double past INT64_MAX; the comparison also refuses NaN.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != double(int64_t(d))) return fallback;
    return int64_t(d);
}

}  // namespace berth
