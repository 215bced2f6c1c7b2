// The metrics the Gateway API Inference Extension's endpoint picker reads (its model-server protocol), against
// server states made on purpose: idle; one request generating (running 1, KV in use); a second waiting for the
// only sequence (waiting 1); a third waiting for room to load another model (waiting 2, that model listed as
// waiting); and back to idle after the clients leave. Then the prefix setting: another prefix, none, a bad one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { startServer, get, post, waitFor, testdata } from "./server.mjs";

// Prometheus text → [{name, labels, value}] (what a scraper parses: one sample per line, no timestamps here).
function samples(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = {};
    for (const [, k, v] of (m[2] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

// The picker's view: the first series of each family it reads (it takes one per family).
async function gateway(base, prefix = "vllm:") {
  const r = await get(base, "/metrics");
  assert.equal(r.status, 200);
  const all = samples(r.text);
  const one = (n) => {
    const s = all.filter((x) => x.name === prefix + n);
    assert.equal(s.length, 1, `${prefix}${n}: one series`);
    return s[0];
  };
  const lora = one("lora_requests_info");
  const list = (v) => (v ? v.split(",").sort() : []);
  return {
    waiting: one("num_requests_waiting").value,
    running: one("num_requests_running").value,
    kv: one("kv_cache_usage_perc").value,
    maxLora: Number(lora.labels.max_lora),
    loaded: list(lora.labels.running_lora_adapters),
    toLoad: list(lora.labels.waiting_lora_adapters),
    loraTime: lora.value,
    perModel: (metric, model) => all.find((x) => x.name === metric && x.labels.model === model)?.value ?? 0,
    text: r.text,
  };
}

// A generation that only ends when its client leaves: a high temperature rarely samples the end token, and the
// context (32768) and num_predict are far beyond what a few seconds produce.
function endless(base, model, ac) {
  return fetch(base + "/api/generate", {
    method: "POST", signal: ac.signal, headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model, prompt: "Once upon a time", raw: true, stream: false,
                           options: { temperature: 5, seed: 1, num_predict: 1000000, num_ctx: 32768 } }),
  }).then(() => "answered", (e) => e.name);
}

test("gateway metrics follow the server's state", async () => {
  const srv = await startServer({ BERTH_NUM_PARALLEL: "1", BERTH_MAX_LOADED_MODELS: "1" });
  const acs = [];
  try {
    let g = await gateway(srv.base);
    assert.deepEqual([g.waiting, g.running, g.kv, g.maxLora, g.loaded, g.toLoad], [0, 0, 0, 1, [], []], "idle");
    assert.ok(Math.abs(g.loraTime - Date.now() / 1000) < 60, "the info gauge's value is the time of the reading");

    const a = new AbortController(); acs.push(a);
    const pa = endless(srv.base, "stories260K", a);
    await waitFor(async () => (g = await gateway(srv.base)).running === 1, "one request generating", 60000);
    // Metrics name a model as it was requested and loaded; /api/ps lists it with its tag, as Ollama does.
    const name = "stories260K";
    assert.equal((await get(srv.base, "/api/ps")).json.models[0].name, `${name}:latest`);
    assert.deepEqual(g.loaded, [name], "the loaded model is listed");
    assert.equal(g.waiting, 0);
    await waitFor(async () => (g = await gateway(srv.base)).kv > 0, "KV positions in use", 60000);
    assert.ok(g.kv < 1, `KV fraction ${g.kv} of a 32768-position pool`);
    assert.equal(g.perModel("berth_requests_running", name), 1);
    assert.ok(g.perModel("berth_kv_cache_usage_ratio", name) > 0);

    const b = new AbortController(); acs.push(b);
    const pb = endless(srv.base, "stories260K", b);
    await waitFor(async () => (g = await gateway(srv.base)).waiting === 1, "a second request waiting for the sequence", 60000);
    assert.equal(g.running, 1);
    assert.equal(g.perModel("berth_requests_waiting", name), 1);

    const c = new AbortController(); acs.push(c);
    const pc = endless(srv.base, "llama2xs-tok512", c);
    await waitFor(async () => (g = await gateway(srv.base)).waiting === 2, "a third waiting for room to load", 60000);
    assert.deepEqual(g.toLoad, ["llama2xs-tok512"], "the model waiting to load is listed");
    assert.deepEqual(g.loaded, [name]);
    assert.equal(g.perModel("berth_requests_waiting", "llama2xs-tok512"), 1);

    for (const ac of acs) ac.abort();
    assert.deepEqual(await Promise.all([pa, pb, pc]), ["AbortError", "AbortError", "AbortError"]);
    await waitFor(async () => {
      g = await gateway(srv.base);
      return g.waiting === 0 && g.running === 0 && g.kv === 0;
    }, "idle again once the clients left", 60000);
    assert.equal(g.toLoad.length, 0);
  } finally {
    for (const ac of acs) ac.abort();
    assert.equal(await srv.stop(), 0);
  }
});

test("a finished generation leaves no KV in use (the slot's kept prefix is reusable, not running)", async () => {
  const srv = await startServer();
  try {
    const r = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "Once", raw: true, stream: false,
                                                      options: { num_predict: 8 } });
    assert.equal(r.status, 200, r.text);
    // The engine's worker updates the gauges after each step, so they may trail the response by that one step.
    let g;
    await waitFor(async () => (g = await gateway(srv.base)).running === 0, "the worker's step after the last token");
    assert.deepEqual([g.waiting, g.running, g.kv], [0, 0, 0]);
    assert.equal(g.loaded.length, 1);
    assert.equal(g.maxLora, 3, "BERTH_MAX_LOADED_MODELS' default");
  } finally {
    await srv.stop();
  }
});

