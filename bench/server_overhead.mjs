// What the HTTP layer adds over the engine: for each request, the client's wall time minus the server's own
// total_duration (which covers load, prompt evaluation and decoding); for streamed tokens, the client's time
// from the first to the last chunk minus eval_duration, per token. Uses keep-alive connections (fetch).
// Usage: node bench/server_overhead.mjs BASE_URL MODEL [REQUESTS]
const [base, model, nArg] = process.argv.slice(2);
const n = Number(nArg || 200);
if (!base || !model) { console.error("usage: node bench/server_overhead.mjs BASE_URL MODEL [REQUESTS]"); process.exit(2); }
const body = (extra) => JSON.stringify({ model, prompt: "Once upon a time", raw: true, options: { temperature: 0, ...extra.options }, ...extra });
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const p95 = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length * 0.95)]; };

// Warm-up: loads the model.
await (await fetch(base + "/api/generate", { method: "POST", body: body({ stream: false, options: { num_predict: 1 } }) })).json();

const perRequest = [];
for (let i = 0; i < n; i++) {
  const t0 = process.hrtime.bigint();
  const r = await fetch(base + "/api/generate", { method: "POST", body: body({ stream: false, options: { num_predict: 1 } }) });
  const j = await r.json();
  const wall = Number(process.hrtime.bigint() - t0);
  perRequest.push((wall - j.total_duration) / 1e6);
}

const perToken = [];
for (let i = 0; i < 10; i++) {
  const r = await fetch(base + "/api/generate", { method: "POST", body: body({ stream: true, options: { num_predict: 256 } }) });
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let first = 0n, last = 0n, buf = "", fin = null, chunks = 0;
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
      chunks++;
      if (!first) first = now;
      last = now;
      if (j.done) fin = j;
    }
  }
  // From the first token's chunk to the last chunk the engine decoded eval_count - 1 tokens.
  const clientNs = Number(last - first);
  const engineNs = fin.eval_duration * (fin.eval_count - 1) / fin.eval_count;
  perToken.push((clientNs - engineNs) / 1e3 / (fin.eval_count - 1));
}

console.log(`requests      ${n} non-streamed, num_predict 1, keep-alive connection`);
console.log(`per request   server overhead median ${median(perRequest).toFixed(3)} ms, p95 ${p95(perRequest).toFixed(3)} ms (client wall - total_duration)`);
console.log(`per token     server overhead median ${median(perToken).toFixed(1)} µs, p95 ${p95(perToken).toFixed(1)} µs (streamed, 256 tokens x 10)`);
