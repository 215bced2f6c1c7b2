// The official `openai` JavaScript client, unchanged, against berth's /v1 endpoints.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer, oracle } from "./server.mjs";

let srv, client;
const story = oracle("stories260K").cases[0];

before(async () => {
  srv = await startServer();
  client = new OpenAI({ baseURL: srv.base + "/v1", apiKey: "berth", maxRetries: 0, timeout: 60000 });
});
after(async () => { if (srv) await srv.stop(); });

test("chat completion, not streamed", async () => {
  const r = await client.chat.completions.create({
    model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], temperature: 0, max_tokens: 10,
  });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 10);
  assert.ok(r.usage.prompt_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test("chat completion, streamed, with usage", async () => {
  const stream = await client.chat.completions.create({
    model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], temperature: 0, max_tokens: 10,
    stream: true, stream_options: { include_usage: true },
  });
  let text = "", chunks = 0, usage = null, finish = null;
  for await (const c of stream) {
    chunks++;
    assert.equal(c.object, "chat.completion.chunk");
    if (c.choices.length) {
      text += c.choices[0].delta.content || "";
      if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
    }
    if (c.usage) usage = c.usage;
  }
  assert.ok(chunks > 3);
  assert.ok(text.length > 0);
  assert.equal(finish, "length");
  assert.ok(usage && usage.completion_tokens === 10, "the last chunk carries usage");
  const whole = await client.chat.completions.create({
    model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], temperature: 0, max_tokens: 10,
  });
  assert.equal(text, whole.choices[0].message.content, "streamed equals non-streamed at temperature 0");
});

test("completions: the reference greedy text", async () => {
  const r = await client.completions.create({ model: "stories260K", prompt: story.prompt, temperature: 0, max_tokens: story.greedy.length });
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices[0].text, story.greedy_text);
});

test("models list and retrieve", async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  assert.ok(ids.some((id) => id.startsWith("stories260K")), ids.join(", "));
  const m = await client.models.retrieve(ids.find((id) => id.startsWith("stories260K")));
  assert.equal(m.object, "model");
});

test("errors are OpenAI-shaped", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }),
    (e) => e.status === 404 && typeof e.message === "string" && e.message.length > 0);
  await assert.rejects(
    client.chat.completions.create({ model: "stories260K", messages: "not a list" }),
    (e) => e.status === 400);
});

test("embeddings.create, unchanged (the SDK asks for base64 by default)", async () => {
  // openai 4.x sends encoding_format "base64" unless told otherwise and decodes the little-endian float32 bytes.
  const r = await client.embeddings.create({ model: "bert-f16", input: ["hello world", "second input"] });
  assert.equal(r.object, "list");
  assert.equal(r.data.length, 2);
  const v = r.data[0].embedding;
  assert.ok(Array.isArray(v) && v.length > 0 && v.every((x) => Number.isFinite(x)), "decoded to numbers");
  assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4, "a unit vector");
  // The same vector as asking for floats explicitly.
  const f = await client.embeddings.create({ model: "bert-f16", input: "hello world", encoding_format: "float" });
  assert.deepEqual(f.data[0].embedding, v);
  assert.ok(r.usage.prompt_tokens > 0);
});
