#!/usr/bin/env bash
# The API with curl, the way people and scripts use it: reference greedy text (native and OpenAI), NDJSON and
# SSE framing, and error statuses. Usage: tests/contract/curl.sh BERTH_BINARY
set -euo pipefail
bin=$(realpath "$1")
label=""
source "$(dirname "$0")/serve.sh"
expected=$(python3 -c "import json; print(json.dumps(json.load(open('$testdata/oracle/stories260K.json'))['cases'][0]['greedy_text']))")
n=$(python3 -c "import json; print(len(json.load(open('$testdata/oracle/stories260K.json'))['cases'][0]['greedy']))")
opts="\"options\":{\"temperature\":0,\"num_predict\":$n}"
got=$(curl -s "$base/api/generate" -d "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"raw\":true,\"stream\":false,$opts}" \
  | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['response']))")
check "generate: reference greedy text" "$got" "$expected"
got=$(curl -sN "$base/api/generate" -d "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"raw\":true,$opts}" \
  | python3 -c "
import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
assert lines[-1]['done'] and all(not l['done'] for l in lines[:-1])
print(json.dumps(''.join(l['response'] for l in lines)))")
check "generate, streamed NDJSON: same text" "$got" "$expected"
got=$(curl -sN "$base/v1/completions" -d "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"temperature\":0,\"max_tokens\":$n,\"stream\":true}" \
  | python3 -c "
import json, sys
events = [l[6:].strip() for l in sys.stdin if l.startswith('data: ')]
assert events[-1] == '[DONE]', events[-1]
print(json.dumps(''.join(json.loads(e)['choices'][0]['text'] for e in events[:-1])))")
check "v1 completions, SSE ending in [DONE]: same text" "$got" "$expected"
check "unknown model is 404" "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/generate" -d '{"model":"nope","prompt":"x"}')" 404
check "malformed JSON is 400" "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/chat" -d '{"model":')" 400
# curl -d labels JSON as a form; a body over 8 KiB (a long chat) must still be read as JSON, not refused.
long=$(python3 -c "print('Once upon a time. ' * 600)")
check "curl -d with a 10 KiB body is served" "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/generate" \
  -d "{\"model\":\"stories260K\",\"prompt\":\"$long\",\"raw\":true,\"stream\":false,\"options\":{\"num_predict\":1,\"num_ctx\":8192}}")" 200
check "HEAD / is 200" "$(curl -s -o /dev/null -I -w '%{http_code}' "$base/")" 200
check "tags list stories260K" "$(curl -s "$base/api/tags" | python3 -c "import json,sys; print(any(m['name'].startswith('stories260K') for m in json.load(sys.stdin)['models']))")" True
[ $fails -eq 0 ] || { cat "$work/server.log" | tail -20; exit 1; }
echo "curl: all checks passed"
