// Memory pressure (issue 16, item 4): with a budget that holds one pinned model, requests for two more models get
// 503 with the numbers (needed, budget, in use, pinned), repeated for 60 s (BERTH_FAULTS_PRESSURE_S) by 8 clients
// while the pinned model keeps generating; RssAnon does not grow, nor do threads or descriptors.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, waitFor, sleep, post, get, procStat, figure, mib, MiB } from "./lib.mjs";

const SECONDS = Number(process.env.BERTH_FAULTS_PRESSURE_S || 60);
const PINNED = "stories260K", OTHERS = ["llama-spm-q8_0", "qwen2-q8_0"];

// Planned bytes of each model as /api/ps reports them (loaded one after the other on an unbounded server).
async function sizes() {
  const srv = await startServer({ BERTH_MAX_LOADED_MODELS: "1" });
  try {
    const out = {};
    for (const m of [PINNED, ...OTHERS]) {
      assert.equal((await post(srv.base, "/api/generate", { model: m })).status, 200);
      out[m] = (await get(srv.base, "/api/ps")).json.models.find((x) => x.name.startsWith(m)).size;
    }
    return out;
  } finally {
    await srv.stop();
  }
}

// Least-squares slope of y over x.
function slope(xs, ys) {
  const n = xs.length, mx = xs.reduce((a, b) => a + b, 0) / n, my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; ++i) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2; }
  return den ? num / den : 0;
}

test(`models beyond the budget get 503 with the numbers for ${SECONDS} s, with no growth`, { timeout: (SECONDS + 60) * 1000 }, async () => {
  const size = await sizes();
  const budget = size[PINNED] + Math.floor(Math.min(...OTHERS.map((m) => size[m])) / 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-faults-pressure-"));
  const config = path.join(dir, "policy.toml");
  fs.writeFileSync(config, `[models."${PINNED}"]\npin = true\npreload = true\n`);
  const srv = await startServer({ BERTH_MAX_MEMORY: String(budget), BERTH_CONFIG: config });
  try {
    const { base, pid } = srv;
    await waitFor(async () => (await get(base, "/api/ps")).json.models.length === 1, "the pinned model to preload");
    const counts = { ok: 0, refused: 0, other: [] };
    let withNumbers = 0, sample503 = "";
    const end = performance.now() + SECONDS * 1000;
    const client = async (i) => {
      while (performance.now() < end) {
        const m = i === 0 ? PINNED : OTHERS[i % OTHERS.length];
        const r = await post(base, "/api/generate", { model: m, prompt: "Once upon a time", stream: i % 2 === 0,
                                                      options: { num_predict: 8 } });
        if (r.status === 200) ++counts.ok;
        else if (r.status === 503) {
          ++counts.refused;
          const e = (r.json && r.json.error) || "";
          if (/needs .+ but does not fit: budget .+, in use .+ \(pinned .+, busy .+\)/.test(e)) ++withNumbers;
          sample503 = e;
        } else counts.other.push(`${r.status} ${r.text.slice(0, 100)}`);
      }
    };
    // RssAnon, threads and descriptors every half second, against the number of requests answered so far.
    const samples = [];
    const sampler = setInterval(() => {
      const s = procStat(pid);
      samples.push({ t: performance.now(), requests: counts.ok + counts.refused, ...s });
    }, 500);
    await Promise.all(Array.from({ length: 8 }, (_, i) => client(i)));
    clearInterval(sampler);
    const steady = samples.slice(Math.floor(samples.length / 6));  // after warm-up
    const perK = slope(steady.map((s) => s.requests / 1000), steady.map((s) => s.rssAnon));
    const rss = steady.map((s) => s.rssAnon);
    const threads = new Set(steady.map((s) => s.threads)), fds = steady.map((s) => s.fds);
    const total = counts.ok + counts.refused;
    figure("memory pressure", `${SECONDS} s, 8 clients: ${counts.refused} answered 503 (${withNumbers} with needed, ` +
           `budget, in use and pinned), ${counts.ok} served by the pinned model, ${counts.other.length} other; ` +
           `e.g. "${sample503}"`);
    figure("memory pressure: growth", `RssAnon ${mib(Math.min(...rss))} to ${mib(Math.max(...rss))} after warm-up, ` +
           `slope ${(perK / MiB).toFixed(4)} MiB per 1,000 requests over ${total} requests; threads ` +
           `${[...threads].join("/")}; descriptors ${Math.min(...fds)}-${Math.max(...fds)}`);
    assert.deepEqual(counts.other, []);
    assert.ok(counts.refused > 100 && withNumbers === counts.refused, `${withNumbers} of ${counts.refused} 503s give the numbers`);
    assert.ok(counts.ok > 10);
    assert.ok(perK <= 0.1 * MiB, `RssAnon slope ${(perK / MiB).toFixed(4)} MiB per 1,000 requests`);
    assert.ok(Math.max(...rss) - Math.min(...rss) < 4 * MiB);
    assert.equal(threads.size, 1, "thread count constant");
    assert.ok(Math.max(...fds) - Math.min(...fds) <= 16, "descriptors bounded (client connections come and go)");
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
