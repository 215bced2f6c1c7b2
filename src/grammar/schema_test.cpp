// JSON Schema keywords, one test each: byte strings the compiled grammar must accept and must refuse, and
// the errors (with their JSON path) for what cannot be enforced.
#include <gtest/gtest.h>

#include "grammar/grammar_test_util.h"
#include "grammar/schema_internal.h"

namespace berth {
namespace {

using testing::accepts;
using testing::accepts_prefix;
using testing::schema;
using testing::schema_error;

void expect_all(const GrammarPtr& g, std::initializer_list<std::string> ok, std::initializer_list<std::string> bad) {
    ASSERT_TRUE(g);
    for (const std::string& s : ok) EXPECT_TRUE(accepts(g, s)) << "should accept: " << s;
    for (const std::string& s : bad) EXPECT_FALSE(accepts(g, s)) << "should refuse: " << s;
}

TEST(Schema, Types) {
    expect_all(schema(R"({"type": "string"})"), {R"("")", R"("abc")", R"( "x")"}, {"1", "null", "\"a"});
    expect_all(schema(R"({"type": "integer"})"), {"0", "-12", "1234567890123456"}, {"1.5", "01", "\"1\"", "1e3"});
    expect_all(schema(R"({"type": "number"})"), {"0", "-1.25", "3e-7", "1E+2"}, {"1.", ".5", "NaN", "--1"});
    expect_all(schema(R"({"type": "boolean"})"), {"true", "false"}, {"1", "True"});
    expect_all(schema(R"({"type": "null"})"), {"null"}, {"0", "\"null\""});
    expect_all(schema(R"({"type": ["string", "null"]})"), {"null", R"("a")"}, {"1", "true"});
    expect_all(schema(R"({})"), {"1", "null", R"({"a": [1]})", R"("x")"}, {"", "nul"});
    expect_all(schema(R"(true)"), {"[]"}, {});
    EXPECT_NE(schema_error(R"({"type": "str"})").find("\"str\""), std::string::npos);
    EXPECT_NE(schema_error(R"(false)").find("allows no value"), std::string::npos);
}

TEST(Schema, PropertiesInDeclarationOrderOptionalOnesSkippable) {
    auto g = schema(R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"},
                        "c": {"type": "boolean"}}, "required": ["b"], "additionalProperties": false})");
    expect_all(g,
               {R"({"b": "x"})", R"({"a": 1, "b": "x"})", R"({"b": "x", "c": true})", R"({"a":1,"b":"x","c":false})",
                "{\n  \"a\": 1,\n  \"b\": \"x\"\n}"},
               {R"({})", R"({"a": 1})", R"({"b": "x", "a": 1})", R"({"b": "x",})", R"({, "b": "x"})",
                R"({"b": "x", "d": 1})", R"({"b": 1})"});
}

TEST(Schema, AdditionalPropertiesDefaultsToAllowedAfterDeclaredOnes) {
    auto g = schema(R"({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})");
    expect_all(g,
               {R"({"name": "a"})", R"({"name": "a", "extra": [1, {"x": null}]})", R"({"name": "a", "x": 1, "y": 2})"},
               {R"({"name": "a", "name": "b"})", R"({"extra": 1, "name": "a"})"});
    // Undeclared keys are written without escapes and never equal a declared one.
    auto open = schema(R"({"properties": {"id": {"type": "integer"}}})");
    expect_all(open, {R"({"idx": "s"})", R"({"i": true})", R"({"id": 1, "ID": "x"})", R"({})"},
               {R"({"id": "s"})", R"({"i\u0064": 1})"});
    auto typed = schema(R"({"type": "object", "additionalProperties": {"type": "integer"}})");
    expect_all(typed, {R"({})", R"({"a": 1, "b": 2})"}, {R"({"a": "x"})"});
}

TEST(Schema, RequiredWithoutDeclaration) {
    expect_all(schema(R"({"type": "object", "required": ["k"]})"), {R"({"k": [1]})", R"({"k": 1, "z": 2})"},
               {R"({})", R"({"z": 2})"});
    EXPECT_NE(
        schema_error(R"({"type": "object", "required": ["k"], "additionalProperties": false})").find("allows no value"),
        std::string::npos);
}

