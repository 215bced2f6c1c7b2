// Internal header of the Jinja interpreter (chat templates): values, AST, lexer/parser and evaluator entry
// points. Errors inside the interpreter travel as jinja::Error exceptions and are turned into a Status at
// the public boundary (chat_template.cpp); nothing escapes it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/base.h"  // append_utf8

namespace berth::jinja {

// A template problem (syntax or runtime); `line` is 1-based, 0 when unknown.
struct Error : std::runtime_error {
    int line;
    Error(std::string msg, int line_ = 0) : std::runtime_error(std::move(msg)), line(line_) {}
};
[[noreturn]] void fail(int line, std::string msg);

// ---- values --------------------------------------------------------------------------------------------
enum class Kind : uint8_t { undefined, none, boolean, integer, floating, string, list, dict, ns, func };

struct Value;
struct ListObj;
struct DictObj;
struct FuncObj;
class Interp;

struct Value {
    Kind kind = Kind::undefined;
    bool b = false;
    bool markup = false;  // string marked safe (markupsafe.Markup): `Markup + str` escapes the str
    int64_t i = 0;
    double f = 0;
    std::string s;                  // string; for undefined: the error message to raise when it is used
    std::shared_ptr<ListObj> list;  // list / tuple (reference semantics, like Python)
    std::shared_ptr<DictObj> dict;  // dict / namespace
    std::shared_ptr<FuncObj> fn;

    Value() = default;
    static Value undefined(std::string message) {
        Value v;
        v.s = std::move(message);
        return v;
    }
    static Value none() {
        Value v;
        v.kind = Kind::none;
        return v;
    }
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
    static Value new_list(std::vector<Value> items = {}, bool tuple = false);
    static Value new_iterator(std::vector<Value> items, const char* type = "generator");
    static Value new_dict();
    static Value new_namespace();
    static Value function(std::string name, std::function<Value(struct CallArgs&)> fn);

