// Store faults (issue 16, item 4), against a fake registry on loopback (the pattern of src/server/pull_test.cpp at
// the HTTP level):
// - SIGKILL during `pull` and during `create` (and a blob upload), then a restart: no partial or corrupt model is
//   listed, every listed model's blobs match their digests, the temporary files of the killed writes are gone, and
//   the next pull resumes from the partial file;
// - a full disk (RLIMIT_FSIZE on the server) during pull and blob upload: a clear error, no partial blob listed,
//   the server keeps serving.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { startServer, waitFor, sleep, post, get, testdata, figure, stream } from "./lib.mjs";

const sha256 = (b) => crypto.createHash("sha256").update(b).digest("hex");
const weights = fs.readFileSync(path.join(testdata, "models", "stories260K.gguf"));

// A registry with one model, library/tiny:latest, whose weights blob is stories260K.gguf. While `throttle` is set
// the blob goes out 16 KiB every 10 ms. Records the start offset of every blob request (Range).
async function startRegistry() {
  const config = Buffer.from(JSON.stringify({ model_format: "gguf", model_family: "llama" }));
  const wd = "sha256:" + sha256(weights), cd = "sha256:" + sha256(config);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: cd, size: config.length },
    layers: [{ mediaType: "application/vnd.ollama.image.model", digest: wd, size: weights.length }],
  });
  const reg = { throttle: true, starts: [], weightsDigest: wd };
  reg.server = http.createServer((req, res) => {
    if (req.url === "/v2/library/tiny/manifests/latest") {
      res.writeHead(200, { "Content-Type": "application/vnd.docker.distribution.manifest.v2+json" });
      return res.end(manifest);
    }
    if (req.url === `/v2/library/tiny/blobs/${cd}`) return res.end(config);
    if (req.url !== `/v2/library/tiny/blobs/${wd}`) { res.writeHead(404); return res.end(); }
    const m = /bytes=(\d+)-/.exec(req.headers.range || "");
    const start = m ? Number(m[1]) : 0;
    reg.starts.push(start);
    const headers = { "Content-Type": "application/octet-stream", "Content-Length": weights.length - start };
    if (m) headers["Content-Range"] = `bytes ${start}-${weights.length - 1}/${weights.length}`;
    res.writeHead(m ? 206 : 200, headers);
    if (!reg.throttle) return res.end(weights.subarray(start));
    let off = start;
    const timer = setInterval(() => {
      const end = Math.min(off + 16384, weights.length);
      res.write(weights.subarray(off, end));
      off = end;
      if (off >= weights.length) { clearInterval(timer); res.end(); }
    }, 10);
    res.on("close", () => clearInterval(timer));
  });
  await new Promise((r) => reg.server.listen(0, "127.0.0.1", r));
  reg.name = `127.0.0.1:${reg.server.address().port}/library/tiny`;
  return reg;
}

