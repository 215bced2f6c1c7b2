#!/usr/bin/env python3
"""Prints compare.sh's table from the JSON files of its rounds.

Usage: compare_table.py OUT_DIR "MODEL MODEL ..."
OUT_DIR holds machine.txt and, per model and round r, berth.MODEL.r.json (`berth bench --json`),
llama.MODEL.r.json and (when llama.cpp had an AMX variant) noamx.MODEL.r.json (llama_cpp_bench.mjs).
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

has_noamx = any(load("noamx", m) for m in models)
print("Machine: %s, %s cores, flags: %s" % (machine.get("cpu"), machine.get("cores"), machine.get("flags")))
first = next((load("berth", m) for m in models if load("berth", m)), [{}])[0]
print("berth %s took the %s path; llama.cpp (%s) loaded its `%s` CPU variant; %s threads; %s rounds, alternating."
      % (machine.get("berth_rev"), first.get("isa", "?"), machine.get("llama_package"), machine.get("llama_variant"),
         machine.get("threads"), machine.get("rounds")))
print("Run %s to %s; load average (1, 5, 15 min) before: %s, after: %s." % (
    machine.get("date"), machine.get("finished"), machine.get("load_before"), machine.get("load_after")))
print()
head = "| model | metric | berth tok/s | llama.cpp tok/s | berth / llama.cpp |"
sep = "|---|---|---|---|---|"
if has_noamx:
    head += " llama.cpp without AMX tok/s | berth / that |"
    sep += "---|---|"
print(head)
print(sep)
bandwidth_notes = []
for m in models:
    b, l, n = load("berth", m), load("llama", m), load("noamx", m)
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
        print(line)
    # Decode as memory traffic: both engines read the same weights and KV per token.
    bw = statistics.median([r["bandwidth_gb_per_s"] for r in b])
    for d in (0, 512, 2048):
        per_token = next((row["bytes_per_token"] for row in b[0]["decode"] if row["depth"] == d), None)
        if per_token is None:
            continue
        bt = statistics.median([x for x in (berth_value(r, "decode", "depth", d) for r in b) if x])
        lt = statistics.median([x for x in (llama_value(r, "decode", "depth", d) for r in l) if x])
        bandwidth_notes.append((m, d, bw, bt * per_token * 1e-9, lt * per_token * 1e-9))

print()
print("Decode as memory traffic (weights + KV read per token × tokens/s) against the read bandwidth `berth bench` "
      "measured in the same rounds (median):")
print()
print("| model | depth | measured bandwidth GB/s | berth GB/s (share) | llama.cpp GB/s (share) |")
print("|---|---|---|---|---|")
for m, d, bw, bg, lg in bandwidth_notes:
    print("| %s | %d | %.1f | %.1f (%.0f %%) | %.1f (%.0f %%) |" % (m, d, bw, bg, 100 * bg / bw, lg, 100 * lg / bw))
over = [(m, d) for m, d, bw, bg, lg in bandwidth_notes if lg > bw or bg > bw]
if over:
    print()
    print("Warning: an engine moved more than the measured bandwidth at %s: the figure is not an upper bound there."
          % ", ".join("%s @%d" % x for x in over))
