// Lexer of Go's text/template: text, {{ actions }} with "{{- " / " -}}" trim markers, {{/* comments */}}, and
// the tokens inside actions (text/template/parse/lex.go's rules, with Go's error messages).
#include <cstring>

#include "template/gotmpl.h"

namespace berth::gotmpl {
namespace {

constexpr std::string_view kLeft = "{{", kRight = "}}", kLeftComment = "/*", kRightComment = "*/";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
// Go: '_' or a Unicode letter or digit; any non-ASCII byte counts as part of a letter here.
bool is_alnum(char c) {
    unsigned char u = (unsigned char)c;
    return c == '_' || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80;
}
bool starts(std::string_view s, size_t pos, std::string_view p) { return s.substr(pos, p.size()) == p; }
// "- " after a left delimiter.
bool left_trim_marker(std::string_view s, size_t pos) {
    return pos + 1 < s.size() && s[pos] == '-' && is_space(s[pos + 1]);
}
// " -" before a right delimiter.
bool right_trim_marker(std::string_view s, size_t pos) {
    return pos + 1 < s.size() && is_space(s[pos]) && s[pos + 1] == '-';
}

Tok keyword(std::string_view w) {
    static const std::pair<const char*, Tok> kw[] = {
        {"block", Tok::kw_block},
        {"break", Tok::kw_break},
        {"continue", Tok::kw_continue},
        {"define", Tok::kw_define},
        {"else", Tok::kw_else},
        {"end", Tok::kw_end},
        {"if", Tok::kw_if},
        {"nil", Tok::kw_nil},
        {"range", Tok::kw_range},
        {"template", Tok::kw_template},
        {"with", Tok::kw_with},
    };
    for (const auto& [name, tok] : kw)
        if (w == name) return tok;
    return Tok::identifier;
}

class Lexer {
  public:
    explicit Lexer(std::string_view src) : src_(src) {}

    std::vector<Token> run() {
        while (lex_text()) lex_action();
        emit(Tok::eof, "");
        return std::move(out_);
    }

  private:
    std::string_view src_;
    size_t pos_ = 0;
    int line_ = 1;
    std::vector<Token> out_;

    void emit(Tok t, std::string val) { out_.push_back(Token{t, std::move(val), line_}); }
    void advance(size_t n) {
        for (size_t k = 0; k < n && pos_ < src_.size(); ++k)
            if (src_[pos_++] == '\n') ++line_;
    }
    [[noreturn]] void error(const std::string& msg) { fail(line_, msg); }

    // Text up to the next "{{" (trimmed when "{{- " follows); false at the end of input.
    bool lex_text() {
        size_t x = src_.find(kLeft, pos_);
        size_t end = x == std::string_view::npos ? src_.size() : x;
        size_t text_end = end;
        if (x != std::string_view::npos && left_trim_marker(src_, x + kLeft.size()))
            while (text_end > pos_ && is_space(src_[text_end - 1])) --text_end;
        if (text_end > pos_) {
            int start_line = line_;
            std::string text(src_.substr(pos_, text_end - pos_));
            out_.push_back(Token{Tok::text, std::move(text), start_line});
        }
        advance(end - pos_);
        return x != std::string_view::npos;
    }

    // Skips whitespace after a " -}}" (the right trim marker).
    void trim_following() {
        while (pos_ < src_.size() && is_space(src_[pos_])) advance(1);
    }

    // At a right delimiter? Returns 0 (no), 1 ("}}") or 2 (" -}}").
    int at_right_delim() const {
        if (right_trim_marker(src_, pos_) && starts(src_, pos_ + 2, kRight)) return 2;
        if (starts(src_, pos_, kRight)) return 1;
        return 0;
    }

    void lex_action() {
        advance(kLeft.size());
        bool trim = left_trim_marker(src_, pos_);
        size_t after = trim ? 2 : 0;
        if (starts(src_, pos_ + after, kLeftComment)) {
            advance(after + kLeftComment.size());
            size_t x = src_.find(kRightComment, pos_);
            if (x == std::string_view::npos) error("unclosed comment");
            advance(x - pos_ + kRightComment.size());
            int d = at_right_delim();
            if (!d) error("comment ends before closing delimiter");
            advance(d == 2 ? 2 + kRight.size() : kRight.size());
            if (d == 2) trim_following();
            return;
        }
        emit(Tok::left_delim, "{{");
        advance(after);
        int paren_depth = 0;
        while (true) {
            int d = at_right_delim();
            if (d) {
                if (paren_depth != 0) error("unclosed left paren");
                advance(d == 2 ? 2 + kRight.size() : kRight.size());
                emit(Tok::right_delim, "}}");
                if (d == 2) trim_following();
                return;
            }
            if (pos_ >= src_.size()) error("unclosed action");
            char c = src_[pos_];
            if (is_space(c)) {
                lex_space();
                continue;
            }
            switch (c) {
                case '=': advance(1), emit(Tok::assign, "="); continue;
                case ':':
                    if (!starts(src_, pos_, ":=")) error("expected :=");
                    advance(2), emit(Tok::declare, ":=");
                    continue;
                case '|': advance(1), emit(Tok::pipe, "|"); continue;
                case '"': lex_quote(); continue;
                case '`': lex_raw_quote(); continue;
                case '$': lex_field_or_variable(Tok::variable); continue;
                case '\'': lex_char(); continue;
                case '(':
                    ++paren_depth;
                    advance(1), emit(Tok::left_paren, "(");
                    continue;
                case ')':
                    if (--paren_depth < 0) error("unexpected right paren");
                    advance(1), emit(Tok::right_paren, ")");
                    continue;
                case ',': advance(1), emit(Tok::comma, ","); continue;
                default: break;
            }
            if (c == '.' && !(pos_ + 1 < src_.size() && src_[pos_ + 1] >= '0' && src_[pos_ + 1] <= '9')) {
                lex_field_or_variable(Tok::field);
                continue;
            }
            if (c == '.' || c == '+' || c == '-' || (c >= '0' && c <= '9')) {
                lex_number();
                continue;
            }
            if (is_alnum(c)) {
                lex_identifier();
                continue;
            }
            char buf[64];
            std::snprintf(buf, sizeof buf, "unrecognized character in action: U+%04X", unsigned((unsigned char)c));
            error(buf);
        }
    }

