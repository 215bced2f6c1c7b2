// Ollama's environment names, read by berth when the BERTH_ name is unset, so that an operator's existing
// overrides (`systemctl edit ollama` drop-ins, /etc/default files) keep working. Each test starts `berth serve`
// (BERTH_BIN: the installed /usr/bin/berth in tests/package/run) with only the OLLAMA_ name set and observes its
// effect through the API. Names berth accepts but has no use for are checked not to stop it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const bin = process.env.BERTH_BIN;
const testdata = process.env.BERTH_TESTDATA;
if (!bin || !testdata) throw new Error("set BERTH_BIN and BERTH_TESTDATA");
const models = path.join(testdata, "models");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// The environment without any BERTH_ or OLLAMA_ variable of the caller's.
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(BERTH|OLLAMA)_/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

// Starts berth serve with `env` (OLLAMA_HOST names the port unless `env` has BERTH_HOST).
async function serve(env) {
  const port = await freePort();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "berth-env-"));
  const full = cleanEnv({ HOME: home, OLLAMA_HOST: `127.0.0.1:${port}`, ...env });
  const proc = spawn(bin, ["serve", "--models-dir", models], { env: full, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; ++i) {
    try { if ((await fetch(base + "/")).ok) break; } catch {}
    if (i > 200 || proc.exitCode !== null) throw new Error(`berth did not start: ${log}`);
    await sleep(50);
  }
  return {
    base, port, home, log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      await Promise.race([new Promise((r) => proc.once("exit", r)), sleep(15000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
      fs.rmSync(home, { recursive: true, force: true });
      return proc.exitCode;
    },
  };
}

async function json(base, p, body) {
  const r = await fetch(base + p, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const text = await r.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { parsed = null; }  // /metrics is text
  return { status: r.status, headers: r.headers, text, json: parsed };
}

const gen = (model, extra = {}) => ({ model, prompt: "Once upon a time", raw: true, stream: false,
                                      options: { num_predict: 4 }, ...extra });
// A generation that runs until its client leaves (see tests/contract/gateway.test.mjs).
const endless = (base, ac) => fetch(base + "/api/generate", {
  method: "POST", signal: ac.signal, headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ model: "stories260K", prompt: "Once", raw: true, stream: false,
                         options: { temperature: 5, seed: 1, num_predict: 1000000, num_ctx: 32768 } }),
}).then((r) => r.status, (e) => e.name);

async function until(fn, what, ms = 60000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await fn()) return; await sleep(50); }
  throw new Error(`timed out waiting for ${what}`);
}

const gauge = (text, name) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)[1]);

test("OLLAMA_HOST: the server listens there, and the CLI connects there", async () => {
  const srv = await serve({});
  try {
    assert.equal((await json(srv.base, "/api/version")).status, 200);
    const r = spawnSync(bin, ["list"], { env: cleanEnv({ OLLAMA_HOST: `127.0.0.1:${srv.port}` }), timeout: 10000 });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.match(r.stdout.toString(), /stories260K/);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test("OLLAMA_MODELS: an Ollama store is served read-only", async () => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), "berth-ollama-store-"));
  const gguf = fs.readFileSync(path.join(models, "stories260K.gguf"));
  const hex = crypto.createHash("sha256").update(gguf).digest("hex");
  fs.mkdirSync(path.join(store, "blobs"));
  fs.writeFileSync(path.join(store, "blobs", `sha256-${hex}`), gguf);
  const mdir = path.join(store, "manifests/registry.ollama.ai/library/tinystory");
  fs.mkdirSync(mdir, { recursive: true });
  fs.writeFileSync(path.join(mdir, "latest"), JSON.stringify({ schemaVersion: 2, layers: [
    { mediaType: "application/vnd.ollama.image.model", digest: `sha256:${hex}`, size: gguf.length }] }));
  const before = spawnSync("find", [store, "-printf", "%p %s %T@\n"]).stdout.toString();
  const srv = await serve({ OLLAMA_MODELS: store });
  try {
    const tags = (await json(srv.base, "/api/tags")).json.models.map((m) => m.name);
    assert.ok(tags.includes("tinystory:latest"), tags.join(","));
    const r = await json(srv.base, "/api/generate", gen("tinystory"));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.eval_count, 4);
  } finally {
    await srv.stop();
  }
  assert.equal(spawnSync("find", [store, "-printf", "%p %s %T@\n"]).stdout.toString(), before, "nothing written");
  fs.rmSync(store, { recursive: true, force: true });
});

test("OLLAMA_KEEP_ALIVE and OLLAMA_CONTEXT_LENGTH set the defaults", async () => {
  const srv = await serve({ OLLAMA_KEEP_ALIVE: "2s", OLLAMA_CONTEXT_LENGTH: "256" });
  try {
    assert.equal((await json(srv.base, "/api/generate", gen("stories260K"))).status, 200);
    const m = (await json(srv.base, "/api/ps")).json.models[0];
    assert.equal(m.keep_alive, 2);
    assert.equal(m.expiry_reason, "default");
    assert.equal(m.context_length, 256);
    await until(async () => (await json(srv.base, "/api/ps")).json.models.length === 0, "expiry after 2 s");
  } finally {
    await srv.stop();
  }
});