TEST(Schema, EnumAndConst) {
    expect_all(schema(R"({"enum": ["red", "green", 3, null, {"a": 1}, [true]]})"),
               {R"("red")", R"("green")", "3", "null", R"({"a":1})", "[true]"}, {R"("blue")", "4", R"("Red")"});
    expect_all(schema(R"({"const": "fixed"})"), {R"("fixed")"}, {R"("fixe")", R"("fixed2")"});
    // The type narrows the enum; other keywords filter its values.
    expect_all(schema(R"({"type": "string", "enum": ["a", 1, "bb"]})"), {R"("a")", R"("bb")"}, {"1"});
    expect_all(schema(R"({"type": "string", "enum": ["a", "bb", "ccc"], "minLength": 2})"), {R"("bb")", R"("ccc")"},
               {R"("a")"});
    EXPECT_NE(schema_error(R"({"type": "integer", "enum": ["a"]})").find("allows no value"), std::string::npos);
}

TEST(Schema, AnyOfPydanticOptionalAndZodNullable) {
    // Pydantic Optional[int] = None and Zod .nullable().
    auto g = schema(R"({"type": "object", "properties": {"age": {"anyOf": [{"type": "integer"}, {"type": "null"}],
                        "default": null, "title": "Age"}}, "required": ["age"], "additionalProperties": false})");
    expect_all(g, {R"({"age": 3})", R"({"age": null})"}, {R"({"age": "3"})", R"({})"});
    // Siblings of anyOf apply to every alternative.
    auto s = schema(R"({"type": "string", "anyOf": [{"minLength": 3}, {"pattern": "^x"}]})");
    expect_all(s, {R"("abc")", R"("x")"}, {R"("ab")", "1"});
}

TEST(Schema, OneOfMustBeProvablyExclusive) {
    auto g = schema(R"({"oneOf": [
        {"type": "object", "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}},
         "required": ["kind", "lives"], "additionalProperties": false},
        {"type": "object", "properties": {"kind": {"const": "dog"}, "good": {"type": "boolean"}},
         "required": ["kind", "good"], "additionalProperties": false}],
        "discriminator": {"propertyName": "kind"}})");
    expect_all(g, {R"({"kind": "cat", "lives": 9})", R"({"kind": "dog", "good": true})"},
               {R"({"kind": "cat", "good": true})", R"({"kind": "bird"})"});
    expect_all(schema(R"({"oneOf": [{"type": "string"}, {"type": "integer"}]})"), {R"("a")", "1"}, {"1.5"});
    std::string e = schema_error(R"({"properties": {"v": {"oneOf": [{"type": "number"}, {"type": "integer"}]}}})");
    EXPECT_NE(e.find("\"oneOf\" at /properties/v"), std::string::npos) << e;
    e = schema_error(R"({"oneOf": [{"type": "string"}, {"minLength": 2}]})");
    EXPECT_NE(e.find("oneOf"), std::string::npos) << "a schema without type admits every type: " << e;
}

TEST(Schema, AllOfMergesAndKeepsEachPartsAdditionalProperties) {
    auto g = schema(R"({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                                  {"properties": {"b": {"type": "string"}}, "required": ["b"]}]})");
    expect_all(g, {R"({"a": 1, "b": "x"})", R"({"a": 1, "b": "x", "c": null})"}, {R"({"a": 1})", R"({"b": "x"})"});
    // additionalProperties: false of one part forbids the other part's keys.
    EXPECT_NE(schema_error(R"({"allOf": [{"properties": {"a": {}}, "additionalProperties": false},
                                         {"properties": {"b": {}}, "required": ["b"]}]})")
                  .find("allows no value"),
              std::string::npos);
    expect_all(schema(R"({"allOf": [{"minimum": 1}, {"maximum": 3}, {"type": "integer"}]})"), {"1", "2", "3"},
               {"0", "4"});
    // Pydantic's {"allOf": [{"$ref": ...}], "description": ...}
    expect_all(
        schema(R"({"$defs": {"C": {"enum": ["x", "y"]}}, "allOf": [{"$ref": "#/$defs/C"}], "description": "d"})"),
        {R"("x")"}, {R"("z")"});
}

