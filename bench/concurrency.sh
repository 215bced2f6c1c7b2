#!/usr/bin/env bash
# Concurrency throughput: one model served with BERTH_NUM_PARALLEL=8, driven by `berth soak` with 1, 2, 4 and 8
# concurrent streams; prints aggregate generated tokens/s per level and the speed-up over one stream.
# Usage: bench/concurrency.sh MODEL.gguf [TOKENS_PER_REQUEST]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/bin/berth
model=$(realpath "$1")
n_predict=${2:-64}
dir=$(mktemp -d)
ln -s "$model" "$dir/$(basename "$model")"
name=$(basename "$model" .gguf)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
BERTH_HOST=127.0.0.1:$port BERTH_MODELS=$dir/store BERTH_NUM_PARALLEL=8 "$bin" serve --models-dir "$dir" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
printf "%-12s %-18s %s\n" streams "tokens/s (all)" "speed-up"
single=""
for c in 1 2 4 8; do
  "$bin" soak --url "127.0.0.1:$port" --models "$name" --concurrency $c --requests $((2 * c)) --keep-alive -1 \
    --num-predict "$n_predict" --prompt-words 8,8 --no-unload --out "$dir/c$c" >/dev/null 2>&1
  tps=$(python3 -c "import json; print('%.1f' % json.load(open('$dir/c$c/report.json'))['aggregate_tokens_per_s'])")
  [ -n "$single" ] || single=$tps
  printf "%-12s %-18s %s\n" $c "$tps" "$(python3 -c "print('%.2fx' % ($tps / $single))")"
done
