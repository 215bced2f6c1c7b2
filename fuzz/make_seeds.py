#!/usr/bin/env python3
"""Writes the seed corpora of berth's fuzz targets into fuzz/corpus/<target>/ (committed; rerun to regenerate).

usage: fuzz/make_seeds.py [path/to/berth]

Text targets get small hand-written inputs. The GGUF targets get tiny models: one per architecture from
`berth debug make-model` (when the berth binary is given) and, written here, a byte-level BPE llama and a
WordPiece bert, so that every tokenizer kind and the embedding model are reachable. Every file is a few KiB.
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- GGUF ---------------------------------------------------------------------------------------------
U32, I32, F32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(t, v):
    if t == U32:
        return struct.pack("<I", v)
    if t == I32:
        return struct.pack("<i", v)
    if t == F32:
        return struct.pack("<f", v)
    if t == BOOL:
        return struct.pack("<B", 1 if v else 0)
    if t == STRING:
        return gguf_str(v)
    et, items = v
    return struct.pack("<IQ", et, len(items)) + b"".join(gguf_value(et, x) for x in items)


def gguf_file(kvs, tensors, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, [ne0, ne1, ...], floats)] stored as F32."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gguf_str(k) + struct.pack("<I", t) + gguf_value(t, v)
    offset, blobs = 0, []
    for name, ne, values in tensors:
        data = struct.pack("<%df" % len(values), *values)
        out += gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<q", n) for n in ne)
        out += struct.pack("<IQ", 0, offset)
        blobs.append(data)
        offset += (len(data) + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    for data in blobs:
        out += data + b"\0" * (-len(data) % alignment)
    return out


def values(n, seed):
    # Deterministic small floats in [-0.5, 0.5).
    h = hashlib.sha256(str(seed).encode()).digest()
    return [((h[i % 32] + 37 * i) % 256) / 256.0 - 0.5 for i in range(n)]


def byte_level_chars():
    # GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onwards.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def bpe_llama():
    E, F, V = 4, 8, 300
    chars = byte_level_chars()
    tokens = chars[:]
    merges = []
    for a, b in [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "w")]:
        merges.append(a + " " + b)
        tokens.append(a + b)
    tokens += ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    while len(tokens) < V:
        tokens.append("<|reserved_%d|>" % len(tokens))
    types = [1] * 264 + [3] * (V - 264)
    kvs = [("general.architecture", STRING, "llama"), ("general.name", STRING, "seed-bpe"),
           ("llama.context_length", U32, 64), ("llama.embedding_length", U32, E), ("llama.block_count", U32, 1),
           ("llama.feed_forward_length", U32, F), ("llama.attention.head_count", U32, 2),
           ("llama.attention.head_count_kv", U32, 1), ("llama.rope.freq_base", F32, 500000.0),
           ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
           ("tokenizer.ggml.model", STRING, "gpt2"), ("tokenizer.ggml.pre", STRING, "llama-bpe"),
           ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)), ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
           ("tokenizer.ggml.merges", ARRAY, (STRING, merges)), ("tokenizer.ggml.bos_token_id", U32, 264),
           ("tokenizer.ggml.eos_token_id", U32, 266),
           ("tokenizer.chat_template", STRING,
            "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|eot_id|>{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")]
    kv_dim = E // 2
    t = [("token_embd.weight", [E, V], values(E * V, 1)), ("output_norm.weight", [E], [1.0] * E),
         ("blk.0.attn_norm.weight", [E], [1.0] * E), ("blk.0.attn_q.weight", [E, E], values(E * E, 2)),
         ("blk.0.attn_k.weight", [E, kv_dim], values(E * kv_dim, 3)),
         ("blk.0.attn_v.weight", [E, kv_dim], values(E * kv_dim, 4)),
         ("blk.0.attn_output.weight", [E, E], values(E * E, 5)), ("blk.0.ffn_norm.weight", [E], [1.0] * E),
         ("blk.0.ffn_gate.weight", [E, F], values(E * F, 6)), ("blk.0.ffn_up.weight", [E, F], values(E * F, 7)),
         ("blk.0.ffn_down.weight", [F, E], values(E * F, 8))]
    return gguf_file(kvs, t)


def bert():
    E, F, V, C = 4, 8, 40, 16
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz") + \
        ["##" + c for c in "esdnrt"] + ["hello", "world", ".", "!"]
    types = [3, 2, 3, 3, 3] + [1] * (V - 5)
    kvs = [("general.architecture", STRING, "bert"), ("bert.context_length", U32, C),
           ("bert.embedding_length", U32, E), ("bert.feed_forward_length", U32, F), ("bert.block_count", U32, 1),
           ("bert.attention.head_count", U32, 2), ("bert.attention.layer_norm_epsilon", F32, 1e-12),
           ("bert.pooling_type", U32, 1), ("tokenizer.ggml.model", STRING, "bert"),
           ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)), ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
           ("tokenizer.ggml.cls_token_id", U32, 2), ("tokenizer.ggml.seperator_token_id", U32, 3),
           ("tokenizer.ggml.unknown_token_id", U32, 1), ("tokenizer.ggml.padding_token_id", U32, 0)]
    t = [("token_embd.weight", [E, V], values(E * V, 11)), ("position_embd.weight", [E, C], values(E * C, 12)),
         ("token_types.weight", [E, 2], values(E * 2, 13)), ("token_embd_norm.weight", [E], [1.0] * E),
         ("token_embd_norm.bias", [E], [0.0] * E)]
    p = "blk.0."
    for name, ne in [("attn_q", [E, E]), ("attn_k", [E, E]), ("attn_v", [E, E]), ("attn_output", [E, E]),
                     ("ffn_up", [E, F]), ("ffn_down", [F, E])]:
        t.append((p + name + ".weight", ne, values(ne[0] * ne[1], name)))
        t.append((p + name + ".bias", [ne[1]], [0.0] * ne[1]))
    for name in ["attn_output_norm", "layer_output_norm"]:
        t.append((p + name + ".weight", [E], [1.0] * E))
        t.append((p + name + ".bias", [E], [0.0] * E))
    return gguf_file(kvs, t)


def gguf_seeds(berth):
    models = {"bpe-llama.gguf": bpe_llama(), "bert.gguf": bert()}
    if berth:
        tmp = tempfile.mkdtemp()
        try:
            for arch in ["llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3", "llama-moe"]:
                path = os.path.join(tmp, arch + ".gguf")
                subprocess.run([berth, "debug", "make-model", "--arch", arch, "--n-embd", "4", "--n-ff", "8",
                                "--n-layer", "1", "--n-head", "2", "--n-head-kv", "1", "--n-vocab", "300",
                                "--n-ctx", "64", "--n-expert", "2", "--n-expert-used", "1", "--type", "f32",
                                "--threads", "1", path], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                models[arch + ".gguf"] = open(path, "rb").read()
        finally:
            shutil.rmtree(tmp)
    for name, data in models.items():
        write("gguf", name, data)
        write("gguf_load", name, data)


# ---- request bodies -------------------------------------------------------------------------------------
BODIES = [
    {"model": "stories260K", "prompt": "Once upon a time", "stream": False, "options": {"num_predict": 4, "seed": 1}},
    {"model": "stories260K", "prompt": "Hi", "options": {"num_predict": 3, "temperature": 0, "top_k": 20.0,
                                                          "num_ctx": 128.0, "seed": 42.0, "stop": ["\n"]}},
    {"model": "stories260K", "prompt": "", "keep_alive": 0},
    {"model": "stories260K", "prompt": "x", "raw": True, "keep_alive": "5m", "options": {"num_predict": -1}},
    {"model": "stories260K", "prompt": "a", "system": "s", "template": "{{ messages[0].content }}",
     "context": [1, 2, 3], "options": {"num_predict": 2}},
    {"model": "stories260K", "messages": [{"role": "user", "content": "hello"}], "stream": False,
     "options": {"num_predict": 3, "repeat_penalty": 1.1, "top_p": 0.5, "min_p": 0.1}},
    {"model": "stories260K", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u",
                                                                               "images": []}],
     "keep_alive": -1, "options": {"num_predict": 2, "repeat_last_n": -1, "presence_penalty": 0.5}},
    {"model": "bert", "input": ["hello world", "a"], "truncate": True, "dimensions": 2},
    {"model": "bert", "prompt": "hello"},
    {"model": "stories260K", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
     "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True}, "seed": 7},
    {"model": "stories260K", "prompt": "Once", "max_tokens": 2, "temperature": 0.5, "stop": "x"},
    {"model": "bert", "input": "hello", "encoding_format": "base64"},
    {"model": "mycopy", "from": "stories260K", "system": "be brief", "parameters": {"num_ctx": 64, "stop": ["a"]},
     "messages": [{"role": "user", "content": "hi"}]},
    {"source": "stories260K", "destination": "copy2"},
    {"model": "copy2"},
    {"model": "stories260K", "verbose": True},
    {"model": "stories260K", "prompt": "hi", "format": "", "think": False, "tools": [], "options": None},
]
# Chat bodies with what agents send: tool definitions, tool calls (arguments as objects and as JSON strings), tool
# results, formats, thinking switches, tool_choice.
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}
CHATS = [
    {"model": "m", "messages": [{"role": "User", "content": "hi", "images": ["aGk="]}], "tools": [TOOL],
     "format": "json", "think": True, "tool_choice": "auto"},
    {"model": "m", "messages": [
        {"role": "system", "content": "s"}, {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "thinking": "hmm",
         "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "20C", "tool_name": "get_weather"}], "tools": [TOOL],
     "format": {"type": "object", "properties": {"a": {"type": "integer"}}}, "think": "high"},
    {"model": "m", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:x"}}]},
        {"role": "assistant", "content": None, "reasoning_content": "r",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "5C"}]}],
     "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
     "parallel_tool_calls": False, "response_format": {"type": "json_schema", "json_schema": {"name": "x",
                                                       "schema": {"type": "object"}}},
     "reasoning_effort": "low", "reasoning": {"effort": "medium"}},
    {"model": "m", "messages": [], "tool_choice": "required", "response_format": {"type": "json_object"}},
]
# The route byte of server_fuzz's inputs, by the index of the route in its kRoutes table.
ROUTES = ["/api/generate", "/api/chat", "/api/embed", "/api/embeddings", "/api/show", "/api/create", "/api/copy",
          "/api/delete", "/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
SERVER_SEEDS = [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (1, 6), (2, 7), (3, 8), (8, 9), (9, 10), (10, 11),
                (5, 12), (6, 13), (7, 14), (4, 15), (0, 16)]


def request_seeds():
    for i, b in enumerate(BODIES):
        text = json.dumps(b)
        write("request", "body%02d.json" % i, b"\0" + text.encode())
        write("request", "body%02d-openai.json" % i, b"\1" + text.encode())
    write("request", "deep.json", b"\0" + b'{"options":{"seed":' + b"[" * 300 + b"]" * 300 + b"}}")
    write("request", "floats.json", b"\0" + b'{"options":{"num_ctx":2048.0,"seed":1e3,"top_k":4.5,"num_predict":-3}}')
    write("request", "escapes.json", b"\0" + b'{"model":"a\\"[[[","prompt":"\\u00e9\\ud83d\\ude00"}')
    for i, b in enumerate(CHATS):
        write("chat_request", "chat%02d.json" % i, b"\0" + json.dumps(b).encode())
        write("chat_request", "chat%02d-openai.json" % i, b"\1" + json.dumps(b).encode())
    for route, body in SERVER_SEEDS:
        write("server", "%s-%02d.json" % (ROUTES[route].strip("/").replace("/", "_"), body),
              bytes([route]) + json.dumps(BODIES[body]).encode())


# ---- templates, tokenizer text, Modelfiles, durations, names --------------------------------------------
JINJA = [
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] | trim }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}",
    "{%- if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}{% set rest = messages[1:] %}"
    "{%- else %}{% set rest = messages %}{% endif %}{% for m in rest %}{% if loop.first and sys is defined %}"
    "<<SYS>>{{ sys }}<</SYS>>{% endif %}[INST] {{ m.content }} [/INST]{% endfor %}",
    "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}"
    "{{ messages | length }}{{ messages | map(attribute='role') | join(',') }}",
    "{% macro render(m) %}<{{ m.role | upper }}>{{ m.content }}{% endmacro %}{% for m in messages %}"
    "{{ render(m) }}{% endfor %}",
    "{% if tools %}{{ tools | tojson }}{% for t in tools %}{{ t.function.name }}{% endfor %}{% endif %}"
    "{% for m in messages %}{% if m.tool_calls %}{% for c in m.tool_calls %}{{ c.function.arguments | tojson }}"
    "{% endfor %}{% endif %}{% endfor %}",
    "{{ 'a,b,c'.split(',') | reverse | list }}{{ range(3) | sum }}{{ '%s-%d' % ('x', 5) }}{{ 7 // 2 }}"
    "{{ 2 ** 10 }}{{ 'abc'[::-1] }}{{ {'k': 1}.items() | list }}{{ strftime_now('%Y-%m-%d') }}",
    "{% for i in range(10) %}{% if i is even %}{{ i }}{% elif i > 7 %}{% break %}{% else %}{% continue %}"
    "{% endif %}{% endfor %}{% raw %}{{ not rendered }}{% endraw %}",
    "{% if messages[-1]['role'] != 'user' %}{{ raise_exception('last message must be user') }}{% endif %}"
    "{{ messages[-1]['content'] }}",
    "{% filter upper %}{{ 'shout' }}{% endfilter %}{% with x = 3 %}{{ x * 'ab' }}{% endwith %}"
    "{{ enable_thinking | default(true) }}{{ undefined_var is defined }}",
    "{% for m in messages %}{{ m.content | replace('<', '&lt;') | truncate(5) }}{{ loop.index0 }}"
    "{{ loop.revindex }}{% endfor %}{{ 'x' if add_generation_prompt else 'y' }}",
]

TOKENIZER = [
    "Hello world", "  leading spaces and\ttabs\nnewlines", "<s>[INST] special <|im_end|> tokens </s>",
    "caf\u00e9 \u00fcber na\u00efve \u4f60\u597d \U0001F600 emoji", "1234567890 3.14159 1,000,000",
    "def f(x):\n    return x ** 2  # code", "The quick brown fox jumps over the lazy dog.",
    "ALLCAPS MiXeD cAsE", "'s 't 're 've 'm 'll 'd", "\u0000\u0001\u007f",
]

MODELFILES = [
    "FROM ./model.gguf\nPARAMETER temperature 0.7\nPARAMETER num_ctx 4096\nPARAMETER stop \"<|end|>\"\n"
    "SYSTEM You are concise.\n",
    "# comment\nFROM llama3.2\nTEMPLATE \"\"\"{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}\"\"\"\n"
    "MESSAGE user hello\nMESSAGE assistant hi\nLICENSE \"\"\"MIT\nlicense\"\"\"\n",
    "from x\nparameter seed 42\nparameter use_mmap false\nparameter top_p 0.9\nadapter y\n",
    "FROM x\nSYSTEM \"\"\"multi\nline\n",
]

DURATIONS = ["5m", "1h30m", "300ms", "1.5h", "-1m", "0", "-1", "3600", "10s", "2h45m30.5s", "1us", "1\u00b5s", "7ns",
             "12GiB", "512MiB", "1.5GB", "123456", "64KiB", "9223372036854775807ns", "1e3s", ".5s", "1d"]

NAMES = ["llama3.2", "llama3.2:latest", "library/llama3.2:3b", "registry.ollama.ai/library/qwen2.5:0.5b",
         "host:8080/ns/model:tag", "../../etc/passwd", "a/../../b", "UPPER/Case:Tag",
         "sha256:" + "0123456789abcdef" * 4, "sha256-" + "ABCDEF0123456789" * 4, "sha256:xyz",
         "127.0.0.1:11434", "[::1]:8080", "http://0.0.0.0", ":11434", "localhost"]


def text_seeds():
    for i, t in enumerate(JINJA):
        write("jinja", "t%02d.jinja" % i, t)
    write("jinja", "with-context.jinja",
          "{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}{{ extra.a[1] }}\n#####\n"
          '{"messages": [{"role": "user", "content": "hi"}], "extra": {"a": [1, {"b": null}]}}')
    for i, t in enumerate(TOKENIZER):
        for v in range(0, 14, 3):  # a spread of vocabularies (the first byte picks one), flags 3
            write("tokenizer", "s%02d-v%02d.txt" % (i, v), bytes([v, 3]) + t.encode())
    for i, t in enumerate(MODELFILES):
        write("modelfile", "m%02d" % i, t)
    for i, t in enumerate(DURATIONS):
        write("duration", "d%02d" % i, t)
    for i, t in enumerate(NAMES):
        write("names", "n%02d" % i, t)


def main():
    berth = sys.argv[1] if len(sys.argv) > 1 else None
    gguf_seeds(berth)
    request_seeds()
    text_seeds()


if __name__ == "__main__":
    main()
