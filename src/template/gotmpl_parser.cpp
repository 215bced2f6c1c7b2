// Parser of Go's text/template (text/template/parse/parse.go's grammar and checks: declared variables,
// known functions, {{break}} only inside {{range}}, "else if" / "else with" chains, define and block), and the
// tree walks Ollama does on a parsed template: Vars, the cut after .Response, thinking.InferTags.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "base/base.h"  // append_utf8
#include "template/gotmpl.h"

namespace berth::gotmpl {
namespace {

// strconv.Unquote for "..." (Go escapes), `...` and '.' (returns the code point in `rune`).
std::string unquote(const std::string& q, int line, int64_t* rune = nullptr) {
    if (q.size() < 2) fail(line, "invalid syntax");
    char quote = q[0];
    if (quote == '`') return q.substr(1, q.size() - 2);
    std::string out;
    size_t k = 1, end = q.size() - 1;
    auto hex = [&](size_t n) -> uint32_t {
        if (k + n > end) fail(line, "invalid syntax");
        uint32_t v = 0;
        for (size_t j = 0; j < n; ++j) {
            char c = q[k + j];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0) fail(line, "invalid syntax");
            v = v * 16 + uint32_t(d);
        }
        k += n;
        return v;
    };
    int64_t last = -1;
    int count = 0;
    while (k < end) {
        char c = q[k];
        if (c != '\\') {
            size_t start = out.size();
            unsigned char u = (unsigned char)c;
            size_t n = u < 0x80 ? 1 : u < 0xE0 ? 2 : u < 0xF0 ? 3 : 4;
            out.append(q, k, std::min(n, end - k));
            k += std::min(n, end - k);
            last = u < 0x80 ? u : 0xFFFD;
            if (u >= 0x80) {  // decode for rune constants
                uint32_t cp = u & (0xFF >> (n + 1));
                for (size_t j = start + 1; j < out.size(); ++j) cp = (cp << 6) | ((unsigned char)out[j] & 0x3F);
                last = cp;
            }
            ++count;
            continue;
        }
        ++k;
        if (k >= end) fail(line, "invalid syntax");
        char e = q[k++];
        uint32_t cp;
        switch (e) {
            case 'a': cp = 7; break;
            case 'b': cp = 8; break;
            case 'f': cp = 12; break;
            case 'n': cp = 10; break;
            case 'r': cp = 13; break;
            case 't': cp = 9; break;
            case 'v': cp = 11; break;
            case '\\': cp = '\\'; break;
            case '\'':
            case '"':
                if (e != quote) fail(line, "invalid syntax");
                cp = uint32_t(e);
                break;
            case 'x': {
                uint32_t b = hex(2);
                out += char(b);  // a raw byte
                last = b;
                ++count;
                continue;
            }
            case 'u': cp = hex(4); break;
            case 'U': cp = hex(8); break;
            default:
                if (e >= '0' && e <= '7') {
                    if (k + 2 > end) fail(line, "invalid syntax");
                    uint32_t v = uint32_t(e - '0');
                    for (int j = 0; j < 2; ++j) {
                        char d = q[k++];
                        if (d < '0' || d > '7') fail(line, "invalid syntax");
                        v = v * 8 + uint32_t(d - '0');
                    }
                    if (v > 255) fail(line, "invalid syntax");
                    out += char(v);
                    last = v;
                    ++count;
                    continue;
                }
                fail(line, "invalid syntax");
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) fail(line, "invalid syntax");
        append_utf8(cp, out);
        last = cp;
        ++count;
    }
    if (rune) {
        if (count != 1) fail(line, "malformed character constant: " + q);
        *rune = last;
    }
    return out;
}

// A number literal as text/template evaluates it (idealConstant): floats where the text has . e p,
// otherwise a 64-bit int; runes are ints.
Value parse_number(const std::string& text, int line) {
    if (text.find('i') != std::string::npos && text.rfind("0x", 0) != 0 && text.rfind("0X", 0) != 0)
        fail(line, "complex numbers are not supported: " + text);
    std::string t;
    for (char c : text)
        if (c != '_') t += c;
    std::string body = t;
    bool neg = false;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) neg = body[0] == '-', body = body.substr(1);
    bool hex = body.size() > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X');
    bool is_float =
        hex ? body.find_first_of("pP.") != std::string::npos : body.find_first_of(".eE") != std::string::npos;
    if (is_float) {
        errno = 0;
        char* end = nullptr;
        double f = std::strtod(t.c_str(), &end);
        if (!end || *end || t.empty()) fail(line, "illegal number syntax: \"" + text + "\"");
        if (errno == ERANGE && std::isinf(f)) fail(line, "number out of range: " + text);
        return Value::floating(f);
    }
    int base = 10;
    std::string digits = body;
    if (body.size() > 1 && body[0] == '0') {
        char p = body[1];
        if (p == 'x' || p == 'X')
            base = 16, digits = body.substr(2);
        else if (p == 'o' || p == 'O')
            base = 8, digits = body.substr(2);
        else if (p == 'b' || p == 'B')
            base = 2, digits = body.substr(2);
        else
            base = 8, digits = body.substr(1);
    }
    if (digits.empty()) fail(line, "illegal number syntax: \"" + text + "\"");
    errno = 0;
    char* end = nullptr;
    unsigned long long u = std::strtoull(digits.c_str(), &end, base);
    if (!end || *end) fail(line, "illegal number syntax: \"" + text + "\"");
    if (errno == ERANGE || u > (neg ? 0x8000000000000000ull : 0x7FFFFFFFFFFFFFFFull))
        fail(line, text + " overflows int");
    return Value::integer(neg ? int64_t(0 - u) : int64_t(u));
}

