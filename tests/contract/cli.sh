#!/usr/bin/env bash
# The command-line client against a real server: list/ps/show with --json, run (argument and piped prompt,
# reference greedy text through a Modelfile PARAMETER), create/cp/rm, stop, error exits, and debug
# render-template on Ollama Go reference cases.
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

# debug render-template: Ollama Go reference cases byte for byte, from an /api/chat body on stdin.
render_case() {  # render_case TEMPLATE CONVERSATION [OPTIONS...]: "same" when berth renders the reference bytes
  local name=$1 conv=$2; shift 2
  python3 - "$testdata/templates/gotmpl/renderings.json" "$work" "$name" "$conv" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1])); work, name, conv = sys.argv[2:5]
open(f"{work}/case.gotmpl", "w").write(ref["templates"][name])
json.dump(ref["conversations"][conv], open(f"{work}/case.json", "w"))
out = next(c["output"] for c in ref["cases"] if c["template"] == name and c["conversation"] == conv)
open(f"{work}/case.expected", "wb").write(out.encode())
PY
  "$bin" debug render-template "$work/case.gotmpl" --now 1795435200 "$@" <"$work/case.json" >"$work/case.out" &&
    cmp -s "$work/case.out" "$work/case.expected" && echo same || echo differs
}
check "render-template --syntax go: tools and a tool call" "$(render_case x-authored-qwen3-style e-tool-call-single --syntax go)" same
check "render-template (detected): dates, think \"high\", json" "$(render_case x-authored-features g4-thinking-think-high)" same
check "render-template: legacy .Prompt/.Response template" "$(render_case x-authored-legacy-think c-system-multiturn)" same

set +e
err=$("$bin" run no-such-model "hi" 2>&1); rc=$?
set -e
check "run of an unknown model fails" "$rc" 1
check "run of an unknown model says why" "$(echo "$err" | grep -c "not found")" 1
check "unknown option is refused" "$("$bin" ps --bogus >/dev/null 2>&1; echo $?)" 1
echo '{{ .System }} {{ end }}' >"$work/bad.tmpl"
check "render-template: a template that is neither syntax exits 1" \
  "$(echo '{"messages": []}' | "$bin" debug render-template "$work/bad.tmpl" >/dev/null 2>&1; echo $?)" 1

kill -0 $pid || { echo "FAIL cli: the server died"; cat "$work/server.log"; exit 1; }
[ $fails -eq 0 ] || { echo "cli: $fails failed"; exit 1; }
echo "cli: all passed"
