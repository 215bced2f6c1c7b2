// Starts `berth serve` on a free loopback port with the test models and a private store; stops it after.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const testdata = process.env.BERTH_TESTDATA;
const berth = process.env.BERTH_BIN;
if (!berth || !testdata) throw new Error("set BERTH_BIN and BERTH_TESTDATA");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on("error", reject);
  });
}

// Polls fn until it returns true; bounded in time.
export async function waitFor(fn, what, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try { if (await fn()) return; } catch (e) { last = e; }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? ": " + last.message : ""}`);
}

// `fileSizeKiB` runs the server under that file-size limit (RLIMIT_FSIZE, as `ulimit -f`): a disk that is full.
export async function startServer(extraEnv = {}, extraArgs = [], { fileSizeKiB = 0 } = {}) {
  const port = await freePort();
  const store = fs.mkdtempSync(path.join(os.tmpdir(), "berth-contract-"));
  const args = ["serve", "--models-dir", path.join(testdata, "models"), ...extraArgs];
  const [cmd, argv] = fileSizeKiB ? ["bash", ["-c", `ulimit -f ${fileSizeKiB} && exec "$0" "$@"`, berth, ...args]]
                                  : [berth, args];
  const proc = spawn(cmd, argv, {
    env: { ...process.env, BERTH_HOST: `127.0.0.1:${port}`, BERTH_MODELS: store, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  proc.stdout.on("data", (d) => { log += d; });
  proc.stderr.on("data", (d) => { log += d; });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(base + "/")).ok, "berth to answer GET /");
  const exited = new Promise((r) => proc.once("exit", (code, signal) => r({ code, signal })));
  return {
    base, store, port, pid: proc.pid, proc,
    log: () => log,
    // Sends a signal to the server; `exited` resolves with {code, signal} once it is gone.
    kill: (sig) => proc.kill(sig),
    exited,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await Promise.race([new Promise((r) => proc.once("exit", r)), sleep(10000)]);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
      fs.rmSync(store, { recursive: true, force: true });
      return proc.exitCode;
    },
  };
}

export function oracle(name) {
  return JSON.parse(fs.readFileSync(path.join(testdata, "oracle", name + ".json"), "utf8"));
}

// POST JSON (or a raw string body); returns {status, headers, text, json}.
export async function post(base, p, body, opts = {}) {
  const r = await fetch(base + p, {
    method: opts.method || "POST",
    headers: { "Content-Type": "application/json", ...(opts.headers || {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(opts.timeoutMs || 60000),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: r.status, headers: r.headers, text, json };
}

export async function get(base, p, headers = {}) {
  const r = await fetch(base + p, { headers, signal: AbortSignal.timeout(30000) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: r.status, headers: r.headers, text, json };
}

// NDJSON lines of a streamed response.
export function ndjson(text) {
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// SSE "data:" payloads of a streamed response ("[DONE]" kept as a string).
export function sse(text) {
  return text.split("\n\n").map((e) => e.trim()).filter((e) => e.startsWith("data: "))
    .map((e) => e.slice(6)).map((d) => (d === "[DONE]" ? d : JSON.parse(d)));
}
