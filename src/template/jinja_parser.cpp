// Parser of the Jinja subset: statements into a tree of Stmt, expressions with Jinja2's precedence
// (or < and < not < comparisons < + - < ~ < * / // % < ** < unary < filters/tests < postfix).
#include "template/jinja.h"
#include "template/jinja_lexer.h"

namespace berth::jinja {
namespace {

constexpr int kMaxExprDepth = 200;
constexpr int kMaxBlockDepth = 200;

// ---- parser --------------------------------------------------------------------------------------------

class Parser {
  public:
    explicit Parser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

    Body parse_all() {
        std::string stop;
        Body body = parse_body({}, &stop);
        return body;
    }

  private:
    // -- token cursor over the current tag --
    const Token& cur() const { return ti_ < toks_->size() ? (*toks_)[ti_] : eof_; }
    const Token& peek(size_t k = 1) const { return ti_ + k < toks_->size() ? (*toks_)[ti_ + k] : eof_; }
    void next() { ++ti_; }
    bool is_op(const char* op) const { return cur().type == Token::op && cur().text == op; }
    bool is_name(const char* nm) const { return cur().type == Token::name && cur().text == nm; }
    bool skip_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char* nm) {
        if (!is_name(nm)) return false;
        next();
        return true;
    }
    std::string describe(const Token& t) const {
        if (t.type == Token::eof) return "end of statement";
        if (t.type == Token::string) return "string";
        return "'" + t.text + "'";
    }
    int line() const { return cur().type == Token::eof ? tag_line_ : cur().line; }
    [[noreturn]] void unexpected() const { fail(line(), "unexpected " + describe(cur())); }
    void expect_op(const char* op) {
        if (!skip_op(op)) fail(line(), std::string("expected '") + op + "', got " + describe(cur()));
    }
    std::string expect_name() {
        if (cur().type != Token::name) fail(line(), "expected a name, got " + describe(cur()));
        std::string s = cur().text;
        next();
        return s;
    }
    void expect_end() {
        if (cur().type != Token::eof) fail(line(), "expected end of statement, got " + describe(cur()));
    }
    void set_tokens(const Piece& p, size_t start) {
        toks_ = &p.tokens;
        ti_ = start;
        tag_line_ = p.line;
    }

    ExprPtr make(ExprKind k, int line) {
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->line = line;
        return e;
    }

    // -- statements --
    Body parse_body(const std::vector<std::string>& stops, std::string* stop_found) {
        if (++block_depth_ > kMaxBlockDepth) fail(pieces_.empty() ? 0 : pieces_[0].line, "blocks nested too deeply");
        Body body;
        while (pi_ < pieces_.size()) {
            const Piece& p = pieces_[pi_];
            if (p.kind == Piece::text_piece) {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::text;
                s->line = p.line;
                s->text = p.text;
                body.push_back(std::move(s));
                ++pi_;
                continue;
            }
            set_tokens(p, 0);
            if (p.kind == Piece::var) {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::output;
                s->line = p.line;
                s->expr = parse_tuple();
                expect_end();
                body.push_back(std::move(s));
                ++pi_;
                continue;
            }
            if (cur().type != Token::name) fail(p.line, "tag name expected");
            const std::string& kw = cur().text;
            for (const auto& stop : stops) {
                if (kw == stop) {
                    *stop_found = kw;
                    --block_depth_;
                    return body;
                }
            }
            body.push_back(parse_statement(p));
        }
        if (!stops.empty()) {
            std::string expected;
            for (const auto& s : stops) expected += (expected.empty() ? "'" : " or '") + s + "'";
            fail(pieces_.empty() ? 0 : pieces_.back().line, "unexpected end of template, expected " + expected);
        }
        --block_depth_;
        return body;
    }

    // Parses the body up to one of `stops`; leaves the cursor after the stop keyword of the closing tag.
    Body body_until(const std::vector<std::string>& stops, std::string* found) {
        Body b = parse_body(stops, found);
        set_tokens(pieces_[pi_], 1);
        ++pi_;
        return b;
    }

