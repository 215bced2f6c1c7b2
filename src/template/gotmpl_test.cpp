// Go template engine tests: language pieces against the strings Go's text/template (go1.19, Ollama's
// missingkey=zero and json function) renders for the same data, the errors Go reports, bounds that stop
// runaway templates, and robustness on truncated and random templates (no crash; run under ASan in CI).
// Every case goes through PromptTemplate with a .Messages reference appended, so the data is what Ollama
// hands a chat template.
#include "template/template.h"

#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

namespace berth {
namespace {

using nlohmann::ordered_json;

struct GoCase {
    const char* tmpl;
    const char* expected;
};

// (Expectations adapted from Go's output in two places: %T names Ollama's type, not the generator's, and
// pointers inside containers, which Go prints as addresses, are not printed.)
// The request behind every case: collated into .System "Be brief." and five messages; think true.
const ordered_json& messages() {
    static const ordered_json m = ordered_json::parse(R"([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi <b> & \"q\"\n"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "function": {"index": 0,
            "name": "get_weather", "arguments": {"city": "Paris", "days": 3, "ratio": 0.25, "big": 1e21,
            "tiny": 1e-7, "million": 1000000, "nested": {"b": 1, "a": [1, 2.5, null, true, "x<y"]}, "none": null}}}]},
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
        {"role": "user", "content": "Thanks \u2713"}])");
    return m;
}

Result<std::string> render_go(const std::string& tmpl, TemplateOptions options = {}) {
    auto t = PromptTemplate::parse(tmpl + "{{ if false }}{{ .Messages }}{{ end }}", TemplateSyntax::go, options);
    if (!t.is_ok()) return t.status();
    ChatRenderInput in;
    in.messages = &messages();
    in.think = ThinkSetting{true, true, ""};
    in.now_unix_s = 1795435200;
    return t->render(in);
}