TEST(Schema, Arrays) {
    expect_all(schema(R"({"type": "array", "items": {"type": "integer"}})"), {"[]", "[1]", "[1, 2, 3]"},
               {"[1,]", R"(["a"])", "[1 2]"});
    expect_all(schema(R"({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3})"),
               {"[1, 2]", "[1,2,3]"}, {"[]", "[1]", "[1,2,3,4]"});
    expect_all(schema(R"({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
                         "items": false})"),
               {"[]", R"(["a"])", R"(["a", 1])"}, {R"([1])", R"(["a", 1, 2])"});
    expect_all(schema(R"({"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "null"},
                         "minItems": 2})"),
               {R"(["a", null])", R"(["a", null, null])"}, {R"(["a"])", R"(["a", 1])"});
    // Draft 4-7 tuples: items as an array, additionalItems for the rest.
    expect_all(schema(R"({"items": [{"const": 1}, {"const": 2}], "additionalItems": false})"), {"[1, 2]", "[1]"},
               {"[1, 2, 3]", "[2]"});
    expect_all(schema(R"({"type": "array"})"), {"[]", "[1, \"a\", [null]]"}, {"{}"});
    EXPECT_NE(schema_error(R"({"type": "array", "uniqueItems": true})").find("\"uniqueItems\": true at the root"),
              std::string::npos);
    expect_all(schema(R"({"type": "array", "uniqueItems": false})"), {"[1, 1]"}, {});
}

TEST(Schema, StringLengthCountsCharacters) {
    auto g = schema(R"({"type": "string", "minLength": 2, "maxLength": 3})");
    expect_all(
        g, {R"("ab")", R"("abc")", R"("éé")", R"("a\n")", R"("\u00e9\u00e9\u00e9")", "\"a\\ud83d\\ude00\"", "\"😀😀\""},
        {R"("a")", R"("abcd")", R"("é")", R"("\n")", R"("éééé")"});
}

// Long bounds are counted in the parse position rather than unrolled: the same semantics, a small grammar.
TEST(Schema, LongStringLengthsAreCounted) {
    auto g = schema(R"({"type": "string", "minLength": 40, "maxLength": 2083})");
    ASSERT_TRUE(g);
    EXPECT_LT(g->n_states(), 200);
    const std::string a39(39, 'a'), a40(40, 'a'), a2083(2083, 'a'), a2084(2084, 'a');
    EXPECT_FALSE(accepts(g, "\"" + a39 + "\""));
    EXPECT_TRUE(accepts(g, "\"" + a40 + "\""));
    EXPECT_TRUE(accepts(g, "\"" + a2083 + "\""));
    EXPECT_FALSE(accepts(g, "\"" + a2084 + "\""));
    EXPECT_TRUE(accepts(g, "\"" + std::string(38, 'a') + "\\n\\u00e9\""));
    std::string emoji;
    for (int i = 0; i < 40; ++i) emoji += "😀";
    EXPECT_TRUE(accepts(g, "\"" + emoji + "\"")) << "40 characters of 4 bytes each";
    // Pydantic's HttpUrl: a format with counted bounds.
    auto url = schema(R"({"format": "uri", "maxLength": 2083, "minLength": 1, "type": "string"})");
    expect_all(url, {R"("https://example.com/a")"}, {R"("")", R"("not a uri")"});
    EXPECT_FALSE(accepts(url, "\"https://" + std::string(2080, 'a') + "\""));
    EXPECT_TRUE(accepts(url, "\"https://" + std::string(2075, 'a') + "\""));
    // Inside an object and with a pattern.
    auto obj = schema(R"({"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]+$",
                         "minLength": 33, "maxLength": 35}}, "required": ["code"], "additionalProperties": false})");
    expect_all(obj, {"{\"code\": \"" + std::string(33, 'X') + "\"}", "{\"code\": \"" + std::string(35, 'X') + "\"}"},
               {});
    EXPECT_FALSE(accepts(obj, "{\"code\": \"" + std::string(36, 'X') + "\"}"));
    EXPECT_FALSE(accepts(obj, "{\"code\": \"" + std::string(32, 'X') + "\"}"));
    EXPECT_FALSE(accepts(obj, "{\"code\": \"" + std::string(33, 'x') + "\"}"));
}

