// Structured output through the official clients, unchanged: `format` (ollama), `response_format` (openai, also its
// zod helper) and LangChain's withStructuredOutput. The test models have random weights, so every answer below is
// valid only because berth constrains decoding; each one is checked by an independent validator (ajv).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import { ChatOllama } from "@langchain/ollama";
import { z } from "zod";
import Ajv from "ajv";
import { startServer, post } from "./server.mjs";

let srv, ollama, openai;
const ajv = new Ajv({ strict: false, allErrors: true });
const MODEL = "qwen3-tools-q8_0";  // the Qwen3 chat template (tools, thinking) over random weights

before(async () => {
  srv = await startServer();
  ollama = new Ollama({ host: srv.base });
  openai = new OpenAI({ baseURL: srv.base + "/v1", apiKey: "berth", maxRetries: 0, timeout: 120000 });
});
after(async () => { if (srv) assert.equal(await srv.stop(), 0, "berth exits 0 on SIGTERM"); });

// A nested schema with bounded strings, an enum, numbers with bounds, an array and an optional nullable field.
const review = {
  type: "object",
  properties: {
    title: { type: "string", minLength: 1, maxLength: 24 },
    rating: { type: "integer", minimum: 1, maximum: 5 },
    score: { type: "number", minimum: 0, maximum: 1 },
    tags: { type: "array", items: { type: "string", enum: ["fast", "slow", "cheap", "dear"] }, minItems: 1, maxItems: 3 },
    author: { type: "object", properties: { name: { type: "string", maxLength: 12 } }, required: ["name"], additionalProperties: false },
    note: { anyOf: [{ type: "string", maxLength: 10 }, { type: "null" }] },
  },
  required: ["title", "rating", "tags", "author"],
  additionalProperties: false,
};
const validReview = ajv.compile(review);
const options = (seed) => ({ seed, num_predict: 600, temperature: 1 });
// The Qwen3 template thinks unless told not to; random weights may never close a reasoning block, so these
// requests turn thinking off (the grammar of a format with thinking is tested in src/server/agent_test.cpp).

function checkDoc(text, validate, what) {
  let doc;
  try { doc = JSON.parse(text); } catch (e) { assert.fail(`${what}: not JSON: ${JSON.stringify(text)}`); }
  assert.ok(validate(doc), `${what}: ${ajv.errorsText(validate.errors)} in ${text}`);
  assert.equal(text, text.trim(), `${what}: no whitespace around the value`);
  return doc;
}

test("ollama chat with a JSON schema, not streamed and streamed: every answer validates", async () => {
  for (let seed = 1; seed <= 6; seed++) {
    const r = await ollama.chat({ model: MODEL, messages: [{ role: "user", content: "Review a bike." }],
                                  format: review, think: false, stream: false, options: options(seed) });
    assert.equal(r.done_reason, "stop", "the value ends the generation");
    checkDoc(r.message.content, validReview, `seed ${seed}`);
  }
  let text = "", last;
  for await (const part of await ollama.chat({ model: MODEL, messages: [{ role: "user", content: "Review a bike." }],
                                               format: review, think: false, stream: true, options: options(7) })) {
    text += part.message.content;
    last = part;
  }
  assert.equal(last.done_reason, "stop");
  checkDoc(text, validReview, "streamed");
});

test("ollama generate with format \"json\": an object, and the generation stops right after it", async () => {
  const isObject = ajv.compile({ type: "object" });
  for (let seed = 1; seed <= 4; seed++) {
    const r = await ollama.generate({ model: "llama-spm-q8_0", prompt: "Give me JSON.", format: "json", stream: false,
                                      options: { seed, num_predict: 800, temperature: 0.7 } });
    if (r.done_reason === "length") continue;  // any JSON object may be longer than num_predict
    assert.equal(r.done_reason, "stop");
    checkDoc(r.response, isObject, `generate seed ${seed}`);
  }
});

test("num_predict cut short says length", async () => {
  const r = await ollama.chat({ model: MODEL, messages: [{ role: "user", content: "x" }], format: review, think: false,
                                stream: false, options: { seed: 1, num_predict: 3 } });
  assert.equal(r.done_reason, "length");
});

