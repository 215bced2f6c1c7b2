// Hostile clients (issue 16, item 3): 1,000 connections at once (idle, dribbling a header a byte a second, sending a
// body a byte a second) while a fast client's GET /api/tags keeps its p99 under 50 ms and a streamed generation
// keeps its token rate; threads and RssAnon do not grow with the connections; beyond BERTH_MAX_CONNECTIONS new
// connections get 503; the header and body deadlines close the slow ones. Then 200 concurrent streamed generations
// over BERTH_NUM_PARALLEL=4 sequences: each completes or gets 503 from the queue. Loopback only, bounded in time.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import { startServer, waitFor, sleep, post, get, procStat, percentile, figure, mib, stream, MiB } from "./lib.mjs";

const HOSTILE = 1000;
const gen = (extra = {}) => ({ model: "stories260K", prompt: "Once upon a time", raw: true,
                               options: { temperature: 0, num_predict: 400, num_ctx: 512 }, ...extra });

// User + system CPU seconds of a process.
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;  // utime, stime in clock ticks (100 Hz)
}

async function metric(base, name) {
  const text = (await get(base, "/metrics")).text;
  const m = text.match(new RegExp(`^${name} (\\d+)`, "m"));
  return m ? Number(m[1]) : NaN;
}

// Sequential GET /api/tags for `ms`; the latencies in ms.
async function tagsLatencies(base, ms) {
  const out = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    const r = await fetch(base + "/api/tags");
    await r.text();
    assert.equal(r.status, 200);
    out.push(performance.now() - t0);
  }
  return out;
}

// Token rate of streamed generations, the median of three: as the client receives them (tokens per second between
// the first and last chunk) and as the server generated them (eval_count / eval_duration).
async function tokenRate(base) {
  const client = [], server = [];
  for (let i = 0; i < 3; ++i) {
    const r = await stream(base, "/api/generate", gen({ options: { temperature: 0, num_predict: 200, num_ctx: 512 } }));
    assert.equal(r.status, 200);
    const last = r.lines[r.lines.length - 1];
    assert.equal(last.done, true, "the stream completes");
    client.push((r.lines.length - 2) / ((r.lastMs - r.firstMs) / 1000));
    server.push(last.eval_count / (last.eval_duration / 1e9));
  }
  return { client: percentile(client, 50), server: percentile(server, 50) };
}

// Opens a connection and resolves once connected; records what the server sends and whether it closed.
function open(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.got = "";
    s.closedByServer = false;
    s.on("data", (d) => { s.got += d; });
    s.on("end", () => { s.closedByServer = true; });
    s.on("close", () => { s.gone = true; });
    s.on("error", () => {});
    s.on("connect", () => resolve(s));
  });
}