// A counted string refuses a prefix from which no string within the bounds can be completed (fewest and most
// characters still to come), so constrained generation never walks into a dead end inside the string.
TEST(Schema, CountedStringsRefuseDeadEndPrefixes) {
    // Groups of five: 35 is the only length within 33..37.
    auto fives = schema(R"({"type": "string", "pattern": "^(x{5})+$", "minLength": 33, "maxLength": 37})");
    EXPECT_TRUE(accepts(fives, "\"" + std::string(35, 'x') + "\""));
    EXPECT_TRUE(accepts_prefix(fives, "\"" + std::string(31, 'x')));
    EXPECT_FALSE(accepts_prefix(fives, "\"" + std::string(36, 'x'))) << "36 needs 40 to complete";
    // After the final "b" nothing more may come, so "b" is refused before the 33rd character.
    auto tail = schema(R"({"type": "string", "pattern": "^a+b?$", "minLength": 33, "maxLength": 40})");
    EXPECT_FALSE(accepts_prefix(tail, "\"aab"));
    EXPECT_TRUE(accepts_prefix(tail, "\"" + std::string(32, 'a') + "b"));
    EXPECT_TRUE(accepts(tail, "\"" + std::string(32, 'a') + "b\""));
    // The pattern's lengths all lie outside the bounds: a compile error. (Only the fewest and most
    // characters are tracked, so a periodic gap such as (x{10})+ within 33..37 is still found late, as a dead
    // end at the 30th character, which the engine reports as an error.)
    EXPECT_NE(schema_error(R"({"type": "string", "pattern": "^x{1,5}$", "minLength": 33, "maxLength": 37})")
                  .find("matches nothing"),
              std::string::npos);
}