const char* tok_name(const Token& t) {
    switch (t.type) {
        case Tok::eof: return "EOF";
        case Tok::right_delim: return "}}";
        case Tok::left_delim: return "{{";
        default: return nullptr;
    }
}

class Parser {
  public:
    Parser(std::vector<Token> toks, const ParseLimits& limits) : toks_(std::move(toks)), limits_(limits) {}

    std::unique_ptr<Template> run() {
        auto t = std::make_unique<Template>();
        tmpl_ = t.get();
        while (peek().type != Tok::eof) {
            if (peek().type == Tok::left_delim) {
                size_t save = pos_;
                next();
                if (next_non_space().type == Tok::kw_define) {
                    parse_definition("define clause");
                    continue;
                }
                pos_ = save;
            }
            NodePtr n = text_or_action();
            if (!n) fail(last_line_, std::string("unexpected {{") + (end_was_else_ ? "else" : "end") + "}}");
            t->root.push_back(std::move(n));
        }
        return t;
    }

  private:
    std::vector<Token> toks_;
    size_t pos_ = 0;
    const ParseLimits& limits_;
    Template* tmpl_ = nullptr;
    std::vector<std::string> vars_{"$"};
    int range_depth_ = 0;
    int depth_ = 0;
    int last_line_ = 1;
    bool end_was_else_ = false;

    const Token& peek() const { return toks_[std::min(pos_, toks_.size() - 1)]; }
    const Token& next() {
        const Token& t = toks_[std::min(pos_, toks_.size() - 1)];
        if (pos_ < toks_.size()) ++pos_;
        last_line_ = t.line;
        return t;
    }
    const Token& next_non_space() {
        while (peek().type == Tok::space) next();
        return next();
    }
    const Token& peek_non_space() {
        while (peek().type == Tok::space) next();
        return peek();
    }
    [[noreturn]] void unexpected(const Token& t, const std::string& context) {
        const char* name = tok_name(t);
        fail(t.line, "unexpected " + (name ? std::string(name) : "\"" + t.val + "\"") + " in " + context);
    }
    const Token& expect(Tok type, const std::string& context) {
        const Token& t = next_non_space();
        if (t.type != type) unexpected(t, context);
        return t;
    }
    struct DepthGuard {
        Parser& p;
        explicit DepthGuard(Parser& p_) : p(p_) {
            if (++p.depth_ > p.limits_.max_depth) fail(p.last_line_, "max expression depth exceeded");
        }
        ~DepthGuard() { --p.depth_; }
    };

