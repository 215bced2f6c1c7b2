// Helpers of the fault tests: the server process's threads, descriptors and RssAnon from /proc, percentiles, a
// streamed request read line by line, and the figures each test reports (collected into $BERTH_FAULTS_REPORT).
import fs from "node:fs";
import http from "node:http";

export { startServer, waitFor, sleep, post, get, ndjson, testdata } from "../contract/server.mjs";

// Threads, open descriptors and RssAnon (bytes) of a process.
export function procStat(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+)`, "m")) || [0, 0])[1]);
  return { threads: field("Threads"), rssAnon: field("RssAnon") * 1024, fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}

export const MiB = 1024 * 1024;
export const mib = (bytes) => (bytes / MiB).toFixed(2) + " MiB";

export function percentile(values, p) {
  const a = [...values].sort((x, y) => x - y);
  return a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] : NaN;
}

// Records one figure for the README (printed now, and appended to the report file when the runner gives one).
export function figure(name, value) {
  const line = `faults: ${name}: ${value}`;
  console.log(line);
  if (process.env.BERTH_FAULTS_REPORT) fs.appendFileSync(process.env.BERTH_FAULTS_REPORT, line + "\n");
}

// POSTs `body` on a connection of its own and reads the streamed answer. `onLine(obj, index)` sees each NDJSON
// line; returning "abort" drops the connection there; `abortAfterMs` drops it after that long. Resolves
// {status, lines, text, aborted, error, firstMs, lastMs} (ms since the request). A connection per request (no
// keep-alive pool): a pooled socket that an abort left unused could be closed by the server's idle deadline just
// as the pool hands it to the next request, which would fail for the client's reasons, not the server's.
export function stream(base, path, body, { onLine = null, abortAfterMs = null, timeoutMs = 60000 } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const out = { status: 0, lines: [], text: "", aborted: false, error: null, firstMs: null, lastMs: null };
    const payload = JSON.stringify(body);
    const url = new URL(path, base);
    let settled = false, pending = "";
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (abortTimer) clearTimeout(abortTimer);
      resolve(out);
    };
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", agent: false,
                               headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) } });
    const drop = () => { out.aborted = true; req.destroy(); finish(); };
    const timer = setTimeout(() => { out.error = new Error(`no complete answer within ${timeoutMs} ms`); req.destroy(); finish(); }, timeoutMs);
    const abortTimer = abortAfterMs === null ? null : setTimeout(drop, abortAfterMs);
    req.on("error", (e) => { if (!settled && !out.aborted) out.error = e; finish(); });
    req.on("response", (res) => {
      out.status = res.statusCode;
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        if (settled) return;
        pending += chunk;
        let nl;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          out.text += line + "\n";
          if (!line.trim()) continue;
          const now = performance.now() - t0;
          if (out.firstMs === null) out.firstMs = now;
          out.lastMs = now;
          let obj;
          try { obj = JSON.parse(line); } catch (e) { out.error = new Error(`not a JSON document: ${line.slice(0, 80)}`); return drop(); }
          out.lines.push(obj);
          if (onLine && onLine(obj, out.lines.length - 1) === "abort") return drop();
        }
      });
      res.on("end", () => {
        if (settled) return;
        if (pending.trim()) {
          out.text += pending;
          try { out.lines.push(JSON.parse(pending)); } catch (e) { out.error = new Error(`cut document: ${pending.slice(0, 80)}`); }
        }
        finish();
      });
      res.on("error", (e) => { if (!settled && !out.aborted) out.error = e; finish(); });
    });
    req.end(payload);
  });
}

// Runs `n` async jobs with at most `limit` at once.
export async function pool(n, limit, job) {
  const results = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      results[i] = await job(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, limit) }, worker));
  return results;
}