TEST(Schema, PatternIsUnanchoredUnlessAnchored) {
    expect_all(schema(R"({"type": "string", "pattern": "ab+c"})"), {R"("abc")", R"("xxabbbcyy")"},
               {R"("ac")", R"("")"});
    expect_all(schema(R"({"type": "string", "pattern": "^ab+c$"})"), {R"("abc")", R"("abbc")"},
               {R"("xabc")", R"("abcx")"});
    expect_all(schema(R"({"type": "string", "pattern": "^[A-Z]{2}-\\d{3,4}$"})"), {R"("AB-123")", R"("XY-1234")"},
               {R"("Ab-123")", R"("AB-12")", R"("AB-12345")"});
    expect_all(schema(R"({"type": "string", "pattern": "^(cat|dog)s?$"})"), {R"("cat")", R"("dogs")"}, {R"("cow")"});
    expect_all(schema(R"({"type": "string", "pattern": "^\\w+\\s\\w+$"})"), {R"("hello world")", R"("a_1\tb")"},
               {R"("hello  world")", R"("hé llo")"});
    expect_all(schema(R"({"type": "string", "pattern": "^[^\"\\\\]*$"})"), {R"("abc")"}, {R"("a\"b")", R"("a\\b")"});
    expect_all(schema(R"({"type": "string", "pattern": "^a.c$"})"), {R"("abc")", R"("a\"c")", R"("aéc")"},
               {R"("a\nc")", R"("ac")"});
    expect_all(schema(R"({"type": "string", "pattern": "^(?:\\+|00)[1-9][0-9]{6,13}$"})"),
               {R"("+4915112345678")", R"("001234567")"}, {R"("+0123456")"});
    expect_all(schema(R"({"type": "string", "pattern": "^x$|^y"})"), {R"("x")", R"("yes")"}, {R"("xx")", R"("ay")"});
    expect_all(schema(R"({"type": "string", "pattern": "^\\x41\\u00e9\\.$"})"), {R"("Aé.")"}, {R"("Aéx")"});
    expect_all(schema(R"({"type": "string", "pattern": "^[a-c]+$", "maxLength": 2})"), {R"("ab")"}, {R"("abc")"});
    for (const char* bad :
         {R"(a\1)", R"((?=a))", R"(\bword)", R"(\p{L})", R"(a**)", R"((a)", R"([a)", R"(a{3,2})", R"(a^b)"}) {
        nlohmann::ordered_json s = {{"type", "string"}, {"pattern", bad}};
        Result<GrammarPtr> g = compile_json_schema(s);
        EXPECT_FALSE(g.is_ok()) << bad;
        if (!g.is_ok()) { EXPECT_NE(g.status().message().find("pattern"), std::string::npos) << g.status().message(); }
    }
}

TEST(Schema, Formats) {
    expect_all(schema(R"({"type": "string", "format": "date"})"),
               {R"("2024-02-29")", R"("2000-02-29")", R"("1999-12-31")", R"("0001-01-01")"},
               {R"("2023-02-29")", R"("1900-02-29")", R"("2024-13-01")", R"("2024-04-31")", R"("0000-01-01")",
                R"("2024-1-01")"});
    expect_all(schema(R"({"type": "string", "format": "time"})"), {R"("23:59:59Z")", R"("08:30:00.123+02:00")"},
               {R"("24:00:00Z")", R"("12:00:00")", R"("12:60:00Z")"});
    expect_all(schema(R"({"type": "string", "format": "date-time"})"), {R"("2024-05-06T07:08:09Z")"},
               {R"("2024-05-06 07:08:09Z")", R"("2024-05-06T07:08:09")"});
    expect_all(schema(R"({"type": "string", "format": "uuid"})"), {R"("123e4567-e89b-12d3-a456-426614174000")"},
               {R"("123e4567e89b12d3a456426614174000")", R"("123e4567-e89b-12d3-a456-42661417400g")"});
    expect_all(schema(R"({"type": "string", "format": "email"})"), {R"("a.b+c@example.com")", R"("x@y.io")"},
               {R"("a..b@example.com")", R"("@example.com")", R"("a@b")", R"("a@-b.com")"});
    expect_all(schema(R"({"type": "string", "format": "uri"})"),
               {R"("https://example.com/a/b?q=1#f")", R"("ftp://h:21/")", R"("urn+x://a%20b")"},
               {R"("example.com")", R"("http://")", R"("1http://a")"});
    expect_all(schema(R"({"type": "string", "format": "ipv4"})"), {R"("192.168.0.1")", R"("255.255.255.255")"},
               {R"("256.1.1.1")", R"("01.1.1.1")", R"("1.1.1")"});
    EXPECT_NE(schema_error(R"({"type": "string", "format": "ipv6"})").find("format \"ipv6\" at the root"),
              std::string::npos);
}

// The formats' automata are built once per process and shared: a second schema naming them adds nothing, and
// all seven together stay small (what "constant and small" promises for this process-wide table).
TEST(Schema, FormatAutomataAreSharedAndSmall) {
    const char* all = R"({"type": "array", "prefixItems": [{"type": "string", "format": "date"}, {"type": "string",
        "format": "time"}, {"type": "string", "format": "date-time"}, {"type": "string", "format": "uuid"},
        {"type": "string", "format": "email"}, {"type": "string", "format": "uri"}, {"type": "string",
        "format": "ipv4"}], "items": false})";
    ASSERT_TRUE(schema(all));
    const int64_t bytes = schema::format_automata_bytes();
    EXPECT_GT(bytes, 0);
    EXPECT_LT(bytes, 512 << 10);
    ASSERT_TRUE(schema(all));
    EXPECT_EQ(schema::format_automata_bytes(), bytes);
    std::printf("format automata: %lld bytes\n", (long long)bytes);
}

