#!/usr/bin/env bash
# Produces the README's performance tables from `berth bench --json`: synthetic models with TinyLlama-1.1B's
# shape in Q4_K_M and Q8_0 (made on the fly by `berth bench --synthetic`, deleted afterwards) and stories260K.
# Usage: bench/readme-table.sh [REPS] [THREADS]   (BERTH_TESTDATA: where models/stories260K.gguf lives)
# Extra `berth bench` options can be passed in BENCH_ARGS (e.g. BENCH_ARGS="--depths 0,1024").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/bin/berth
reps=${1:-3}
threads=${2:-2}
testdata=${BERTH_TESTDATA:-$root/../shared/testdata}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
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

def mib(b):
    return "%.1f MiB" % (b / 2**20) if b < 10 * 2**30 else "%.1f GiB" % (b / 2**30)

d0 = runs[0]
print("Prefill and decode, tokens/s, median (min–max) of %d runs, %d threads, %s:" % (d0["reps"], d0["threads"], d0["isa"]))
print()
print("| model | " + " | ".join("prefill %d" % p["tokens"] for p in d0["prefill"]) + " | " +
      " | ".join("decode @%d" % d["depth"] for d in d0["decode"]) + " |")
print("|---" * (1 + len(d0["prefill"]) + len(d0["decode"])) + "|")
for d in runs:
    print("| %s | " % name(d) + " | ".join(rng(p["tokens_per_s"]) for p in d["prefill"]) + " | " +
          " | ".join(rng(x["tokens_per_s"]) for x in d["decode"]) + " |")
print()
print("The same as memory traffic: GB/s and share of the read bandwidth `berth bench` measured in the same run "
      "(prefill: weight bytes × forward batches per second; decode: weights + KV read per token):")
print()
print("| model | measured bandwidth GB/s | " + " | ".join("prefill %d" % p["tokens"] for p in d0["prefill"]) + " | " +
      " | ".join("decode @%d" % d["depth"] for d in d0["decode"]) + " |")
print("|---" * (2 + len(d0["prefill"]) + len(d0["decode"])) + "|")
for d in runs:
    cells = ["%s GB/s, %.0f %%" % (num(x["gb_per_s"]["median"]), 100 * x["bandwidth_fraction"])
             for x in d["prefill"] + d["decode"]]
    print("| %s | %.1f | " % (name(d), d["bandwidth_gb_per_s"]) + " | ".join(cells) + " |")
print()
print("Load time (seconds; cold = file evicted from the page cache first, with the share really evicted) and "
      "resident memory after loading at n_ctx %d and one short generation:" % d0["load"]["n_ctx"])
print()
print("| model | file | load cold | cold, evicted | load warm | load + first token cold / warm | RssAnon | RssFile "
      "| KV per 1k ctx | RssAnon per 1k ctx, measured |")
print("|---|---|---|---|---|---|---|---|---|---|")
for d in runs:
    l, m = d["load"], d["memory"]
    print("| %s | %s | %.3f | %.0f %% | %.3f | %.3f / %.3f | %s | %s | %s | %s |" % (
        name(d), mib(d["file_bytes"]), l["cold"]["load_s"]["median"], 100 * (1 - l["cold"]["cached_fraction_before"]["max"]),
        l["warm"]["load_s"]["median"], l["cold"]["first_token_s"]["median"], l["warm"]["first_token_s"]["median"],
        mib(m["rss_anon_after_warmup"]), mib(m["rss_file_after_warmup"]), mib(m["kv_per_1k_ctx_computed"]),
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
notes = sorted({n for d in runs for n in d["notes"]})
if notes:
    print()
    for n in notes:
        print("Note: " + n + ".")
EOF
