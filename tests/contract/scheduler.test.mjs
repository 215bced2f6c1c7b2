// Scheduler behaviour through the API: concurrent requests batched on one model, the model-count limit with
// LRU eviction, the memory budget's 503 with numbers, and the default keep-alive from the environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, oracle, post, get, waitFor } from "./server.mjs";

const story = oracle("stories260K").cases[0];
const greedy = { temperature: 0, num_predict: story.greedy.length };

test("num_parallel 3: concurrent requests all get the reference text", async () => {
  const srv = await startServer({ BERTH_NUM_PARALLEL: "3" });
  try {
    const body = { model: "stories260K", prompt: story.prompt, raw: true, stream: false, options: greedy };
    const rs = await Promise.all(Array.from({ length: 6 }, () => post(srv.base, "/api/generate", body)));
    for (const r of rs) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.response, story.greedy_text);
    }
    const m = (await get(srv.base, "/metrics")).text;
    assert.equal(m.match(/^berth_model_loads_total (\d+)/m)[1], "1", "one load for six concurrent first requests");
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test("max loaded models 1: the idle model is evicted for the next one", async () => {
  const srv = await startServer({ BERTH_MAX_LOADED_MODELS: "1" });
  try {
    let r = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "" });
    assert.equal(r.status, 200, r.text);
    r = await post(srv.base, "/api/generate", { model: "llama2xs-tok512", prompt: "Once", raw: true, stream: false, options: { num_predict: 3 } });
    assert.equal(r.status, 200, r.text);
    const names = (await get(srv.base, "/api/ps")).json.models.map((m) => m.name);
    assert.deepEqual(names, ["llama2xs-tok512:latest"]);
    assert.match((await get(srv.base, "/metrics")).text, /^berth_model_evictions_total 1$/m);
  } finally {
    await srv.stop();
  }
});

test("a model over the memory budget gets 503 with the numbers", async () => {
  const srv = await startServer({ BERTH_MAX_MEMORY: "1MiB" });
  try {
    const r = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "hi", stream: false });
    assert.equal(r.status, 503, r.text);
    assert.match(r.json.error, /budget 1\.0 MiB/);
    const ok = await get(srv.base, "/api/tags");
    assert.equal(ok.status, 200, "still serving");
  } finally {
    await srv.stop();
  }
});

test("BERTH_KEEP_ALIVE sets the default; the model unloads when it expires", async () => {
  const srv = await startServer({ BERTH_KEEP_ALIVE: "1s" });
  try {
    await post(srv.base, "/api/generate", { model: "stories260K", prompt: "" });
    const p = (await get(srv.base, "/api/ps")).json.models[0];
    assert.equal(p.expiry_reason, "default");
    await waitFor(async () => (await get(srv.base, "/api/ps")).json.models.length === 0, "expiry", 10000);
  } finally {
    await srv.stop();
  }
});

test("BERTH_CONFIG policy: a pinned model is preloaded at start and ignores the client's keep_alive 0", async () => {
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const cfg = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "berth-cfg-")), "berth.toml");
  fs.writeFileSync(cfg, '[models.stories260K]\npin = true\npreload = true\n\n[default]\nclient_keep_alive = "clamp"\nkeep_alive_max = "2m"\n');
  const srv = await startServer({ BERTH_CONFIG: cfg });
  try {
    // /api/ps lists a model while it loads (state "loading"); its policy applies once it is ready.
    const psModels = async () => (await get(srv.base, "/api/ps")).json.models;
    await waitFor(async () => (await psModels()).some((m) => m.state === "ready"), "preload", 10000);
    let p = (await psModels())[0];
    assert.equal(p.name, "stories260K:latest");
    assert.equal(p.pinned, true);
    assert.equal(p.expiry_reason, "pinned");
    await post(srv.base, "/api/generate", { model: "stories260K", prompt: "", keep_alive: 0 });
    assert.equal((await get(srv.base, "/api/ps")).json.models.length, 1, "still loaded");
    // Another model under the default policy: the client's 1h is clamped to 2m.
    await post(srv.base, "/api/generate", { model: "llama2xs-tok512", prompt: "", keep_alive: "1h" });
    p = (await get(srv.base, "/api/ps")).json.models.find((m) => m.name === "llama2xs-tok512:latest");
    assert.equal(p.expiry_reason, "client (clamped)");
    assert.equal(p.keep_alive, 120);
  } finally {
    await srv.stop();
    fs.rmSync(path.dirname(cfg), { recursive: true, force: true });
  }
});

