// Open WebUI's request shapes (agents.md §e), sent as Open WebUI posts them to /api/chat: an OpenAI-style body
// carried over (tools passed through, assistant history with tool_calls {index, id, function: {name, arguments as an
// object}} and content "", tool results with tool_call_id only, format taken from response_format's schema, think and
// keep_alive at the top level, an extra `metadata` object), native tool calling streamed, and the task model's
// requests (no format, no think). The test models have random weights; the forced model (berth's tool_choice
// PARAMETER) makes the call certain where the test needs one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, post, weather } from "./server.mjs";

let srv;
const MODEL = "qwen3-tools-q8_0";
const metadata = { user_id: "u-1", chat_id: "c-1", message_id: "m-1", session_id: "s-1", tool_ids: null, files: null };

before(async () => {
  srv = await startServer();
  const c = await post(srv.base, "/api/create", { model: "webui-forced", from: MODEL, parameters: { tool_choice: "required" }, stream: false });
  assert.equal(c.status, 200, c.text);
});
after(async () => { if (srv) assert.equal(await srv.stop(), 0, "berth exits 0 on SIGTERM"); });

// Reads an NDJSON stream into its chunks.
async function streamChunks(path, body) {
  const res = await fetch(srv.base + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.clone().text());
  const text = await res.text();
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

test("native tool calling: tools passed through, streamed tool_calls, then the history with ids only", async () => {
  const chunks = await streamChunks("/api/chat", {
    model: "webui-forced", stream: true, think: false, keep_alive: "5m", metadata,
    messages: [{ role: "system", content: "You are helpful." }, { role: "user", content: "Weather in Rome?" }],
    tools: [weather], options: { seed: 7, num_predict: 1000 },
  });
  const calls = chunks.flatMap((c) => c.message?.tool_calls || []);
  assert.ok(calls.length >= 1, JSON.stringify(chunks.at(-1)));
  for (const c of calls) {
    assert.equal(c.function.name, "get_weather");
    assert.equal(typeof c.function.arguments, "object");
  }
  const content = chunks.map((c) => c.message?.content || "").join("");
  assert.equal(content, "", "a forced call leaves nothing for content");
  assert.equal(chunks.at(-1).done, true);
  assert.equal(chunks.at(-1).done_reason, "stop");

  // The next turn as Open WebUI sends it: the assistant's calls with index and id, arguments as objects, content "",
  // each result with tool_call_id only.
  const history = calls.map((c, i) => ({ index: i, id: c.id || `call_${i}`, function: { name: c.function.name, arguments: c.function.arguments } }));
  const r = await post(srv.base, "/api/chat", {
    model: MODEL, stream: false, think: false, keep_alive: "5m", metadata,
    messages: [
      { role: "user", content: "Weather in Rome?" },
      { role: "assistant", content: "", tool_calls: history },
      ...history.map((h) => ({ role: "tool", tool_call_id: h.id, content: "18 degrees" })),
    ],
    tools: [weather], options: { seed: 1, num_predict: 8 },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.message.role, "assistant");
});

test("format from response_format's schema, with think and metadata at the top level", async () => {
  const schema = { type: "object", properties: { title: { type: "string", maxLength: 40 } }, required: ["title"], additionalProperties: false };
  const r = await post(srv.base, "/api/chat", {
    model: MODEL, stream: false, think: false, metadata, format: schema,
    messages: [{ role: "user", content: "Generate a concise title for this chat." }], options: { seed: 3, num_predict: 200 },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.done_reason, "stop", r.text);
  const v = JSON.parse(r.json.message.content);
  assert.deepEqual(Object.keys(v), ["title"]);
  assert.ok(typeof v.title === "string" && [...v.title].length <= 40, r.json.message.content);
});

test("task model requests (no format, no think) on a thinking template: nothing of the reasoning reaches content", async () => {
  for (const prompt of ['Reply with {"title": ...}', 'Reply with {"tags": [...]}', 'Reply with {"follow_ups": [...]}']) {
    const r = await post(srv.base, "/api/chat", {
      model: MODEL, stream: false, metadata, messages: [{ role: "user", content: prompt }], options: { seed: 2, num_predict: 24 },
    });
    assert.equal(r.status, 200, r.text);
    assert.ok(!/<\/?think>/.test(r.json.message.content), r.json.message.content);
  }
});
