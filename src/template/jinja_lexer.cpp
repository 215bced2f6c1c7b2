// Lexer of the Jinja subset. It follows Jinja2's rules exactly where output bytes depend on them: "-" strips
// all whitespace next to a tag, "+" keeps it, trim_blocks drops the first newline after a block or comment
// tag, lstrip_blocks drops spaces/tabs before a block or comment tag that starts a line, newlines are
// normalized to "\n" and one trailing newline of the template is dropped.
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "template/jinja.h"
#include "template/jinja_lexer.h"

namespace berth::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

class Lexer {
  public:
    Lexer(std::string_view source, bool trim_blocks, bool lstrip_blocks)
        : trim_blocks_(trim_blocks), lstrip_blocks_(lstrip_blocks) {
        // Newlines normalized to "\n"; one trailing newline dropped (keep_trailing_newline=False).
        src_.reserve(source.size());
        for (size_t k = 0; k < source.size(); ++k) {
            if (source[k] == '\r') {
                src_ += '\n';
                if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
            } else {
                src_ += source[k];
            }
        }
        if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    }

    std::vector<Piece> run() {
        size_t n = src_.size();
        while (pos_ < n) {
            size_t k = pos_;
            while ((k = src_.find('{', k)) != std::string::npos) {
                if (k + 1 < n && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#')) break;
                ++k;
            }
            if (k == std::string::npos) {
                emit_text(src_.substr(pos_), line_);
                break;
            }
            std::string text = src_.substr(pos_, k - pos_);
            char type = src_[k + 1];
            size_t p = k + 2;
            char sign = 0;
            if (p < n && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
            int text_line = line_;
            line_ += count_nl(text);
            if (sign == '-') {
                size_t e = text.size();
                while (e > 0 && is_ws(text[e - 1])) --e;
                text.resize(e);
            } else if (sign != '+' && lstrip_blocks_ && type != '{') {
                size_t l_pos = text.rfind('\n');
                l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
                if ((l_pos > 0 || line_starting_) && l_pos < text.size()) {
                    bool all_ws = true;
                    for (size_t j = l_pos; j < text.size(); ++j) all_ws = all_ws && is_ws(text[j]);
                    if (all_ws) text.resize(l_pos);
                }
            }
            emit_text(std::move(text), text_line);
            pos_ = k;
            if (type == '#') {
                lex_comment(p);
            } else {
                lex_tag(type, p);
            }
        }
        return std::move(pieces_);
    }

  private:
    static int count_nl(std::string_view s) {
        int c = 0;
        for (char ch : s) c += ch == '\n';
        return c;
    }

    void emit_text(std::string text, int line) {
        if (text.empty()) return;
        pieces_.push_back(Piece{Piece::text_piece, line, std::move(text), {}});
    }

    // Moves pos_ to `end` (past a closing delimiter), applying the whitespace control of its sign.
    void close_tag(size_t end, char sign, bool block_like) {
        line_ += count_nl(std::string_view(src_).substr(pos_, end - pos_));
        pos_ = end;
        if (sign == '-') {
            while (pos_ < src_.size() && is_ws(src_[pos_])) line_ += src_[pos_++] == '\n';
        } else if (sign != '+' && block_like && trim_blocks_ && pos_ < src_.size() && src_[pos_] == '\n') {
            ++pos_;
            ++line_;
        }
        line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
    }

    void lex_comment(size_t p) {
        size_t e = src_.find("#}", p);
        if (e == std::string::npos) fail(line_, "Missing end of comment tag");
        char sign = 0;
        if (e > p && (src_[e - 1] == '-' || src_[e - 1] == '+')) sign = src_[e - 1];
        close_tag(e + 2, sign, true);
    }

    void lex_tag(char type, size_t p) {
        int tag_line = line_;
        std::vector<Token> toks;
        std::string closers;  // expected closing brackets
        const std::string end = type == '{' ? "}}" : "%}";
        size_t n = src_.size();
        int line = tag_line;
        while (true) {
            while (p < n && is_ws(src_[p])) line += src_[p++] == '\n';
            if (p >= n)
                fail(tag_line, type == '{' ? "unexpected end of template, expected end of print statement"
                                           : "unexpected end of template, expected end of block");
            if (closers.empty()) {
                char sign = 0;
                size_t q = p;
                if ((src_[q] == '-' || (src_[q] == '+' && type == '%')) && src_.compare(q + 1, 2, end) == 0)
                    sign = src_[q++];
                if (src_.compare(q, 2, end) == 0) {
                    pos_ = p;  // line_ counting restarts from the tag body
                    line_ = line;
                    Piece piece{type == '{' ? Piece::var : Piece::block, tag_line, "", std::move(toks)};
                    bool raw = piece.kind == Piece::block && piece.tokens.size() == 1 &&
                               piece.tokens[0].type == Token::name && piece.tokens[0].text == "raw";
                    close_tag(q + 2, sign, type == '%');
                    if (raw) {
                        lex_raw(tag_line);
                    } else {
                        pieces_.push_back(std::move(piece));
                    }
                    return;
                }
            }
            Token t;
            t.line = line;
            char c = src_[p];
            if (is_name_start(c)) {
                size_t s = p;
                while (p < n && is_name_char(src_[p])) ++p;
                t.type = Token::name;
                t.text = src_.substr(s, p - s);
            } else if (is_digit(c)) {
                p = lex_number(p, t);
            } else if (c == '\'' || c == '"') {
                p = lex_string(p, t, line);
            } else {
                static const char* two[] = {"//", "**", "==", "!=", "<=", ">="};
                t.type = Token::op;
                for (const char* op : two)
                    if (src_.compare(p, 2, op) == 0) t.text = op;
                if (t.text.empty()) {
                    if (std::string_view("+-*/%~<>=()[]{}.,:|").find(c) == std::string_view::npos)
                        fail(line, std::string("unexpected char '") + c + "'");
                    t.text = std::string(1, c);
                }
                p += t.text.size();
                if (c == '(') closers += ')';
                if (c == '[') closers += ']';
                if (c == '{') closers += '}';
                if (t.text.size() == 1 && (c == ')' || c == ']' || c == '}')) {
                    if (closers.empty()) fail(line, std::string("unexpected '") + c + "'");
                    if (closers.back() != c)
                        fail(line, std::string("unexpected '") + c + "', expected '" + closers.back() + "'");
                    closers.pop_back();
                }
            }
            toks.push_back(std::move(t));
        }
    }

    size_t lex_number(size_t p, Token& t) {
        size_t n = src_.size(), s = p;
        auto digits = [&](size_t q) {
            while (q < n && (is_digit(src_[q]) || (src_[q] == '_' && q + 1 < n && is_digit(src_[q + 1])))) ++q;
            return q;
        };
        p = digits(p);
        bool is_float = false;
        if (p + 1 < n && src_[p] == '.' && is_digit(src_[p + 1])) {
            p = digits(p + 1);
            is_float = true;
        }
        if (p < n && (src_[p] == 'e' || src_[p] == 'E')) {
            size_t q = p + 1;
            if (q < n && (src_[q] == '+' || src_[q] == '-')) ++q;
            if (q < n && is_digit(src_[q])) {
                p = digits(q);
                is_float = true;
            }
        }
        std::string text;
        for (size_t k = s; k < p; ++k)
            if (src_[k] != '_') text += src_[k];
        if (is_float) {
            t.type = Token::floating;
            t.fval = std::strtod(text.c_str(), nullptr);
        } else {
            t.type = Token::integer;
            errno = 0;
            unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
            if (errno != 0 || v > uint64_t(INT64_MAX)) fail(t.line, "integer literal too large: " + text);
            t.ival = int64_t(v);
        }
        t.text = text;
        return p;
    }

    // Python string literal escapes (what Jinja2 applies to its string tokens).
    size_t lex_string(size_t p, Token& t, int& line) {
        char q = src_[p++];
        size_t n = src_.size();
        std::string out;
        while (true) {
            if (p >= n) fail(t.line, "unexpected end of string");
            char c = src_[p];
            if (c == q) {
                ++p;
                break;
            }
            if (c == '\n') ++line;
            if (c != '\\') {
                out += c;
                ++p;
                continue;
            }
            if (p + 1 >= n) fail(t.line, "unexpected end of string");
            char e = src_[p + 1];
            p += 2;
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'v': out += '\v'; break;
                case '\n': ++line; break;  // line continuation
                case 'x':
                case 'u':
                case 'U': {
                    int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    uint32_t cp = 0;
                    for (int j = 0; j < len; ++j) {
                        int h = p + j < n ? hex_val(src_[p + j]) : -1;
                        if (h < 0) fail(t.line, "truncated \\" + std::string(1, e) + " escape in string");
                        cp = cp * 16 + uint32_t(h);
                    }
                    if (cp > 0x10FFFF) fail(t.line, "illegal Unicode character in string");
                    p += size_t(len);
                    append_utf8(cp, out);
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        uint32_t cp = uint32_t(e - '0');
                        for (int j = 0; j < 2 && p < n && src_[p] >= '0' && src_[p] <= '7'; ++j)
                            cp = cp * 8 + uint32_t(src_[p++] - '0');
                        append_utf8(cp, out);
                    } else {
                        out += '\\';
                        out += e;
                        if (e == '\n') ++line;
                    }
            }
        }
        t.type = Token::string;
        t.text = std::move(out);
        return p;
    }

    // After {% raw %}: everything up to {% endraw %} is text.
    void lex_raw(int line) {
        size_t k = pos_, n = src_.size();
        while ((k = src_.find("{%", k)) != std::string::npos) {
            size_t p = k + 2;
            char sign = 0;
            if (p < n && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
            while (p < n && is_ws(src_[p])) ++p;
            if (src_.compare(p, 6, "endraw") != 0) {
                k += 2;
                continue;
            }
            p += 6;
            while (p < n && is_ws(src_[p])) ++p;
            char esign = 0;
            if (p < n && (src_[p] == '-' || src_[p] == '+')) esign = src_[p++];
            if (src_.compare(p, 2, "%}") != 0) {
                k += 2;
                continue;
            }
            std::string text = src_.substr(pos_, k - pos_);
            if (sign == '-') {
                size_t e = text.size();
                while (e > 0 && is_ws(text[e - 1])) --e;
                text.resize(e);
            }
            emit_text(std::move(text), line_);
            close_tag(p + 2, esign, true);
            return;
        }
        fail(line, "Missing end of raw directive");
    }

    std::string src_;
    bool trim_blocks_, lstrip_blocks_;
    size_t pos_ = 0;
    int line_ = 1;
    bool line_starting_ = true;
    std::vector<Piece> pieces_;
};

}  // namespace

std::vector<Piece> lex_template(std::string_view source, bool trim_blocks, bool lstrip_blocks) {
    return Lexer(source, trim_blocks, lstrip_blocks).run();
}

}  // namespace berth::jinja
