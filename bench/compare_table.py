#!/usr/bin/env python3
"""Prints compare.sh's table from the JSON files of its rounds.

Usage: compare_table.py OUT_DIR "MODEL MODEL ..."
OUT_DIR holds machine.txt and, per model and round r, berth.MODEL.r.json (`berth bench --json`),
llama.MODEL.r.json and (when llama.cpp had an AMX variant) noamx.MODEL.r.json (llama_cpp_bench.mjs), and (when
compare.sh ran ik_llama.cpp) ik.MODEL.r.json (ik_llama_bench.py: prefill and decode only).
Every cell is the median over the rounds with (min–max); a ratio is median(berth) / median(reference) with
the (min–max) of the per-round ratios (round r of berth against round r of the reference).
"""
import glob
import json
import os
import statistics
import sys

out, models = sys.argv[1], sys.argv[2].split()
machine = dict(line.rstrip("\n").split("=", 1) for line in open(os.path.join(out, "machine.txt")) if "=" in line)


def load(prefix, model):
    runs = []
    for path in sorted(glob.glob(os.path.join(out, "%s.%s.*.json" % (prefix, model))),
                       key=lambda p: int(p.rsplit(".", 2)[1])):
        runs.append(json.load(open(path)))
    return runs


def berth_value(run, section, key, x):
    for row in run[section]:
        if row[key] == x:
            return row["tokens_per_s"]["median"]
    return None


def llama_value(run, section, key, x):
    for row in run[section]:
        if row[key] == x:
            return statistics.median(row["tokens_per_s"])
    return None


def num(x):
    return "—" if x is None else "%.0f" % x if x >= 100 else "%.1f" % x if x >= 10 else "%.2f" % x


def cell(values):
    v = [x for x in values if x is not None]
    if not v:
        return "—"
    return "%s (%s–%s)" % (num(statistics.median(v)), num(min(v)), num(max(v)))


def ratio(a, b):
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y]
    if not pairs:
        return "—"
    med = statistics.median([x for x, _ in pairs]) / statistics.median([y for _, y in pairs])
    per = [x / y for x, y in pairs]
    return "%.2f (%.2f–%.2f)" % (med, min(per), max(per))


rows = [("prefill", "tokens", p, "prefill %d" % p) for p in (32, 128, 512)]
rows += [("decode", "depth", d, "decode @%d" % d) for d in (0, 512, 2048)]
rows += [("parallel", "streams", s, "%d stream%s" % (s, "s" if s > 1 else "")) for s in (1, 2, 4, 8)]

# Every engine's rounds, read once: runs[prefix][model] (an empty list where it did not run).
runs = {p: {m: load(p, m) for m in models} for p in ("berth", "llama", "noamx", "ik")}
has_noamx = any(runs["noamx"].values())
has_ik = any(runs["ik"].values())
print("Machine: %s, %s cores, flags: %s" % (machine.get("cpu"), machine.get("cores"), machine.get("flags")))
first = next((r for r in runs["berth"].values() if r), [{}])[0]
print("berth %s took the %s path; llama.cpp (%s) loaded its `%s` CPU variant; %s threads; %s rounds, alternating."
      % (machine.get("berth_rev"), first.get("isa", "?"), machine.get("llama_package"), machine.get("llama_variant"),
         machine.get("threads"), machine.get("rounds")))
if has_ik:
    ik_first = next(r for r in runs["ik"].values() if r)[0]
    print("ik_llama.cpp: llama-bench %s, build %s, %s." % (machine.get("ik_llama"), ik_first.get("build_commit"),
                                                           ik_first.get("cpu_info")))
print("Run %s to %s; load average (1, 5, 15 min) before: %s, after: %s." % (
    machine.get("date"), machine.get("finished"), machine.get("load_before"), machine.get("load_after")))
print()
head = "| model | metric | berth tok/s | llama.cpp tok/s | berth / llama.cpp |"
sep = "|---|---|---|---|---|"
if has_noamx:
    head += " llama.cpp without AMX tok/s | berth / that |"
    sep += "---|---|"
if has_ik:
    head += " ik_llama.cpp tok/s | berth / ik_llama.cpp |"
    sep += "---|---|"
print(head)
print(sep)
bandwidth_notes = []
for m in models:
    b, l, n, k = (runs[p][m] for p in ("berth", "llama", "noamx", "ik"))
    if not b or not l:
        continue
    for section, key, x, label in rows:
        bv = [berth_value(r, section, key, x) for r in b]
        lv = [llama_value(r, section, key, x) for r in l]
        if all(v is None for v in bv + lv):
            continue  # not measured in this run (PROMPTS, DEPTHS or PARALLEL left it out)
        line = "| %s | %s | %s | %s | %s |" % (m, label, cell(bv), cell(lv), ratio(bv, lv))
        if has_noamx:
            nv = [llama_value(r, section, key, x) for r in n]
            line += " %s | %s |" % (cell(nv), ratio(bv, nv))
        if has_ik:
            kv = [llama_value(r, section, key, x) for r in k]
            line += " %s | %s |" % (cell(kv), ratio(bv, kv))
        print(line)
    # Decode as memory traffic: every engine reads the same weights and KV (f16) per token.
    bw = statistics.median([r["bandwidth_gb_per_s"] for r in b])
    for d in (0, 512, 2048):
        per_token = next((row["bytes_per_token"] for row in b[0]["decode"] if row["depth"] == d), None)
        if per_token is None:
            continue
        bt = statistics.median([x for x in (berth_value(r, "decode", "depth", d) for r in b) if x])
        lt = statistics.median([x for x in (llama_value(r, "decode", "depth", d) for r in l) if x])
        kt = [x for x in (llama_value(r, "decode", "depth", d) for r in k) if x]
        kg = statistics.median(kt) * per_token * 1e-9 if kt else None
        bandwidth_notes.append((m, d, bw, bt * per_token * 1e-9, lt * per_token * 1e-9, kg))

print()
print("Decode as memory traffic (weights + KV read per token × tokens/s) against the read bandwidth `berth bench` "
      "measured in the same rounds (median):")
print()
print("| model | depth | measured bandwidth GB/s | berth GB/s (share) | llama.cpp GB/s (share) |%s"
      % (" ik_llama.cpp GB/s (share) |" if has_ik else ""))
print("|---|---|---|---|---|%s" % ("---|" if has_ik else ""))
for m, d, bw, bg, lg, kg in bandwidth_notes:
    line = "| %s | %d | %.1f | %.1f (%.0f %%) | %.1f (%.0f %%) |" % (m, d, bw, bg, 100 * bg / bw, lg, 100 * lg / bw)
    if has_ik:
        line += " — |" if kg is None else " %.1f (%.0f %%) |" % (kg, 100 * kg / bw)
    print(line)
over = [(m, d) for m, d, bw, bg, lg, kg in bandwidth_notes if max(lg, bg, kg or 0) > bw]
if over:
    print()
    print("Warning: an engine moved more than the measured bandwidth at %s: the figure is not an upper bound there."
          % ", ".join("%s @%d" % x for x in over))