test("BERTH_GATEWAY_METRICS_PREFIX renames the gauges or leaves them out", async () => {
  let srv = await startServer({ BERTH_GATEWAY_METRICS_PREFIX: "berth_gw:" });
  try {
    const g = await gateway(srv.base, "berth_gw:");
    assert.deepEqual([g.waiting, g.running, g.kv], [0, 0, 0]);
    assert.doesNotMatch(g.text, /^vllm:/m);
  } finally {
    await srv.stop();
  }
  srv = await startServer({ BERTH_GATEWAY_METRICS_PREFIX: "none" });
  try {
    const text = (await get(srv.base, "/metrics")).text;
    assert.doesNotMatch(text, /num_requests_waiting|lora_requests_info/);
    assert.match(text, /^# TYPE berth_requests_running gauge$/m, "berth's own per-model gauges stay");
  } finally {
    await srv.stop();
  }
  const bad = spawnSync(process.env.BERTH_BIN, ["serve", "--models-dir", `${testdata}/models`], {
    env: { ...process.env, BERTH_HOST: "127.0.0.1:0", BERTH_GATEWAY_METRICS_PREFIX: "9lives" }, timeout: 10000,
  });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr.toString(), /BERTH_GATEWAY_METRICS_PREFIX=9lives/);
});

test("/health is 503 until the preloaded models are loaded, then 200", async () => {
  // A preload of a model with a context so large that reserving and prefaulting its KV takes a while.
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-gw-"));
  const cfg = path.join(dir, "config.toml");
  fs.writeFileSync(cfg, '[models."stories260K"]\npreload = true\nnum_ctx = 65536\n');
  const srv = await startServer({ BERTH_CONFIG: cfg, BERTH_NUM_PARALLEL: "4" });
  try {
    const statuses = new Set();
    await waitFor(async () => {
      const h = await get(srv.base, "/health");
      statuses.add(`${h.status} ${h.json.status}`);
      if (h.status === 200) {
        const ps = (await get(srv.base, "/api/ps")).json.models;
        assert.equal(ps.length, 1, "ready means the preload is done");
        assert.equal(ps[0].state, "ready");
      }
      return h.status === 200;
    }, "ready", 60000);
    assert.ok(statuses.has("200 ok"));
    console.log(`# /health answers seen: ${[...statuses].join(", ")}`);
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
