// A model file replaced, deleted, rewritten or truncated while loaded (issue 16, item 4):
// - an Ollama pull into a shared store (a new blob, the manifest renamed over, the old blob deleted): berth keeps
//   serving the loaded copy, and loads the new one after an unload;
// - a models-dir file renamed over: the same;
// - a file rewritten in place while idle: detected, the model is loaded again from the new bytes;
// - a file truncated in place during a streamed generation: no SIGBUS (the server lives), the stream ends with an
//   error frame, the next request reloads (and is refused while the file is broken), and the restored file serves.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, post, get, testdata, figure, stream } from "./lib.mjs";

const model = (n) => path.join(testdata, "models", n + ".gguf");
const oracle = (n) => JSON.parse(fs.readFileSync(path.join(testdata, "oracle", n + ".json"), "utf8")).cases[0];
const A = oracle("stories260K"), B = oracle("llama2xs-tok512");
const sha256 = (b) => crypto.createHash("sha256").update(b).digest("hex");

// Greedy continuation of `prompt` (the oracle case's prompt): compared with the oracles to tell A from B.
async function complete(base, name, c = A) {
  return post(base, "/api/generate", { model: name, prompt: c.prompt, raw: true, stream: false,
                                       options: { temperature: 0, num_predict: c.greedy.length } });
}
const unload = (base, name) => post(base, "/api/generate", { model: name, keep_alive: 0 });

test("a shared Ollama store's pull replaces and deletes the loaded blob: the loaded copy serves", { timeout: 60000 }, async () => {
  const ollama = fs.mkdtempSync(path.join(os.tmpdir(), "berth-faults-ollama-"));
  const blobs = path.join(ollama, "blobs"), mdir = path.join(ollama, "manifests/registry.ollama.ai/library/shared");
  fs.mkdirSync(blobs, { recursive: true });
  fs.mkdirSync(mdir, { recursive: true });
  const put = (bytes) => {
    const d = "sha256:" + sha256(bytes);
    fs.writeFileSync(path.join(blobs, d.replace(":", "-")), bytes);
    return d;
  };
  const manifest = (d, size) => JSON.stringify({ schemaVersion: 2, config: { digest: put(Buffer.from("{}")), size: 2 },
    layers: [{ mediaType: "application/vnd.ollama.image.model", digest: d, size }] });
  const a = fs.readFileSync(model("stories260K")), b = fs.readFileSync(model("llama2xs-tok512"));
  const da = put(a);
  fs.writeFileSync(path.join(mdir, "latest"), manifest(da, a.length));
  const srv = await startServer({ OLLAMA_MODELS: ollama });
  try {
    const first = await complete(srv.base, "shared");
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.response, A.greedy_text);
    // What `ollama pull` does: the new blob, the manifest replaced by rename, the old blob pruned.
    const db = put(b);
    fs.writeFileSync(path.join(mdir, "latest.new"), manifest(db, b.length));
    fs.renameSync(path.join(mdir, "latest.new"), path.join(mdir, "latest"));
    fs.rmSync(path.join(blobs, da.replace(":", "-")));
    const during = await complete(srv.base, "shared");
    assert.equal(during.status, 200, during.text);
    assert.equal(during.json.response, A.greedy_text, "the loaded copy keeps answering");
    await unload(srv.base, "shared");
    const next = await complete(srv.base, "shared", B);
    assert.equal(next.status, 200, next.text);
    assert.equal(next.json.response, B.greedy_text, "after an unload the new blob loads");
    figure("model replaced and deleted while loaded (Ollama pull into a shared store)",
           "the loaded copy answered unchanged; the new blob loaded after an unload");
  } finally {
    await srv.stop();
    fs.rmSync(ollama, { recursive: true, force: true });
  }
});

test("models-dir files renamed over, rewritten in place or truncated in place while loaded", { timeout: 90000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-faults-models-"));
  const a = fs.readFileSync(model("stories260K")), b = fs.readFileSync(model("llama2xs-tok512"));
  for (const n of ["renamed", "rewritten", "truncated"]) fs.writeFileSync(path.join(dir, n + ".gguf"), a);
  const srv = await startServer({}, ["--models-dir", dir]);
  try {
    for (const n of ["renamed", "rewritten", "truncated"]) {
      const r = await complete(srv.base, n);
      assert.equal(r.json.response, A.greedy_text, n);
    }
    // Renamed over: the loaded copy keeps answering; the new file after an unload.
    fs.writeFileSync(path.join(dir, "renamed.gguf.new"), b);
    fs.renameSync(path.join(dir, "renamed.gguf.new"), path.join(dir, "renamed.gguf"));
    assert.equal((await complete(srv.base, "renamed")).json.response, A.greedy_text, "renamed over: loaded copy");
    await unload(srv.base, "renamed");
    assert.equal((await complete(srv.base, "renamed", B)).json.response, B.greedy_text, "renamed over: then the new file");

    // Rewritten in place (what `cp new old` does) while idle: the change is seen and the model loads again.
    fs.copyFileSync(model("llama2xs-tok512"), path.join(dir, "rewritten.gguf"));
    const rewritten = await complete(srv.base, "rewritten", B);
    assert.equal(rewritten.status, 200, rewritten.text);
    assert.equal(rewritten.json.response, B.greedy_text, "rewritten in place: loaded again from the new bytes");

    // Truncated in place in the middle of a stream: the weights' pages vanish under the generation.
    let truncatedAt = -1;
    const s = await stream(srv.base, "/api/generate", {
      model: "truncated", prompt: "Once upon a time", raw: true, options: { temperature: 0.8, seed: 1, num_predict: 400 },
    }, { onLine: (l, i) => { if (i === 5) { fs.truncateSync(path.join(dir, "truncated.gguf"), Math.floor(a.length / 3)); truncatedAt = i; } } });
    assert.equal(s.status, 200);
    assert.ok(truncatedAt >= 0);
    const last = s.lines[s.lines.length - 1];
    assert.equal(typeof last.error, "string", `the stream ends with an error frame: ${JSON.stringify(last)}`);
    assert.match(last.error, /truncated/);
    assert.equal((await get(srv.base, "/api/tags")).status, 200, "the server survived (no SIGBUS)");
    const broken = await complete(srv.base, "truncated");
    assert.ok(broken.status >= 400 && broken.status < 600 && typeof broken.json.error === "string", broken.text);
    fs.writeFileSync(path.join(dir, "truncated.gguf"), a);  // restored in place
    const restored = await complete(srv.base, "truncated");
    assert.equal(restored.status, 200, restored.text);
    assert.equal(restored.json.response, A.greedy_text);
    assert.match(srv.log(), /changed on disk while loaded/);
    figure("model files changed while loaded (models-dir)",
           `renamed over: loaded copy then the new file; rewritten in place: reloaded (new model's answer); ` +
           `truncated in place mid-stream: no SIGBUS, stream ended with "${last.error.slice(0, 60)}...", ` +
           `then ${broken.status} "${broken.json.error.slice(0, 80)}" until restored, then served again`);
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
