// Chat-template tests (reference renderings: jinja_reference_test.cpp): the interpreter's pieces against
// strings rendered by Python Jinja2 3.1.6 (trim_blocks + lstrip_blocks, transformers' tojson), errors with
// lines, bounds, and robustness on truncated and random templates (no crash; run under ASan in CI).
#include "template/template.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace berth {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

const std::string kTemplates = std::string(BERTH_TESTDATA) + "/templates";

// 23 Nov 2026 12:00 UTC, the date the reference renderings used for strftime_now.
TemplateOptions test_options() {
    TemplateOptions o;
    o.now_unix_s = 1795435200;
    return o;
}

// The reference error texts name the same problem as ours.
TEST(ChatTemplate, ReferenceErrorsNameTheProblem) {
    ordered_json ctx = {{"messages", {{{"role", "system"}, {"content", "x"}}, {{"role", "user"}, {"content", "y"}}}},
                        {"add_generation_prompt", true},
                        {"bos_token", "<s>"},
                        {"eos_token", "</s>"}};
    auto gemma = render_chat_template(read_file(kTemplates + "/jinja/google-gemma-2-2b-it.jinja"), ctx);
    ASSERT_FALSE(gemma.is_ok());
    EXPECT_EQ(gemma.status().message(), "template error: line 1: System role not supported");
    auto fire = render_chat_template(read_file(kTemplates + "/jinja/fireworks-ai-llama-3-firefunction-v2.jinja"), ctx);
    ASSERT_FALSE(fire.is_ok());
    EXPECT_EQ(fire.status().message(), "template error: line 21: 'functions' is undefined");
}

struct JinjaCase {
    const char* tmpl;
    const char* expected;  // rendered by Python Jinja2 3.1.6 with the context below
};

// Context: s="  Hello World \n", n=3, f=2.5, l=[3,1,2], d={"b":1,"a":"x"}, msgs=[user hi, assistant yo,
// user bye], no=null, u="Grüße".
const JinjaCase kJinjaCases[] = {
    {R"J(a
  {% if true %}
    b
  {% endif %}
c)J",
     R"J(a
    b
c)J"},
    {R"J(a  {%- if true -%}  b  {%- endif -%}  c)J", R"J(abc)J"},
    {R"J(x
    {%+ if true %}y{% endif %}
)J",
     R"J(x
    y)J"},
    {R"J({{ 'a' }}
{{ 'b' }}
)J",
     R"J(a
