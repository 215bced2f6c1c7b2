// API contract of `berth serve` with plain HTTP (node's fetch, like curl): the reference greedy text of
// stories260K (streamed and not, native and OpenAI), framing, timing fields, load/unload, keep-alive, errors
// with their statuses followed by normal service, the Host guard, body limit, metrics and memory.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startServer, oracle, post, get, ndjson, sse, waitFor, sleep } from "./server.mjs";

let srv;
const story = oracle("stories260K").cases[0];  // "Once upon a time" → greedy continuation
const greedy = { temperature: 0, num_predict: story.greedy.length };
const genBody = (extra = {}) => ({ model: "stories260K", prompt: story.prompt, raw: true, options: greedy, ...extra });

before(async () => { srv = await startServer({ BERTH_MAX_BODY: "1MiB" }); });
after(async () => { if (srv) assert.equal(await srv.stop(), 0, "berth exits 0 on SIGTERM"); });

async function servesNormally() {
  const r = await post(srv.base, "/api/generate", genBody({ stream: false }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.response, story.greedy_text);
}

test("GET and HEAD / answer 200 with a plain line", async () => {
  const r = await get(srv.base, "/");
  assert.equal(r.status, 200);
  assert.match(r.text, /berth/);
  const h = await fetch(srv.base + "/", { method: "HEAD" });
  assert.equal(h.status, 200);
  const v = await get(srv.base, "/api/version");
  assert.match(v.json.version, /^\d+\.\d+\.\d+/);
});

test("generate, not streamed: reference greedy text and timing fields in ns", async () => {
  const r = await post(srv.base, "/api/generate", genBody({ stream: false }));
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get("content-type"), /application\/json/);
  const j = r.json;
  assert.equal(j.response, story.greedy_text);
  assert.equal(j.done, true);
  assert.equal(j.done_reason, "length");
  assert.equal(j.prompt_eval_count, story.tokens.length);
  assert.equal(j.eval_count, story.greedy.length);
  for (const k of ["total_duration", "load_duration", "prompt_eval_duration", "eval_duration"])
    assert.ok(Number.isInteger(j[k]) && j[k] >= 0, k);
  assert.ok(j.total_duration >= j.eval_duration);
  assert.deepEqual(j.context.slice(0, story.tokens.length), story.tokens, "context starts with the prompt tokens");
  assert.deepEqual(j.context.slice(story.tokens.length), story.greedy, "and continues with the generated ones");
});

test("generate, streamed NDJSON: one chunk per token, same text, final chunk with metrics", async () => {
  const r = await post(srv.base, "/api/generate", genBody());
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /application\/x-ndjson/);
  const lines = ndjson(r.text);
  const last = lines.at(-1);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, "length");
  assert.equal(last.eval_count, story.greedy.length);
  assert.ok(lines.slice(0, -1).every((l) => l.done === false && typeof l.response === "string"));
  assert.equal(lines.map((l) => l.response).join(""), story.greedy_text);
  assert.ok(lines.length >= story.greedy.length * 0.8, `got ${lines.length} chunks for ${story.greedy.length} tokens`);
});

test("stop strings end the generation and are not returned", async () => {
  const r = await post(srv.base, "/api/generate", genBody({ stream: false, options: { ...greedy, stop: ["Lily"] } }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.done_reason, "stop");
  assert.equal(r.json.response, story.greedy_text.slice(0, story.greedy_text.indexOf("Lily")));
});

test("chat: streamed equals not streamed at temperature 0", async () => {
  const body = { model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], options: { temperature: 0, num_predict: 16 } };
  const whole = await post(srv.base, "/api/chat", { ...body, stream: false });
  assert.equal(whole.status, 200, whole.text);
  assert.equal(whole.json.message.role, "assistant");
  assert.equal(whole.json.eval_count, 16);
  const streamed = await post(srv.base, "/api/chat", body);
  const lines = ndjson(streamed.text);
  assert.equal(lines.map((l) => l.message.content).join(""), whole.json.message.content);
  assert.equal(lines.at(-1).done_reason, "length");
  assert.equal(lines.at(-1).context, undefined, "chat has no context field");
});