test("openai response_format json_object and json_schema", async () => {
  const obj = await openai.chat.completions.create({
    model: MODEL, messages: [{ role: "user", content: "JSON please" }], response_format: { type: "json_object" },
    max_tokens: 800, seed: 3, reasoning_effort: "none",
  });
  if (obj.choices[0].finish_reason === "stop") checkDoc(obj.choices[0].message.content, ajv.compile({ type: "object" }), "json_object");
  else assert.equal(obj.choices[0].finish_reason, "length");
  for (let seed = 1; seed <= 4; seed++) {
    const r = await openai.chat.completions.create({
      model: MODEL, messages: [{ role: "user", content: "Review a bike." }], max_tokens: 600, seed, reasoning_effort: "none",
      response_format: { type: "json_schema", json_schema: { name: "review", schema: review, strict: true } },
    });
    assert.equal(r.choices[0].finish_reason, "stop");
    checkDoc(r.choices[0].message.content, validReview, `json_schema seed ${seed}`);
  }
  // Streamed, on /v1/completions too.
  const stream = await openai.chat.completions.create({
    model: MODEL, messages: [{ role: "user", content: "Review a bike." }], max_tokens: 600, seed: 9, stream: true, reasoning_effort: "none",
    response_format: { type: "json_schema", json_schema: { name: "review", schema: review } },
  });
  let text = "";
  for await (const c of stream) text += c.choices[0]?.delta?.content || "";
  checkDoc(text, validReview, "json_schema streamed");
  const comp = await openai.completions.create({ model: MODEL, prompt: "A review: ", max_tokens: 600, seed: 4,
                                                response_format: { type: "json_schema", json_schema: { name: "r", schema: review } } });
  checkDoc(comp.choices[0].text, validReview, "completions");
});

test("openai's zod helper: beta.chat.completions.parse returns the parsed object", async () => {
  const Event = z.object({
    name: z.string().max(20),
    day: z.enum(["mon", "tue", "wed"]),
    attendees: z.array(z.string().max(8)).max(3),
    online: z.boolean(),
  });
  const r = await openai.beta.chat.completions.parse({
    model: MODEL, messages: [{ role: "user", content: "An event." }], max_tokens: 600, seed: 5, reasoning_effort: "none",
    response_format: zodResponseFormat(Event, "event"),
  });
  const parsed = r.choices[0].message.parsed;
  assert.ok(parsed, "the helper parsed the answer");
  assert.deepEqual(Event.parse(parsed), parsed);
});

test("LangChain ChatOllama.withStructuredOutput (jsonSchema and jsonMode)", async () => {
  const Person = z.object({ name: z.string().max(16), age: z.number().int().min(0).max(120), pets: z.array(z.enum(["cat", "dog"])).max(2) });
  const llm = new ChatOllama({ baseUrl: srv.base, model: MODEL, temperature: 0.8, numPredict: 400, seed: 11, think: false });
  const person = await llm.withStructuredOutput(Person).invoke("Describe a person.");
  assert.deepEqual(Person.parse(person), person);
  const any = await new ChatOllama({ baseUrl: srv.base, model: MODEL, numPredict: 800, seed: 2, think: false })
    .withStructuredOutput(z.object({}).passthrough(), { method: "jsonMode" }).invoke("JSON.");
  assert.equal(typeof any, "object");
});

test("bad schemas get 400 with the keyword's path; unknown formats too", async () => {
  const bad = await post(srv.base, "/api/chat", { model: MODEL, messages: [{ role: "user", content: "x" }], stream: false,
    format: { type: "object", properties: { a: { type: "object", patternProperties: { "^x": {} } } } } });
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.json.error, /patternProperties/);
  assert.match(bad.json.error, /\/properties\/a/);
  const xml = await post(srv.base, "/api/generate", { model: MODEL, prompt: "x", format: "xml", stream: false });
  assert.equal(xml.status, 400);
  assert.match(xml.json.error, /invalid format/);
  const oa = await post(srv.base, "/v1/chat/completions", { model: MODEL, messages: [{ role: "user", content: "x" }],
    response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "strin" } } } });
  assert.equal(oa.status, 400, oa.text);
  assert.match(oa.json.error.message, /type/);
});