    StmtPtr parse_statement(const Piece& p) {
        auto s = std::make_unique<Stmt>();
        s->line = p.line;
        std::string kw = cur().text;
        next();
        std::string found;
        if (kw == "if") {
            s->kind = StmtKind::if_;
            s->conds.push_back(parse_tuple());
            expect_end();
            ++pi_;
            while (true) {
                s->bodies.push_back(body_until({"elif", "else", "endif"}, &found));
                if (found == "elif") {
                    s->conds.push_back(parse_tuple());
                    expect_end();
                } else if (found == "else") {
                    expect_end();
                    s->bodies.push_back(body_until({"endif"}, &found));
                    expect_end();
                    break;
                } else {
                    expect_end();
                    break;
                }
            }
        } else if (kw == "for") {
            s->kind = StmtKind::for_;
            bool paren = skip_op("(");
            s->targets.push_back(expect_name());
            while (skip_op(",")) {
                if (cur().type != Token::name) break;
                s->targets.push_back(expect_name());
            }
            if (paren) expect_op(")");
            if (!skip_name("in")) fail(line(), "expected 'in', got " + describe(cur()));
            s->expr = parse_tuple(false);
            if (skip_name("if")) s->cond = parse_expression();
            if (skip_name("recursive")) fail(line(), "recursive loops are not supported");
            expect_end();
            ++pi_;
            s->bodies.push_back(body_until({"else", "endfor"}, &found));
            expect_end();
            if (found == "else") {
                s->bodies.push_back(body_until({"endfor"}, &found));
                expect_end();
            }
        } else if (kw == "set") {
            s->text = expect_name();
            if (skip_op(".")) {
                s->attr = expect_name();
            } else {
                s->targets.push_back(s->text);
                while (skip_op(",")) s->targets.push_back(expect_name());
            }
            if (skip_op("=")) {
                s->kind = StmtKind::set;
                s->expr = parse_tuple();
                expect_end();
                ++pi_;
            } else {
                if (s->targets.size() != 1 || !s->attr.empty()) unexpected();
                s->kind = StmtKind::set_block;
                if (is_op("|")) s->filter = parse_filter_chain(body_name());
                expect_end();
                ++pi_;
                s->bodies.push_back(body_until({"endset"}, &found));
                expect_end();
            }
        } else if (kw == "macro") {
            s->kind = StmtKind::macro;
            s->text = expect_name();
            expect_op("(");
            while (!is_op(")")) {
                s->targets.push_back(expect_name());
                s->defaults.push_back(skip_op("=") ? parse_expression() : nullptr);
                if (!skip_op(",")) break;
            }
            expect_op(")");
            expect_end();
            ++pi_;
            s->bodies.push_back(body_until({"endmacro"}, &found));
            if (cur().type == Token::name) next();  // {% endmacro name %}
            expect_end();
        } else if (kw == "filter") {
            s->kind = StmtKind::filter_block;
            --ti_;  // parse "filter" position as the pipe: filter name(args) | name ...
            s->filter = parse_filter_chain(body_name(), true);
            expect_end();
            ++pi_;
            s->bodies.push_back(body_until({"endfilter"}, &found));
            expect_end();
        } else if (kw == "break" || kw == "continue") {
            s->kind = kw == "break" ? StmtKind::break_ : StmtKind::continue_;
            expect_end();
            ++pi_;
        } else if (kw == "do") {
            s->kind = StmtKind::output;
            s->text = "do";  // evaluate, discard the value
            s->expr = parse_tuple();
            expect_end();
            ++pi_;
        } else if (kw == "call") {  // {% call [(params)] macro(args) %}body{% endcall %}: body is caller()
            s->kind = StmtKind::call_block;
            if (skip_op("(")) {
                while (!is_op(")")) {
                    s->targets.push_back(expect_name());
                    s->defaults.push_back(skip_op("=") ? parse_expression() : nullptr);
                    if (!skip_op(",")) break;
                }
                expect_op(")");
            }
            s->expr = parse_expression();
            if (s->expr->kind != ExprKind::call) fail(p.line, "expected a macro call after 'call'");
            expect_end();
            ++pi_;
            s->bodies.push_back(body_until({"endcall"}, &found));
            expect_end();
        } else if (kw == "with") {  // {% with a = 1, b = x %}...{% endwith %}: a scope with assignments
            s->kind = StmtKind::scope;
            while (cur().type == Token::name) {
                s->targets.push_back(expect_name());
                expect_op("=");
                s->defaults.push_back(parse_expression());
                if (!skip_op(",")) break;
            }
            expect_end();
            ++pi_;
            s->bodies.push_back(body_until({"endwith"}, &found));
            expect_end();
        } else if (kw == "generation") {  // transformers' marker for assistant-token masks: renders its body
            s->kind = StmtKind::scope;
            expect_end();
            ++pi_;
            s->bodies.push_back(body_until({"endgeneration"}, &found));
            expect_end();
        } else {
            fail(p.line, "unknown or unsupported tag '" + kw + "'");
        }
        return s;
    }

