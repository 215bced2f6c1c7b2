// The JSON pieces every schema is made of: bounded whitespace, string characters, bounded numbers, and any
// JSON value. Objects and arrays of "any value" recurse through two rules, so a nested value returns to its
// caller only after its closing bracket (strings and numbers stay inside the caller's automaton).
#include "grammar/grammar_impl.h"

namespace berth {

int GrammarBuilder::Impl::whitespace() {
    if (ws_node < 0) {
        int indent = repeat(bytes({{' ', ' '}, {'\t', '\t'}}), 0, 20);
        ws_node = alt({empty(), literal(" ", false), seq({literal("\n", false), indent})});
    }
    return ws_node;
}

// One character (one code point) of a JSON string as a hand-made minimal automaton (it is repeated once per
// position when a length is bounded): raw UTF-8 except '"', '\' and the C0 controls, a short escape,
// \uXXXX outside the surrogates, or a surrogate pair \uD8xx\uDCxx. `escapes` false: raw characters only.
ByteDfa json_char_automaton(bool escapes) {
    ByteDfa d;
    enum { S, E, C1, C2, C3, E0, ED, F0, F4, ESC, U, UD, H3, H2, H1, HS2, HS1, L0, L1, L2, L3 };
    const int n = escapes ? L3 + 1 : ESC;
    for (int i = 0; i < n; ++i) d.add_state(i == E);
    d.add(S, 0x20, 0x21, E);
    d.add(S, 0x23, 0x5B, E);
    d.add(S, 0x5D, 0x7F, E);
    d.add(S, 0xC2, 0xDF, C1);
    d.add(S, 0xE0, 0xE0, E0);
    d.add(S, 0xE1, 0xEC, C2);
    d.add(S, 0xED, 0xED, ED);
    d.add(S, 0xEE, 0xEF, C2);
    d.add(S, 0xF0, 0xF0, F0);
    d.add(S, 0xF1, 0xF3, C3);
    d.add(S, 0xF4, 0xF4, F4);
    d.add(C1, 0x80, 0xBF, E);
    d.add(C2, 0x80, 0xBF, C1);
    d.add(C3, 0x80, 0xBF, C2);
    d.add(E0, 0xA0, 0xBF, C1);
    d.add(ED, 0x80, 0x9F, C1);
    d.add(F0, 0x90, 0xBF, C2);
    d.add(F4, 0x80, 0x8F, C2);
    if (!escapes) return d;
    auto hex = [&](int from, int to) {
        d.add(from, '0', '9', to);
        d.add(from, 'A', 'F', to);
        d.add(from, 'a', 'f', to);
    };
    d.add(S, '\\', '\\', ESC);
    for (char c : std::string_view("\"\\/bfnrt")) d.add(ESC, uint8_t(c), uint8_t(c), E);
    d.add(ESC, 'u', 'u', U);
    d.add(U, '0', '9', H3);
    d.add(U, 'A', 'C', H3);
    d.add(U, 'a', 'c', H3);
    d.add(U, 'E', 'F', H3);
    d.add(U, 'e', 'f', H3);
    d.add(U, 'D', 'D', UD);
    d.add(U, 'd', 'd', UD);
    d.add(UD, '0', '7', H2);
    d.add(UD, '8', '9', HS2);
    d.add(UD, 'A', 'B', HS2);
    d.add(UD, 'a', 'b', HS2);
    hex(H3, H2);
    hex(H2, H1);
    hex(H1, E);
    hex(HS2, HS1);
    hex(HS1, L0);
    d.add(L0, '\\', '\\', L1);
    d.add(L1, 'u', 'u', L2);
    d.add(L2, 'D', 'D', L3);
    d.add(L2, 'd', 'd', L3);
    d.add(L3, 'C', 'F', H2);
    d.add(L3, 'c', 'f', H2);
    return d;
}

int GrammarBuilder::Impl::json_string_char() {
    if (json_char_node < 0) {
        json_char_node = automaton(json_char_automaton(true));
        int quote = byte('"');
        json_string_node = seq({quote, repeat(json_char_node, 0, -1), quote});
    }
    return json_char_node;
}

int GrammarBuilder::Impl::json_raw_char() {
    if (json_raw_char_node < 0) json_raw_char_node = automaton(json_char_automaton(false));
    return json_raw_char_node;
}

int GrammarBuilder::Impl::json_string() {
    json_string_char();
    return json_string_node;
}

// -?(0|[1-9][0-9]{0,15})(\.[0-9]{1,16})?([eE][+-]?[0-9]{1,2})?: at most 16 digits each side and a two-digit
// exponent, so every number parses to a finite double.
int GrammarBuilder::Impl::json_number() {
    if (json_number_node < 0) {
        int digit = bytes({{'0', '9'}});
        int integer = alt({byte('0'), seq({bytes({{'1', '9'}}), repeat(digit, 0, 15)})});
        int fraction = seq({byte('.'), repeat(digit, 1, 16)});
        int exponent = seq(
            {bytes({{'e', 'e'}, {'E', 'E'}}), alt({empty(), bytes({{'+', '+'}, {'-', '-'}})}), repeat(digit, 1, 2)});
        json_number_node =
            seq({alt({empty(), byte('-')}), integer, alt({empty(), fraction}), alt({empty(), exponent})});
    }
    return json_number_node;
}

int GrammarBuilder::Impl::json_value() {
    if (json_value_node >= 0) return json_value_node;
    json_object_rule = new_rule();
    json_array_rule = new_rule();
    json_value_node = alt({json_string(), json_number(), literal("true"), literal("false"), literal("null"),
                           call(json_object_rule), call(json_array_rule)});
    int w = whitespace();
    int member = seq({json_string(), w, byte(':'), w, json_value_node});
    int comma = seq({w, byte(','), w});
    define_rule(json_object_rule,
                seq({byte('{'), w, alt({empty(), seq({repeat(member, 1, -1, comma), w})}), byte('}')}));
    define_rule(json_array_rule,
                seq({byte('['), w, alt({empty(), seq({repeat(json_value_node, 1, -1, comma), w})}), byte(']')}));
    return json_value_node;
}

int GrammarBuilder::Impl::json_object() {
    json_value();
    return rules[size_t(json_object_rule)];
}

int GrammarBuilder::Impl::json_array() {
    json_value();
    return rules[size_t(json_array_rule)];
}

}  // namespace berth
