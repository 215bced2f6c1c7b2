#!/usr/bin/env bash
# Produces the README's performance tables from `berth bench --json`: synthetic models with TinyLlama-1.1B's
# shape in Q4_K_M and Q8_0 (made on the fly by `berth bench --synthetic`, deleted afterwards) and stories260K.
# Usage: bench/readme-table.sh [REPS] [THREADS]   (BERTH_TESTDATA: where models/stories260K.gguf lives)
# Extra `berth bench` options can be passed in BENCH_ARGS (e.g. BENCH_ARGS="--depths 0,1024"); the JSON of each
# run is kept in BENCH_JSON_DIR when set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/bin/berth
reps=${1:-3}
threads=${2:-2}
testdata=${BERTH_TESTDATA:-$root/../shared/testdata}
if [ -n "${BENCH_JSON_DIR:-}" ]; then
  out=$BENCH_JSON_DIR
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
i=0
for m in "--synthetic tinyllama:q4_k_m" "--synthetic tinyllama:q8_0" "$testdata/models/stories260K.gguf"; do
  i=$((i + 1))
  # shellcheck disable=SC2086  # $m and BENCH_ARGS are word lists on purpose
  "$bin" bench $m --threads "$threads" --reps "$reps" ${BENCH_ARGS:-} --json >"$out/$i.json"
done
python3 - "$out"/*.json <<'EOF'
import json, os, sys

runs = [json.load(open(p)) for p in sorted(sys.argv[1:])]

def name(d):
    return d["model"].replace("synthetic ", "").replace("tinyllama:", "TinyLlama-1.1B shape, ") if d["model"].startswith(
        "synthetic") else os.path.basename(d["model"]).replace(".gguf", "")

def num(x):
    return "%.0f" % x if x >= 100 else "%.1f" % x if x >= 1 else "%.2f" % x

def rng(s):  # median (min-max)
    return "%s (%s–%s)" % (num(s["median"]), num(s["min"]), num(s["max"]))

def cells(d, section, key, cols, fmt):
    """One cell per column length; a length the model's context clamped shows the row it became ("@480: ...")."""
    rows = {r[key]: r for r in d[section]}
    used, out = set(), []
    for c in cols:
        r = rows.get(c)
        if r is None:
            below = [x for x in rows if x < c and x not in cols and x not in used]
            r = rows[max(below)] if below else None
        if r is None:
            out.append("—")
            continue
        used.add(r[key])
        out.append(fmt(r) if r[key] == c else "@%d: %s" % (r[key], fmt(r)))
    return out

def ms(s):  # seconds summary → "61 ms (60–63)"
    f = lambda x: "%.0f" % (1e3 * x) if x >= 0.01 else "%.1f" % (1e3 * x)
    return "%s ms (%s–%s)" % (f(s["median"]), f(s["min"]), f(s["max"]))

def mib(b):
    return "%.1f MiB" % (b / 2**20) if b < 10 * 2**30 else "%.1f GiB" % (b / 2**30)

d0 = runs[0]
prompts = [p["tokens"] for p in d0["prefill"]]
depths = [x["depth"] for x in d0["decode"]]
print("Prefill and decode, tokens/s, median (min–max) of %d runs, %d threads, %s:" % (d0["reps"], d0["threads"], d0["isa"]))
print()
header = ["prefill %d" % p for p in prompts] + ["decode @%d" % x for x in depths]
print("| model | " + " | ".join(header) + " |")
print("|---" * (1 + len(header)) + "|")
for d in runs:
    tps = lambda r: rng(r["tokens_per_s"])
    print("| %s | " % name(d) + " | ".join(cells(d, "prefill", "tokens", prompts, tps) +
                                          cells(d, "decode", "depth", depths, tps)) + " |")
print()
print("The same as memory traffic: GB/s and share of the read bandwidth `berth bench` measured in the same run "
      "(prefill: weight bytes × forward batches per second; decode: weights + KV read per token):")
print()
print("| model | measured bandwidth GB/s | " + " | ".join(header) + " |")
print("|---" * (2 + len(header)) + "|")
for d in runs:
    gbs = lambda r: "%s GB/s, %.0f %%" % (num(r["gb_per_s"]["median"]), 100 * r["bandwidth_fraction"])
    print("| %s | %.1f | " % (name(d), d["bandwidth_gb_per_s"]) + " | ".join(cells(d, "prefill", "tokens", prompts, gbs) +
                                                                         cells(d, "decode", "depth", depths, gbs)) + " |")
print()
print("Load time, median (min–max): `Model::load` alone (maps the file, reserves KV and scratch), "
      "and load plus the first decode step, which reads the weights. Cold = after evicting the file from "
      "the page cache (posix_fadvise DONTNEED; mincore tells how much really left), warm = right after:")
print()
print("| model | file | evicted before cold | load cold | load warm | load + first token cold | load + first token warm |")
print("|---|---|---|---|---|---|---|")
for d in runs:
    l = d["load"]
    print("| %s | %s | %.0f %% | %s | %s | %s | %s |" % (
        name(d), mib(d["file_bytes"]), 100 * (1 - l["cold"]["cached_fraction_before"]["max"]),
        ms(l["cold"]["load_s"]), ms(l["warm"]["load_s"]), ms(l["cold"]["first_token_s"]),
        ms(l["warm"]["first_token_s"])))
print()
print("Resident memory of one model loaded at n_ctx %d after a short generation (growth of the process's RssAnon "
      "and RssFile), and what each 1,000 tokens of context add: the KV cache alone, and all anonymous memory "
      "(KV plus the scratch that grows with n_ctx) as planned and as measured from RssAnon at two context sizes:"
      % d0["memory"]["n_ctx"])
print()
print("| model | RssAnon | RssFile | ledger: weights / KV / scratch | KV per 1k ctx | anonymous per 1k ctx, planned / measured |")
print("|---|---|---|---|---|---|")
for d in runs:
    m = d["memory"]
    g = m["ledger"]
    print("| %s | %s | %s | %s / %s / %s | %s | %s / %s |" % (
        name(d), mib(m["rss_anon_after_warmup"]), mib(m["rss_file_after_warmup"]), mib(g["weights_mapped"]),
        mib(g["kv"]), mib(g["scratch"]), mib(m["kv_per_1k_ctx_computed"]), mib(m["anon_per_1k_ctx_planned"]),
        mib(m["rss_anon_per_1k_ctx_measured"])))
print()
print("Parallel streams through the engine (continuous batching, as the server runs them): total generated "
      "tokens/s of N streams of %d prompt + %d generated tokens each, and the speed-up over one stream:" % (
          d0["parallel_prompt_tokens"], d0["gen_tokens"]))
print()
print("| model | " + " | ".join("%d stream%s" % (p["streams"], "" if p["streams"] == 1 else "s") for p in d0["parallel"]) + " |")
print("|---" * (1 + len(d0["parallel"])) + "|")
for d in runs:
    print("| %s | " % name(d) + " | ".join("%s (%.2f×)" % (num(p["tokens_per_s"]["median"]), p["speedup"])
                                          for p in d["parallel"]) + " |")
notes = ["%s: %s" % (name(d), n) for d in runs for n in d["notes"]]
if notes:
    print()
    for n in notes:
        print("Note, " + n + ".")
EOF