    ExprPtr body_name() {
        auto e = make(ExprKind::name, line());
        e->name = "__body__";
        return e;
    }

    // "| f(args) | g" (or, for {% filter %}, "filter f(args) | g") applied to `node`.
    ExprPtr parse_filter_chain(ExprPtr node, bool first_is_keyword = false) {
        bool first = true;
        while ((first && first_is_keyword) || skip_op("|")) {
            if (first && first_is_keyword) next();
            first = false;
            node = parse_filter(std::move(node));
        }
        return node;
    }

    // -- expressions --
    struct DepthGuard {
        int& d;
        DepthGuard(int& depth, int line) : d(depth) {
            if (++d > kMaxExprDepth) fail(line, "expression nested too deeply");
        }
        ~DepthGuard() { --d; }
    };

    ExprPtr parse_tuple(bool with_cond = true) {
        int l = line();
        ExprPtr first = with_cond ? parse_expression() : parse_or();
        if (!is_op(",")) return first;
        auto t = make(ExprKind::tuple, l);
        t->args.push_back(std::move(first));
        while (skip_op(",")) {
            if (cur().type == Token::eof || is_name("in") || is_op(")")) break;
            t->args.push_back(with_cond ? parse_expression() : parse_or());
        }
        return t;
    }

    ExprPtr parse_expression() {
        DepthGuard g(depth_, line());
        int l = line();
        ExprPtr e = parse_or();
        while (skip_name("if")) {
            auto c = make(ExprKind::cond, l);
            c->b = std::move(e);  // value when true
            c->a = parse_or();    // condition
            if (skip_name("else")) c->c = parse_expression();
            e = std::move(c);
        }
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr e = parse_and();
        while (is_name("or")) {
            auto o = make(ExprKind::or_, line());
            next();
            o->a = std::move(e);
            o->b = parse_and();
            e = std::move(o);
        }
        return e;
    }

    ExprPtr parse_and() {
        ExprPtr e = parse_not();
        while (is_name("and")) {
            auto o = make(ExprKind::and_, line());
            next();
            o->a = std::move(e);
            o->b = parse_not();
            e = std::move(o);
        }
        return e;
    }

    ExprPtr parse_not() {
        if (is_name("not")) {
            DepthGuard g(depth_, line());
            auto o = make(ExprKind::not_, line());
            next();
            o->a = parse_not();
            return o;
        }
        return parse_compare();
    }

    ExprPtr parse_compare() {
        int l = line();
        ExprPtr e = parse_math1();
        ExprPtr cmp;
        while (true) {
            std::string op;
            if (cur().type == Token::op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                            cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
                op = cur().text;
                next();
            } else if (is_name("in")) {
                op = "in";
                next();
            } else if (is_name("not") && peek().type == Token::name && peek().text == "in") {
                op = "notin";
                next();
                next();
            } else {
                break;
            }
            if (!cmp) {
                cmp = make(ExprKind::compare, l);
                cmp->a = std::move(e);
            }
            cmp->ops.push_back(op);
            cmp->args.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(e);
    }

    ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, int line) {
        auto b = make(ExprKind::binary, line);
        b->name = op;
        b->a = std::move(l);
        b->b = std::move(r);
        return b;
    }

