#!/usr/bin/env python3
"""Differential check of berth's chat-template renderer against Python Jinja2 (a development tool, not run in CI).

Renders every template in a directory with rich conversations (tools, tool calls, unicode, multimodal
content) and random small templates, with berth (`berth debug render-template`) and with Jinja2 set up like
transformers' chat-template environment (trim_blocks, lstrip_blocks, loopcontrols, raise_exception,
strftime_now, tojson = json.dumps(ensure_ascii=False)), and prints every difference.

  python3 src/template/jinja_diff.py --berth build/bin/berth --templates ../shared/testdata/templates/jinja
  python3 src/template/jinja_diff.py --berth build/bin/berth --fuzz 500 --seed 3
Needs: pip package jinja2 (3.1). Known, accepted difference: berth prints a generator (map, select, ...) as
"<generator object>", Jinja2 with its address.
"""
import argparse, datetime, glob, json, os, random, subprocess, sys, tempfile

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = int(datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc).timestamp())


def py_render(src, ctx):
    def raise_exception(m):
        raise jinja2.exceptions.TemplateError(m)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).strftime(fmt)
    try:
        return True, env.from_string(src).render(**ctx)
    except Exception as e:  # any template failure: berth must fail too
        return False, type(e).__name__ + ": " + str(e)