test("OLLAMA_MAX_LOADED_MODELS: one model at a time", async () => {
  const srv = await serve({ OLLAMA_MAX_LOADED_MODELS: "1" });
  try {
    assert.equal((await json(srv.base, "/api/generate", gen("stories260K"))).status, 200);
    assert.equal((await json(srv.base, "/api/generate", gen("llama2xs-tok512"))).status, 200);
    assert.deepEqual((await json(srv.base, "/api/ps")).json.models.map((m) => m.name), ["llama2xs-tok512:latest"]);  // listed with its tag, as Ollama lists it
    assert.match((await json(srv.base, "/metrics")).text, /max_lora="1"/);
  } finally {
    await srv.stop();
  }
});

test("OLLAMA_NUM_PARALLEL: two requests generate at once", async () => {
  const srv = await serve({ OLLAMA_NUM_PARALLEL: "2" });
  const acs = [new AbortController(), new AbortController()];
  try {
    const ps = acs.map((ac) => endless(srv.base, ac));
    await until(async () => gauge((await json(srv.base, "/metrics")).text, "vllm:num_requests_running") === 2,
      "two running");
    assert.equal(gauge((await json(srv.base, "/metrics")).text, "vllm:num_requests_waiting"), 0);
    acs.forEach((ac) => ac.abort());
    await Promise.all(ps);
  } finally {
    acs.forEach((ac) => ac.abort());
    await srv.stop();
  }
});

test("OLLAMA_MAX_QUEUE: with one request outstanding, the next gets 503", async () => {
  const srv = await serve({ OLLAMA_MAX_QUEUE: "1" });
  const ac = new AbortController();
  try {
    const p = endless(srv.base, ac);
    await until(async () => gauge((await json(srv.base, "/metrics")).text, "vllm:num_requests_running") === 1,
      "one running");
    const r = await json(srv.base, "/api/generate", gen("stories260K"));
    assert.equal(r.status, 503, r.text);
    ac.abort();
    await p;
  } finally {
    ac.abort();
    await srv.stop();
  }
});

test("OLLAMA_ORIGINS: the listed origin gets CORS headers, another does not", async () => {
  const srv = await serve({ OLLAMA_ORIGINS: "http://example.test" });
  try {
    const ok = await fetch(srv.base + "/api/tags", { headers: { Origin: "http://example.test" } });
    assert.equal(ok.headers.get("access-control-allow-origin"), "http://example.test");
    const other = await fetch(srv.base + "/api/tags", { headers: { Origin: "http://other.test" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  } finally {
    await srv.stop();
  }
});

test("OLLAMA_KV_CACHE_TYPE: q8_0 halves the KV cache; BERTH_KV_CACHE_TYPE wins over it", async () => {
  const kv = async (env) => {
    const srv = await serve(env);
    try {
      assert.equal((await json(srv.base, "/api/generate", gen("llama-spm-f16"))).status, 200);
      return (await json(srv.base, "/api/ps")).json.models[0].size_kv;
    } finally {
      await srv.stop();
    }
  };
  const q8 = await kv({ OLLAMA_KV_CACHE_TYPE: "q8_0" });
  const f16 = await kv({ OLLAMA_KV_CACHE_TYPE: "q8_0", BERTH_KV_CACHE_TYPE: "f16" });
  assert.ok(q8 < f16 * 0.6 && q8 > f16 * 0.4, `q8_0 ${q8} vs f16 ${f16}`);
});

test("OLLAMA_DEBUG: 1 and 2 turn on debug logging, 0 does not", async () => {
  for (const [value, debug] of [["1", true], ["2", true], ["0", false]]) {
    const srv = await serve({ OLLAMA_DEBUG: value });
    try {
      await json(srv.base, "/api/tags");
      await sleep(100);
      assert.equal(/ DEBUG /.test(srv.log()), debug, `OLLAMA_DEBUG=${value}: ${srv.log()}`);
    } finally {
      await srv.stop();
    }
  }
});

test("OLLAMA_LOAD_TIMEOUT is read: a bad value stops the server with a message naming it", () => {
  const r = spawnSync(bin, ["serve"], { env: cleanEnv({ OLLAMA_HOST: "127.0.0.1:0", OLLAMA_LOAD_TIMEOUT: "soon" }),
                                        timeout: 10000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr.toString(), /OLLAMA_LOAD_TIMEOUT=soon/);
});

test("names berth has no use for (GPU, flash attention, pruning, ...) do not stop it", async () => {
  const srv = await serve({ OLLAMA_FLASH_ATTENTION: "1", OLLAMA_NOPRUNE: "1", OLLAMA_SCHED_SPREAD: "1",
                            OLLAMA_GPU_OVERHEAD: "536870912", OLLAMA_LLM_LIBRARY: "cpu", OLLAMA_NOHISTORY: "1",
                            OLLAMA_MULTIUSER_CACHE: "1", OLLAMA_NEW_ENGINE: "1" });
  try {
    assert.equal((await json(srv.base, "/api/generate", gen("stories260K"))).status, 200);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