    ExprPtr parse_math1() {
        ExprPtr e = parse_concat();
        while (is_op("+") || is_op("-")) {
            std::string op = cur().text;
            int l = line();
            next();
            e = binary(op, std::move(e), parse_concat(), l);
        }
        return e;
    }

    ExprPtr parse_concat() {
        ExprPtr e = parse_math2();
        while (is_op("~")) {
            int l = line();
            next();
            e = binary("~", std::move(e), parse_math2(), l);
        }
        return e;
    }

    ExprPtr parse_math2() {
        ExprPtr e = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            std::string op = cur().text;
            int l = line();
            next();
            e = binary(op, std::move(e), parse_pow(), l);
        }
        return e;
    }

    ExprPtr parse_pow() {
        ExprPtr e = parse_unary(true);
        while (is_op("**")) {
            int l = line();
            next();
            e = binary("**", std::move(e), parse_unary(true), l);
        }
        return e;
    }

    ExprPtr parse_unary(bool with_filter) {
        DepthGuard g(depth_, line());
        ExprPtr e;
        if (is_op("-") || is_op("+")) {
            e = make(ExprKind::unary, line());
            e->name = cur().text;
            next();
            e->a = parse_unary(false);
        } else {
            e = parse_primary();
        }
        e = parse_postfix(std::move(e));
        if (with_filter) e = parse_filter_expr(std::move(e));
        return e;
    }

    ExprPtr parse_primary() {
        const Token& t = cur();
        int l = line();
        switch (t.type) {
            case Token::name: {
                auto e = make(ExprKind::literal, l);
                if (t.text == "true" || t.text == "True")
                    e->value = Value::boolean(true);
                else if (t.text == "false" || t.text == "False")
                    e->value = Value::boolean(false);
                else if (t.text == "none" || t.text == "None")
                    e->value = Value::none();
                else {
                    e->kind = ExprKind::name;
                    e->name = t.text;
                }
                next();
                return e;
            }
            case Token::string: {
                std::string s;
                while (cur().type == Token::string) {
                    s += cur().text;
                    next();
                }
                auto e = make(ExprKind::literal, l);
                e->value = Value::string(std::move(s));
                return e;
            }
            case Token::integer:
            case Token::floating: {
                auto e = make(ExprKind::literal, l);
                e->value = t.type == Token::integer ? Value::integer(t.ival) : Value::floating(t.fval);
                next();
                return e;
            }
            case Token::op:
                if (t.text == "(") {
                    next();
                    if (skip_op(")")) return make(ExprKind::tuple, l);
                    ExprPtr first = parse_expression();
                    if (skip_op(")")) return first;
                    auto tup = make(ExprKind::tuple, l);
                    tup->args.push_back(std::move(first));
                    while (skip_op(",")) {
                        if (is_op(")")) break;
                        tup->args.push_back(parse_expression());
                    }
                    expect_op(")");
                    return tup;
                }
                if (t.text == "[") {
                    next();
                    auto lst = make(ExprKind::list, l);
                    while (!is_op("]")) {
                        lst->args.push_back(parse_expression());
                        if (!skip_op(",")) break;
                    }
                    expect_op("]");
                    return lst;
                }
                if (t.text == "{") {
                    next();
                    auto d = make(ExprKind::dict, l);
                    while (!is_op("}")) {
                        d->args.push_back(parse_expression());
                        expect_op(":");
                        d->args.push_back(parse_expression());
                        if (!skip_op(",")) break;
                    }
                    expect_op("}");
                    return d;
                }
                break;
            default: break;
        }
        unexpected();
    }

