# Sourced by the shell contract tests, with `bin` (the berth binary) and `label` (a prefix for check lines) set:
# starts `berth serve` with the test models on a free loopback port and a private store under $work, waits for
# it, and stops it on exit. Sets testdata, work, pid, base and exports BERTH_HOST (for the CLI). Defines
# `check NAME ACTUAL EXPECTED`, which counts failures in $fails.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
testdata=${BERTH_TESTDATA:-$(realpath "$root/../shared/testdata")}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
work=$(mktemp -d)
export BERTH_HOST=127.0.0.1:$port
BERTH_MODELS=$work/store "$bin" serve --models-dir "$testdata/models" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
base=http://$BERTH_HOST
for _ in $(seq 100); do curl -sf "$base/" >/dev/null && break; sleep 0.1; done
fails=0
check() {  # check NAME ACTUAL EXPECTED
  if [ "$2" = "$3" ]; then echo "ok   $label$1"; else echo "FAIL $label$1: got '$2', want '$3'"; fails=$((fails + 1)); fi
}