const GoCase kGoCases[] = {
    {R"G({{- range $i, $m := .Messages }}[{{ $i }}:{{ $m.Role }}]{{ end }})G",
     R"G([0:system][1:user][2:assistant][3:tool][4:user])G"},
    {R"G({{ range .Messages }}{{ if eq .Role "tool" }}{{ break }}{{ end }}{{ .Role }},{{ end }})G",
     R"G(system,user,assistant,)G"},
    {R"G({{ range .Messages }}{{ if eq .Role "system" }}{{ continue }}{{ end }}{{ .Role }},{{ else }}none{{ end }})G",
     R"G(user,assistant,tool,user,)G"},
    {R"G({{ range .Nothing }}x{{ else }}empty{{ end }})G", R"G(empty)G"},
    {R"G({{ $x := 1 }}{{ range .Messages }}{{ $x = 2 }}{{ end }}{{ $x }})G", R"G(2)G"},
    {R"G({{ if and .System (not .Missing) }}a{{ end }}{{ or .Missing 0 "" "z" }}{{ and 1 0 2 }})G", R"G(az0)G"},
    {R"G({{ index .Messages 2 }})G",
     R"G({assistant   [] [{call_1 {0 get_weather {"big":1e+21,"city":"Paris","days":3,"million":1000000,"nested":{"a":[1,2.5,null,true,"x\u003cy"],"b":1},"none":null,"ratio":0.25,"tiny":1e-7}}}]  })G"},
    {R"G({{ (index .Messages 2).ToolCalls }})G",
     R"G([{call_1 {0 get_weather {"big":1e+21,"city":"Paris","days":3,"million":1000000,"nested":{"a":[1,2.5,null,true,"x\u003cy"],"b":1},"none":null,"ratio":0.25,"tiny":1e-7}}}])G"},
    {R"G({{ range (index .Messages 2).ToolCalls }}{{ .Function.Arguments }}|{{ json .Function.Arguments }}{{ range $k, $v := .Function.Arguments }}|{{ $k }}={{ $v }}{{ end }}{{ end }})G",
     R"G({"big":1e+21,"city":"Paris","days":3,"million":1000000,"nested":{"a":[1,2.5,null,true,"x\u003cy"],"b":1},"none":null,"ratio":0.25,"tiny":1e-7}|{"big":1e+21,"city":"Paris","days":3,"million":1000000,"nested":{"a":[1,2.5,null,true,"x\u003cy"],"b":1},"none":null,"ratio":0.25,"tiny":1e-7}|big=1e+21|city=Paris|days=3|million=1e+06|nested=map[a:[1 2.5 <nil> true x<y] b:1]|none=<no value>|ratio=0.25|tiny=1e-07)G"},
    {R"G({{ $a := (index (index .Messages 2).ToolCalls 0).Function.Arguments }}{{ $a.city }} {{ $a.days }} {{ index $a "nested" }} {{ $a.none }} {{ $a.nope }} {{ printf "%v %d %5.2f %q %s" $a.days 7 $a.ratio $a.city $a.nested }})G",
     R"G(Paris 3 map[a:[1 2.5 <nil> true x<y] b:1] <no value> <no value> 3 7  0.25 "Paris" map[a:[%!s(float64=1) %!s(float64=2.5) <nil> %!s(bool=true) x<y] b:%!s(float64=1)])G"},
    {R"G({{ $a := (index (index .Messages 2).ToolCalls 0).Function.Arguments }}{{ eq $a.city "Paris" }} {{ lt $a.days 4.0 }} {{ eq 1 2 1 }} {{ ne "a" "b" }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 2 }})G",
     R"G(true true true true true true false)G"},
    {R"G({{ slice .System 3 }}|{{ slice .System 1 4 }}|{{ len (slice .Messages 1 3) }}|{{ index .System 0 }})G",
     R"G(brief.|e b|2|66)G"},
    {R"G({{ print 1 2 "a" "b" 3 }}|{{ println 1 "x" }}|{{ printf "%s-%d" "a" }}|{{ printf "%d" "a" }}|{{ printf "%%|%x|%X|%o|%c|%t|%e|%g" 255 255 8 65 true 1234.5678 0.000012345 }})G",
     R"G(1 2ab3|1 x
|a-%!d(MISSING)|%!d(string=a)|%|ff|FF|10|A|true|1.234568e+03|1.2345e-05)G"},
    {R"G({{ html "<a href='x'>&\"</a>" }}|{{ js "a'b\"c<d>=" }}|{{ urlquery "a b&c/d" }})G",
     R"G(&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;|a\'b\"c\u003Cd\u003E\u003D|a+b%26c%2Fd)G"},
    {R"G({{ json .Messages }})G", R"G([{"Role":"system","Content":"Be brief.","Thinking":"","Images":null,"ToolCalls":null,"ToolName":"","ToolCallID":""},{"Role":"user","Content":"Hi \u003cb\u003e \u0026 \"q\"\n","Thinking":"","Images":null,"ToolCalls":null,"ToolName":"","ToolCallID":""},{"Role":"assistant","Content":"","Thinking":"","Images":null,"ToolCalls":[{"ID":"call_1","Function":{"Index":0,"Name":"get_weather","Arguments":{"big":1e+21,"city":"Paris","days":3,"million":1000000,"nested":{"a":[1,2.5,null,true,"x\u003cy"],"b":1},"none":null,"ratio":0.25,"tiny":1e-7}}}],"ToolName":"","ToolCallID":""},{"Role":"tool","Content":"sunny","Thinking":"","Images":null,"ToolCalls":null,"ToolName":"get_weather","ToolCallID":""},{"Role":"user","Content":"Thanks ✓","Thinking":"","Images":null,"ToolCalls":null,"ToolName":"","ToolCallID":""}])G"},
    {R"G({{ (index .Messages 1).Content | printf "%q" }}|{{ "x" | printf "%s%s" "y" }})G",
     R"G("Hi <b> & \"q\"\n"|yx)G"},
    {R"G({{ 3 }} {{ 1.5 }} {{ 1e3 }} {{ 0x1F }} {{ 'a' }} {{ -2 }} {{ 1.0 }} {{ true }} {{ "s\tq" }} {{ `raw\n` }})G",
     R"G(3 1.5 1000 31 97 -2 1 true s	q raw\n)G"},
    {R"G({{ define "T" }}<{{ . }}>{{ end }}{{ template "T" .System }}{{ block "B" 5 }}[{{ . }}]{{ end }})G",
     R"G(<Be brief.>[5])G"},
    {R"G(a  {{- "b" -}}  c
{{- /* comment */ -}}
  d {{/* c2 */}} e)G",
     R"G(abcd  e)G"},
    {R"G({{ printf "%v|%v|%v|%v" 100000.0 1000000.0 0.0001 0.00001 }}|{{ 123456789.0 }}|{{ 1e20 }}|{{ -0.5 }})G",
     R"G(100000|1e+06|0.0001|1e-05|1.23456789e+08|1e+20|-0.5)G"},
    {R"G({{ printf "%6.2f|%-5d|%05d|%+d|%.3s|%10s|%-4s|" 3.14159 42 42 5 "abcdef" "hi" "x" }})G",
     R"G(  3.14|42   |00042|+5|abc|        hi|x   |)G"},
    {R"G({{ printf "%T %T %T %T" 1 1.5 "s" .Messages }})G", R"G(int float64 string []*template.templateMessage)G"},
    {R"G({{ printf "%d %d" 1 }}{{ printf "%d" 1 2 }})G", R"G(1 %!d(MISSING)1%!(EXTRA int=2))G"},
    {R"G({{ $m := index .Messages 1 }}{{ $m }})G",
     R"G({user Hi <b> & "q"
  [] []  })G"},
    {R"G({{ range $i, $e := .Messages }}{{ if gt $i 1 }}{{ break }}{{ end }}{{ $i }}{{ end }}{{ range $v := .Messages }}{{ $v.Role }}{{ end }})G",
     R"G(01systemuserassistanttooluser)G"},
    {R"G({{ not 0 }} {{ not "" }} {{ not .Messages }} {{ not .Missing }})G", R"G(true true false true)G"},
    {R"G({{ (index .Messages 3).ToolName }} {{ (index .Messages 4).Content }})G", R"G(get_weather Thanks ✓)G"},
    {R"G({{ with .System }}[{{ . }}]{{ else }}no{{ end }}{{ with .Missing }}[{{ . }}]{{ else }}<{{ .System }}>{{ end }})G",
     R"G([Be brief.]<Be brief.>)G"},
    {R"G({{ $x := .Missing }}{{ $x }}|{{ $x.Foo }})G", R"G(<no value>|<no value>)G"},
    {R"G({{ printf "%s|%d" (index (index .Messages 2).ToolCalls 0).Function.Arguments.nested (len .Messages) }})G",
     R"G(map[a:[%!s(float64=1) %!s(float64=2.5) <nil> %!s(bool=true) x<y] b:%!s(float64=1)]|5)G"},
    {R"G({{- if .Think }}think {{ .ThinkLevel }} {{ .IsThinkSet }}{{ end -}}

  ok)G",
     R"G(think medium trueok)G"},
    {R"G({{ "\u00e9\x41\101\U0001F600" }}|{{ printf "%q" "\x01\u00ad\u2028é" }}|{{ printf "%q" 65 }})G",
     R"G(éAA😀|"\x01\u00ad\u2028é"|'A')G"},
};

