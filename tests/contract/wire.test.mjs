// Bad input below the JSON level, over raw sockets: bodies cut short, clients that stall, bytes that are not
// UTF-8, options out of range. Each gets an answer (or a closed connection), never a hang or a crash, and the
// server serves a normal request right after each one. Every wait is bounded.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startServer, oracle, post, sleep } from "./server.mjs";

let srv, port;
const story = oracle("stories260K").cases[0];
const normal = { model: "stories260K", prompt: story.prompt, raw: true, stream: false,
                 options: { temperature: 0, num_predict: story.greedy.length } };

before(async () => {
  srv = await startServer();
  port = Number(new URL(srv.base).port);
});
after(async () => { if (srv) assert.equal(await srv.stop(), 0, "berth exits 0 on SIGTERM"); });

async function servesNormally() {
  const t0 = Date.now();
  const r = await post(srv.base, "/api/generate", normal);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.response, story.greedy_text);
  return Date.now() - t0;
}

// Sends raw bytes, optionally leaves the socket open for `holdMs`, and resolves with what came back (or "" when
// the server closed without answering). Bounded by `timeoutMs`.
function raw(bytes, { holdMs = 0, timeoutMs = 15000, end = true } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let data = "";
    const timer = setTimeout(() => { s.destroy(); reject(new Error("no answer and no close within " + timeoutMs + " ms")); }, timeoutMs);
    s.on("data", (d) => { data += d; });
    s.on("close", () => { clearTimeout(timer); resolve(data); });
    s.on("error", () => {});
    s.write(bytes);
    if (end) setTimeout(() => s.end(), holdMs);
  });
}

test("a body shorter than its Content-Length is refused or dropped, and service goes on", async () => {
  const body = JSON.stringify(normal);
  const head = `POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
               `Content-Length: ${body.length + 50}\r\nConnection: close\r\n\r\n`;
  const answer = await raw(head + body.slice(0, 20));
  assert.ok(answer === "" || /^HTTP\/1\.1 4\d\d/.test(answer), `answer: ${answer.slice(0, 80)}`);
  await servesNormally();
});

test("a client that stalls mid-request does not hold up others", async () => {
  const slow = net.connect(port, "127.0.0.1");
  slow.on("error", () => {});
  slow.write(`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Le`);
  try {
    const ms = await servesNormally();
    assert.ok(ms < 10000, `a normal request took ${ms} ms next to a stalled client`);
  } finally {
    slow.destroy();
  }
});

test("non-UTF-8 bytes in a JSON string get 400", async () => {
  const prefix = Buffer.from(`{"model":"stories260K","stream":false,"prompt":"`);
  const body = Buffer.concat([prefix, Buffer.from([0xff, 0xfe, 0x41]), Buffer.from(`"}`)]);
  const head = Buffer.from(`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
                           `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
  const answer = await raw(Buffer.concat([head, body]), { end: false });
  assert.match(answer, /^HTTP\/1\.1 400/, answer.slice(0, 200));
  assert.match(answer, /"error"/);
  await servesNormally();
});

test("options out of range get 400 with the option's name", async () => {
  for (const options of [{ num_ctx: -5 }, { num_predict: "many" }, { top_p: 7 }, { top_p: "x" },
                         { min_p: -0.5 }, { top_k: -3 }, { seed: 1.5e300 }, { temperature: -1 }, { repeat_last_n: -9 },
                         { repeat_penalty: 1e300 }]) {
    const r = await post(srv.base, "/api/generate", { ...normal, options });
    assert.equal(r.status, 400, `${JSON.stringify(options)} → ${r.status} ${r.text}`);
    assert.match(r.json.error, new RegExp(Object.keys(options)[0]), r.json.error);
  }
  await servesNormally();
});

test("garbage instead of HTTP is dropped", async () => {
  const answer = await raw(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]));
  assert.ok(answer === "" || /^HTTP\/1\.1 4\d\d/.test(answer), `answer: ${answer.slice(0, 80)}`);
  await sleep(50);
  await servesNormally();
});
