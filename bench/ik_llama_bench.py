#!/usr/bin/env python3
"""Runs ik_llama.cpp's llama-bench on one GGUF file and prints its figures in llama_cpp_bench.mjs's JSON shape.

Usage: ik_llama_bench.py LLAMA_BENCH FILE --threads N [--prompts 32,128,512] [--depths 0,512,2048] [--gen 32]
                         [--args "-fa 1 -rtr 1"]

LLAMA_BENCH is the llama-bench binary of an ik_llama.cpp build made outside this repository (compare.sh's
IK_LLAMA_BENCH). Prefill at P tokens is its `-p P -n 0` test (prompt tokens over the prompt's time); decode at depth
D is its `-gp D,GEN` test (GEN tokens generated after a D-token prompt, over the generation's time alone), the same
measures as llama_cpp_bench.mjs and `berth bench`. llama-bench runs one sequence, so there are no parallel-stream
figures. --args are passed to llama-bench as they are; the default, `-fa 1 -rtr 1` (flash attention, and the
weights repacked at load into ik_llama.cpp's interleaved CPU layouts), is its fastest CPU configuration.
"""
import argparse
import json
import shlex
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("llama_bench")
    ap.add_argument("file")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--prompts", default="32,128,512")
    ap.add_argument("--depths", default="0,512,2048")
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--args", default="-fa 1 -rtr 1")
    a = ap.parse_args()
    prompts = [int(p) for p in a.prompts.split(",") if p]
    depths = [int(d) for d in a.depths.split(",") if d]
    cmd = [a.llama_bench, "-m", a.file, "-t", str(a.threads), "-r", "1", "-o", "json", "-n", "0"]
    cmd += shlex.split(a.args)
    if prompts:
        cmd += ["-p", ",".join(str(p) for p in prompts)]
    else:
        cmd += ["-p", "0"]
    for d in depths:
        cmd += ["-gp", "%d,%d" % (d, a.gen)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        sys.exit("ik_llama_bench.py: %s exited with %d" % (a.llama_bench, proc.returncode))
    tests = json.loads(proc.stdout)
    prefill, decode = {}, {}
    for t in tests:
        ts = t["samples_ts"]
        if t["n_gen"] == 0 and t["n_prompt"] > 0:
            prefill[t["n_prompt"]] = ts
        elif t["n_gen"] > 0:
            decode[t["n_prompt"]] = ts
    missing = [("prefill", p) for p in prompts if p not in prefill] + [("decode", d) for d in depths if d not in decode]
    if missing:
        sys.exit("ik_llama_bench.py: llama-bench printed no figure for %s" % missing)
    first = tests[0] if tests else {}
    print(json.dumps({
        "engine": "ik_llama.cpp",
        "build_commit": first.get("build_commit"),
        "cpu_info": first.get("cpu_info"),
        "args": a.args,
        "threads": a.threads,
        "reps": 1,
        "gen": a.gen,
        "prefill": [{"tokens": p, "tokens_per_s": prefill[p]} for p in prompts],
        "decode": [{"depth": d, "tokens_per_s": decode[d]} for d in depths],
        "parallel": [],
    }))


if __name__ == "__main__":
    main()
