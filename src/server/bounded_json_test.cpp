// Depth-bounded JSON parsing and the request helpers built on it: the nesting limit (the crash of issue 16),
// number forms, negative num_predict, HTTP statuses of load failures, and the shutdown outcome of a generation.
#include "server/bounded_json.h"

#include <gtest/gtest.h>

#include <string>

#include "server/server_internal.h"

namespace berth {
namespace {

std::string nested(int depth, const std::string& inner = "") {
    return std::string(size_t(depth), '[') + inner + std::string(size_t(depth), ']');
}

TEST(BoundedJson, CountsNestingOutsideStrings) {
    EXPECT_EQ(json_nesting_depth("1"), 0);
    EXPECT_EQ(json_nesting_depth(R"({"a": [1, {"b": []}]})"), 4);
    // Brackets inside strings, also after escaped quotes and backslashes, do not count.
    EXPECT_EQ(json_nesting_depth(R"({"a": "[[[{{{", "b": "\"[[[", "c": "\\", "d": [0]})"), 2);
    EXPECT_EQ(json_nesting_depth(nested(10), 5), 6);  // stops counting past the limit
}

TEST(BoundedJson, RefusesDeepNestingWithAMessageThatNamesIt) {
    EXPECT_TRUE(parse_json_bounded(nested(kMaxJsonDepth), "x").is_ok());
    Result<nlohmann::json> deep = parse_json_bounded(nested(kMaxJsonDepth + 1), "the request body");
    ASSERT_FALSE(deep.is_ok());
    EXPECT_EQ(deep.status().code(), StatusCode::invalid_argument);
    EXPECT_EQ(deep.status().message(), "the request body nests JSON deeper than 128 levels");
    // The body of issue 16: 100,000 nested arrays in options.seed used to overflow the stack when copied.
    std::string body = R"({"model":"M","prompt":"hi","stream":false,"options":{"seed":)" + nested(100000) + "}}";
    EXPECT_FALSE(parse_json_bounded(body, "the request body").is_ok());
    EXPECT_EQ(parse_json_bounded("{\"a\":", "the manifest").status().message(), "invalid JSON in the manifest");
}

TEST(BoundedJson, ParseBodyAnswers400ForBothApis) {
    httplib::Request req;
    req.body = R"({"options":{"seed":)" + nested(70000) + "}}";
    for (bool openai : {false, true}) {
        httplib::Response res;
        json body;
        EXPECT_FALSE(parse_body(req, res, body, openai));
        EXPECT_EQ(res.status, 400);
        json err = json::parse(res.body);
        std::string message = openai ? err["error"]["message"].get<std::string>() : err["error"].get<std::string>();
        EXPECT_NE(message.find("nests JSON deeper than 128 levels"), std::string::npos) << message;
    }
}

TEST(BoundedJson, TypedReadsNeverThrow) {
    json j = json::parse(R"({"s": "x", "n": 5, "f": 2048.0, "half": 2.5, "big": 1e300, "u": 18446744073709551615,
                             "neg": -3, "arr": [1]})");
    EXPECT_EQ(json_string_or(j, "s", "d"), "x");
    EXPECT_EQ(json_string_or(j, "n", "d"), "d");
    EXPECT_EQ(json_string_or(json::array(), "s", "d"), "d");
    EXPECT_EQ(json_int_or(j, "n", 0), 5);
    EXPECT_EQ(json_int_or(j, "f", 0), 2048);
    EXPECT_EQ(json_int_or(j, "half", -1), -1);
    EXPECT_EQ(json_int_or(j, "big", -1), -1);
    EXPECT_EQ(json_int_or(j, "u", -1), -1);
    EXPECT_EQ(json_int_or(j, "neg", 0), -3);
    EXPECT_EQ(json_int_or(j, "arr", 7), 7);
    EXPECT_EQ(json_int_or(j, "missing", 7), 7);
}

TEST(Options, IntegersMayBeSentAsFloats) {
    RequestOptions ro;
    ASSERT_TRUE(apply_options(json::parse(R"({"num_ctx": 2048.0, "seed": 42.0, "top_k": 40.0, "num_predict": 8.0,
                                               "repeat_last_n": 64.0})"),
                              ro)
                    .is_ok());
    EXPECT_EQ(ro.num_ctx, 2048);
    EXPECT_EQ(ro.sampling.seed, 42u);
    EXPECT_EQ(ro.sampling.top_k, 40);
    EXPECT_EQ(ro.num_predict, 8);
    // Fractions are truncated toward zero, as Ollama converts its float64 options.
    ASSERT_TRUE(apply_options(json{{"top_k", 4.9}}, ro).is_ok());
    EXPECT_EQ(ro.sampling.top_k, 4);
    EXPECT_FALSE(apply_options(json{{"num_ctx", 1e12}}, ro).is_ok());
    EXPECT_FALSE(apply_options(json::parse(R"({"seed": 18446744073709551615})"), ro).is_ok());
}

TEST(Options, AnyNegativeNumPredictMeansNoLimit) {
    for (int v : {-1, -2, -7, -2147483647}) {
        RequestOptions ro;
        ASSERT_TRUE(apply_options(json{{"num_predict", v}}, ro).is_ok()) << v;
        EXPECT_EQ(ro.num_predict, -1) << v;
    }
}

TEST(Status, ModelFileProblemsAre400AndShutdownIs503) {
    EXPECT_EQ(http_status(corrupt_data("tensor count cannot fit in the file")), 400);
    EXPECT_EQ(http_status(unsupported("architecture 'x' is not supported")), 400);
    EXPECT_EQ(http_status(resource_exhausted("does not fit")), 503);
    EXPECT_EQ(http_status(Status(StatusCode::unavailable, "shutting down")), 503);
    EXPECT_EQ(http_status(internal_error("bug")), 500);
}

TEST(Shutdown, CancelledGenerationsBecomeUnavailableOnlyAfterTheGracePeriod) {
    Server::State st;
    GenerateResult cut;
    cut.done_reason = "cancel";
    cut.eval_count = 5;
    GenerateResult never = cut;
    never.eval_count = 0;
    GenerateResult normal = cut;
    normal.done_reason = "length";

    // During normal operation (or the grace period), a cancellation is the client's: returned as is.
    EXPECT_TRUE(shutdown_outcome(st, cut).is_ok());

    st.cancel_all = true;
    Result<GenerateResult> r = shutdown_outcome(st, cut);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::unavailable);
    EXPECT_EQ(http_status(r.status()), 503);
    EXPECT_NE(r.status().message().find("cut after 5 tokens"), std::string::npos) << r.status().message();
    r = shutdown_outcome(st, never);
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("before it produced any output"), std::string::npos);
    r = shutdown_outcome(st, Status(StatusCode::cancelled, "the model was unloaded"));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::unavailable);
    // A generation that ended on its own before the cancel keeps its normal end.
    r = shutdown_outcome(st, normal);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->done_reason, "length");
    EXPECT_EQ(shutdown_outcome(st, invalid_argument("bad")).status().code(), StatusCode::invalid_argument);
}

}  // namespace
}  // namespace berth