b)J"},
    {R"J(  {# comment #}
z)J",
     R"J(z)J"},
    {R"J({% for m in msgs %}
  {{ m.role }}
{% endfor %})J",
     R"J(  user
  assistant
  user
)J"},
    {R"J({{- ' a ' -}}

{{ 'b' }})J",
     R"J( a b)J"},
    {R"J({% raw %}{{ not evaluated }}{% endraw %})J", R"J({{ not evaluated }})J"},
    {R"J({% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %})J",
     R"J(10TrueFalse33;21FalseFalse32;32FalseTrue31;)J"},
    {R"J({% for x in l if x > 1 %}{{ x }}{{ loop.length }},{% endfor %})J", R"J(32,22,)J"},
    {R"J({% for x in [] %}a{% else %}empty{% endfor %})J", R"J(empty)J"},
    {R"J({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %})J", R"J(b=1;a=x;)J"},
    {R"J({% for k in d %}{{ k }}{% endfor %})J", R"J(ba)J"},
    {R"J({% for x in l %}{% if x == 1 %}{% break %}{% endif %}{{ x }}{% endfor %})J", R"J(3)J"},
    {R"J({% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %})J", R"J(32)J"},
    {R"J({% set x = 0 %}{% for i in range(3) %}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }})J", R"J(1110)J"},
    {R"J({% set ns = namespace(c=0) %}{% for i in range(3) %}{% set ns.c = ns.c + i %}{% endfor %}{{ ns.c }})J",
     R"J(3)J"},
    {R"J({{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1 / 3 }})J",
     R"J(7 3 -4 1 2 1024 3.5 0.3333333333333333)J"},
    {R"J({{ 'a' ~ 1 ~ none }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 3 }})J", R"J(a1None ab [1, 2] ababab)J"},
    {R"J({{ 1 < 2 < 3 }} {{ 'b' in 'abc' }} {{ 2 not in l }} {{ not no }} {{ no or 'dflt' }} {{ 0 and 1 }})J",
     R"J(True True False True dflt 0)J"},
    {R"J({{ 'y' if n > 2 else 'n' }} {{ 'y' if n > 5 }}|)J", R"J(y |)J"},
    {R"J({{ l[0] }} {{ l[-1] }} {{ l[1:] }} {{ l[::-1] }} {{ u[1:3] }} {{ u[-1] }} {{ d['a'] }} {{ d.b }})J",
     R"J(3 2 [1, 2] [2, 1, 3] rü e x 1)J"},
    {R"J({{ none }} {{ true }} {{ 1.0 }} {{ 1e16 }} {{ 1.5e-7 }} {{ 0.1 + 0.2 }} {{ [1, 'a', none, true, 2.5] }} {{ {'k': [1, {'j': 'v'}]} }} {{ (1,) }} {{ "it's" }})J",
     R"J(None True 1.0 1e+16 1.5e-07 0.30000000000000004 [1, 'a', None, True, 2.5] {'k': [1, {'j': 'v'}]} (1,) it's)J"},
    {R"J({{ s | trim }}|{{ s | upper }}|{{ 'abc' | capitalize }}|{{ 'hello world-x' | title }}|{{ u | length }}|{{ u | upper }})J",
     R"J(Hello World|  HELLO WORLD 
|Abc|Hello World-X|5|GRÜSSE)J"},
    {R"J({{ l | join(', ') }} {{ l | first }} {{ l | last }} {{ l | sort }} {{ l | sort(reverse=true) }} {{ l | sum }} {{ l | max }} {{ l | min }} {{ l | reverse | list }})J",
     R"J(3, 1, 2 3 2 [1, 2, 3] [3, 2, 1] 6 3 1 [2, 1, 3])J"},
    {R"J({{ undefined_var | default('dflt') }} {{ '' | default('dflt', true) }} {{ '' | d('x') }}|)J",
     R"J(dflt dflt |)J"},
    {R"J({{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }} {{ msgs | rejectattr('role', 'eq', 'user') | list | length }})J",
     R"J(hi,bye 1)J"},
    {R"J({{ ['a', 'A', 'b'] | unique | list }} {{ msgs | map(attribute='role') | unique | list }})J",
     R"J(['a', 'b'] ['user', 'assistant'])J"},
    {R"J({{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(4, first=true) }}|{{ 'a\n\nb' | indent(2, blank=true) }})J",
     R"J(a
  b

  c|    a
    b|a
  
  b)J"},
    {R"J({{ '42' | int + 1 }} {{ 'x' | int }} {{ '2.5' | float }} {{ 3 | string }} {{ 2.567 | round(2) }} {{ -3 | abs }})J",
     R"J(43 0 2.5 3 2.57 3)J"},
    {R"J({{ d | tojson }} {{ msgs[0] | tojson(indent=2) }} {{ 'é"<>\n' | tojson }} {{ [1.0, none, true] | tojson }})J",
     R"J({"b": 1, "a": "x"} {
  "role": "user",
  "content": "hi"
} "é\"<>\n" [1.0, null, true])J"},
    {R"J({{ d | items | list }} {{ d | dictsort }} {{ 'a b  c' | replace(' ', '_') }} {{ '<a&b>' | e }})J",
     R"J([('b', 1), ('a', 'x')] [('a', 'x'), ('b', 1)] a_b__c &lt;a&amp;b&gt;)J"},
    {R"J({{ s.strip() }}|{{ 'a,b,c'.split(',') }} {{ 'a b  c'.split() }} {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'x{}y{}'.format(1, 'z') }})J",
     R"J(Hello World|['a', 'b', 'c'] ['a', 'b', 'c'] True True x1yz)J"},
    {R"J({{ d.get('a') }} {{ d.get('zz', 5) }} {{ d.keys() | list }} {{ d.values() | list }})J",
     R"J(x 5 ['b', 'a'] [1, 'x'])J"},
    {R"J({{ x is defined }} {{ n is defined }} {{ no is none }} {{ 'a' is string }} {{ 1 is number }} {{ d is mapping }} {{ l is iterable }} {{ 'a' is iterable }} {{ n is integer }} {{ f is float }} {{ true is boolean }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ n is not none }} {{ n is equalto 3 }})J",
     R"J(False True True True True True True True True True True True True True True)J"},
    {R"J({% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }})J",
     R"J(Hi Bob! Hi Al?)J"},
    {R"J({% set block %}  Inner {{ n }}  {% endset %}[{{ block }}]{% filter upper %}shout {{ n }}{% endfilter %})J",
     R"J([  Inner 3  ]SHOUT 3)J"},
    {R"J({% set a, b = [1, 2] %}{{ a }}{{ b }})J", R"J(12)J"},
    {R"J({{ strftime_now('%d %b %Y') }})J", R"J(23 Nov 2026)J"},
    {R"J({{ ('a' | safe) + '<b>' }})J", R"J(a&lt;b&gt;)J"},
    {R"J({% macro box(t) %}[{{ t }}:{{ caller() }}]{% endmacro %}{% call box("x") %}in {{ n }}{% endcall %})J",
     R"J([x:in 3])J"},
    {R"J({% macro each(items) %}{% for i in items %}{{ caller(i) }},{% endfor %}{% endmacro %}{% call(v) each([1,2]) %}<{{ v * 10 }}>{% endcall %})J",
     R"J(<10>,<20>,)J"},
    {R"J({{ "tojson" is filter }}{{ "nosuch" is filter }}{{ "defined" is test }})J", R"J(TrueFalseTrue)J"},
    {R"J({% set a = 5 %}{% with a = a + 1, b = 2 %}{{ a }}{{ b }}{% set a = 9 %}{{ a }}{% endwith %}{{ a }}{{ b }})J",
     R"J(6295)J"},
    // map/select/reject/unique/items/reverse return one-shot iterators, as Jinja2's generators.
    {R"J({% set g = l | select('odd') %}{{ g is sequence }}{{ g is iterable }}{{ g | join(',') }}|{{ g | join(',') }}|{{ g | list }})J",
     R"J(FalseTrue3,1||[])J"},
    {R"J({% if [] | select %}t{% else %}f{% endif %}{{ (l | map('string') | list) }}{{ (l | reverse | list) }}{{ l | reverse | join }})J",
     R"J(t['3', '1', '2'][2, 1, 3]213)J"},
    {R"J({% set g = l | map('string') %}{{ '3' in g }}{{ g | list }})J", R"J(True['1', '2'])J"},
    {R"J({% set g = msgs | selectattr('role', 'equalto', 'user') %}{{ g[0] is defined }}{{ g == g }}{{ (g | list | length) }})J",
     R"J(FalseTrue2)J"},
    {R"J({% set g = d | items %}{% for k, v in g %}{{ k }}{{ v }}{% endfor %}{% for k, v in g %}again{% endfor %})J",
     R"J(b1ax)J"},
};