// Templates Go refuses (parse or execution), with the part of Go's message berth also gives.
const GoCase kGoErrors[] = {
    {R"G({{ .System }}|{{ .Missing }}|{{ .Missing.Deeper }}|{{ print .Missing }}|{{ json .Missing }}|{{ len .Messages }})G",
     "nil pointer evaluating interface {}.Deeper"},
    {R"G({{ eq 1 1.0 }})G", "incompatible types for comparison"},
    {R"G({{ lt true false }})G", "invalid type for comparison"},
    {R"G({{ .Messages.Foo }})G", "can't evaluate field Foo in type"},
    {R"G({{ .System.Foo }})G", "can't evaluate field Foo in type"},
    {R"G({{ nofunc }})G", "function \"nofunc\" not defined"},
    {R"G({{ $undefined }})G", "undefined variable \"$undefined\""},
    {R"G({{ if }})G", "missing value for if"},
    {R"G({{ range .Messages }})G", "unexpected EOF"},
    {R"G({{ end }})G", "unexpected {{end}}"},
    {R"G({{ index .Messages 10 }})G", "index out of range: 10"},
    {R"G({{ len 3 }})G", "len of type int"},
    {R"G({{ break }})G", "{{break}} outside {{range}}"},
    {R"G({{ 1 | 2 }})G", "non executable command in pipeline stage 2"},
    {R"G({{ (index (index .Messages 2).ToolCalls 0).Function.Arguments.none.x }})G",
     "nil pointer evaluating interface {}.x"},
};

TEST(GoTemplate, MatchesGoOnLanguagePieces) {
    for (const auto& c : kGoCases) {
        auto out = render_go(c.tmpl);
        ASSERT_TRUE(out.is_ok()) << c.tmpl << "\n" << out.status().message();
        EXPECT_EQ(*out, c.expected) << "template: " << c.tmpl;
    }
}

TEST(GoTemplate, FailsWhereGoFails) {
    for (const auto& c : kGoErrors) {
        auto out = render_go(c.tmpl);
        ASSERT_FALSE(out.is_ok()) << c.tmpl << " rendered: " << *out;
        EXPECT_NE(out.status().message().find(c.expected), std::string::npos)
            << c.tmpl << "\n"
            << out.status().message() << "\nshould contain: " << c.expected;
        EXPECT_EQ(out.status().message().rfind("template", 0), 0u) << out.status().message();
    }
}

// Go 1.22+ / 1.23+ features Ollama's Go has (the go1.19 reference cannot render them): range over an int,
// {{else with}}.
TEST(GoTemplate, NewerGoFeatures) {
    auto out = render_go("{{ range 3 }}{{ . }}{{ end }}|{{ range $i := 2 }}{{ $i }}{{ end }}");
    ASSERT_TRUE(out.is_ok()) << out.status().message();
    EXPECT_EQ(*out, "012|01");
    out = render_go("{{ with .Missing }}[{{ . }}]{{ else with .System }}<{{ . }}>{{ end }}");
    ASSERT_TRUE(out.is_ok()) << out.status().message();
    EXPECT_EQ(*out, "<Be brief.>");
}