    ExprPtr parse_postfix(ExprPtr e) {
        while (true) {
            int l = line();
            if (is_op(".")) {
                next();
                if (cur().type == Token::name) {
                    auto g = make(ExprKind::getattr, l);
                    g->name = cur().text;
                    g->a = std::move(e);
                    next();
                    e = std::move(g);
                } else if (cur().type == Token::integer) {
                    auto g = make(ExprKind::getitem, l);
                    g->a = std::move(e);
                    g->b = make(ExprKind::literal, l);
                    g->b->value = Value::integer(cur().ival);
                    next();
                    e = std::move(g);
                } else {
                    unexpected();
                }
            } else if (is_op("[")) {
                next();
                e = parse_subscript(std::move(e), l);
            } else if (is_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr obj, int l) {
        ExprPtr parts[3];
        bool slice = false;
        if (!is_op(":")) parts[0] = parse_expression();
        if (skip_op(":")) {
            slice = true;
            if (!is_op(":") && !is_op("]")) parts[1] = parse_expression();
            if (skip_op(":"))
                if (!is_op("]")) parts[2] = parse_expression();
        }
        expect_op("]");
        if (!slice) {
            auto g = make(ExprKind::getitem, l);
            g->a = std::move(obj);
            g->b = std::move(parts[0]);
            return g;
        }
        auto s = make(ExprKind::slice, l);
        s->a = std::move(obj);
        for (auto& p : parts) s->args.push_back(std::move(p));  // may hold nullptr
        return s;
    }

    void parse_args(Expr& e) {
        expect_op("(");
        while (!is_op(")")) {
            if (cur().type == Token::name && peek().type == Token::op && peek().text == "=") {
                std::string k = cur().text;
                next();
                next();
                e.kwargs.emplace_back(std::move(k), parse_expression());
            } else {
                if (!e.kwargs.empty()) fail(line(), "positional argument after keyword argument");
                e.args.push_back(parse_expression());
            }
            if (!skip_op(",")) break;
        }
        expect_op(")");
    }

    ExprPtr parse_call(ExprPtr fn) {
        auto c = make(ExprKind::call, line());
        c->a = std::move(fn);
        parse_args(*c);
        return c;
    }

    ExprPtr parse_filter(ExprPtr node) {
        auto f = make(ExprKind::filter, line());
        f->name = expect_name();
        while (is_op(".") && peek().type == Token::name) {
            next();
            f->name += "." + cur().text;
            next();
        }
        f->a = std::move(node);
        if (is_op("(")) parse_args(*f);
        return f;
    }

    ExprPtr parse_filter_expr(ExprPtr e) {
        while (true) {
            if (is_op("|")) {
                next();
                e = parse_filter(std::move(e));
            } else if (is_name("is")) {
                int l = line();
                next();
                auto t = make(ExprKind::test, l);
                t->negated = skip_name("not");
                t->name = expect_name();
                t->a = std::move(e);
                if (is_op("(")) {
                    parse_args(*t);
                } else if ((cur().type == Token::name || cur().type == Token::string || cur().type == Token::integer ||
                            cur().type == Token::floating || is_op("(") || is_op("[") || is_op("{")) &&
                           !is_name("else") && !is_name("or") && !is_name("and")) {
                    if (is_name("is")) fail(line(), "You cannot chain multiple tests with is");
                    t->args.push_back(parse_postfix(parse_primary()));
                }
                e = std::move(t);
            } else if (is_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }

    std::vector<Piece> pieces_;
    size_t pi_ = 0;
    const std::vector<Token>* toks_ = nullptr;
    size_t ti_ = 0;
    int tag_line_ = 0;
    int depth_ = 0;
    int block_depth_ = 0;
    Token eof_;
};

}  // namespace

std::unique_ptr<Template> parse_template(std::string_view source, bool trim_blocks, bool lstrip_blocks) {
    Parser parser(lex_template(source, trim_blocks, lstrip_blocks));
    auto t = std::make_unique<Template>();
    t->body = parser.parse_all();
    return t;
}

}  // namespace berth::jinja
