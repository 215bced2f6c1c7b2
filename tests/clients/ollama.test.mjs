// The official `ollama` JavaScript client, unchanged, against berth.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Ollama } from "ollama";
import { startServer, oracle, waitFor } from "./server.mjs";

let srv, ollama;
const story = oracle("stories260K").cases[0];  // "Once upon a time" and the reference greedy continuation
const greedy = { temperature: 0, num_predict: story.greedy.length };

before(async () => {
  srv = await startServer();
  ollama = new Ollama({ host: srv.base });
});
after(async () => { if (srv) assert.equal(await srv.stop(), 0, "berth exits 0 on SIGTERM"); });

test("generate, not streamed: stories260K gives the reference greedy text", async () => {
  const r = await ollama.generate({ model: "stories260K", prompt: story.prompt, raw: true, stream: false, options: greedy });
  assert.equal(r.response, story.greedy_text);
  assert.equal(r.done, true);
  assert.equal(r.done_reason, "length");
  assert.equal(r.model, "stories260K");
  assert.equal(r.eval_count, story.greedy.length);
  assert.equal(r.prompt_eval_count, story.tokens.length);
  for (const k of ["total_duration", "load_duration", "prompt_eval_duration", "eval_duration"])
    assert.ok(Number.isInteger(r[k]) && r[k] >= 0, `${k} is a count of nanoseconds`);
  assert.ok(r.eval_duration > 0);
  assert.ok(Array.isArray(r.context) && r.context.length > 0, "generate returns its context");
});

test("generate, streamed: the chunks add up to the same text", async () => {
  let text = "", last, n = 0;
  for await (const part of await ollama.generate({ model: "stories260K", prompt: story.prompt, raw: true, stream: true, options: greedy })) {
    text += part.response;
    last = part;
    n++;
  }
  assert.equal(text, story.greedy_text);
  assert.ok(n > 10, "tokens arrive as separate chunks");
  assert.equal(last.done, true);
  assert.equal(last.done_reason, "length");
  assert.equal(last.eval_count, story.greedy.length);
});

test("chat, streamed and not", async () => {
  const messages = [{ role: "user", content: "Once upon a time" }];
  const r = await ollama.chat({ model: "stories260K", messages, stream: false, options: { temperature: 0, num_predict: 12 } });
  assert.equal(r.message.role, "assistant");
  assert.equal(typeof r.message.content, "string");
  assert.ok(r.message.content.length > 0);
  assert.equal(r.done, true);
  assert.equal(r.eval_count, 12);
  let text = "", last;
  for await (const part of await ollama.chat({ model: "stories260K", messages, stream: true, options: { temperature: 0, num_predict: 12 } })) {
    text += part.message.content;
    last = part;
  }
  assert.equal(text, r.message.content, "streamed chat equals the non-streamed answer at temperature 0");
  assert.equal(last.done, true);
});

test("tags, ps and show", async () => {
  const tags = await ollama.list();
  const names = tags.models.map((m) => m.name);
  assert.ok(names.includes("stories260K:latest"), `listed with its tag as Ollama does: ${names.join(", ")}`);
  const m = tags.models.find((x) => x.name.startsWith("stories260K"));
  assert.ok(m.size > 0);
  assert.equal(m.details.format, "gguf");
  await ollama.generate({ model: "stories260K", prompt: "", keep_alive: "5m" });
  const ps = await ollama.ps();
  const loaded = ps.models.find((x) => x.name.startsWith("stories260K"));
  assert.ok(loaded, "the model is listed as loaded");
  assert.ok(loaded.size > 0);
  assert.equal(loaded.size_vram, 0);
  assert.ok(Date.parse(loaded.expires_at) > Date.now(), "expires_at is in the future");
  const show = await ollama.show({ model: "stories260K" });
  assert.equal(show.details.family, "llama");
  assert.equal(show.model_info["general.architecture"], "llama");
});

test("load and unload through empty requests", async () => {
  const load = await ollama.generate({ model: "stories260K", prompt: "" });
  assert.equal(load.done, true);
  assert.equal(load.done_reason, "load");
  const unload = await ollama.generate({ model: "stories260K", prompt: "", keep_alive: 0 });
  assert.equal(unload.done_reason, "unload");
  await waitFor(async () => (await ollama.ps()).models.length === 0, "the model to unload");
  const chatLoad = await ollama.chat({ model: "stories260K", messages: [] });
  assert.equal(chatLoad.done_reason, "load");
});

test("create, copy and delete", async () => {
  await ollama.create({ model: "mystories", from: "stories260K", system: "You tell short stories." });
  let names = (await ollama.list()).models.map((m) => m.name);
  assert.ok(names.includes("mystories:latest"), names.join(", "));
  const show = await ollama.show({ model: "mystories" });
  assert.equal(show.system, "You tell short stories.");
  await ollama.copy({ source: "mystories", destination: "mystories-copy" });
  names = (await ollama.list()).models.map((m) => m.name);
  assert.ok(names.includes("mystories-copy:latest"));
  const r = await ollama.generate({ model: "mystories-copy", prompt: story.prompt, raw: true, stream: false, options: greedy });
  assert.equal(r.response, story.greedy_text, "a copy runs the same weights");
  await ollama.delete({ model: "mystories" });
  await ollama.delete({ model: "mystories-copy" });
  names = (await ollama.list()).models.map((m) => m.name);
  assert.ok(!names.includes("mystories:latest") && !names.includes("mystories-copy:latest"));
});

test("errors reach the client with Ollama's status and message", async () => {
  await assert.rejects(ollama.generate({ model: "no-such-model", prompt: "hi", stream: false }),
    (e) => e.status_code === 404 && /not found/.test(e.error));
  await assert.rejects(ollama.generate({ model: "stories260K", prompt: "hi", keep_alive: "10", stream: false }),
    (e) => e.status_code === 400);
  // The server keeps serving after errors.
  const r = await ollama.generate({ model: "stories260K", prompt: story.prompt, raw: true, stream: false, options: greedy });
  assert.equal(r.response, story.greedy_text);
});