    bool is_undefined() const { return kind == Kind::undefined; }
    bool is_none() const { return kind == Kind::none; }
    bool is_string() const { return kind == Kind::string; }
    bool is_list() const { return kind == Kind::list; }
    bool is_iterator() const;  // a one-shot iterator (ListObj::iterator)
    bool is_sequence() const;  // a list or tuple
    bool is_dict() const { return kind == Kind::dict; }
    bool is_number() const { return kind == Kind::boolean || kind == Kind::integer || kind == Kind::floating; }
    bool is_int_like() const { return kind == Kind::boolean || kind == Kind::integer; }
    int64_t as_int() const { return kind == Kind::boolean ? int64_t(b) : i; }
    double as_double() const { return kind == Kind::floating ? f : double(as_int()); }
};

struct ListObj {
    std::vector<Value> items;
    bool is_tuple = false;
    const char* view = nullptr;  // "dict_items" / "dict_keys" / "dict_values": repr as dict_items([...])
    // A one-shot iterator ("generator", "list_reverseiterator"): what Jinja2's map, select, reject, unique,
    // items and reverse return. Iterating consumes it; it has no len(), no index, no JSON form, and is true.
    const char* iterator = nullptr;
};
inline bool Value::is_iterator() const { return kind == Kind::list && list->iterator; }
inline bool Value::is_sequence() const { return kind == Kind::list && !list->iterator; }

// Insertion-ordered dict (Python semantics); keys compare with Python equality. Small dicts: linear lookup.
struct DictObj {
    std::vector<std::pair<Value, Value>> items;
    const Value* find(const Value& key) const;
    Value* find(const Value& key);
    const Value* find(std::string_view key) const;
    void set(Value key, Value value);
};

struct CallArgs {
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    int line = 0;
    Interp* interp = nullptr;
    // Positional argument `idx` or keyword `name`, else `def`.
    Value get(size_t idx, std::string_view name, Value def = Value()) const;
    bool has(size_t idx, std::string_view name) const;
};

struct FuncObj {
    std::string name;
    std::function<Value(CallArgs&)> call;
};

// Python semantics.
bool truthy(const Value& v);
bool equals(const Value& a, const Value& b);
int compare(const Value& a, const Value& b, int line);  // <0, 0, >0; type mismatch fails like Python
const char* type_name(const Value& v);                  // "str", "int", "dict", ...
std::string to_str(const Value& v);                     // str(v); undefined renders ""
std::string repr(const Value& v);                       // repr(v)
std::string float_repr(double x);                       // repr(float)
std::string str_repr(std::string_view s);               // repr(str) with Python's quote choice
std::string html_escape(std::string_view s);            // markupsafe.escape: & < > " '

struct JsonStyle {
    int indent = -1;  // < 0: single line
    bool sort_keys = false;
    bool ensure_ascii = false;
    bool html_safe = false;
    std::string item_sep, key_sep;  // empty: json.dumps defaults
};
std::string to_json(const Value& v, const JsonStyle& style, int line);

// UTF-8 helpers: code-point pieces of `s` (invalid bytes are single pieces).
std::vector<std::string_view> utf8_chars(std::string_view s);
size_t utf8_length(std::string_view s);
bool is_py_space(uint32_t cp);
std::string py_strip(std::string_view s, bool left, bool right, const Value& chars);
std::string py_lower(std::string_view s);
std::string py_upper(std::string_view s);

// ---- AST -----------------------------------------------------------------------------------------------
enum class ExprKind : uint8_t {
    literal,
    name,
    list,
    tuple,
    dict,
    getattr,
    getitem,
    slice,
    call,
    filter,
    test,
    unary,
    binary,
    compare,
    and_,
    or_,
    not_,
    cond,
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    ExprKind kind;
    int line = 0;
    Value value;                // literal
    std::string name;           // name, attribute, filter/test name, operator
    ExprPtr a, b, c;            // operands (object, key, slice parts, condition)
    std::vector<ExprPtr> args;  // call/filter/test arguments, list items, dict keys+values
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;  // compare chain operators
    bool negated = false;          // test: "is not"
};

enum class StmtKind : uint8_t {
    text,
    output,
    if_,
    for_,
    set,
    set_block,
    macro,
    filter_block,
    break_,
    continue_,
    call_block,
    scope,
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
    StmtKind kind;
    int line = 0;
    std::string text;                  // text; set: variable (or namespace) name; macro name
    std::string attr;                  // set ns.attr: the attribute
    std::vector<std::string> targets;  // for / set targets, macro parameter names
    std::vector<ExprPtr> defaults;     // macro parameter defaults (nullptr = required)
    ExprPtr expr;                      // output, for iterable, set value, if condition, call-block call
    ExprPtr cond;                      // for ... if cond
    std::vector<ExprPtr> conds;        // if/elif conditions
    std::vector<Body> bodies;          // if: one per condition (+ else); for: body (+ else); blocks: body
    ExprPtr filter;                    // set_block / filter_block: filter chain applied to the body text
                                       // (a filter Expr whose innermost operand is a name "__body__")
};

struct Template {
    Body body;
};

// Lexes and parses `source` (Jinja2 whitespace rules: trim_blocks/lstrip_blocks, "-"/"+" markers).
std::unique_ptr<Template> parse_template(std::string_view source, bool trim_blocks, bool lstrip_blocks);

struct RenderLimits {
    uint64_t max_steps;
    size_t max_output_bytes;
    int max_call_depth;
    int64_t now_unix_s;
    JsonStyle tojson_style;
};

// Renders with `globals` (name → value) as the outermost scope.
std::string render(const Template& t, std::vector<std::pair<std::string, Value>> globals, const RenderLimits& limits);

// The evaluator's state, as far as builtins need it (defined in jinja_eval.cpp).
const RenderLimits& interp_limits(const Interp& in);
// Fails when a string of `n` bytes would exceed the output bound.
void check_size(const Interp& in, size_t n, int line);

// Jinja2's environment.getattr / getitem: attribute (method) or item lookup; undefined (not an error)
// when missing, an error when `obj` is itself undefined.
Value get_attr(const Value& obj, const std::string& name, int line);
Value get_item(const Value& obj, const Value& key, int line);
// The items a for loop visits: list items, dict keys, string characters; undefined iterates as empty.
std::vector<Value> iterate(const Value& v, int line);
// Calls a function value (builtin, bound method or macro).
Value call_value(Interp& in, const Value& fn, CallArgs& args, int line);

// Builtins (jinja_builtins.cpp), called by the evaluator.
Value apply_filter(Interp& in, const std::string& name, Value v, CallArgs& args);
bool apply_test(Interp& in, const std::string& name, const Value& v, CallArgs& args);
bool has_filter(const std::string& name);
bool has_test(const std::string& name);
// String helpers shared by filters and methods (jinja_methods.cpp).
int64_t arg_int(const Value& v, int line, const char* what);  // int argument (floats truncate) or a failure
std::vector<std::string> splitlines(std::string_view s);      // str.splitlines()
std::string py_replace(const std::string& s, const std::string& old, const std::string& with, int64_t count, Interp& in,
                       int line);  // str.replace (count < 0: all)
std::string py_capitalize(const std::string& s);
std::string jinja_title(const std::string& s);              // Jinja's title filter (words start after - space ( { [ <)
Value percent_format(const std::string& fmt, CallArgs& a);  // "%s %d %r %f %%" % args
// obj.name for str/list/dict methods; undefined when there is no such method.
Value get_method(const Value& obj, const std::string& name);

}  // namespace berth::jinja