ordered_json jinja_context() {
    return ordered_json::parse(R"({"s": "  Hello World \n", "n": 3, "f": 2.5, "l": [3, 1, 2], "d": {"b": 1, "a": "x"},
        "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                 {"role": "user", "content": "bye"}], "no": null, "u": "Grüße"})");
}

TEST(ChatTemplate, MatchesJinja2OnLanguagePieces) {
    ordered_json ctx = jinja_context();
    for (const auto& c : kJinjaCases) {
        auto out = render_chat_template(c.tmpl, ctx, test_options());
        ASSERT_TRUE(out.is_ok()) << c.tmpl << "\n" << out.status().message();
        EXPECT_EQ(*out, c.expected) << "template: " << c.tmpl;
    }
}

TEST(ChatTemplate, OrderedInputKeepsKeyOrderLikePython) {
    const char* t = "{{ d | tojson }}{% for k in d %}{{ k }}{% endfor %}";
    auto ordered = render_chat_template(t, ordered_json::parse(R"({"d": {"z": 1, "a": 2}})"));
    ASSERT_TRUE(ordered.is_ok());
    EXPECT_EQ(*ordered, R"({"z": 1, "a": 2}za)");
    // nlohmann::json sorts its keys: the order the caller's object has is the order rendered.
    auto sorted = render_chat_template(t, json::parse(R"({"d": {"z": 1, "a": 2}})"));
    ASSERT_TRUE(sorted.is_ok());
    EXPECT_EQ(*sorted, R"({"a": 2, "z": 1}az)");
}

TEST(ChatTemplate, HtmlSafeTojsonOption) {
    TemplateOptions o;
    o.jinja_htmlsafe_tojson = true;
    auto out = render_chat_template("{{ d | tojson }}", ordered_json::parse(R"({"d": {"z": "<'é'>", "a": 1}})"), o);
    ASSERT_TRUE(out.is_ok());
    // Jinja2's own tojson: sorted keys, ASCII only, HTML-sensitive characters escaped.
    EXPECT_EQ(*out, R"({"a": 1, "z": "\u003c\u0027\u00e9\u0027\u003e"})");
}

