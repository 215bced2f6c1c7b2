#!/usr/bin/env bash
# Side by side: `berth bench` against mainline llama.cpp (node-llama-cpp's prebuilt CPU build, driven by
# llama_cpp_bench.mjs through its low-level sequence API) on the same GGUF files with the same thread count,
# alternating A B A B for several rounds. Prints one markdown table of tokens/s, median (min–max) over the
# rounds, and the ratios: prefill at 32, 128 and 512 tokens, decode at depths 0, 512 and 2048, and 1, 2, 4 and
# 8 parallel streams; with the CPU, its ISA flags, the ISA path berth took, the load average before and after,
# and the time. When llama.cpp loads a CPU variant with AMX, a second llama.cpp column runs without it. With
# IK_LLAMA_BENCH set, ik_llama.cpp's llama-bench (through ik_llama_bench.py) runs in each round as well.
#
# Usage: bench/compare.sh [ROUNDS (4)] [THREADS (2)]
#   MODELS="tinyllama-q4_k_m tinyllama-q8_0 ..."  which files (default: all five below)
#   BERTH_BENCH_CACHE=DIR   where the GGUF files are made once (default ~/.cache/berth-bench, outside the repo)
#   COMPARE_OUT=DIR         keeps every run's JSON there (default: a temporary directory)
#   IK_LLAMA_BENCH=PATH     ik_llama.cpp's llama-bench, built outside this repository from a snapshot of its
#                           repository (bench/README.md); adds its columns (prefill and decode: it runs one sequence)
#   IK_ARGS="..."           llama-bench options for it (default "-fa 1 -rtr 1", its fastest CPU configuration)
#   IK_LLAMA_REV=REV        the snapshot's commit, printed with it (a build from a snapshot knows none)
# The files are synthetic (`berth debug make-model`, random weights): TinyLlama-1.1B's shape in Q4_K_M, Q8_0,
# Q4_0 and Q6_K, and Llama-3-8B's shape in Q4_K_M. Needs build/bin/berth, node and npm; installs bench/'s
# node_modules with NODE_LLAMA_CPP_SKIP_DOWNLOAD=true when missing (prebuilt binaries only, no compiling).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/bin/berth
rounds=${1:-4}
threads=${2:-2}
cache=${BERTH_BENCH_CACHE:-$HOME/.cache/berth-bench}
models=${MODELS:-tinyllama-q4_k_m tinyllama-q8_0 tinyllama-q4_0 tinyllama-q6_k llama3-8b-q4_k_m}
prompts=${PROMPTS:-32,128,512}  # PROMPTS, DEPTHS, PARALLEL: shorter lists for a quick try
depths=${DEPTHS:-0,512,2048}
parallel=${PARALLEL:-1,2,4,8}
mkdir -p "$cache"
[ -x "$bin" ] || { echo "compare.sh: build berth first (build/bin/berth)" >&2; exit 1; }

# ---- the model files, made once ---------------------------------------------------------------------------
for m in $models; do
  f=$cache/$m.gguf
  [ -f "$f" ] && continue
  type=${m##*-}  # the part after the last dash: llama3-8b-q4_k_m -> q4_k_m
  case $m in
    tinyllama-*) shape="--n-embd 2048 --n-ff 5632 --n-layer 22 --n-head 32 --n-head-kv 4 --n-vocab 32000 --n-ctx 4096" ;;
    llama3-8b-*) shape="--n-embd 4096 --n-ff 14336 --n-layer 32 --n-head 32 --n-head-kv 8 --n-vocab 128256 --n-ctx 8192" ;;
    *) echo "compare.sh: unknown model $m" >&2; exit 1 ;;
  esac
  echo "making $f" >&2
  # shellcheck disable=SC2086  # $shape is a word list on purpose
  "$bin" debug make-model --arch llama $shape --type "$type" --threads "$threads" "$f.tmp" && mv "$f.tmp" "$f"
done

# ---- llama.cpp through node-llama-cpp ----------------------------------------------------------------------
if [ ! -d "$root/bench/node_modules/node-llama-cpp" ]; then
  (cd "$root/bench" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund >&2)
fi
probe=$(cd "$root/bench" && node llama_cpp_bench.mjs "$cache/$(echo "$models" | awk '{print $1}').gguf" \
          --threads "$threads" --only none 2>/dev/null)
variant=$(echo "$probe" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cpu_variant"])')
# Without AMX: a hard-linked copy of node_modules that lacks the AMX variants, so ggml picks the best other one.
noamx=""
bins=$root/bench/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ "$variant" = sapphirerapids ]; then
  noamx=$cache/llama-noamx
  if [ ! -d "$noamx/node_modules" ]; then
    mkdir -p "$noamx"
    cp -al "$root/bench/node_modules" "$noamx/node_modules"
    cp "$root/bench/llama_cpp_bench.mjs" "$root/bench/package.json" "$noamx/"
    rm -f "$noamx/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-sapphirerapids.so"
  fi
fi

ik=${IK_LLAMA_BENCH:-}
ik_args=${IK_ARGS:--fa 1 -rtr 1}
if [ -n "$ik" ]; then
  [ -x "$ik" ] || { echo "compare.sh: IK_LLAMA_BENCH=$ik is not an executable" >&2; exit 1; }
fi

out=${COMPARE_OUT:-}
if [ -z "$out" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# ---- the machine -------------------------------------------------------------------------------------------
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cores=$(nproc)"
  echo "flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_vnni|avx_vnni|avx512_bf16|amx_tile|amx_int8|amx_bf16)$' | tr '\n' ' ')"
  echo "berth_rev=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo +)"
  echo "llama_variant=$variant"
  echo "llama_package=node-llama-cpp $(node -p "require('$root/bench/node_modules/node-llama-cpp/package.json').version")"
  if [ -n "$ik" ]; then
    echo "ik_llama=$ik ($ik_args)${IK_LLAMA_REV:+, snapshot $IK_LLAMA_REV}"
  fi
  echo "threads=$threads"
  echo "rounds=$rounds"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"

# ---- rounds: berth, llama.cpp, (llama.cpp without AMX), (ik_llama.cpp), alternating ------------------------
for r in $(seq 1 "$rounds"); do
  for m in $models; do
    f=$cache/$m.gguf
    echo "round $r/$rounds: $m berth" >&2
    "$bin" bench "$f" --only prefill,decode,parallel --prompts $prompts --depths $depths --parallel $parallel \
      --reps 1 --threads "$threads" --json >"$out/berth.$m.$r.json"
    echo "round $r/$rounds: $m llama.cpp ($variant)" >&2
    (cd "$root/bench" && node llama_cpp_bench.mjs "$f" --threads "$threads" --prompts $prompts --depths $depths \
       --parallel $parallel --reps 1) >"$out/llama.$m.$r.json"
    if [ -n "$noamx" ]; then
      echo "round $r/$rounds: $m llama.cpp without AMX" >&2
      (cd "$noamx" && node llama_cpp_bench.mjs "$f" --threads "$threads" --prompts $prompts --depths $depths \
         --parallel $parallel --reps 1) >"$out/noamx.$m.$r.json"
    fi
    if [ -n "$ik" ]; then
      echo "round $r/$rounds: $m ik_llama.cpp" >&2
      python3 "$root/bench/ik_llama_bench.py" "$ik" "$f" --threads "$threads" --prompts "$prompts" \
        --depths "$depths" --args "$ik_args" >"$out/ik.$m.$r.json"
    fi
  done
done
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
echo "finished=$(date -u '+%Y-%m-%d %H:%M UTC')" >>"$out/machine.txt"

python3 "$root/bench/compare_table.py" "$out" "$models"
