// Internal header of the Go text/template engine (Ollama's TEMPLATE): values shaped like the Go values Ollama
// passes to its templates, the parse tree, the parser and the executor. Errors travel as gotmpl::Error and are
// turned into a Status at the public boundary (prompt_template.cpp); nothing escapes it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::gotmpl {

// A template problem (syntax or execution); `line` is 1-based, 0 when unknown.
struct Error : std::runtime_error {
    int line;
    Error(std::string msg, int line_ = 0) : std::runtime_error(std::move(msg)), line(line_) {}
};
[[noreturn]] void fail(int line, std::string msg);

// ---- values --------------------------------------------------------------------------------------------
// invalid: Go's "no value" (a missing map key, a nil interface): prints "<no value>" from an action and
// "<nil>" inside a container or as a function argument. nil: a typed nil pointer ("<nil>").
enum class Kind : uint8_t { invalid, nil, boolean, integer, floating, string, slice, map, record };

// Where a Go type's own methods decide how it prints (String) and marshals (MarshalJSON).
enum class Custom : uint8_t {
    none,
    json_string,             // String() is json.Marshal(v): templateTools, templateTool
    json_string_nil_braces,  // same, but a nil map prints "{}": templateArgs, templateProperties
    property_type,           // api.PropertyType: one type prints and marshals as that string
    ordered_map,             // api.ToolPropertiesMap: marshals in insertion order
};

struct Obj;

struct Value {
    Kind kind = Kind::invalid;
    bool b = false;
    int64_t i = 0;
    double f = 0;
    std::string s;                   // string; for nil: the pointer's Go type
    std::shared_ptr<const Obj> obj;  // slice, map, record

    static Value boolean(bool x) {
        Value v;
        v.kind = Kind::boolean;
        v.b = x;
        return v;
    }
    static Value integer(int64_t x) {
        Value v;
        v.kind = Kind::integer;
        v.i = x;
        return v;
    }
    static Value floating(double x) {
        Value v;
        v.kind = Kind::floating;
        v.f = x;
        return v;
    }
    static Value string(std::string x) {
        Value v;
        v.kind = Kind::string;
        v.s = std::move(x);
        return v;
    }
    static Value nil_pointer(std::string type) {
        Value v;
        v.kind = Kind::nil;
        v.s = std::move(type);
        return v;
    }
    static Value object(Kind kind, std::shared_ptr<const Obj> obj) {
        Value v;
        v.kind = kind;
        v.obj = std::move(obj);
        return v;
    }
};

struct Field {
    std::string name;  // Go field name (what templates use)
    std::string json;  // JSON key from the tag; empty: the Go name
    bool omitempty = false;
    Value value;
};

// Slices, maps (string keys) and structs. Immutable once built.
struct Obj {
    std::string
        type;  // Go type for messages and %T: "[]string", "map[string]interface {}", "*template.templateMessage"
    Custom custom = Custom::none;
    bool nil = false;                                    // a nil slice or map: len 0, JSON null
    bool pointer = false;                                // a struct behind a pointer
    std::vector<Value> items;                            // slice
    std::vector<std::pair<std::string, Value>> entries;  // map: sorted by key (ordered_map: insertion order)
    std::vector<Field> fields;                           // struct, in declaration order
    Value zero;  // map: what a missing key yields (the element type's zero value)

    const Field* field(std::string_view name) const;
    const Value* find(std::string_view key) const;  // map entry
};

// Builders for the values handed to templates.
Value make_slice(std::string type, std::vector<Value> items, Custom custom = Custom::none, bool nil = false);
Value make_map(std::string type, std::vector<std::pair<std::string, Value>> entries, Custom custom = Custom::none,
               bool nil = false, Value zero = {});
Value make_record(std::string type, std::vector<Field> fields, bool pointer = false, Custom custom = Custom::none);

// Go semantics.
bool truth(const Value& v);                               // text/template's isTrue
std::string type_name(const Value& v);                    // Go type, as %T prints it
std::string fmt_value(const Value& v, bool top = true);   // fmt.Sprint(v) (%v); `top`: not inside a container
std::string go_json(const Value& v, bool* ok = nullptr);  // json.Marshal(v) (HTML-escaped), ok = false on NaN/Inf
std::string go_quote(std::string_view s);                 // strconv.Quote
std::string format_float(double x, char verb, int prec);  // strconv.FormatFloat(x, verb, prec, 64)
std::string sprintf(const std::string& format, const std::vector<Value>& args);  // fmt.Sprintf
std::string sprint(const std::vector<Value>& args, bool ln);                     // fmt.Sprint / Sprintln