TEST(GoTemplate, LineNumbersInErrors) {
    auto out = render_go("a\nb\n{{ nofunc }}");
    ASSERT_FALSE(out.is_ok());
    EXPECT_EQ(out.status().message(),
              "template is not a valid Go template (template: :3: function \"nofunc\" not defined)");
    out = render_go("a\n{{ index .Messages 10 }}");
    ASSERT_FALSE(out.is_ok());
    EXPECT_EQ(out.status().message(), "template error: template: :2: error calling index: index out of range: 10");
}

TEST(GoTemplate, BoundsStopRunawayTemplates) {
    TemplateOptions o;
    o.max_steps = 10'000;
    auto loop = render_go(
        R"({{ define "r" }}{{ range $.Messages }}{{ template "r" $ }}{{ end }}{{ end }}{{ template "r" . }})", o);
    ASSERT_FALSE(loop.is_ok());
    EXPECT_NE(loop.status().message().find("exceeded maximum template depth"), std::string::npos)
        << loop.status().message();
    auto steps = render_go("{{ range 100000000 }}{{ end }}", o);
    ASSERT_FALSE(steps.is_ok());
    EXPECT_NE(steps.status().message().find("step limit"), std::string::npos) << steps.status().message();
    o.max_output_bytes = 1000;
    auto big = render_go("{{ range 500 }}{{ $.System }}{{ end }}", o);
    ASSERT_FALSE(big.is_ok());
    EXPECT_NE(big.status().message().find("size limit"), std::string::npos) << big.status().message();
    auto wide = render_go(R"({{ printf "%999999999d" 1 }})", o);
    ASSERT_FALSE(wide.is_ok());
    std::string deep(5000, '(');
    EXPECT_FALSE(render_go("{{ " + deep + "1" + std::string(5000, ')') + " }}").is_ok());
    std::string nested;
    for (int k = 0; k < 2000; ++k) nested += "{{ if 1 }}";
    EXPECT_FALSE(render_go(nested).is_ok());
    // Template calls inside deep control structures: bounded in total nesting, not just in calls.
    std::string deep_ifs, ends;
    for (int k = 0; k < 200; ++k) deep_ifs += "{{ if 1 }}", ends += "{{ end }}";
    auto nest = render_go(R"({{ define "a" }})" + deep_ifs + R"({{ template "a" . }})" + ends +
                          R"({{ end }}{{ template "a" . }})");
    ASSERT_FALSE(nest.is_ok());
    EXPECT_NE(nest.status().message().find("nesting exceeds"), std::string::npos) << nest.status().message();
}

// Truncations of the reference templates and random token soup parse or fail cleanly, and render or fail
// cleanly (ASan in CI checks memory).
TEST(GoTemplate, TruncatedAndRandomTemplatesNeverCrash) {
    const char* pieces[] = {"{{",    "}}",    "{{-",    "-}}",      " ",         ".",     "$",        "$x",
                            ":=",    "=",     "|",      "(",        ")",         "range", "if",       "else",
                            "end",   "with",  "define", "template", "block",     "break", "continue", "\"s\"",
                            "`r`",   "'c'",   "1",      "1.5",      ".Messages", ".Role", ".Content", "len",
                            "index", "slice", "printf", "json",     "eq",        "and",   "not",      "nil",
                            "true",  "/*",    "*/",     ",",        "\n",        "text"};
    std::mt19937 rng(7);
    TemplateOptions o;
    o.max_steps = 20'000;
    o.max_output_bytes = 1 << 16;
    for (int k = 0; k < 3000; ++k) {
        std::string t;
        int n = 1 + int(rng() % 24);
        for (int j = 0; j < n; ++j) t += pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
        (void)render_go(t, o);
    }
    const std::string base =
        R"({{- $last := -1 }}{{- range $i, $m := .Messages }}{{ if eq .Role "user" }}{{ $last = $i }}{{ end }}{{ end }})"
        R"({{- range $i, $_ := .Messages }}{{- if and (eq .Role "assistant") (gt $i $last) }}<think>{{ .Thinking }})"
        R"(</think>{{ end }}{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ json .Function.Arguments }}})"
        R"({{ end }}{{ printf "%s\n" .Content }}{{ end }})";
    for (size_t cut = 0; cut <= base.size(); ++cut) (void)render_go(base.substr(0, cut), o);
}

}  // namespace
}  // namespace berth