    void parse_definition(const std::string& context) {
        const Token& name_tok = next_non_space();
        if (name_tok.type != Tok::string && name_tok.type != Tok::raw_string) unexpected(name_tok, context);
        std::string name = unquote(name_tok.val, name_tok.line);
        expect(Tok::right_delim, context);
        auto saved_vars = std::move(vars_);
        vars_ = {"$"};
        auto body = std::make_shared<List>();
        if (!item_list(*body)) fail(last_line_, "unexpected {{else}} in " + context);
        vars_ = std::move(saved_vars);
        // text/template: a later empty definition does not replace a non-empty one.
        auto it = tmpl_->defines.find(name);
        if (it != tmpl_->defines.end() && !it->second->empty() && !body->empty())
            fail(name_tok.line, "template: multiple definition of template \"" + name + "\"");
        if (it == tmpl_->defines.end() || !body->empty()) tmpl_->defines[name] = std::move(body);
    }

    // Parses nodes until {{end}} (returns true) or {{else}} (false); EOF is an error.
    bool item_list(List& list) {
        while (peek_non_space().type != Tok::eof) {
            NodePtr n = text_or_action();
            if (!n) return !end_was_else_;
            list.push_back(std::move(n));
        }
        fail(last_line_, "unexpected EOF");
    }

    // A node, or null for {{end}} / {{else}} (end_was_else_ tells which).
    NodePtr text_or_action() {
        const Token& t = next_non_space();
        if (t.type == Tok::text) {
            auto n = std::make_unique<Node>();
            n->kind = NodeKind::text;
            n->line = t.line;
            n->text = t.val;
            return n;
        }
        if (t.type == Tok::left_delim) return action();
        unexpected(t, "input");
    }

    NodePtr action() {
        const Token& t = next_non_space();
        int line = t.line;
        switch (t.type) {
            case Tok::kw_block: return block_control(line);
            case Tok::kw_break:
            case Tok::kw_continue: {
                bool brk = t.type == Tok::kw_break;
                const char* what = brk ? "{{break}}" : "{{continue}}";
                const Token& r = next_non_space();
                if (r.type != Tok::right_delim) unexpected(r, what);
                if (range_depth_ == 0) fail(line, std::string(what) + " outside {{range}}");
                auto n = std::make_unique<Node>();
                n->kind = brk ? NodeKind::break_ : NodeKind::continue_;
                n->line = line;
                return n;
            }
            case Tok::kw_else: {
                // "{{else if" / "{{else with": leave the keyword for the enclosing control.
                Tok p = peek_non_space().type;
                if (p != Tok::kw_if && p != Tok::kw_with) expect(Tok::right_delim, "else");
                end_was_else_ = true;
                return nullptr;
            }
            case Tok::kw_end:
                expect(Tok::right_delim, "end");
                end_was_else_ = false;
                return nullptr;
            case Tok::kw_if: return control(NodeKind::if_, "if", line);
            case Tok::kw_range: return control(NodeKind::range, "range", line);
            case Tok::kw_with: return control(NodeKind::with, "with", line);
            case Tok::kw_template: return template_control(line);
            default: break;
        }
        --pos_;  // back to the token just read: it starts the pipeline
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::action;
        n->line = line;
        n->pipe = pipeline("command", Tok::right_delim);
        return n;
    }

