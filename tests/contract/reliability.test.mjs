// Issue 16's findings, each against a real server: a deeply nested body gets 400 (it used to end the server
// with SIGSEGV), broken model files get 4xx naming what is wrong (they got 500 "std::bad_alloc"), `berth debug
// logits` on a broken file exits with a message (it aborted), a shutdown cuts streams with a final error frame
// and answers queued requests with 503 (both looked like a normal end); and the compatibility edges: negative
// num_predict means no limit, integers sent as floats are accepted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, testdata, post, get, ndjson, sse, sleep } from "./server.mjs";

const berth = process.env.BERTH_BIN;
let srv, broken;

// Mutated copies of stories260K, each broken in one way a real download or a hostile file could be.
function mutants() {
  const good = fs.readFileSync(path.join(testdata, "models", "stories260K.gguf"));
  const at = (needle) => good.indexOf(Buffer.from(needle));
  const patched = (fn) => { const b = Buffer.from(good); fn(b); return b; };
  const key = at("llama.block_count");
  const tensor = at("token_embd.weight");  // its tensor info: name, n_dims u32, 2 dims, type u32, offset u64
  return {
    "block-count": patched((b) => b.writeUInt32LE(2 ** 30, key + "llama.block_count".length + 4)),
    "truncated": good.subarray(0, Math.floor(good.length * 0.6)),
    "bad-magic": patched((b) => b.write("GGUX", 0)),
    "tensor-count": patched((b) => b.writeBigUInt64LE(1n << 40n, 8)),
    "key-length": patched((b) => b.writeBigUInt64LE(1n << 62n, 24)),
    "tensor-offset": patched((b) => b.writeBigUInt64LE(1n << 50n, tensor + "token_embd.weight".length + 4 + 16 + 4)),
    "no-architecture": patched((b) => b.write("xeneral.architecture", at("general.architecture"))),
  };
}

before(async () => {
  broken = fs.mkdtempSync(path.join(os.tmpdir(), "berth-broken-"));
  for (const [name, bytes] of Object.entries(mutants())) fs.writeFileSync(path.join(broken, `broken-${name}.gguf`), bytes);
  // Random damage to the header, metadata and tensor infos (the first 12 KiB), from a fixed seed.
  const good = fs.readFileSync(path.join(testdata, "models", "stories260K.gguf"));
  let seed = 0x9e3779b9;
  const rand = (n) => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed % n; };
  for (let i = 0; i < 40; i++) {
    const b = Buffer.from(good);
    const flips = 1 + rand(8);
    for (let k = 0; k < flips; k++) {
      if (rand(2)) b[rand(12288)] = rand(256);
      else b.writeBigUInt64LE(BigInt(rand(2 ** 31)) << BigInt(rand(33)), 8 * rand(1536));
    }
    fs.writeFileSync(path.join(broken, `random-${String(i).padStart(2, "0")}.gguf`), b);
  }
  srv = await startServer({}, ["--models-dir", broken]);
});
after(async () => {
  if (srv) assert.equal(await srv.stop(), 0);
  fs.rmSync(broken, { recursive: true, force: true });
});

async function servesNormally() {
  const r = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "Once", stream: false, options: { num_predict: 2 } });
  assert.equal(r.status, 200, r.text);
}

test("a body nested 100,000 deep gets 400 naming the limit, on every API", async () => {
  const deep = "[".repeat(100000) + "]".repeat(100000);
  for (const [route, body, message] of [
    ["/api/generate", `{"model":"stories260K","prompt":"hi","stream":false,"options":{"seed":${deep}}}`, (j) => j.error],
    ["/api/chat", `{"model":"stories260K","messages":${deep}}`, (j) => j.error],
    ["/api/embed", `{"model":"bert-f16","input":${deep}}`, (j) => j.error],
    ["/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"x"}],"seed":${deep}}`,
      (j) => j.error.message],
    ["/api/show", `{"model":${deep}}`, (j) => j.error],
  ]) {
    const r = await post(srv.base, route, body);
    assert.equal(r.status, 400, `${route}: ${r.text.slice(0, 200)}`);
    assert.match(message(r.json), /nests JSON deeper than 128 levels/, route);
  }
  await servesNormally();
});

test("broken model files get 400 saying what is wrong, never 500", async () => {
  const expected = {
    "block-count": /block_count is 1073741824 but the file has only \d+ tensors/,
    "truncated": /truncated|outside the data section|runs past the end/,
    "bad-magic": /not a GGUF file/,
    "tensor-count": /tensor count \d+ cannot fit in the file/,
    "key-length": /runs past the end of the file/,
    "tensor-offset": /lies outside the data section/,
    "no-architecture": /missing metadata key general.architecture/,
  };
  for (const [name, pattern] of Object.entries(expected)) {
    const r = await post(srv.base, "/api/generate", { model: `broken-${name}`, prompt: "hi", stream: false, options: { num_predict: 2 } });
    assert.equal(r.status, 400, `${name}: ${r.status} ${r.text}`);
    assert.match(r.json.error, pattern, name);
    const oa = await post(srv.base, "/v1/chat/completions", { model: `broken-${name}`, messages: [{ role: "user", content: "hi" }] });
    assert.equal(oa.status, 400, `${name} (OpenAI): ${oa.text}`);
    assert.equal(oa.json.error.type, "invalid_request_error");
  }
  const statuses = {};
  for (let i = 0; i < 40; i++) {
    const name = `random-${String(i).padStart(2, "0")}`;
    const r = await post(srv.base, "/api/generate", { model: name, prompt: "hi", stream: false, keep_alive: 0, options: { num_predict: 2 } });
    statuses[r.status] = (statuses[r.status] || 0) + 1;
    assert.ok([200, 400, 503].includes(r.status), `${name}: ${r.status} ${r.text}`);
    if (r.status !== 200) assert.ok(typeof r.json.error === "string" && r.json.error.length > 10, `${name}: ${r.text}`);
  }
  console.log(`40 randomly damaged files: ${JSON.stringify(statuses)}`);
  await servesNormally();
});