test("1,000 slow or idle connections do not starve fast requests", { timeout: 120000 }, async () => {
  const srv = await startServer({ BERTH_HEADER_TIMEOUT: "12s", BERTH_BODY_TIMEOUT: "12s",
                                  BERTH_MAX_CONNECTIONS: String(HOSTILE + 100) });
  const sockets = [];
  let ticker = null;
  try {
    const { base, port, pid } = srv;
    // Warm: the model loaded, the workers and the allocator past their first requests.
    assert.equal((await post(base, "/api/generate", { ...gen(), stream: false })).status, 200);
    await tagsLatencies(base, 500);
    // The same measurements without the hostile connections.
    const p99Alone = percentile(await tagsLatencies(base, 2000), 99);
    const rateAlone = await tokenRate(base);
    const before = procStat(pid);

    // 1,000 hostile connections: a third idle, a third dribbling a header, a third dribbling a body.
    for (let i = 0; i < HOSTILE; ++i) {
      const s = await open(port);
      s.kind = i % 3 === 0 ? "idle" : i % 3 === 1 ? "header" : "body";
      if (s.kind === "header") s.write("GET /api/tags HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
      if (s.kind === "body") {
        s.write("POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                "Content-Length: 5000\r\n\r\n{");
      }
      sockets.push(s);
    }
    const opened = performance.now();
    ticker = setInterval(() => { for (const s of sockets) if (s.kind !== "idle" && !s.gone) s.write("a"); }, 1000);
    await waitFor(async () => (await metric(base, "berth_http_connections")) >= HOSTILE, "1,000 open connections");
    const during = procStat(pid);
    // What holding them costs: the server's CPU time over 1.5 s with nothing else to do.
    const cpu0 = cpuSeconds(pid);
    await sleep(1500);
    const idleCpu = (cpuSeconds(pid) - cpu0) / 1.5;

    // A fast client, then streamed generations, beside them.
    const lat = await tagsLatencies(base, 3000);
    const p99 = percentile(lat, 99);
    const rateDuring = await tokenRate(base);

    // Beyond the bound: new connections get a one-line 503 and are closed.
    const extra = [];
    for (let i = 0; i < 150; ++i) extra.push(await open(port));
    await sleep(300);
    const refused = extra.filter((s) => /^HTTP\/1\.1 503/.test(s.got) && /too many connections/.test(s.got));
    const openNow = await metric(base, "berth_http_connections");
    for (const s of extra) s.destroy();
    const elapsed = (performance.now() - opened) / 1000;

    figure("hostile: connections held", `${HOSTILE} (idle, header and body a byte a second)`);
    figure("hostile: GET /api/tags p99", `${p99.toFixed(1)} ms with ${HOSTILE} hostile connections ` +
           `(${lat.length} requests; ${p99Alone.toFixed(1)} ms without them)`);
    figure("hostile: streamed token rate", `${rateDuring.client.toFixed(0)} tokens/s received with them, ` +
           `${rateAlone.client.toFixed(0)} without (generated: ${rateDuring.server.toFixed(0)} and ` +
           `${rateAlone.server.toFixed(0)}; medians of 3)`);
    figure("hostile: threads", `${before.threads} before, ${during.threads} with ${HOSTILE} connections`);
    figure("hostile: server CPU while holding them", `${(100 * idleCpu).toFixed(1)} % of a core`);
    figure("hostile: RssAnon", `${mib(before.rssAnon)} before, ${mib(during.rssAnon)} with ${HOSTILE} connections ` +
           `(${((during.rssAnon - before.rssAnon) / HOSTILE).toFixed(0)} bytes per connection)`);
    figure("hostile: refused beyond BERTH_MAX_CONNECTIONS", `${refused.length} of 150 extra (limit ${HOSTILE + 100}, ` +
           `${openNow} open)`);
    assert.ok(elapsed < 11, `the measurements ran within the deadlines (${elapsed.toFixed(1)} s)`);
    assert.ok(p99 < 50, `GET /api/tags p99 ${p99.toFixed(1)} ms`);
    // The stream keeps its rate: the tokens reach the client as fast as the engine generates them (an HTTP layer
    // short of threads or CPU delays the chunks), and the rate does not collapse. Against the rate without the
    // connections the bound is loose: other load on a shared 2-core machine moved the engine's own rate by up to
    // 2.7x between the two measurements (2,063 and 773 tokens/s generated) while the acceptor used 0 % of a core.
    assert.ok(rateDuring.client >= 0.7 * rateDuring.server,
              `received ${rateDuring.client.toFixed(0)} tokens/s of ${rateDuring.server.toFixed(0)} generated`);
    assert.ok(rateDuring.client >= 0.25 * rateAlone.client,
              `token rate ${rateDuring.client.toFixed(0)}/s vs ${rateAlone.client.toFixed(0)}/s without`);
    assert.equal(during.threads, before.threads, "no thread per connection");
    assert.ok(idleCpu < 0.05, `holding the connections costs ${(100 * idleCpu).toFixed(1)} % of a core`);
    assert.ok(during.rssAnon - before.rssAnon < 4 * MiB, `RssAnon grew ${mib(during.rssAnon - before.rssAnon)}`);
    assert.ok(refused.length >= 40, `${refused.length} refusals with 503`);

    // The deadlines: dribbled headers and bodies get 408, idle connections are closed, all within ~12 s.
    await waitFor(() => sockets.every((s) => s.closedByServer), "the server to close every slow connection", 20000);
    const timedOut = sockets.filter((s) => s.kind !== "idle" && /^HTTP\/1\.1 408/.test(s.got)).length;
    figure("hostile: deadlines", `${timedOut} of ${sockets.filter((s) => s.kind !== "idle").length} dribbling ` +
           `connections answered 408 and closed, ${sockets.filter((s) => s.kind === "idle").length} idle ones closed`);
    assert.equal(timedOut, sockets.filter((s) => s.kind !== "idle").length);
    // What stays open is this test's own keep-alive pool (fetch), a few connections.
    await waitFor(async () => (await metric(base, "berth_http_connections")) <= 8, "connections to drain");
    const after = procStat(pid);
    figure("hostile: after they closed", `threads ${after.threads}, descriptors ${before.fds} -> ${after.fds}, ` +
           `RssAnon ${mib(after.rssAnon)}`);
    assert.equal(after.threads, before.threads);
    assert.ok(Math.abs(after.fds - before.fds) <= 8, `descriptors ${before.fds} -> ${after.fds}`);
    assert.ok(after.rssAnon - before.rssAnon < 2 * MiB, `RssAnon ${mib(before.rssAnon)} -> ${mib(after.rssAnon)}`);
  } finally {
    if (ticker) clearInterval(ticker);
    for (const s of sockets) s.destroy();
    assert.equal(await srv.stop(), 0, "berth exits 0 on SIGTERM");
  }
});

// 200 streams at once against a server with `env`; counts of complete streams, 503s and anything else.
async function twoHundredStreams(env) {
  const srv = await startServer({ BERTH_NUM_PARALLEL: "4", ...env });
  try {
    const { base, pid } = srv;
    assert.equal((await post(base, "/api/generate", { ...gen(), stream: false })).status, 200);
    const before = procStat(pid);
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      stream(base, "/api/generate", gen({ prompt: `Once upon a time ${i}`, options: { num_predict: 24 } }))));
    const seconds = (performance.now() - t0) / 1000;
    const out = { complete: 0, busy: 0, other: [], seconds, before, after: procStat(pid) };
    for (const r of results) {
      const last = r.lines[r.lines.length - 1];
      if (r.status === 200 && last && last.done === true && !last.error) ++out.complete;
      else if (r.status === 503 && last && /busy|queue/.test(last.error)) ++out.busy;
      else out.other.push(`${r.status} ${r.error || ""} ${r.text.slice(0, 120)}`);
    }
    return out;
  } finally {
    assert.equal(await srv.stop(), 0, "berth exits 0 on SIGTERM");
  }
}

test("200 concurrent streamed generations over 4 sequences complete or get 503", { timeout: 180000 }, async () => {
  for (const queue of ["512", "8"]) {
    const r = await twoHundredStreams({ BERTH_MAX_QUEUE: queue });
    figure(`200 streams over BERTH_NUM_PARALLEL=4 (BERTH_MAX_QUEUE=${queue})`,
           `${r.complete} complete, ${r.busy} answered 503 by the queue, ${r.other.length} other, in ` +
           `${r.seconds.toFixed(1)} s; threads ${r.before.threads} -> ${r.after.threads}`);
    assert.deepEqual(r.other, [], "every stream completes or gets 503");
    assert.equal(r.complete + r.busy, 200);
    if (queue === "512") assert.equal(r.complete, 200, "with room in the queue every stream completes");
    else assert.ok(r.complete >= 4 && r.busy > 0);
    assert.equal(r.after.threads, r.before.threads);
  }
});
