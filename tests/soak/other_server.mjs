// `berth soak` pointed at a server that is not berth: a minimal Ollama-compatible server (this script, on
// loopback) answering /api/tags, /api/generate and /api/chat, streamed and not, without /api/memory. The
// soak must fall back to /proc/<pid> (this process) for memory and finish with a report.
// Usage: node tests/soak/other_server.mjs BERTH_BINARY OUT_DIR
import http from "node:http";
import { spawn } from "node:child_process";
import fs from "node:fs";
import assert from "node:assert/strict";

const [bin, out] = process.argv.slice(2);
const words = ["Once", " upon", " a", " time", " there", " was", " a", " dog"];
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (d) => { body += d; });
  req.on("end", () => {
    if (req.method === "GET" && req.url === "/api/tags") {
      res.setHeader("Content-Type", "application/json");
      return res.end(JSON.stringify({ models: [{ name: "mock:latest" }] }));
    }
    if (req.method !== "POST" || !["/api/generate", "/api/chat"].includes(req.url)) {
      res.statusCode = 404;
      return res.end(JSON.stringify({ error: "not found" }));
    }
    const j = JSON.parse(body);
    const chat = req.url === "/api/chat";
    const n = Math.min(j.options?.num_predict ?? 4, words.length);
    const piece = (w) => (chat ? { message: { role: "assistant", content: w } } : { response: w });
    const final = { model: j.model, done: true, done_reason: "stop", eval_count: n, eval_duration: 1e6 * n,
                    ...piece("") };
    if (j.stream === false) {
      res.setHeader("Content-Type", "application/json");
      return res.end(JSON.stringify({ ...final, ...piece(words.slice(0, n).join("")) }));
    }
    res.setHeader("Content-Type", "application/x-ndjson");
    for (let i = 0; i < n; i++) res.write(JSON.stringify({ model: j.model, done: false, ...piece(words[i]) }) + "\n");
    res.end(JSON.stringify(final) + "\n");
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const port = server.address().port;
const args = ["soak", "--url", `127.0.0.1:${port}`, "--pid", String(process.pid), "--models", "mock",
              "--requests", "120", "--concurrency", "2", "--mix", "generate=1,chat=1", "--stream-share", "0.5",
              "--sample-interval", "0.2", "--out", out];
const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
let log = "";
child.stdout.on("data", (d) => { log += d; });
child.stderr.on("data", (d) => { log += d; });
const timer = setTimeout(() => child.kill("SIGKILL"), 120000);
const code = await new Promise((r) => child.on("exit", r));
clearTimeout(timer);
server.close();
try {
  assert.equal(code, 0, log);
  const r = JSON.parse(fs.readFileSync(`${out}/report.json`, "utf8"));
  assert.equal(r.server, "other");
  assert.equal(r.requests, 120);
  assert.equal(r.errors, 0, JSON.stringify(r.errors_by_kind));
  assert.ok(r.memory.baseline_bytes > 0 && r.memory.peak_bytes >= r.memory.baseline_bytes, "memory from /proc");
  assert.ok(fs.readFileSync(`${out}/samples.csv`, "utf8").trim().split("\n").length >= 2, "samples");
  assert.match(fs.readFileSync(`${out}/memory.svg`, "utf8"), /<svg/);
  console.log(`soak against another server: ok (120 requests, memory from /proc/${process.pid}, ` +
              `RssAnon ${(r.memory.baseline_bytes / 1048576).toFixed(1)} MiB)`);
} catch (e) {
  console.log(log);
  throw e;
}
