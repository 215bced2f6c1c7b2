// What the HTTP layer adds over the engine, with many requests over keep-alive connections.
//
// Per request (non-streamed, num_predict 1), overhead = the client's wall time minus the engine's own time
// (load_duration + prompt_eval_duration + eval_duration): HTTP parsing, the store lookup, the scheduler, the
// template and tokenizer, the hand-offs to and from the engine's thread, and writing the response. Measured twice:
//   - with a minimal HTTP/1.1 client over a keep-alive socket (what the server adds: the headline figure);
//   - with node's fetch, which itself costs several tenths of a millisecond per request ("fetch floor": the wall
//     time of GET /api/version, a route that does nothing).
// "handler" is the part inside the handler (total_duration minus the engine's time).
// Per streamed token: the client's time from the first to the last chunk minus eval_duration, per token.
// Usage: node bench/server_overhead.mjs BASE_URL MODEL [REQUESTS]
import net from "node:net";

const [base, model, nArg] = process.argv.slice(2);
const n = Number(nArg || 200);
if (!base || !model) { console.error("usage: node bench/server_overhead.mjs BASE_URL MODEL [REQUESTS]"); process.exit(2); }
const body = (extra) => JSON.stringify({ model, prompt: "Once upon a time", raw: true, options: { temperature: 0, ...extra.options }, ...extra });
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const p95 = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length * 0.95)]; };
const fmt = (v, unit, digits) => `median ${median(v).toFixed(digits)} ${unit}, p95 ${p95(v).toFixed(digits)} ${unit}`;
const engineNs = (j) => j.load_duration + j.prompt_eval_duration + j.eval_duration;
const oneToken = body({ stream: false, options: { num_predict: 1 } });

// A minimal HTTP/1.1 client: one keep-alive socket (a new one when the server closes it), Content-Length
// responses only.
function rawClient(url) {
  const u = new URL(url);
  let sock = null, buf = Buffer.alloc(0), wake = null;
  const connect = async () => {
    sock = net.connect(Number(u.port || 80), u.hostname);
    sock.setNoDelay(true);
    buf = Buffer.alloc(0);
    sock.on("data", (d) => { buf = Buffer.concat([buf, d]); if (wake) wake(); });
    sock.on("close", () => { if (wake) wake(); });
    await new Promise((resolve, reject) => { sock.once("connect", resolve); sock.once("error", reject); });
  };
  return {
    async request(method, path, payload = "") {
      if (!sock || sock.destroyed || sock.readyState !== "open") await connect();
      const b = Buffer.from(payload);
      sock.write(`${method} ${path} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\n` +
                 `Content-Length: ${b.length}\r\n\r\n`);
      if (b.length) sock.write(b);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end >= 0) {
          const head = buf.subarray(0, end).toString();
          const len = Number((head.match(/content-length: *(\d+)/i) || [0, 0])[1]);
          if (buf.length >= end + 4 + len) {
            const text = buf.subarray(end + 4, end + 4 + len).toString();
            buf = buf.subarray(end + 4 + len);
            if (/^connection: *close/im.test(head)) sock.end();
            return text;
          }
        }
        if (sock.destroyed) throw new Error("the server closed the connection");
        await new Promise((r) => { wake = r; });
        wake = null;
      }
    },
    close() { if (sock) sock.end(); },
  };
}

// Warm-up: loads the model.
await (await fetch(base + "/api/generate", { method: "POST", body: oneToken })).json();

const raw = rawClient(base);
const rawReq = [], rawHandler = [];
for (let i = 0; i < n; i++) {
  const t0 = process.hrtime.bigint();
  const j = JSON.parse(await raw.request("POST", "/api/generate", oneToken));
  const wall = Number(process.hrtime.bigint() - t0);
  rawReq.push((wall - engineNs(j)) / 1e6);
  rawHandler.push((j.total_duration - engineNs(j)) / 1e6);
}
raw.close();

const fetchReq = [], fetchFloor = [];
for (let i = 0; i < n; i++) {
  let t0 = process.hrtime.bigint();
  await (await fetch(base + "/api/version")).json();
  fetchFloor.push(Number(process.hrtime.bigint() - t0) / 1e6);
  t0 = process.hrtime.bigint();
  const j = await (await fetch(base + "/api/generate", { method: "POST", body: oneToken })).json();
  fetchReq.push((Number(process.hrtime.bigint() - t0) - engineNs(j)) / 1e6);
}

const perToken = [];
for (let i = 0; i < 10; i++) {
  const r = await fetch(base + "/api/generate", { method: "POST", body: body({ stream: true, options: { num_predict: 256 } }) });
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let first = 0n, last = 0n, buf = "", fin = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const now = process.hrtime.bigint();
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
      if (!line) continue;
      const j = JSON.parse(line);
      if (!first) first = now;
      last = now;
      if (j.done) fin = j;
    }
  }
  // From the first token's chunk to the last chunk the engine decoded eval_count - 1 tokens.
  const clientNs = Number(last - first);
  const engine = fin.eval_duration * (fin.eval_count - 1) / fin.eval_count;
  perToken.push((clientNs - engine) / 1e3 / (fin.eval_count - 1));
}

console.log(`requests      ${n} non-streamed, num_predict 1, keep-alive connection; overhead = client wall - engine time`);
console.log(`per request   minimal client: ${fmt(rawReq, "ms", 3)} (handler's part ${fmt(rawHandler, "ms", 3)})`);
console.log(`per request   node fetch:     ${fmt(fetchReq, "ms", 3)} (fetch floor, GET /api/version wall: ${fmt(fetchFloor, "ms", 3)})`);
console.log(`per token     ${fmt(perToken, "µs", 1)} (streamed, 256 tokens x 10, node fetch)`);