    NodePtr control(NodeKind kind, const char* context, int line) {
        DepthGuard guard(*this);
        size_t saved_vars = vars_.size();
        auto n = std::make_unique<Node>();
        n->kind = kind;
        n->line = line;
        n->pipe = pipeline(context, Tok::right_delim);
        if (kind == NodeKind::range) ++range_depth_;
        bool ended = item_list(n->list);
        if (kind == NodeKind::range) --range_depth_;
        if (!ended) {
            n->has_else = true;
            Tok p = peek_non_space().type;
            if (kind == NodeKind::if_ && p == Tok::kw_if) {
                int l = next().line;
                n->else_list.push_back(control(NodeKind::if_, "if", l));
            } else if (kind == NodeKind::with && p == Tok::kw_with) {
                int l = next().line;
                n->else_list.push_back(control(NodeKind::with, "with", l));
            } else if (!item_list(n->else_list)) {
                fail(last_line_, "expected end; found {{else}}");
            }
        }
        vars_.resize(saved_vars);
        return n;
    }

    NodePtr template_control(int line) {
        const Token& name_tok = next_non_space();
        if (name_tok.type != Tok::string && name_tok.type != Tok::raw_string) unexpected(name_tok, "template clause");
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::template_call;
        n->line = line;
        n->text = unquote(name_tok.val, name_tok.line);
        if (next_non_space().type != Tok::right_delim) {
            --pos_;
            n->pipe = pipeline("template clause", Tok::right_delim);
        }
        return n;
    }

    NodePtr block_control(int line) {
        const Token& name_tok = next_non_space();
        if (name_tok.type != Tok::string && name_tok.type != Tok::raw_string) unexpected(name_tok, "block clause");
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::template_call;
        n->line = line;
        n->text = unquote(name_tok.val, name_tok.line);
        n->pipe = pipeline("block clause", Tok::right_delim);
        auto saved_vars = std::move(vars_);
        vars_ = {"$"};
        auto body = std::make_shared<List>();
        if (!item_list(*body)) fail(last_line_, "unexpected {{else}} in block clause");
        vars_ = std::move(saved_vars);
        tmpl_->defines[n->text] = std::move(body);
        return n;
    }

    std::unique_ptr<Pipe> pipeline(const std::string& context, Tok end) {
        DepthGuard guard(*this);
        auto pipe = std::make_unique<Pipe>();
        pipe->line = peek_non_space().line;
        // Declarations: "$x :=", "$x =", "$i, $v :=" (range).
        while (peek_non_space().type == Tok::variable) {
            size_t save = pos_;
            const Token& v = next();
            const Token& after = peek_non_space();
            if (after.type == Tok::assign || after.type == Tok::declare) {
                pipe->is_assign = after.type == Tok::assign;
                next();
                pipe->decl.push_back(v.val);
                for (const auto& d : pipe->decl) vars_.push_back(d);
                break;
            }
            if (after.type == Tok::comma) {
                next();
                pipe->decl.push_back(v.val);
                if (context == "range" && pipe->decl.size() < 2) {
                    Tok p = peek_non_space().type;
                    if (p == Tok::variable) continue;
                    fail(v.line, "range can only initialize variables");
                }
                fail(v.line, "too many declarations in " + context);
            }
            pos_ = save;
            if (!pipe->decl.empty()) fail(v.line, "missing := after declared variables");
            break;
        }
        while (true) {
            const Token& t = next_non_space();
            if (t.type == end) break;
            switch (t.type) {
                case Tok::boolean:
                case Tok::char_constant:
                case Tok::dot:
                case Tok::field:
                case Tok::identifier:
                case Tok::number:
                case Tok::kw_nil:
                case Tok::raw_string:
                case Tok::string:
                case Tok::variable:
                case Tok::left_paren:
                    --pos_;
                    pipe->cmds.push_back(command());
                    break;
                default: unexpected(t, context);
            }
        }
        if (pipe->cmds.empty()) fail(pipe->line, "missing value for " + context);
        for (size_t k = 1; k < pipe->cmds.size(); ++k) {
            ArgKind a = pipe->cmds[k].args[0].kind;
            if (a == ArgKind::boolean || a == ArgKind::dot || a == ArgKind::nil || a == ArgKind::number ||
                a == ArgKind::string)
                fail(pipe->line, "non executable command in pipeline stage " + std::to_string(k + 1));
        }
        return pipe;
    }