test("BERTH_API_KEY: requests without the bearer token get 401; / and /health stay open", async () => {
  const srv = await startServer({ BERTH_API_KEY: "s3cret" });
  try {
    assert.equal((await get(srv.base, "/api/tags")).status, 401);
    assert.equal((await get(srv.base, "/api/tags", { Authorization: "Bearer wrong" })).status, 401);
    assert.equal((await get(srv.base, "/api/tags", { Authorization: "Bearer s3cret" })).status, 200);
    const oa = await get(srv.base, "/v1/models");
    assert.equal(oa.status, 401);
    assert.equal(typeof oa.json.error.message, "string", "OpenAI-shaped error on /v1");
    assert.equal((await get(srv.base, "/health")).status, 200);
  } finally {
    await srv.stop();
  }
});

test("SIGTERM: in-flight streams are cancelled after the grace period, then berth exits 0", async () => {
  const srv = await startServer({ BERTH_SHUTDOWN_GRACE: "0s" });
  const body = { model: "llama-spm-f16", prompt: "Once upon a time", raw: true,
                 options: { temperature: 0, num_predict: 2000, num_ctx: 2048 } };
  const r = await fetch(srv.base + "/api/generate", { method: "POST", body: JSON.stringify(body),
                                                       signal: AbortSignal.timeout(30000) });
  assert.equal(r.status, 200);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let text = "";
  const first = await reader.read();
  text += dec.decode(first.value);
  const t0 = Date.now();
  const stopped = srv.stop();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  assert.equal(await stopped, 0, "berth exits 0 on SIGTERM");
  assert.ok(Date.now() - t0 < 5000, `shutdown took ${Date.now() - t0} ms`);
  const lines = text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  const fin = lines[lines.length - 1];
  // Cut short by the shutdown, not a normal end: a final error frame (Ollama's shape), never done_reason "stop".
  assert.equal(fin.done, undefined, `the stream does not end as if normally: ${JSON.stringify(fin)}`);
  const n = Number((fin.error.match(/the server is shutting down: the generation was cut after (\d+) tokens/) || [])[1]);
  assert.ok(n > 0 && n < 2000, `generation was cut short: ${fin.error}`);
  assert.match(srv.log(), /grace period over/);
});

test("metrics: time-to-first-token and per-token histograms count each generation", async () => {
  const srv = await startServer();
  try {
    for (let i = 0; i < 3; i++) {
      const r = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "Once upon a time", stream: i % 2 === 0,
                                                        options: { num_predict: 4 } });
      assert.equal(r.status, 200, r.text);
    }
    const m = (await get(srv.base, "/metrics")).text;
    for (const name of ["berth_time_to_first_token_seconds", "berth_time_per_token_seconds"]) {
      assert.match(m, new RegExp(`^# TYPE ${name} histogram$`, "m"));
      const buckets = [...m.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, "gm"))];
      assert.ok(buckets.length >= 5, name);
      const counts = buckets.map((b) => Number(b[2]));
      assert.ok(counts.every((c, i) => i === 0 || c >= counts[i - 1]), `${name} buckets are cumulative`);
      assert.equal(buckets[buckets.length - 1][1], "+Inf");
      assert.equal(counts[counts.length - 1], 3, `${name}: three generations`);
      assert.match(m, new RegExp(`^${name}_count 3$`, "m"));
      assert.ok(Number(m.match(new RegExp(`^${name}_sum (\\S+)$`, "m"))[1]) > 0);
    }
    assert.match(m, /^berth_process_swap_bytes \d+$/m);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