test("OpenAI chat completions: SSE framing, [DONE], usage; non-stream object", async () => {
  const body = { model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], temperature: 0, max_tokens: 8 };
  const whole = await post(srv.base, "/v1/chat/completions", body);
  assert.equal(whole.status, 200, whole.text);
  assert.equal(whole.json.object, "chat.completion");
  assert.equal(whole.json.choices[0].finish_reason, "length");
  assert.equal(whole.json.usage.completion_tokens, 8);
  const r = await post(srv.base, "/v1/chat/completions", { ...body, stream: true, stream_options: { include_usage: true } });
  assert.match(r.headers.get("content-type"), /text\/event-stream/);
  const events = sse(r.text);
  assert.equal(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1);
  assert.equal(chunks[0].choices[0].delta.role, "assistant");
  const usage = chunks.at(-1);
  assert.deepEqual(usage.choices, []);
  assert.equal(usage.usage.completion_tokens, 8);
  const text = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta.content || "").join("");
  assert.equal(text, whole.json.choices[0].message.content);
  assert.equal(chunks.at(-2).choices[0].finish_reason, "length");
});

test("OpenAI completions: reference greedy text, streamed too", async () => {
  const body = { model: "stories260K", prompt: story.prompt, temperature: 0, max_tokens: story.greedy.length };
  const r = await post(srv.base, "/v1/completions", body);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.object, "text_completion");
  assert.equal(r.json.choices[0].text, story.greedy_text);
  const s = await post(srv.base, "/v1/completions", { ...body, stream: true });
  const events = sse(s.text);
  assert.equal(events.at(-1), "[DONE]");
  assert.equal(events.slice(0, -1).map((c) => c.choices[0].text).join(""), story.greedy_text);
});

test("tags, ps (with berth's fields), show, /v1/models", async () => {
  const tags = await get(srv.base, "/api/tags");
  const m = tags.json.models.find((x) => x.name === "stories260K:latest");
  assert.ok(m, "stories260K is listed under its file name, with its tag as Ollama lists models");
  assert.equal(m.model, m.name);
  assert.equal(m.details.format, "gguf");
  assert.equal(m.details.family, "llama");
  await post(srv.base, "/api/generate", { model: "stories260K", prompt: "", keep_alive: "10m" });
  const ps = await get(srv.base, "/api/ps");
  const p = ps.json.models.find((x) => x.name === "stories260K:latest");
  assert.ok(p, "loaded, listed with its tag");
  assert.equal(p.model, "stories260K:latest");
  for (const k of ["size", "size_vram", "size_weights", "size_kv", "size_scratch", "size_cache", "context_length"]) assert.ok(Number.isInteger(p[k]), k);
  assert.equal(p.size, p.size_weights + p.size_kv + p.size_scratch + p.size_cache);
  assert.equal(p.pinned, false);
  assert.equal(p.expiry_reason, "client");
  const left = Date.parse(p.expires_at) - Date.now();
  assert.ok(left > 9 * 60 * 1000 && left <= 10 * 60 * 1000 + 5000, `expires in ${left} ms, want about 10 min`);
  const show = await post(srv.base, "/api/show", { model: "stories260K" });
  assert.equal(show.status, 200);
  assert.equal(show.json.model_info["general.architecture"], "llama");
  const models = await get(srv.base, "/v1/models");
  assert.ok(models.json.data.some((x) => x.id === "stories260K"));
  const one = await get(srv.base, "/v1/models/stories260K");
  assert.equal(one.json.object, "model");
});