    Command command() {
        Command cmd;
        cmd.line = peek_non_space().line;
        while (true) {
            peek_non_space();
            if (auto operand = this->operand()) cmd.args.push_back(std::move(*operand));
            const Token& t = next();
            if (t.type == Tok::space) continue;
            if (t.type == Tok::right_delim || t.type == Tok::right_paren) {
                --pos_;
            } else if (t.type != Tok::pipe) {
                unexpected(t, "operand");
            }
            break;
        }
        if (cmd.args.empty()) fail(cmd.line, "empty command");
        return cmd;
    }

    std::optional<Arg> operand() {
        auto node = term();
        if (!node) return std::nullopt;
        if (peek().type != Tok::field) return node;
        std::vector<std::string> fields;
        while (peek().type == Tok::field) fields.push_back(next().val.substr(1));
        switch (node->kind) {
            case ArgKind::field:
            case ArgKind::variable: node->idents.insert(node->idents.end(), fields.begin(), fields.end()); return node;
            case ArgKind::boolean:
            case ArgKind::string:
            case ArgKind::number:
            case ArgKind::nil:
            case ArgKind::dot: fail(node->line, "unexpected . after term");
            default: {
                Arg chain;
                chain.kind = ArgKind::chain;
                chain.line = node->line;
                chain.idents = std::move(fields);
                chain.operand = std::make_unique<Arg>(std::move(*node));
                return chain;
            }
        }
    }

    std::optional<Arg> term() {
        const Token& t = next_non_space();
        Arg a;
        a.line = t.line;
        switch (t.type) {
            case Tok::identifier:
                if (!is_function(t.val)) fail(t.line, "function \"" + t.val + "\" not defined");
                a.kind = ArgKind::identifier;
                a.text = t.val;
                return a;
            case Tok::dot: a.kind = ArgKind::dot; return a;
            case Tok::kw_nil: a.kind = ArgKind::nil; return a;
            case Tok::variable:
                if (std::find(vars_.begin(), vars_.end(), t.val) == vars_.end())
                    fail(t.line, "undefined variable \"" + t.val + "\"");
                a.kind = ArgKind::variable;
                a.idents = {t.val};
                return a;
            case Tok::field:
                a.kind = ArgKind::field;
                a.idents = {t.val.substr(1)};
                return a;
            case Tok::boolean:
                a.kind = ArgKind::boolean;
                a.constant = Value::boolean(t.val == "true");
                return a;
            case Tok::char_constant: {
                int64_t r = 0;
                unquote(t.val, t.line, &r);
                a.kind = ArgKind::number;
                a.text = t.val;
                a.constant = Value::integer(r);
                return a;
            }
            case Tok::number:
                a.kind = ArgKind::number;
                a.text = t.val;
                a.constant = parse_number(t.val, t.line);
                return a;
            case Tok::left_paren:
                a.kind = ArgKind::pipe;
                a.pipe = pipeline("parenthesized pipeline", Tok::right_paren);
                return a;
            case Tok::string:
            case Tok::raw_string:
                a.kind = ArgKind::string;
                a.text = t.val;
                a.constant = Value::string(unquote(t.val, t.line));
                return a;
            default: --pos_; return std::nullopt;
        }
    }
};

// ---- Ollama's walks ------------------------------------------------------------------------------------

void pipe_identifiers(const Pipe& p, std::vector<std::string>& out);

void arg_identifiers(const Arg& a, std::vector<std::string>& out) {
    if (a.kind == ArgKind::field || a.kind == ArgKind::variable)
        out.insert(out.end(), a.idents.begin(), a.idents.end());
    else if (a.kind == ArgKind::pipe)
        pipe_identifiers(*a.pipe, out);
}