TEST(ChatTemplate, ParsedTemplateRendersManyContexts) {
    auto t = ChatTemplate::parse("{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}");
    ASSERT_TRUE(t.is_ok());
    for (int k = 0; k < 3; ++k) {
        ordered_json ctx = {{"messages", {{{"role", "user"}, {"content", std::to_string(k)}}}}};
        auto out = t->render(ctx);
        ASSERT_TRUE(out.is_ok());
        EXPECT_EQ(*out, "[user:" + std::to_string(k) + "]");
    }
}

std::string error_of(std::string_view tmpl, const TemplateOptions& o = {}) {
    auto out = render_chat_template(tmpl, ordered_json::parse(R"({"messages": [], "x": 1})"), o);
    return out.is_ok() ? "OK: " + *out : out.status().message();
}

TEST(ChatTemplate, ErrorsNameTheProblemAndLine) {
    EXPECT_EQ(error_of("a\n{{ raise_exception('No system role') }}"), "template error: line 2: No system role");
    EXPECT_EQ(error_of("\n\n{{ missing.attr }}"), "template error: line 3: 'missing' is undefined");
    EXPECT_EQ(error_of("{{ x.a.b }}"), "template error: line 1: 'int object' has no attribute 'a'");
    EXPECT_EQ(error_of("{{ 'a' + 1 }}"), "template error: line 1: can only concatenate str (not \"int\") to str");
    EXPECT_EQ(error_of("{{ 1 / 0 }}"), "template error: line 1: division by zero");
    EXPECT_EQ(error_of("{{ x | nosuchfilter }}"), "template error: line 1: No filter named 'nosuchfilter'.");
    EXPECT_EQ(error_of("{% if x %}\nopen"),
              "template syntax error: line 2: unexpected end of template, expected 'elif' or 'else' or 'endif'");
    EXPECT_EQ(error_of("{% frobnicate %}"), "template syntax error: line 1: unknown or unsupported tag 'frobnicate'");
    EXPECT_EQ(error_of("{{ (1 + }}"), "template syntax error: line 1: unexpected '}', expected ')'");
    EXPECT_EQ(error_of("{{ 'abc }}"), "template syntax error: line 1: unexpected end of string");
    EXPECT_EQ(error_of("{{ x"),
              "template syntax error: line 1: unexpected end of template, expected end of print statement");
    EXPECT_EQ(error_of("{# open"), "template syntax error: line 1: Missing end of comment tag");
    // A caller() kept beyond its {% call %} block fails instead of touching scopes that are gone.
    EXPECT_EQ(error_of("{% set ns = namespace() %}{% macro m() %}{% set ns.c = caller %}{% endmacro %}"
                       "{% call m() %}x{% endcall %}{{ ns.c() }}"),
              "template error: line 1: caller() used after its call block ended");
    // Undefined values render empty and are falsy; using them in arithmetic is the error.
    EXPECT_EQ(error_of("[{{ nothing }}]{% if not nothing %}falsy{% endif %}{{ nothing | length }}"), "OK: []falsy0");
    EXPECT_EQ(error_of("{{ 1 + nothing }}"), "template error: line 1: 'nothing' is undefined");
    // Generators (Jinja2's map, select, ...) have no JSON form, no len() and no reverse.
    EXPECT_EQ(error_of("{{ [1] | map('string') | tojson }}"),
              "template error: line 1: Object of type generator is not JSON serializable");
    EXPECT_EQ(error_of("{{ [1] | select | length }}"),
              "template error: line 1: object of type 'generator' has no len()");
    EXPECT_EQ(error_of("{{ [1] | unique | last }}"), "template error: line 1: 'generator' object is not reversible");
    EXPECT_EQ(error_of("{{ [1] | select + [1] }}"),
              "template error: line 1: unsupported operand type(s) for +: 'generator' and 'list'");
}

TEST(ChatTemplate, BoundsStopRunawayTemplates) {
    TemplateOptions o;
    o.max_steps = 20000;
    EXPECT_EQ(error_of("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", o),
              "template error: line 1: template exceeded the step limit (endless loop?)");
    EXPECT_EQ(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
              "template error: line 1: macro calls nested too deeply (recursion?)");
    o.max_output_bytes = 1 << 20;
    EXPECT_EQ(error_of("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                       "{% endfor %}",
                       o),
              "template error: line 1: template output exceeds the size limit");
    EXPECT_EQ(error_of("{{ 'ab' * 100000000000 }}", o), "template error: line 1: repetition exceeds the size limit");
    EXPECT_EQ(error_of("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
                       "{% endfor %}",
                       o),
              "template error: line 1: list exceeds the size limit");
    EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"), "template error: line 1: integer overflow");
    std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
    EXPECT_EQ(error_of(deep), "template syntax error: line 1: expression nested too deeply");
    std::string blocks;
    for (int k = 0; k < 5000; ++k) blocks += "{% if true %}";
    EXPECT_EQ(error_of(blocks), "template syntax error: line 1: blocks nested too deeply");
}