test("empty prompt loads; keep_alive 0 unloads; sampling-only changes never reload", async () => {
  let r = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "", keep_alive: 0 });
  assert.equal(r.json.done_reason, "unload");
  await waitFor(async () => (await get(srv.base, "/api/ps")).json.models.length === 0, "unload");
  r = await post(srv.base, "/api/chat", { model: "stories260K", messages: [] });
  assert.equal(r.json.done_reason, "load");
  assert.equal((await get(srv.base, "/api/ps")).json.models.length, 1);
  const loadsBefore = (await get(srv.base, "/metrics")).text.match(/^berth_model_loads_total (\d+)/m)[1];
  await post(srv.base, "/api/generate", genBody({ stream: false, options: { temperature: 0.7, top_k: 5, seed: 3, num_predict: 4 } }));
  await post(srv.base, "/api/generate", genBody({ stream: false, options: { num_ctx: 64, num_predict: 4 } }));
  const loadsAfter = (await get(srv.base, "/metrics")).text.match(/^berth_model_loads_total (\d+)/m)[1];
  assert.equal(loadsAfter, loadsBefore, "no reload for sampling options or a smaller num_ctx");
  // keep_alive 0 on a real request: unloaded when it ends.
  r = await post(srv.base, "/api/generate", genBody({ stream: false, keep_alive: 0, options: { temperature: 0, num_predict: 2 } }));
  assert.equal(r.status, 200);
  await waitFor(async () => (await get(srv.base, "/api/ps")).json.models.length === 0, "unload after the request");
});

test("operator load with pin, then unload", async () => {
  let r = await post(srv.base, "/api/load", { model: "stories260K", pin: true });
  assert.equal(r.status, 200, r.text);
  let p = (await get(srv.base, "/api/ps")).json.models[0];
  assert.equal(p.pinned, true);
  assert.equal(p.expiry_reason, "pinned");
  // A client's keep_alive 0 does not unload a pinned model.
  await post(srv.base, "/api/generate", { model: "stories260K", prompt: "", keep_alive: 0 });
  await sleep(100);
  assert.equal((await get(srv.base, "/api/ps")).json.models.length, 1);
  r = await post(srv.base, "/api/load", { model: "stories260K", pin: false });
  r = await post(srv.base, "/api/unload", { model: "stories260K" });
  assert.equal(r.status, 200);
  await waitFor(async () => (await get(srv.base, "/api/ps")).json.models.length === 0, "admin unload");
  r = await post(srv.base, "/api/unload", { model: "stories260K" });
  assert.equal(r.status, 404);
});

test("bad input gets the documented status, and the server answers normally right after", async () => {
  const cases = [
    ["/api/generate", "{not json", 400],
    ["/api/generate", "", 400],
    ["/api/generate", JSON.stringify([1, 2]), 400],
    ["/api/generate", JSON.stringify({ model: "stories260K", prompt: 5 }), 400],
    ["/api/generate", JSON.stringify({ model: 7, prompt: "x" }), 400],
    ["/api/generate", JSON.stringify({ model: "stories260K", prompt: "x", keep_alive: "10" }), 400],
    ["/api/generate", JSON.stringify({ model: "stories260K", prompt: "x", keep_alive: true }), 400],
    ["/api/generate", JSON.stringify({ model: "stories260K", prompt: "x", options: { temperature: "hot" } }), 400],
    ["/api/generate", JSON.stringify({ model: "stories260K", prompt: "x", format: "yaml" }), 400],
    ["/api/generate", JSON.stringify({ model: "stories260K", prompt: "x", format: { type: "object", properties: { a: { type: "frob" } } } }), 400],
    ["/api/generate", JSON.stringify({ model: "../../etc/passwd", prompt: "x" }), 400],
    ["/api/generate", JSON.stringify({ model: "no-such-model", prompt: "x" }), 404],
    ["/api/chat", JSON.stringify({ model: "stories260K", messages: "hi" }), 400],
    ["/api/chat", JSON.stringify({ model: "stories260K", messages: [{ content: "no role" }] }), 400],
    ["/api/chat", JSON.stringify({ messages: [] }), 400],
    ["/api/show", JSON.stringify({ model: "no-such-model" }), 404],
    ["/api/embed", JSON.stringify({ model: "stories260K", input: "x" }), 501],
    ["/api/blobs/sha256:nothex", "x", 400],
  ];
  for (const [p, body, status] of cases) {
    const r = await post(srv.base, p, body);
    assert.equal(r.status, status, `${p} ${body} → ${r.status} ${r.text}`);
    if (status !== 404 || p !== "/api/show") assert.equal(typeof r.json.error, "string", `${p} ${body}: {"error": "..."}`);
  }
  // A raw prompt longer than the context (512 for stories260K) is refused, never cut silently.
  const long = await post(srv.base, "/api/generate", genBody({ stream: false, prompt: "Once upon a time ".repeat(400) }));
  assert.equal(long.status, 400);
  assert.match(long.json.error, /context/);
  // A body over BERTH_MAX_BODY (1 MiB here) is 413.
  const big = await post(srv.base, "/api/generate", JSON.stringify({ model: "stories260K", prompt: "x".repeat(2 << 20) }));
  assert.equal(big.status, 413);
  // OpenAI errors have OpenAI's shape.
  const oa = await post(srv.base, "/v1/chat/completions", { model: "no-such-model", messages: [{ role: "user", content: "hi" }] });
  assert.equal(oa.status, 404);
  assert.equal(typeof oa.json.error.message, "string");
  assert.ok("type" in oa.json.error && "param" in oa.json.error && "code" in oa.json.error);
  // Wrong method on a known route: 405; unknown route: 404.
  assert.equal((await get(srv.base, "/api/generate")).status, 405);
  assert.equal((await get(srv.base, "/api/nothing-here")).status, 404);
  const oa2 = await post(srv.base, "/v1/chat/completions", { model: "stories260K", messages: [] });
  assert.equal(oa2.status, 400);
  assert.equal(oa2.json.error.type, "invalid_request_error");
  await servesNormally();
});