test("berth debug logits on a broken file exits with a message, not abort()", () => {
  for (const name of ["block-count", "truncated", "tensor-count", "key-length"]) {
    const r = spawnSync(berth, ["debug", "logits", path.join(broken, `broken-${name}.gguf`), "--tokens", "1,2"], { encoding: "utf8" });
    assert.equal(r.signal, null, `${name}: killed by ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 1, `${name}: exit ${r.status}: ${r.stderr}`);
    assert.match(r.stderr, /^berth: .+/m, name);
  }
});

test("negative num_predict means no limit; integers sent as floats are accepted", async () => {
  const r = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "Once", raw: true, stream: false,
                                                    options: { num_predict: -7, num_ctx: 64, temperature: 0 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.done_reason, "length", "ran until the context was full");
  const ints = { temperature: 0, num_predict: 8, num_ctx: 128, seed: 42, top_k: 40, repeat_last_n: 64 };
  const floats = { temperature: 0.0, num_predict: 8.0, num_ctx: 128.0, seed: 42.0, top_k: 40.0, repeat_last_n: 64.0 };
  const a = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "Once", stream: false, options: ints });
  // JSON.stringify writes 8.0 as 8; send the floats as text so that the server sees them as floats.
  const body = `{"model":"stories260K","prompt":"Once","stream":false,"options":` +
    JSON.stringify(floats).replace(/:(-?\d+)([,}])/g, ":$1.0$2") + "}";
  assert.match(body, /"num_ctx":128\.0/);
  const b = await post(srv.base, "/api/generate", body);
  assert.equal(b.status, 200, b.text);
  assert.equal(b.json.response, a.json.response);
  const oa = await post(srv.base, "/v1/chat/completions",
    `{"model":"stories260K","messages":[{"role":"user","content":"hi"}],"max_tokens":3.0,"seed":7.0,"temperature":0.0}`);
  assert.equal(oa.status, 200, oa.text);
  assert.equal(oa.json.usage.completion_tokens, 3);
});

test("SIGTERM: a stream cut at the grace limit ends with an error frame; queued requests get 503", async () => {
  const s = await startServer({ BERTH_SHUTDOWN_GRACE: "500ms", BERTH_NUM_PARALLEL: "1", BERTH_MAX_LOADED_MODELS: "1" });
  try {
    // A generation much longer than the grace period (gemma2-f16: 26 layers, to a full 4096-token context). The
    // format makes sure of it: a string of at least 100,000 characters cannot end, so the random weights' end token
    // is masked until the context is full.
    const long = { model: "gemma2-f16", prompt: "Once upon a time", format: { type: "string", minLength: 100000 },
                   options: { num_predict: -1, num_ctx: 4096, temperature: 1 } };
    const streamed = fetch(s.base + "/api/generate", { method: "POST", body: JSON.stringify(long) });
    const res = await streamed;
    const reader = res.body.getReader();
    let text = "";
    const first = await reader.read();  // the stream has begun
    text += Buffer.from(first.value).toString();
    // Queued behind it (one sequence): a non-streamed request, an SSE stream, and another model waiting for room.
    const queued = post(s.base, "/api/generate", { ...long, stream: false });
    const queuedSse = post(s.base, "/v1/chat/completions",
      { model: "gemma2-f16", messages: [{ role: "user", content: "hi" }], stream: true, max_tokens: 5 });
    const otherModel = post(s.base, "/api/generate", { model: "stories260K", prompt: "hi", stream: false });
    await sleep(300);
    const t0 = Date.now();
    s.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    const lines = ndjson(text);  // every line a whole JSON document
    const last = lines.at(-1);
    assert.ok(lines.length > 2, "tokens were streamed before the cut");
    assert.equal(last.done, undefined, `the stream did not end as if normally: ${JSON.stringify(last)}`);
    assert.match(last.error, /the server is shutting down: the generation was cut after \d+ tokens/);
    const q = await queued;
    assert.equal(q.status, 503, q.text);
    assert.match(q.json.error, /shutting down/);
    const qs = await queuedSse;
    const events = sse(qs.text);
    assert.equal(events.at(-1), "[DONE]");
    assert.match(events.at(-2).error.message, /shutting down/, qs.text);
    const o = await otherModel;
    assert.equal(o.status, 503, o.text);
    assert.match(o.json.error, /shutting down/);
    const { code } = await s.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 8000, "exited soon after the grace period");
  } finally {
    await s.stop();
  }
});
