// Embeddings through /api/embed, /api/embeddings and /v1/embeddings against the reference vectors of the
// synthetic BERT model (testdata/embeddings): cosine similarity ≥ 0.999 (the reference itself agrees with a
// float64 computation to 1e-7; 0.999 leaves room for f16 rounding differences in a different engine).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startServer, testdata, post } from "./server.mjs";

let srv;
before(async () => { srv = await startServer(); });
after(async () => { if (srv) assert.equal(await srv.stop(), 0); });

const ref = JSON.parse(fs.readFileSync(path.join(testdata, "embeddings", "bert-f16.json"), "utf8"));
const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0) / (norm(a) * norm(b));

test("/api/embed: unit vectors matching the reference, batch in order", async () => {
  const texts = ref.cases.map((c) => c.text);
  const r = await post(srv.base, "/api/embed", { model: "bert-f16", input: texts });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.embeddings.length, texts.length);
  r.json.embeddings.forEach((e, i) => {
    assert.equal(e.length, ref.n_embd);
    assert.ok(Math.abs(norm(e) - 1) < 1e-4, "normalized");
    const c = cosine(e, ref.cases[i].embedding);
    assert.ok(c >= 0.999, `case ${i} cosine ${c}`);
  });
  assert.ok(r.json.prompt_eval_count >= texts.length);
  const single = await post(srv.base, "/api/embed", { model: "bert-f16", input: texts[0] });
  assert.deepEqual(single.json.embeddings[0], r.json.embeddings[0], "the same text gives the same vector");
});

test("/api/embeddings (legacy) returns the raw pooled vector; /v1/embeddings the OpenAI shape", async () => {
  const c = ref.cases[0];
  const legacy = await post(srv.base, "/api/embeddings", { model: "bert-f16", prompt: c.text });
  assert.equal(legacy.status, 200, legacy.text);
  const e = legacy.json.embedding;
  const maxDiff = Math.max(...e.map((x, i) => Math.abs(x - c.embedding[i])));
  assert.ok(cosine(e, c.embedding) >= 0.999 && maxDiff < 0.05 * norm(c.embedding), `max diff ${maxDiff}`);
  const oa = await post(srv.base, "/v1/embeddings", { model: "bert-f16", input: [c.text, "second"] });
  assert.equal(oa.status, 200, oa.text);
  assert.equal(oa.json.object, "list");
  assert.equal(oa.json.data.length, 2);
  assert.equal(oa.json.data[1].index, 1);
  assert.equal(oa.json.data[0].object, "embedding");
  assert.ok(oa.json.usage.prompt_tokens > 0);
});

test("wrong model kinds and inputs get clear errors", async () => {
  let r = await post(srv.base, "/api/generate", { model: "bert-f16", prompt: "hi", stream: false });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /does not support generate/);
  r = await post(srv.base, "/api/embed", { model: "stories260K", input: "hi" });
  assert.equal(r.status, 501);
  r = await post(srv.base, "/api/embed", { model: "bert-f16", input: [1, 2] });
  assert.equal(r.status, 400);
  r = await post(srv.base, "/api/embed", { model: "bert-f16", input: "word ".repeat(2000), truncate: false });
  assert.equal(r.status, 400);
  r = await post(srv.base, "/api/embed", { model: "bert-f16", input: "word ".repeat(2000) });
  assert.equal(r.status, 200, "truncated by default");
  const show = await post(srv.base, "/api/show", { model: "bert-f16" });
  assert.deepEqual(show.json.capabilities, ["embedding"]);
});

test("/v1/embeddings encoding_format base64: little-endian float32, as OpenAI sends it", async () => {
  const f = await post(srv.base, "/v1/embeddings", { model: "bert-f16", input: "hello", encoding_format: "float" });
  const b = await post(srv.base, "/v1/embeddings", { model: "bert-f16", input: "hello", encoding_format: "base64" });
  assert.equal(b.status, 200, b.text);
  assert.equal(typeof b.json.data[0].embedding, "string");
  const bytes = Buffer.from(b.json.data[0].embedding, "base64");
  assert.equal(bytes.length, 4 * f.json.data[0].embedding.length);
  const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(4 * i));
  // JSON carries the float32 values in shortest round-trip form, so both decode to the same float32 numbers.
  assert.deepEqual(decoded, f.json.data[0].embedding.map((x) => Math.fround(x)));
  const bad = await post(srv.base, "/v1/embeddings", { model: "bert-f16", input: "hello", encoding_format: "hex" });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /encoding_format must be "float" or "base64"/);
  const dims = await post(srv.base, "/api/embed", { model: "bert-f16", input: "hello", dimensions: 8.0 });
  assert.equal(dims.status, 200, "an integer sent as a float is accepted");
  assert.equal(dims.json.embeddings[0].length, 8);
});