test("chat longer than the context drops the oldest messages and says so", async () => {
  const filler = "The cat sat on the mat and looked at the sun. ".repeat(12);
  const messages = [{ role: "system", content: "Tell a story." }];
  for (let i = 0; i < 12; i++) messages.push({ role: i % 2 ? "assistant" : "user", content: filler });
  messages.push({ role: "user", content: "Once upon a time" });
  const r = await post(srv.base, "/api/chat", { model: "stories260K", messages, stream: false, options: { temperature: 0, num_predict: 4 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.truncated, true);
  assert.equal(r.headers.get("x-berth-truncated"), "true");
  assert.ok(r.json.prompt_eval_count < 512);
});

test("a foreign Host header is refused on a loopback bind", async () => {
  const status = await new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: srv.port, path: "/api/tags", headers: { Host: "evil.example.com" } },
      (res) => { res.resume(); resolve(res.statusCode); });
    req.on("error", reject);
    req.setTimeout(10000, () => req.destroy(new Error("timeout")));
    req.end();
  });
  assert.equal(status, 403);
  const ok = await get(srv.base, "/api/tags", { Host: "localhost:11434" });
  assert.equal(ok.status, 200);
});

test("a client that disconnects cancels its generation", async () => {
  const before = Number((await get(srv.base, "/metrics")).text.match(/^berth_generations_cancelled_total (\d+)/m)[1]);
  // Sampling at a high temperature rarely hits the end token: the generation runs to the context limit unless
  // cancelled. Abort after the first chunk arrives.
  const ac = new AbortController();
  const r = await fetch(srv.base + "/api/generate", {
    method: "POST", signal: ac.signal,
    body: JSON.stringify({ model: "stories260K", prompt: "Once", raw: true, options: { temperature: 5, seed: 1, num_predict: -1 } }),
  });
  const reader = r.body.getReader();
  await reader.read();
  ac.abort();
  await reader.cancel().catch(() => {});
  // Hundreds of tokens were still to come: the server notices the closed connection on its next writes.
  const cancelled = async () => Number((await get(srv.base, "/metrics")).text.match(/^berth_generations_cancelled_total (\d+)/m)[1]);
  await waitFor(async () => (await cancelled()) === before + 1, "the generation to be cancelled", 10000);
  await servesNormally();
});