// ---- parse tree ----------------------------------------------------------------------------------------
struct Pipe;

enum class ArgKind : uint8_t { dot, field, variable, chain, identifier, pipe, nil, boolean, number, string };

// One operand of a command: `.A.B`, `$x.A`, `(pipe).A`, a function name, a literal.
struct Arg {
    ArgKind kind;
    int line = 0;
    std::vector<std::string> idents;  // field: [A, B]; variable: [$x, A, B]; chain: the fields after `operand`
    std::string text;                 // identifier name, string value, number text
    Value constant;                   // boolean / number / string
    std::unique_ptr<Pipe> pipe;       // pipe
    std::unique_ptr<Arg> operand;     // chain
};

struct Command {
    int line = 0;
    std::vector<Arg> args;
};

struct Pipe {
    int line = 0;
    bool is_assign = false;         // `$x = ...` instead of `$x := ...`
    std::vector<std::string> decl;  // declared or assigned variables
    std::vector<Command> cmds;
};

enum class NodeKind : uint8_t { text, action, if_, range, with, template_call, break_, continue_ };

struct Node;
using NodePtr = std::unique_ptr<Node>;
using List = std::vector<NodePtr>;

struct Node {
    NodeKind kind;
    int line = 0;
    std::string text;            // text; template_call: the template's name
    std::unique_ptr<Pipe> pipe;  // action, if/range/with, template_call (may be null there)
    List list, else_list;        // if/range/with bodies
    bool has_else = false;
};

struct Template {
    List root;
    std::map<std::string, std::shared_ptr<const List>> defines;  // {{define}} / {{block}} bodies
};

// ---- lexer (gotmpl_lexer.cpp) ----------------------------------------------------------------------------
enum class Tok : uint8_t {
    text,
    left_delim,
    right_delim,
    space,
    boolean,
    char_constant,
    number,
    string,      // val: the quoted source text
    raw_string,  // val: the quoted source text
    dot,
    field,     // ".Name"
    variable,  // "$x" or "$"
    identifier,
    pipe,
    declare,  // :=
    assign,   // =
    comma,
    left_paren,
    right_paren,
    kw_block,
    kw_break,
    kw_continue,
    kw_define,
    kw_else,
    kw_end,
    kw_if,
    kw_nil,
    kw_range,
    kw_template,
    kw_with,
    eof,
};

struct Token {
    Tok type;
    std::string val;
    int line = 1;
};

// The token stream of `source` (text/template's lexer: trim markers applied to the text, comments dropped).
std::vector<Token> lex(std::string_view source);

// Function names the parser accepts (text/template's builtins plus Ollama's json, currentDate,
// yesterdayDate, toTypeScriptType).
bool is_function(std::string_view name);

struct ParseLimits {
    int max_depth = 256;  // nesting of control structures and parentheses
};
// Lexes and parses `source` like text/template.Parse ("{{- " / " -}}" trim markers, comments, define).
std::unique_ptr<Template> parse(std::string_view source, const ParseLimits& limits = {});

// Ollama's Template.Vars(): identifiers of fields and variables in every template, lower-cased, sorted;
// fails like Ollama on {{template "x"}} without a pipeline.
std::vector<std::string> vars(const Template& t);
// A copy of the root list without everything that follows the first `.Response` field (Ollama's deleteNode,
// used for the last turn of legacy templates).
List cut_after_response(const List& root);
// Ollama's thinking.InferTags: the text around .Thinking in the range over .Messages ("" when not found).
std::pair<std::string, std::string> infer_think_tags(const Template& t);

struct ExecLimits {
    uint64_t max_steps = 1'000'000;       // nodes walked + range iterations + template calls
    size_t max_output_bytes = 64u << 20;  // rendered text and any intermediate string
    int max_call_depth = 256;             // nested {{template}} calls
    int64_t now_unix_s = 0;               // currentDate / yesterdayDate (local time, as Ollama)
    bool ollama_funcs = true;             // json, currentDate, ...: false for Ollama's bare last-turn template
    bool defines = true;                  // {{template}} sees the {{define}}s: false likewise
};

// Executes `list` of `t` with `data` as dot and $; appends to `out`.
void execute(const Template& t, const List& list, const Value& data, const ExecLimits& limits, std::string& out);

}  // namespace berth::gotmpl