// Truncations of every shipped template and random token soup: each render returns text or an error.
TEST(ChatTemplate, TruncatedAndRandomTemplatesNeverCrash) {
    ordered_json ctx = {{"messages", {{{"role", "system"}, {"content", "s"}}, {{"role", "user"}, {"content", "u"}}}},
                        {"add_generation_prompt", true},
                        {"bos_token", "<s>"},
                        {"eos_token", "</s>"}};
    TemplateOptions o = test_options();
    o.max_steps = 20000;
    size_t ok = 0, failed = 0;
    ASSERT_TRUE(std::filesystem::is_directory(kTemplates + "/jinja")) << "missing " << kTemplates << "/jinja";
    for (const auto& entry : std::filesystem::directory_iterator(kTemplates + "/jinja")) {
        std::string source = read_file(entry.path().string());
        for (size_t cut = 0; cut < source.size(); cut += 41) {
            auto out = render_chat_template(std::string_view(source).substr(0, cut), ctx, o);
            (out.is_ok() ? ok : failed)++;
        }
    }
    static const char* pieces[] = {"{{",       "}}",    "{%",   "%}",         "{#",       "#}",      "-",    "+",
                                   " if ",     " for ", " in ", " endif ",    " endfor ", " set ",   "=",    "x",
                                   "messages", "[",     "]",    "(",          ")",        "{",       "}",    ".",
                                   "'s'",      "\"",    "|",    "trim",       " is ",     "defined", "not",  "1",
                                   "0",        ",",     ":",    "~",          "\n",       " ",       "loop", "macro",
                                   "endmacro", "else",  "ns",   "namespace(", "\\",       "*"};
    std::mt19937 rng(1234);
    for (int k = 0; k < 3000; ++k) {
        std::string t;
        int n = int(rng() % 40);
        for (int j = 0; j < n; ++j) t += pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
        auto out = render_chat_template(t, ctx, o);
        (out.is_ok() ? ok : failed)++;
    }
    for (int k = 0; k < 500; ++k) {  // raw bytes, including invalid UTF-8 and NULs
        std::string t(size_t(rng() % 64), '\0');
        for (auto& c : t) c = char(rng() % 256);
        auto out = render_chat_template(t, ctx, o);
        (out.is_ok() ? ok : failed)++;
    }
    EXPECT_GT(ok, 0u);
    EXPECT_GT(failed, 0u);
}

// A parsed template is immutable: concurrent renders (one per request) share it safely.
TEST(ChatTemplate, ConcurrentRendersShareOneParsedTemplate) {
    auto t =
        ChatTemplate::parse(read_file(kTemplates + "/jinja/meta-llama-Llama-3.1-8B-Instruct.jinja"), test_options());
    ASSERT_TRUE(t.is_ok());
    ordered_json ctx = {{"messages", {{{"role", "user"}, {"content", "hi"}}}},
                        {"add_generation_prompt", true},
                        {"bos_token", "<s>"},
                        {"eos_token", "</s>"}};
    auto expected = t->render(ctx);
    ASSERT_TRUE(expected.is_ok());
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k)
        threads.emplace_back([&] {
            for (int j = 0; j < 50; ++j) {
                auto out = t->render(ctx);
                if (!out.is_ok() || *out != *expected) ++mismatches;
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(mismatches.load(), 0);
}

TEST(ChatTemplate, PlainFallback) {
    json msgs = json::parse(R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Hello"}, {"role": "tool", "content": {"t": 1}}])");
    auto out = render_plain_chat(msgs, true);
    ASSERT_TRUE(out.is_ok());
    EXPECT_EQ(*out, "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello\n\nTool: {\"t\":1}\n\nAssistant:");
    auto no_gen = render_plain_chat(json::array({{{"role", "user"}, {"content", "x"}}}), false);
    ASSERT_TRUE(no_gen.is_ok());
    EXPECT_EQ(*no_gen, "User: x\n\n");
    EXPECT_FALSE(render_plain_chat(json::object(), true).is_ok());
}

}  // namespace
}  // namespace berth