TEST(Schema, IntegerBounds) {
    expect_all(schema(R"({"type": "integer", "minimum": 10, "maximum": 120})"), {"10", "99", "120"},
               {"9", "121", "-10", "100.5", "0"});
    expect_all(schema(R"({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3})"), {"1", "2"},
               {"0", "3", "-1"});
    expect_all(schema(R"({"type": "integer", "minimum": -5, "maximum": -2})"), {"-5", "-2", "-3"}, {"-1", "-6", "2"});
    expect_all(schema(R"({"type": "integer", "minimum": 0})"), {"0", "7", "123456789012345"}, {"-1", "-0"});
    expect_all(schema(R"({"type": "integer", "maximum": 0})"), {"0", "-7"}, {"1"});
    // Draft 4 boolean exclusives.
    expect_all(schema(R"({"type": "integer", "minimum": 1, "exclusiveMinimum": true})"), {"2"}, {"1"});
    expect_all(schema(R"({"type": "integer", "minimum": 1.5, "maximum": 3.5})"), {"2", "3"}, {"1", "4"});
}

TEST(Schema, NumberBounds) {
    auto g = schema(R"({"type": "number", "minimum": 0.5, "exclusiveMaximum": 2.25})");
    expect_all(g, {"0.5", "0.51", "1", "2", "2.249", "2.24999"}, {"0.49", "2.25", "2.3", "3", "-1", "0.5e1"});
    expect_all(schema(R"({"type": "number", "exclusiveMinimum": -1.5, "maximum": -0.25})"), {"-1.4", "-0.25", "-1"},
               {"-1.5", "-0.2", "0", "-2"});
    expect_all(schema(R"({"type": "number", "minimum": 0, "maximum": 1})"), {"0", "0.0", "1", "1.0", "0.999"},
               {"1.001", "-0.1"});
}

TEST(Schema, MultipleOf) {
    expect_all(schema(R"({"type": "integer", "multipleOf": 5})"), {"0", "5", "-15", "1000"}, {"1", "-3", "12"});
    expect_all(schema(R"({"type": "integer", "multipleOf": 3, "minimum": 10, "maximum": 20})"), {"12", "15", "18"},
               {"9", "21", "13"});
    expect_all(schema(R"({"type": "number", "multipleOf": 0.25})"), {"0.25", "1.5", "3", "-0.75"}, {"0.1", "1.3"});
    expect_all(schema(R"({"type": "number", "multipleOf": 0.01, "maximum": 1})"), {"0.99", "0.5"}, {"0.001", "1.01"});
    EXPECT_FALSE(schema_error(R"({"type": "integer", "multipleOf": 0})").empty());
}