// Every file under dir, relative.
function files(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else out.push(path.relative(dir, p));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

// Every model /api/tags lists from the store: its manifest's blobs exist and hash to their digests.
async function checkListed(base, store) {
  const names = (await get(base, "/api/tags")).json.models.map((m) => m.name);
  const problems = [];
  for (const rel of files(path.join(store, "manifests"))) {
    if (/\.tmp/.test(rel)) continue;
    const parts = rel.split(path.sep);
    const manifest = JSON.parse(fs.readFileSync(path.join(store, "manifests", rel), "utf8"));  // a cut one throws
    for (const layer of [manifest.config, ...manifest.layers]) {
      const blob = path.join(store, "blobs", layer.digest.replace(":", "-"));
      if (!fs.existsSync(blob)) problems.push(`${parts.join("/")}: ${layer.digest} missing`);
      else if ("sha256:" + sha256(fs.readFileSync(blob)) !== layer.digest) problems.push(`${parts.join("/")}: ${layer.digest} corrupt`);
    }
  }
  return { names, problems };
}

const tinyPrompt = { prompt: "Once upon a time", raw: true, stream: false, options: { temperature: 0, num_predict: 12 } };

test("SIGKILL during pull, then restart: nothing partial listed, the next pull resumes", { timeout: 120000 }, async () => {
  const reg = await startRegistry();
  const store = fs.mkdtempSync(path.join(os.tmpdir(), "berth-faults-store-"));
  try {
    let srv = await startServer({ BERTH_MODELS: store });
    let killedAt = 0;
    const pulled = await stream(srv.base, "/api/pull", { model: reg.name, insecure: true }, {
      onLine: (l) => {
        if (l.completed > 300000 && !killedAt) { killedAt = l.completed; srv.proc.kill("SIGKILL"); }
      },
    });
    assert.ok(killedAt > 0, `killed mid-transfer (${pulled.lines.length} progress lines)`);
    await srv.stop();
    const left = files(store);
    const partial = left.find((f) => f.endsWith("-partial"));
    assert.ok(partial, `a partial blob stays for resuming: ${left.join(", ")}`);
    assert.ok(!left.some((f) => f.startsWith("manifests")), "no manifest was written");
    const partialBytes = fs.statSync(path.join(store, partial)).size;

    srv = await startServer({ BERTH_MODELS: store });
    try {
      let listed = await checkListed(srv.base, store);
      assert.ok(!listed.names.some((n) => n.startsWith(reg.name)), `not listed after the kill: ${listed.names}`);
      reg.throttle = false;
      const again = await post(srv.base, "/api/pull", { model: reg.name, insecure: true, stream: false });
      assert.equal(again.status, 200, again.text);
      const resumedFrom = reg.starts[reg.starts.length - 1];
      listed = await checkListed(srv.base, store);
      assert.deepEqual(listed.problems, []);
      assert.ok(listed.names.some((n) => n.startsWith(reg.name)), `listed after the pull: ${listed.names}`);
      const g = await post(srv.base, "/api/generate", { model: reg.name, ...tinyPrompt });
      assert.equal(g.status, 200, g.text);
      figure("SIGKILL during pull", `killed at ${killedAt} of ${weights.length} bytes (partial file ${partialBytes} ` +
             `bytes); after restart not listed; the next pull resumed at byte ${resumedFrom} and the model answers`);
      assert.equal(resumedFrom, partialBytes, "resumed from the partial file");
    } finally {
      await srv.stop();
    }
  } finally {
    reg.server.close();
    fs.rmSync(store, { recursive: true, force: true });
  }
});

test("SIGKILL during create and blob upload, then restart: every listed model is whole", { timeout: 120000 }, async () => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), "berth-faults-store-"));
  const upload = crypto.randomBytes(1 << 20), uploadDigest = "sha256:" + sha256(upload);
  try {
    let kills = 0, created = 0;
    for (let round = 0; round < 4; ++round) {
      const srv = await startServer({ BERTH_MODELS: store });
      // A blob upload cut by the kill: half the body sent.
      const up = net.connect(srv.port, "127.0.0.1");
      up.on("error", () => {});
      up.write(`POST /api/blobs/${uploadDigest} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${upload.length}\r\n\r\n`);
      up.write(upload.subarray(0, upload.length >> 1));
      // Creates in flight (copies of models-dir models into the store) when the kill comes.
      const creates = Array.from({ length: 6 }, (_, i) =>
        post(srv.base, "/api/create", { model: `copy-${round}-${i}`, from: i % 2 ? "llama-spm-f16" : "stories260K",
                                        system: `round ${round}`, stream: false }).catch(() => null));
      await sleep(20 + round * 25);
      srv.proc.kill("SIGKILL");
      ++kills;
      created += (await Promise.all(creates)).filter((r) => r && r.status === 200).length;
      up.destroy();
      await srv.stop();
    }
    const before = files(store).filter((f) => /\.tmp|\.upload/.test(f));
    const srv = await startServer({ BERTH_MODELS: store });
    try {
      const { names, problems } = await checkListed(srv.base, store);
      const after = files(store).filter((f) => /\.tmp|\.upload/.test(f));
      const copies = names.filter((n) => n.startsWith("copy-"));
      for (const n of copies) {
        const show = await post(srv.base, "/api/show", { model: n });
        assert.equal(show.status, 200, `${n}: ${show.text}`);
      }
      if (copies.length) {
        const g = await post(srv.base, "/api/generate", { model: copies[0], ...tinyPrompt });
        assert.equal(g.status, 200, g.text);
      }
      const stored = await get(srv.base, `/api/blobs/${uploadDigest}`);
      figure("SIGKILL during create", `${kills} kills with 6 creates and a blob upload in flight each: ` +
             `${created} creates had answered, ${copies.length} models listed after restart, all whole ` +
             `(${problems.length} problems); interrupted upload not stored (GET /api/blobs: ${stored.status}); ` +
             `${before.length} temporary files left by the kills, ${after.length} after the restart`);
      assert.deepEqual(problems, []);
      assert.equal(stored.status, 404, "the interrupted upload is not a blob");
      assert.deepEqual(after, [], "the restart removes what the killed writes left");
      assert.ok(copies.length >= created, "every create that answered 200 is listed");
    } finally {
      await srv.stop();
    }
  } finally {
    fs.rmSync(store, { recursive: true, force: true });
  }
});

test("a full disk during pull and blob upload: a clear error, nothing listed, service goes on", { timeout: 120000 }, async () => {
  const reg = await startRegistry();
  reg.throttle = false;
  const store = fs.mkdtempSync(path.join(os.tmpdir(), "berth-faults-store-"));
  // Files may not grow past 512 KiB; the blob is 1.2 MB.
  const srv = await startServer({ BERTH_MODELS: store }, [], { fileSizeKiB: 512 });
  try {
    const pulled = await stream(srv.base, "/api/pull", { model: reg.name, insecure: true });
    const last = pulled.lines[pulled.lines.length - 1];
    assert.equal(typeof last.error, "string", JSON.stringify(last));
    assert.match(last.error, /File too large|No space|disk/);
    const nonStreamed = await post(srv.base, "/api/pull", { model: reg.name, insecure: true, stream: false });
    assert.ok(nonStreamed.status >= 500, `${nonStreamed.status} ${nonStreamed.text}`);
    assert.match(nonStreamed.json.error, /disk full|File too large/);

    const digest = "sha256:" + sha256(weights);
    const r = await fetch(srv.base + `/api/blobs/${digest}`, { method: "POST", body: weights });
    const upload = await r.json();
    assert.equal(r.status, 507, JSON.stringify(upload));
    assert.match(upload.error, /File too large|No space/);
    assert.equal((await get(srv.base, `/api/blobs/${digest}`)).status, 404, "no partial blob stored");

    const { names, problems } = await checkListed(srv.base, store);
    assert.ok(!names.some((n) => n.startsWith(reg.name)), `nothing listed: ${names}`);
    assert.deepEqual(problems, []);
    const g = await post(srv.base, "/api/generate", { model: "stories260K", ...tinyPrompt });
    assert.equal(g.status, 200, "the server keeps serving");
    figure("full disk (RLIMIT_FSIZE 512 KiB)", `pull: "${last.error}"; blob upload: ${r.status} "${upload.error}"; ` +
           `nothing listed; generation still answers`);
  } finally {
    await srv.stop();
    reg.server.close();
    fs.rmSync(store, { recursive: true, force: true });
  }
});
