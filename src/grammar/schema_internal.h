// Internal to the grammar module: the JSON Schema compiler's shared pieces. A schema position is a conjunction
// of schema objects of the document (allOf, $ref and property merges add to it); once its anyOf/oneOf are
// distributed, the conjunction is merged into one Merged view per type and compiled.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "grammar/grammar_impl.h"

namespace berth::schema {

using Json = nlohmann::ordered_json;

// One element of a conjunction: a schema of the document, and what of it was already taken apart (skip bit 1:
// its anyOf and 2: its oneOf are distributed, the chosen alternative is another part of the conjunction;
// kExpanded: its $ref target and allOf members are parts already).
inline constexpr uint8_t kExpanded = 4;
struct Part {
    const Json* s;
    uint8_t skip;
    bool operator<(const Part& o) const { return s < o.s || (s == o.s && skip < o.skip); }
    bool operator==(const Part& o) const { return s == o.s && skip == o.skip; }
};
using Conj = std::vector<Part>;  // sorted, unique

// " at /properties/x" or " at the root".
std::string at(const std::string& path);
// invalid_argument("format: " + message): what the server returns as 400.
Status error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

enum TypeBits : uint8_t {
    kNull = 1,
    kBool = 2,
    kObject = 4,
    kArray = 8,
    kString = 16,
    kInteger = 32,
    kNumber = 64,  // non-integers; "number" sets kNumber | kInteger
    kAllTypes = 127,
};

// An exact decimal: sign, integer digits without leading zeros ("0" for zero), fraction digits without
// trailing zeros.
struct Decimal {
    bool neg = false;
    std::string int_digits = "0";
    std::string frac;
    bool is_zero() const { return int_digits == "0" && frac.empty(); }
};
// A JSON number as an exact decimal (doubles through their shortest round-trip form).
std::optional<Decimal> to_decimal(const Json& v);
int compare(const Decimal& a, const Decimal& b);  // -1, 0, 1

struct NumberBounds {
    std::optional<Decimal> lo, hi;
    bool lo_excl = false, hi_excl = false;
    std::optional<Decimal> multiple_of;
    bool integer = false;
};
// JSON numbers in [lo, hi] (as asked) that are multiples of multiple_of; integer: no fraction. Without
// bounds or multipleOf: the bounded JSON number (or integer) syntax. A nothing node when the set is empty.
Result<int> number_node(GrammarBuilder::Impl& b, const NumberBounds& n, const std::string& path);

// Code point ranges (inclusive) as their JSON string encodings: raw UTF-8, except '"', '\' and the C0
// controls, which are escaped.
using CodeRanges = std::vector<std::pair<uint32_t, uint32_t>>;
int json_class(GrammarBuilder::Impl& b, CodeRanges ranges);

// The body of a JSON string (between the quotes) whose value matches the ECMA-262 regular expression
// `pattern` (unanchored: the match may be anywhere, as JSON Schema says).
Result<int> regex_body(GrammarBuilder::Impl& b, std::string_view pattern, const std::string& path);
// The body of a JSON string in a `format`; unsupported formats are errors. For non-string formats (int32,
// int64, float, double) use number_format.
Result<int> format_body(GrammarBuilder::Impl& b, std::string_view format, const std::string& path);
bool is_number_format(std::string_view format);
// Heap held by the formats' automata compiled so far (each once per process, then shared).
int64_t format_automata_bytes();

}  // namespace berth::schema

namespace berth::schema {

// Everything a conjunction (without anyOf/oneOf left to distribute) says, merged over its parts.
struct Merged {
    std::string path;  // of the first part, for messages
    uint8_t types = kAllTypes;
    bool has_type = false;
    bool has_enum = false;
    std::vector<const Json*> enum_values;
    bool other_constraints = false;  // any keyword besides type and enum/const (enum values are then checked)
    uint8_t keyword_types = 0;       // types the type-specific keywords present are about (type inference)
    // object
    std::vector<std::string> keys;           // declared properties, first declaration order
    std::map<std::string, Conj> key_schema;  // conjunction for each declared key
    std::set<std::string> key_forbidden;     // keys some part's additionalProperties: false rules out
    std::vector<std::string> required;       // first occurrence order
    Conj additional;                         // schema of undeclared keys
    bool additional_forbidden = false;
    int min_properties = 0, max_properties = -1;
    // array
    std::vector<Conj> prefix;  // per position
    std::vector<uint8_t> prefix_forbidden;
    Conj rest;  // positions after the prefix
    bool rest_forbidden = false;
    int min_items = 0, max_items = -1;
    bool unique_items = false;
    // string
    int min_length = 0, max_length = -1;
    std::vector<std::pair<std::string, std::string>> patterns;  // (pattern, path)
    std::vector<std::pair<std::string, std::string>> formats;   // (format, path)
    // number
    NumberBounds number;
};

class SchemaCompiler {
  public:
    SchemaCompiler(GrammarBuilder::Impl& b, const Json& root);
    // A node for the values `s` allows (a nothing node when none).
    Result<int> compile(const Json& s);

  private:
    friend struct ShapeBuilder;
    Result<int> compile_conj(Conj c);
    Result<int> compile_body(const Conj& c);
    // Follows $ref and allOf from `c`; validates every schema object met. Parts of `out` keep their skip bits.
    Status expand(const Conj& c, Conj& out, bool& unsatisfiable);
    Status check_keywords(const Json& s);
    Result<const Json*> resolve(const std::string& ref, const std::string& path);
    Status merge(const Conj& parts, Merged& m);
    Status check_one_of_disjoint(const Json& owner, const std::vector<const Json*>& alternatives);
    Result<int> compile_merged(const Merged& m);
    Result<bool> value_allowed(const Json& v, const Merged& m);
    // Shapes (schema_shapes.cpp).
    Result<int> object_node(const Merged& m);
    Result<int> array_node(const Merged& m);
    Result<int> string_node(const Merged& m);
    Result<int> any_value_of(const Conj& c, bool forbidden);
    const std::string& path_of(const Json* s);
    void set_path(const Json* s, std::string path);

    GrammarBuilder::Impl& b_;
    const Json& root_;
    std::map<const Json*, std::string> paths_;
    std::set<const Json*> checked_;
    std::map<Conj, int> done_, rule_of_;
    std::set<Conj> active_;
    int depth_ = 0, distributed_ = 0;
};

}  // namespace berth::schema