TEST(Schema, RefDefsDefinitionsAndRecursion) {
    expect_all(schema(R"({"$defs": {"P": {"type": "integer"}}, "type": "object",
                         "properties": {"x": {"$ref": "#/$defs/P"}}, "required": ["x"], "additionalProperties": false})"),
               {R"({"x": 1})"}, {R"({"x": "1"})"});
    expect_all(schema(R"({"definitions": {"a~b/c": {"const": 1}}, "$ref": "#/definitions/a~0b~1c"})"), {"1"}, {"2"});
    auto tree = schema(R"({"$defs": {"Node": {"type": "object", "properties": {"v": {"type": "integer"},
        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}, "required": ["v", "children"],
        "additionalProperties": false}}, "$ref": "#/$defs/Node"})");
    expect_all(
        tree,
        {R"({"v": 1, "children": []})",
         R"({"v": 1, "children": [{"v": 2, "children": [{"v": 3, "children": []}]}, {"v": 4, "children": []}]})"},
        {R"({"v": 1, "children": [{"v": 2}]})", R"({"v": 1})"});
    // Recursion through a $ref whose target is an anyOf (an expression tree, a nullable linked list): the
    // target reached again inside its own alternative is the same schema, not a new anyOf to distribute.
    auto expr = schema(R"({"definitions": {"E": {"anyOf": [{"type": "number"}, {"type": "array",
        "items": {"$ref": "#/definitions/E"}, "minItems": 2, "maxItems": 2}]}}, "$ref": "#/definitions/E"})");
    expect_all(expr, {"1", "[1, 2]", "[[1, [2, 3]], 4]"}, {"[1]", "[1, [2]]", "[[1, 2, 3], 4]", "\"x\""});
    auto list = schema(R"({"$defs": {"L": {"anyOf": [{"type": "null"}, {"type": "object", "properties":
        {"v": {"type": "integer"}, "next": {"$ref": "#/$defs/L"}}, "required": ["v", "next"],
        "additionalProperties": false}]}}, "type": "object", "properties": {"head": {"$ref": "#/$defs/L"}},
        "required": ["head"], "additionalProperties": false})");
    expect_all(list, {R"({"head": null})", R"({"head": {"v": 1, "next": {"v": 2, "next": null}}})"},
               {R"({"head": {"v": 1}})", R"({"head": {"v": 1, "next": 2}})"});
    // allOf around an anyOf (Pydantic v1 wraps a described $ref field so): one member, not a rule calling itself.
    expect_all(schema(R"({"type": "object", "properties": {"x": {"allOf": [{"anyOf": [{"type": "null"},
        {"type": "integer"}]}], "description": "d"}}, "required": ["x"], "additionalProperties": false})"),
               {R"({"x": null})", R"({"x": 3})"}, {R"({"x": "3"})", R"({})"});
    EXPECT_NE(schema_error(R"({"$ref": "other.json#/x"})").find("only local references"), std::string::npos);
    EXPECT_NE(schema_error(R"({"$ref": "#/$defs/missing"})").find("does not resolve"), std::string::npos);
}

TEST(Schema, UnsupportedKeywordsNameTheirPath) {
    EXPECT_EQ(schema_error(R"({"type": "object", "properties": {"tags": {"type": "object",
                                "patternProperties": {"^x": {}}}}})"),
              "format: \"patternProperties\" at /properties/tags is not supported");
    for (const char* kw : {"propertyNames", "not", "if", "contains", "dependentRequired", "unevaluatedProperties",
                           "nullable", "$dynamicRef", "frobnicate"}) {
        nlohmann::ordered_json s = {{"type", "object"}, {"properties", {{"a", {{kw, true}}}}}};
        Result<GrammarPtr> g = compile_json_schema(s);
        ASSERT_FALSE(g.is_ok()) << kw;
        EXPECT_NE(g.status().message().find(std::string("\"") + kw + "\" at /properties/a is not supported"),
                  std::string::npos)
            << g.status().message();
        EXPECT_EQ(g.status().code(), StatusCode::invalid_argument);
    }
    // Annotations are fine.
    EXPECT_TRUE(schema(R"({"title": "T", "description": "d", "default": 1, "examples": [1], "$schema":
                         "http://json-schema.org/draft-07/schema#", "$id": "x", "$comment": "c", "readOnly": true,
                         "deprecated": false, "x-extension": 1, "type": "integer"})"));
}

TEST(Schema, WhitespaceIsBoundedAndTheValueEndsTheGrammar) {
    auto g = schema(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
                       "additionalProperties": false})");
    EXPECT_TRUE(accepts(g, "{\n  \"a\": 1\n}"));
    EXPECT_FALSE(accepts_prefix(g, "{  ")) << "two spaces";
    EXPECT_FALSE(accepts_prefix(g, "{\n\n")) << "two newlines";
    GrammarMatcher m(1);
    m.start(g, nullptr);
    ASSERT_TRUE(m.accept_bytes("{\"a\": 1}"));
    EXPECT_TRUE(m.is_finished()) << "nothing, not even whitespace, may follow the value";
    EXPECT_FALSE(m.allows_bytes(" "));
    EXPECT_FALSE(m.allows_bytes("\n"));
}

}  // namespace
}  // namespace berth