void pipe_identifiers(const Pipe& p, std::vector<std::string>& out) {
    for (const auto& c : p.cmds)
        for (const auto& a : c.args) arg_identifiers(a, out);
}

void list_identifiers(const List& list, std::vector<std::string>& out) {
    for (const auto& n : list) {
        switch (n->kind) {
            case NodeKind::template_call:
                if (!n->pipe) fail(n->line, "undefined template specified");
                pipe_identifiers(*n->pipe, out);
                break;
            case NodeKind::action: pipe_identifiers(*n->pipe, out); break;
            case NodeKind::if_:
            case NodeKind::range:
            case NodeKind::with:
                pipe_identifiers(*n->pipe, out);
                list_identifiers(n->list, out);
                list_identifiers(n->else_list, out);
                break;
            default: break;
        }
    }
}

std::unique_ptr<Pipe> clone_pipe(const Pipe& p);

Arg clone_arg(const Arg& a) {
    Arg c;
    c.kind = a.kind;
    c.line = a.line;
    c.idents = a.idents;
    c.text = a.text;
    c.constant = a.constant;
    if (a.pipe) c.pipe = clone_pipe(*a.pipe);
    if (a.operand) c.operand = std::make_unique<Arg>(clone_arg(*a.operand));
    return c;
}

std::unique_ptr<Pipe> clone_pipe(const Pipe& p) {
    auto c = std::make_unique<Pipe>();
    c->line = p.line;
    c->is_assign = p.is_assign;
    c->decl = p.decl;
    for (const auto& cmd : p.cmds) {
        Command cc;
        cc.line = cmd.line;
        for (const auto& a : cmd.args) cc.args.push_back(clone_arg(a));
        c->cmds.push_back(std::move(cc));
    }
    return c;
}

// Ollama's deleteNode with the predicate "after the first .Response field": nodes are visited in tree order
// (a branch's condition is not visited, a template call's pipeline is not either); once the field was seen,
// every later node is dropped, and a pipeline left with an empty command disappears with its action.
struct Cutter {
    bool cut = false;

    bool is_response(const Arg& a) const {
        return a.kind == ArgKind::field && std::find(a.idents.begin(), a.idents.end(), "Response") != a.idents.end();
    }

    // Null when the whole argument is dropped.
    std::optional<Arg> arg(const Arg& a) {
        if (cut) return std::nullopt;
        if (is_response(a)) {
            cut = true;
            return clone_arg(a);
        }
        if (a.kind != ArgKind::pipe) return clone_arg(a);
        Arg c = clone_arg(a);
        c.pipe = pipe(*a.pipe);
        if (!c.pipe) return std::nullopt;
        return c;
    }

    std::unique_ptr<Pipe> pipe(const Pipe& p) {
        if (cut) return nullptr;
        auto c = std::make_unique<Pipe>();
        c->line = p.line;
        c->is_assign = p.is_assign;
        c->decl = p.decl;
        for (const auto& cmd : p.cmds) {
            Command cc;
            cc.line = cmd.line;
            for (const auto& a : cmd.args)
                if (auto x = arg(a)) cc.args.push_back(std::move(*x));
            if (cc.args.empty()) return nullptr;
            c->cmds.push_back(std::move(cc));
        }
        if (c->cmds.empty()) return nullptr;
        return c;
    }

    NodePtr node(const Node& n) {
        if (cut) return nullptr;
        auto c = std::make_unique<Node>();
        c->kind = n.kind;
        c->line = n.line;
        c->text = n.text;
        c->has_else = n.has_else;
        switch (n.kind) {
            case NodeKind::action:
                c->pipe = pipe(*n.pipe);
                if (!c->pipe) return nullptr;
                break;
            case NodeKind::if_:
            case NodeKind::range:
            case NodeKind::with:
                c->pipe = clone_pipe(*n.pipe);
                c->list = list(n.list);
                c->else_list = list(n.else_list);  // Ollama panics here when the cut fell in the first list
                break;
            case NodeKind::template_call:
                if (n.pipe) c->pipe = clone_pipe(*n.pipe);
                break;
            default: break;
        }
        return c;
    }