    void lex_space() {
        size_t start = pos_;
        while (pos_ < src_.size() && is_space(src_[pos_])) advance(1);
        // A space that belongs to " -}}" is left for the delimiter.
        if (pos_ > start && right_trim_marker(src_, pos_ - 1) && starts(src_, pos_ + 1, kRight)) {
            pos_ -= 1;
            if (src_[pos_] == '\n') --line_;
            if (pos_ == start) return;
        }
        emit(Tok::space, " ");
    }

    bool at_terminator() const {
        if (pos_ >= src_.size()) return true;
        char c = src_[pos_];
        if (is_space(c)) return true;
        if (std::strchr(".,|:()", c)) return true;
        return starts(src_, pos_, kRight);
    }

    void lex_field_or_variable(Tok type) {
        size_t start = pos_;
        advance(1);  // '.' or '$'
        if (at_terminator()) {
            emit(type == Tok::variable ? Tok::variable : Tok::dot, std::string(src_.substr(start, 1)));
            return;
        }
        while (pos_ < src_.size() && is_alnum(src_[pos_])) advance(1);
        if (!at_terminator()) bad_character();
        emit(type, std::string(src_.substr(start, pos_ - start)));
    }

    [[noreturn]] void bad_character() {
        char buf[64];
        std::snprintf(buf, sizeof buf, "bad character U+%04X", unsigned((unsigned char)src_[pos_]));
        error(buf);
    }

    void lex_identifier() {
        size_t start = pos_;
        while (pos_ < src_.size() && is_alnum(src_[pos_])) advance(1);
        std::string_view word = src_.substr(start, pos_ - start);
        if (!at_terminator()) bad_character();
        if (word == "true" || word == "false") return emit(Tok::boolean, std::string(word));
        emit(keyword(word), std::string(word));
    }

    void lex_quote() {
        size_t start = pos_;
        advance(1);
        while (true) {
            if (pos_ >= src_.size() || src_[pos_] == '\n') error("unterminated quoted string");
            char c = src_[pos_];
            advance(1);
            if (c == '\\') {
                if (pos_ >= src_.size() || src_[pos_] == '\n') error("unterminated quoted string");
                advance(1);
            } else if (c == '"') {
                break;
            }
        }
        emit(Tok::string, std::string(src_.substr(start, pos_ - start)));
    }

    void lex_raw_quote() {
        size_t start = pos_;
        size_t x = src_.find('`', pos_ + 1);
        if (x == std::string_view::npos) error("unterminated raw quoted string");
        int start_line = line_;
        advance(x + 1 - pos_);
        out_.push_back(Token{Tok::raw_string, std::string(src_.substr(start, pos_ - start)), start_line});
    }

    void lex_char() {
        size_t start = pos_;
        advance(1);
        while (true) {
            if (pos_ >= src_.size() || src_[pos_] == '\n') error("unterminated character constant");
            char c = src_[pos_];
            advance(1);
            if (c == '\\') {
                if (pos_ >= src_.size() || src_[pos_] == '\n') error("unterminated character constant");
                advance(1);
            } else if (c == '\'') {
                break;
            }
        }
        emit(Tok::char_constant, std::string(src_.substr(start, pos_ - start)));
    }

    // Go's scanNumber: sign, base prefix, digits with '_', fraction, exponent, imaginary 'i'.
    void lex_number() {
        size_t start = pos_;
        auto accept = [&](const char* set) {
            if (pos_ < src_.size() && src_[pos_] && std::strchr(set, src_[pos_])) {
                advance(1);
                return true;
            }
            return false;
        };
        auto accept_run = [&](const char* set) {
            while (accept(set)) {}
        };
        accept("+-");
        const char* digits = "0123456789_";
        bool hex = false;
        if (accept("0")) {
            if (accept("xX"))
                digits = "0123456789abcdefABCDEF_", hex = true;
            else if (accept("oO"))
                digits = "01234567_";
            else if (accept("bB"))
                digits = "01_";
        }
        accept_run(digits);
        if (accept(".")) accept_run(digits);
        if (!hex && accept("eE")) {
            accept("+-");
            accept_run("0123456789_");
        }
        if (hex && accept("pP")) {
            accept("+-");
            accept_run("0123456789_");
        }
        accept("i");
        if (pos_ < src_.size() && is_alnum(src_[pos_])) {
            advance(1);
            error("bad number syntax: \"" + std::string(src_.substr(start, pos_ - start)) + "\"");
        }
        emit(Tok::number, std::string(src_.substr(start, pos_ - start)));
    }
};

}  // namespace

void fail(int line, std::string msg) { throw Error(std::move(msg), line); }

std::vector<Token> lex(std::string_view source) { return Lexer(source).run(); }

}  // namespace berth::gotmpl
