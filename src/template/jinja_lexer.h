// Internal: the lexer of the Jinja subset (tokens of {{ }} / {% %} tags and the text between them).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::jinja {

struct Token {
    enum Type { name, string, integer, floating, op, eof } type = eof;
    std::string text;  // name / operator / decoded string
    int64_t ival = 0;
    double fval = 0;
    int line = 0;
};

struct Piece {
    enum Kind { text_piece, var, block } kind;
    int line;
    std::string text;
    std::vector<Token> tokens;
};

// Splits `source` into text and tag pieces with Jinja2's whitespace rules; throws jinja::Error.
std::vector<Piece> lex_template(std::string_view source, bool trim_blocks, bool lstrip_blocks);

}  // namespace berth::jinja