    List list(const List& l) {
        List out;
        for (const auto& n : l)
            if (auto c = node(*n)) out.push_back(std::move(c));
        return out;
    }
};

// thinking.InferTags: visit in tree order keeping the ancestors; at a `.Thinking` field inside a range over
// .Messages, take the trimmed first and last text of the nearest enclosing list.
struct TagFinder {
    std::vector<const List*> lists;   // enclosing lists, innermost last
    std::vector<const Node*> ranges;  // enclosing range nodes
    std::string open, close;

    static bool pipe_uses_field(const Pipe& p, const std::string& name) {
        for (const auto& c : p.cmds)
            for (const auto& a : c.args) {
                if (a.kind == ArgKind::field && !a.idents.empty() && a.idents[0] == name) return true;
                if (a.kind == ArgKind::pipe && pipe_uses_field(*a.pipe, name)) return true;
            }
        return false;
    }

    static std::string trim(const std::string& s) {
        size_t b = s.find_first_not_of(" \t\r\n\v\f"), e = s.find_last_not_of(" \t\r\n\v\f");
        return b == std::string::npos ? "" : s.substr(b, e - b + 1);
    }

    void field(const Arg& a) {
        if (a.idents.empty() || a.idents[0] != "Thinking") return;
        if (ranges.empty() || !pipe_uses_field(*ranges.back()->pipe, "Messages")) return;
        if (lists.empty() || lists.back()->empty()) return;
        const List& l = *lists.back();
        if (l.front()->kind == NodeKind::text) open = trim(l.front()->text);
        if (l.back()->kind == NodeKind::text) close = trim(l.back()->text);
    }

    void pipe(const Pipe& p) {
        for (const auto& c : p.cmds)
            for (const auto& a : c.args) {
                if (a.kind == ArgKind::field) field(a);
                if (a.kind == ArgKind::pipe) pipe(*a.pipe);
            }
    }

    void list(const List& l) {
        lists.push_back(&l);
        for (const auto& n : l) {
            switch (n->kind) {
                case NodeKind::action:
                case NodeKind::template_call:
                    if (n->pipe) pipe(*n->pipe);
                    break;
                case NodeKind::if_:
                case NodeKind::range:
                case NodeKind::with:
                    if (n->kind == NodeKind::range) ranges.push_back(n.get());
                    pipe(*n->pipe);
                    list(n->list);
                    if (n->has_else) list(n->else_list);
                    if (n->kind == NodeKind::range) ranges.pop_back();
                    break;
                default: break;
            }
        }
        lists.pop_back();
    }
};

}  // namespace

bool is_function(std::string_view name) {
    static const char* const names[] = {
        "and",  "or",   "not",         "len",           "index",           "slice",   "eq",   "ne", "lt",
        "le",   "gt",   "ge",          "print",         "printf",          "println", "html", "js", "urlquery",
        "call", "json", "currentDate", "yesterdayDate", "toTypeScriptType"};
    for (const char* n : names)
        if (name == n) return true;
    return false;
}

std::unique_ptr<Template> parse(std::string_view source, const ParseLimits& limits) {
    return Parser(lex(source), limits).run();
}

std::vector<std::string> vars(const Template& t) {
    std::vector<std::string> ids;
    list_identifiers(t.root, ids);
    for (const auto& [name, body] : t.defines) list_identifiers(*body, ids);
    for (auto& s : ids)
        for (auto& c : s) c = char(std::tolower((unsigned char)c));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

List cut_after_response(const List& root) { return Cutter{}.list(root); }

std::pair<std::string, std::string> infer_think_tags(const Template& t) {
    TagFinder f;
    f.list(t.root);
    return {f.open, f.close};
}

}  // namespace berth::gotmpl