def berth_render(berth, path, ctx):
    r = subprocess.run([berth, "debug", "render-template", path, "--now", str(NOW)],
                       input=json.dumps(ctx).encode(), capture_output=True)
    return r.returncode == 0, (r.stdout.decode() if r.returncode == 0 else r.stderr.decode())


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city.",
          "parameters": {"type": "object", "properties": {
              "city": {"type": "string", "description": "City name"},
              "unit": {"type": "string", "enum": ["c", "f"], "description": "Unit"},
              "days": {"type": "integer", "description": "Days", "default": 1},
              "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["city"]}}},
         {"type": "function", "function": {"name": "search", "description": "Search the web <fast> & 'good'.",
          "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]
CALL = [{"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
CALL_STR = [{"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]
CONVERSATIONS = {
    "user": ({}, [{"role": "user", "content": "Hello!"}]),
    "tools-user": ({"tools": TOOLS}, [{"role": "user", "content": "Weather in Paris?"}]),
    "tools-call": ({"tools": TOOLS}, [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": CALL},
        {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temp\": 12}"},
        {"role": "assistant", "content": "It is 12 C."}]),
    "call-strargs": ({}, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "", "tool_calls": CALL_STR},
                          {"role": "tool", "tool_call_id": "call12345", "content": "sunny"}]),
    "unicode": ({}, [{"role": "user", "content": "Grüße 👋 \"q\" 's' \\ <tag> &amp;\n\n  indented\t tab"},
                     {"role": "assistant", "content": "<think>hmm</think>Done ✓"}, {"role": "user", "content": "  x  \n"}]),
    "empty": ({}, []),
    "think": ({"enable_thinking": False}, [{"role": "user", "content": "q"},
              {"role": "assistant", "content": "<think>\nreasoning\n</think>\n\nanswer"}, {"role": "user", "content": "again"}]),
    "multimodal": ({}, [{"role": "system", "content": [{"type": "text", "text": "sys"}]},
                        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " describe "}]}]),
    "docs": ({"documents": [{"title": "A", "text": "aaa"}]}, [{"role": "user", "content": "summarize"}]),
}


def compare(label, src, path, ctx, berth):
    a, b = py_render(src, ctx), berth_render(berth, path, ctx)
    if a[0] == b[0] and (not a[0] or a[1] == b[1]):
        return True
    print("DIFF", label)
    print("  jinja2:", repr(a[1][:600]))
    print("  berth :", repr(b[1][:600]))
    return False


def run_templates(args):
    ok = bad = 0
    for path in sorted(glob.glob(os.path.join(args.templates, "*.jinja"))):
        src = open(path, encoding="utf-8").read()
        for name, (extra, msgs) in CONVERSATIONS.items():
            for agp in (True, False):
                ctx = dict(extra, messages=msgs, add_generation_prompt=agp, bos_token="<s>", eos_token="</s>")
                good = compare(f"{os.path.basename(path)} {name} gen={agp}", src, path, ctx, args.berth)
                ok, bad = ok + good, bad + (not good)
    print(f"templates: {ok} same, {bad} different")
FUZZ_CTX = {"s":"Hello World","e":"","u":"Grüße ✓","n":3,"z":0,"neg":-7,"f":2.5,"big":1e20,"small":0.0001,"t":True,"fa":False,"no":None,
     "l":[1,2,3],"ls":["b","a","C"],"d":{"a":1,"b":"x","c":[1,2]},"msgs":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo","x":1}],"nested":{"k":{"j":[{"v":1}]}}}
atoms=['s','e','u','n','z','neg','f','big','small','t','fa','no','l','ls','d','msgs','nested','undef','1','0','-1','2.0','1.5e3',"'a'",'"b c"',"'%s-%d'",'[]','[1, "x"]','{}',"{'k': 1}",'true','none','(1, 2)','d.a','d["b"]','l[0]','l[-1]','l[5]','msgs[0].role','s[1:4]','s[::-1]','l[:-1]','nested.k.j[0].v','undef.x','d.zz','loop']
filt=['trim','upper','lower','length','first','last','list','string','int','float','tojson','tojson(indent=2)','join(", ")','join','default("dd")','default("dd", true)','capitalize','title','items','safe','indent(2)','indent(2, true)','replace("l","L")','unique','reverse','sort','abs','round','sum','max','min','count','selectattr("role","equalto","user")|list','map(attribute="role")|list','map("upper")|list','reject("none")|list','select|list','dictsort','wordcount','escape','e','d']
tests=['defined','undefined','none','string','number','integer','float','mapping','iterable','sequence','boolean','true','false','odd','even','divisibleby(3)','equalto(3)','eq "x"','in l','callable','lower','upper','sameas none']
meth=['strip()','upper()','lower()','title()','split()','split(" ")','split("l", 1)','startswith("He")','endswith(("d","x"))','replace("o","0")','find("o")','count("l")','lstrip("H")','rstrip("d")','capitalize()','isdigit()','format(1)','splitlines()']
dmeth=['items()','keys()','values()','get("a")','get("q", 5)','get("q")']
binops=['+','-','*','/','//','%','**','~','==','!=','<','>','<=','>=','in','not in','and','or']
def expr(dep=0):
    r=rng.random()
    if dep>2 or r<0.3: return rng.choice(atoms)
    if r<0.45: return expr(dep+1)+' | '+rng.choice(filt)
    if r<0.55: return expr(dep+1)+' is '+rng.choice(['','not '])+rng.choice(tests)
    if r<0.62: return rng.choice(['s','u','e',"'a,b,c'",'d.b'])+'.'+rng.choice(meth)
    if r<0.67: return 'd.'+rng.choice(dmeth)
    if r<0.75: return 'not '+expr(dep+1)
    if r<0.8: return '('+expr(dep+1)+' if '+expr(dep+1)+' else '+expr(dep+1)+')'
    if r<0.83: return '-'+expr(dep+1)
    if r<0.86: return '['+expr(dep+1)+', '+expr(dep+1)+']'
    return '('+expr(dep+1)+' '+rng.choice(binops)+' '+expr(dep+1)+')'
def stmt(dep=0):
    r=rng.random()
    ws=lambda: rng.choice(['','-','','+']) 
    if dep>2 or r<0.35: return '{{'+rng.choice(['',' ','- '])+expr()+rng.choice([' ',' -',''])+'}}'
    if r<0.45: return rng.choice(['x',' ','\n','  \n  ','ab\n'])
    if r<0.6: return '{%'+ws()+' if '+expr()+' '+ws()+'%}'+body(dep+1)+('{% else %}'+body(dep+1) if rng.random()<0.4 else '')+'{%'+ws()+' endif '+ws()+'%}'
    if r<0.75: return '{%'+ws()+' for '+rng.choice(['x','k, v'])+' in '+rng.choice(['l','ls','d','d.items()','msgs','s','undef','range(3)','d|items'])+(' if x' if rng.random()<0.2 else '')+' '+ws()+'%}'+rng.choice(['{{ loop.index }}','{{ loop.first }}','{{ loop.last }}{{ loop.length }}','{{ x }}','{{ k }}={{ v }}','{{ loop.revindex0 }}','{% if loop.index > 1 %}{% break %}{% endif %}'])+body(dep+1)+('{% else %}E' if rng.random()<0.2 else '')+'{%'+ws()+' endfor '+ws()+'%}'
    if r<0.85: return '{%'+ws()+' set '+rng.choice(['v','s','ns.a'])+' = '+expr()+' '+ws()+'%}'
    if r<0.9: return '{#'+ws()+' c '+ws()+'#}'
    return '\n    {% if t %}\n  y\n    {% endif %}\n'
def body(dep):
    return ''.join(stmt(dep) for _ in range(rng.randint(1, 3)))


def run_fuzz(args):
    global rng
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "t.jinja")
    ok = bad = 0
    for _ in range(args.fuzz):
        src = "{% set ns = namespace(a=1) %}" + body(0)
        open(path, "w", encoding="utf-8").write(src)
        good = compare(repr(src), src, path, FUZZ_CTX, args.berth)
        ok, bad = ok + good, bad + (not good)
    print(f"fuzz: {ok} same, {bad} different")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--berth", default="build/bin/berth")
    p.add_argument("--templates", default="../shared/testdata/templates/jinja")
    p.add_argument("--fuzz", type=int, default=0, help="number of random templates (0: render the template directory)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    run_fuzz(a) if a.fuzz else run_templates(a)