test("a client that disconnects cancels its generation while nothing is written: non-streamed, or during the prompt", async () => {
  const cancelled = async () => Number((await get(srv.base, "/metrics")).text.match(/^berth_generations_cancelled_total (\d+)/m)[1]);
  // Decoding: a large context and a high temperature, so 100000 tokens would take minutes and only a cancellation
  // ends these. The first request loads the model with the large context; the OpenAI one (no num_ctx) reuses it.
  // Prompt evaluation: an 11000-token prompt (tens of seconds here; attention is quadratic in its length, so even a
  // much faster machine needs well over the 300 ms before the abort), streamed or not: nothing is written before
  // the first token, so only the connection watcher can notice the client leaving.
  const long = "Once upon a time there was a girl. ".repeat(1000);
  const cases = [
    ["/api/generate", { model: "stories260K", prompt: "Once", raw: true, stream: false,
                        options: { temperature: 5, seed: 1, num_predict: 100000, num_ctx: 32768 } }],
    ["/v1/chat/completions", { model: "stories260K", messages: [{ role: "user", content: "Once" }],
                               max_tokens: 100000, temperature: 5, seed: 1 }],
    ["/api/generate", { model: "stories260K", prompt: long, raw: true, stream: false, options: { num_predict: 1 } }],
    ["/api/generate", { model: "stories260K", prompt: long, raw: true, stream: true, options: { num_predict: 1 } }],
  ];
  for (const [route, body] of cases) {
    const what = `${route} ${body.prompt === long ? "long prompt" : "decoding"} stream ${!!body.stream}`;
    const before = await cancelled();
    const ac = new AbortController();
    // Streamed: the response headers arrive at once; what matters is that no chunk did before the abort.
    const pending = fetch(srv.base + route, {
      method: "POST", signal: ac.signal, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }).then((r) => (body.stream ? r.text() : r)).then(() => "answered", (e) => e.name);
    await sleep(300);
    ac.abort();
    assert.equal(await pending, "AbortError", `${what}: still running when the client left`);
    await waitFor(async () => (await cancelled()) === before + 1, `${what}: the generation to be cancelled`, 10000);
    await waitFor(async () => {
      const m = (await get(srv.base, "/api/ps")).json.models.find((x) => x.name === "stories260K:latest");
      return m && m.state === "ready" && m.in_flight === 0;
    }, `${what}: the model to be idle again`, 5000);
    await servesNormally();
  }
});

test("health, metrics and memory", async () => {
  await post(srv.base, "/api/generate", { model: "stories260K", prompt: "" });
  const h = await get(srv.base, "/health");
  assert.equal(h.json.status, "ok");
  const m = await get(srv.base, "/metrics");
  assert.match(m.headers.get("content-type"), /text\/plain/);
  assert.match(m.text, /^berth_models_loaded 1$/m);
  assert.match(m.text, /^berth_model_bytes\{model="stories260K",kind="kv"\} \d+$/m);
  assert.match(m.text, /^berth_model_bytes\{model="stories260K",kind="cache"\} [1-9]\d*$/m);
  assert.match(m.text, /^berth_http_requests_total\{path="\/api\/generate",status="200"\} \d+$/m);
  const mem = await get(srv.base, "/api/memory");
  const row = mem.json.ledger.find((x) => x.model === "stories260K");
  assert.ok(row && row.bytes.kv > 0 && row.bytes.scratch > 0);
  assert.ok(mem.json.process.rss_anon > 0);
  assert.ok(Number.isInteger(mem.json.unaccounted));
  const ps = (await get(srv.base, "/api/ps")).json.models[0];
  assert.equal(row.bytes.kv, ps.size_kv, "ps and the ledger agree");
  assert.ok(row.bytes.cache > 0 && row.bytes.cache === ps.size_cache, "the tokenizer and template are a cache entry");
  assert.equal(row.total, ps.size, "ps size is the ledger's total");
  // The one-second history: whole, none, or only what is newer than a time; bad values are 400.
  await waitFor(async () => (await get(srv.base, "/api/memory")).json.history.length >= 2, "two history samples");
  const full = (await get(srv.base, "/api/memory")).json.history;
  assert.ok(full.every((x, i) => i === 0 || x.t_ms > full[i - 1].t_ms), "samples oldest first");
  assert.equal((await get(srv.base, "/api/memory?history=0")).json.history.length, 0);
  assert.equal((await get(srv.base, "/api/memory?history=1")).json.history.length, 1);
  const newer = (await get(srv.base, `/api/memory?since=${full[full.length - 2].t_ms}`)).json.history;
  assert.ok(newer.length >= 1 && newer.every((x) => x.t_ms > full[full.length - 2].t_ms));
  assert.equal((await get(srv.base, "/api/memory?history=x")).status, 400);
  assert.equal((await get(srv.base, "/api/memory?since=-5")).status, 400);
  const ui = await get(srv.base, "/ui");
  assert.match(ui.text, /<html/i);
});
