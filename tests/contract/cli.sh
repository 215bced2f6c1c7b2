#!/usr/bin/env bash
# The command-line client against a real server: list/ps/show with --json, run (argument and piped prompt,
# reference greedy text through a Modelfile PARAMETER), create/cp/rm, stop, and error exits.
# Usage: tests/contract/cli.sh BERTH_BINARY
set -euo pipefail
bin=$(realpath "$1")
label="cli: "
source "$(dirname "$0")/serve.sh"
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
expected=$(python3 -c "import json; print(json.load(open('$testdata/oracle/stories260K.json'))['cases'][0]['greedy_text'])")

check "list --json has stories260K" "$("$bin" list --json | json_get "'stories260K:latest' in [m['name'] for m in d['models']] or 'stories260K' in [m['name'] for m in d['models']]")" True
check "list prints a table" "$("$bin" list | head -1 | awk '{print $1, $2, $3, $4}')" "NAME ID SIZE MODIFIED"
check "show --json details" "$("$bin" show stories260K --json | json_get "d['details']['family']")" llama

printf 'FROM stories260K\nPARAMETER temperature 0\nPARAMETER num_predict 40\n' >"$work/Modelfile"
"$bin" create greedy -f "$work/Modelfile" >"$work/create.out" 2>&1 || { cat "$work/create.out"; fails=$((fails + 1)); }
out=$("$bin" run greedy "Once upon a time" --raw)
check "run greedy: starts with the reference text" "$(python3 -c "import sys; print(sys.argv[1].startswith(sys.argv[2][:60]))" "$out" "$expected")" True
piped=$(printf "Once upon a time" | "$bin" run greedy --raw)
check "run with a piped prompt: same text" "$piped" "$out"
check "ps --json shows the loaded model" "$("$bin" ps --json | json_get "[m['name'] for m in d['models']]")" "['greedy:latest']"
check "ps table has the memory columns" "$("$bin" ps | head -1 | awk '{print $6, $7, $8, $9}')" "WEIGHTS KV SCRATCH CACHE"
"$bin" stop greedy
check "stop unloads" "$("$bin" ps --json | json_get "len(d['models'])")" 0
"$bin" cp greedy greedy-copy
check "cp: the copy is listed" "$("$bin" list --json | json_get "'greedy-copy:latest' in [m['name'] for m in d['models']]")" True
"$bin" rm greedy-copy greedy >/dev/null
check "rm: both gone" "$("$bin" list --json | json_get "[m['name'] for m in d['models'] if m['name'].startswith('greedy')]")" "[]"

set +e
err=$("$bin" run no-such-model "hi" 2>&1); rc=$?
set -e
check "run of an unknown model fails" "$rc" 1
check "run of an unknown model says why" "$(echo "$err" | grep -c "not found")" 1
check "unknown option is refused" "$("$bin" ps --bogus >/dev/null 2>&1; echo $?)" 1

kill -0 $pid || { echo "FAIL cli: the server died"; cat "$work/server.log"; exit 1; }
[ $fails -eq 0 ] || { echo "cli: $fails failed"; exit 1; }
echo "cli: all passed"
