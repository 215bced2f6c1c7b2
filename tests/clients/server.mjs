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

export async function waitFor(fn, what, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try { if (await fn()) return; } catch (e) { last = e; }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? ": " + last.message : ""}`);
}

export async function startServer(extraEnv = {}) {
  const port = await freePort();
  const store = fs.mkdtempSync(path.join(os.tmpdir(), "berth-clients-"));
  const proc = spawn(berth, ["serve", "--models-dir", path.join(testdata, "models")], {
    env: { ...process.env, BERTH_HOST: `127.0.0.1:${port}`, BERTH_MODELS: store, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  proc.stdout.on("data", (d) => { log += d; });
  proc.stderr.on("data", (d) => { log += d; });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(base + "/")).ok, "berth to answer GET /");
  return {
    base, store,
    log: () => log,
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
