#!/usr/bin/env bash
# Produces the README's performance table from `berth bench --json`: the TinyLlama-1.1B-shaped synthetic model
# in Q4_K_M and Q8_0 (made with `berth debug make-model` into $BENCH_DIR, default /tmp, if missing) and
# stories260K. Usage: bench/readme-table.sh [REPS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/bin/berth
reps=${1:-5}
dir=${BENCH_DIR:-/tmp}
shape="--arch llama --n-embd 2048 --n-ff 5632 --n-layer 22 --n-head 32 --n-head-kv 4 --n-vocab 32000"
models=()
for t in q4_k_m q8_0; do
  f=$dir/berth-tinyllama-shape-$t.gguf
  [ -f "$f" ] || "$bin" debug make-model $shape --type $t "$f" >&2
  models+=("$f")
done
models+=("$root/../shared/testdata/models/stories260K.gguf")
echo "| model | prefill 128 tok/s | decode tok/s | decode GB/s | measured bandwidth GB/s | fraction |"
echo "|---|---|---|---|---|---|"
for f in "${models[@]}"; do
  "$bin" bench "$f" --threads 2 --prompt 128 --gen 64 --reps "$reps" --json | python3 -c '
import json, os, sys
d = json.load(sys.stdin)
name = os.path.basename(d["model"]).replace(".gguf", "")
print("| %s | %.1f | %.1f | %.1f | %.1f | %.0f %% |" % (name, d["prefill_tokens_per_s"], d["decode_tokens_per_s"],
      d["decode_gb_per_s"], d["bandwidth_gb_per_s"], 100 * d["decode_bandwidth_fraction"]))'
done
