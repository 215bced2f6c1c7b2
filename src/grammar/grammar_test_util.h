// Test helpers: whole-string and prefix acceptance of a compiled grammar, byte by byte.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "grammar/grammar.h"

namespace berth::testing {

// The grammar accepts exactly `s` (all of it, and may end there).
inline bool accepts(const GrammarPtr& g, std::string_view s) {
    GrammarMatcher m(1);
    m.start(g, nullptr);
    if (!s.empty() && !m.accept_bytes(s)) return false;
    return m.is_complete();
}

// `s` is a prefix of some sentence of the grammar.
inline bool accepts_prefix(const GrammarPtr& g, std::string_view s) {
    GrammarMatcher m(1);
    m.start(g, nullptr);
    return s.empty() || m.accept_bytes(s);
}

// Compiles a schema given as JSON text; fails the test on an error.
inline GrammarPtr schema(std::string_view text) {
    Result<GrammarPtr> g = compile_json_schema(nlohmann::ordered_json::parse(text));
    EXPECT_TRUE(g.is_ok()) << text << ": " << g.status().to_string();
    return g.is_ok() ? *g : nullptr;
}

// The error message compiling the schema gives ("" when it compiles).
inline std::string schema_error(std::string_view text) {
    Result<GrammarPtr> g = compile_json_schema(nlohmann::ordered_json::parse(text));
    return g.is_ok() ? std::string() : g.status().message();
}

}  // namespace berth::testing
