// Drives berth's dashboard (/ui) in Debian's chromium, headless, against a real server on loopback:
// the page loads without console errors, shows the loaded model with its numbers, the charts update, the
// unload button unloads. Saves a screenshot. With the stand-in device (BERTH_DEVICE=fake): the model row shows
// its device bytes and the CPU/GPU split, the memory panel the device's rows next to the host's. Every wait is
// bounded.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { chromium } from "playwright-core";
import { startServer } from "../clients/server.mjs";

const shot = process.env.BERTH_UI_SCREENSHOT || path.resolve("dashboard.png");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

let srv, browser;
after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test("dashboard shows live data and unloads a model", { timeout: 90000 }, async () => {
  srv = await startServer();
  const base = srv.base;

  // Load the model with one real request, so the latency chart has a point.
  const gen = await fetch(base + "/api/generate", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: "stories260K", prompt: "Once upon a time", stream: false, options: { num_predict: 8 } }),
  });
  assert.equal(gen.status, 200, await gen.text());

  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => { if (r.status() >= 400) consoleErrors.push(`HTTP ${r.status()} for ${r.url()}`); });

  const resp = await page.goto(base + "/ui", { waitUntil: "load", timeout: 20000 });
  assert.equal(resp.status(), 200);
  const row = page.locator('tr[data-model^="stories260K"]');
  await row.waitFor({ timeout: 20000 });
  const rowText = await row.innerText();
  assert.match(rowText, /\d+(\.\d)? (KiB|MiB)/, `model row shows sizes: ${rowText}`);
  assert.match(rowText, /ready|busy/, `model row shows its state: ${rowText}`);

  // Live: the page refreshes and the memory history gains points as the server samples once per second.
  const points0 = Number(await page.locator("#mem-chart").getAttribute("data-points"));
  await page.waitForFunction((p0) => Number(document.querySelector("#mem-chart").dataset.points) > p0 &&
    Number(document.body.dataset.updates) >= 2, points0, { timeout: 20000 });
  const memText = await page.locator("#memory").innerText();
  assert.match(memText, /RssAnon\s+\d/, `memory panel shows process readings: ${memText}`);

  await page.screenshot({ path: shot, fullPage: true });

  await row.locator("button.unload").click();
  await row.waitFor({ state: "detached", timeout: 20000 });
  const ps = await (await fetch(base + "/api/ps")).json();
  assert.equal(ps.models.length, 0, "the model is unloaded on the server");
  assert.deepEqual(consoleErrors, [], "no console errors");
});

test("dashboard shows device memory and the CPU/GPU split on the stand-in device", { timeout: 90000 }, async () => {
  const dev = await startServer({ BERTH_DEVICE: "fake:256MiB" });
  const b = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox"] });
  try {
    // One layer on the device, the rest on the CPU: a split, not 100%.
    const gen = await fetch(dev.base + "/api/generate", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "stories260K", prompt: "Once", stream: false, options: { num_predict: 4, num_gpu: 1 } }),
    });
    assert.equal(gen.status, 200, await gen.text());
    const ps = (await (await fetch(dev.base + "/api/ps")).json()).models[0];
    assert.match(ps.processor, /^\d+%\/\d+% CPU\/GPU$/, "partly offloaded");

    const page = await b.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors = [];
    page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    assert.equal((await page.goto(dev.base + "/ui", { waitUntil: "load", timeout: 20000 })).status(), 200);
    const row = page.locator('tr[data-model^="stories260K"]');
    await row.waitFor({ timeout: 20000 });
    const cells = await row.locator("td").allInnerTexts();
    assert.ok(cells.includes(ps.processor), `the row shows the split ${ps.processor}: ${cells.join(" | ")}`);
    const head = await page.locator("#models thead th").allInnerTexts();
    const vram = cells[head.indexOf("device")];
    assert.match(vram, /^\d+(\.\d)? (B|KiB|MiB|GiB)$/, `the device column shows the model's device bytes: ${vram}`);
    assert.notEqual(vram, "0 B", "the model has device bytes");

    await page.waitForFunction(() => /fake:0 allocations/.test(document.querySelector("#memory").innerText), null,
      { timeout: 20000 });
    const memText = await page.locator("#memory").innerText();
    assert.match(memText, /RssAnon\s+\d/, "host rows");
    assert.match(memText, /fake:0 ledger \(all models\)\s+[1-9][\d.]* (B|KiB|MiB)/, `device ledger row: ${memText}`);
    assert.match(memText, /fake:0 used \(driver\)\s+\d/, "the device's own reading");
    assert.match(memText, /fake:0 allocations\s+3\b/, "weights, KV and scratch: one allocation each");
    assert.deepEqual(consoleErrors, [], "no console errors");
  } finally {
    await b.close();
    await dev.stop();
  }
});
