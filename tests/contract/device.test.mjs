// The device surface of the API through the stand-in device (BERTH_DEVICE=fake:SIZE): size_vram and the CPU/GPU
// split in /api/ps, the ledger's device rows and the context row in /api/memory, the device rows of /metrics
// (allocations constant while serving), the client's num_gpu, partial offload under BERTH_MAX_VRAM, and the 503
// with the numbers when a requested layer count cannot fit. The reference text stays the same on the device.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, oracle, post, get } from "./server.mjs";

const story = oracle("stories260K").cases[0];
const greedy = { temperature: 0, num_predict: story.greedy.length };
const counter = (text, name) => Number((text.match(new RegExp("^" + name + "(?:\\{[^}]*\\})? (\\S+)$", "m")) || [])[1]);

test("a model on the stand-in device: size_vram, the split, device rows, no allocation while serving", async () => {
  const srv = await startServer({ BERTH_DEVICE: "fake:256MiB" });
  try {
    const body = { model: "stories260K", prompt: story.prompt, raw: true, stream: false, options: greedy };
    let r = await post(srv.base, "/api/generate", body);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.response, story.greedy_text, "the same text as on the CPU");
    const ps = (await get(srv.base, "/api/ps")).json.models[0];
    assert.ok(ps.size_vram > 0, "size_vram is filled");
    assert.equal(ps.size, ps.size_host + ps.size_vram);
    assert.equal(ps.processor, "100% GPU");
    assert.equal(ps.gpu_layers, ps.layers, "every layer and the output head");
    assert.equal(ps.size_vram, ps.size_device_weights + ps.size_device_kv + ps.size_device_scratch);

    const mem = (await get(srv.base, "/api/memory?history=0")).json;
    assert.equal(mem.devices.length, 1);
    const dev = mem.devices[0];
    assert.equal(dev.type, "fake");
    assert.equal(dev.ledger, ps.size_vram, "the ledger's device rows are the model's device bytes");
    assert.equal(dev.used_by_process, dev.ledger + dev.context, "the stand-in holds exactly the ledger");
    assert.equal(dev.unaccounted, 0);
    assert.equal(dev.context_host, 0, "the stand-in's context takes no host memory (a GPU's runtime libraries do)");
    assert.equal(dev.budget, 256 * 1024 * 1024, "default budget: the free memory (the stand-in reserves nothing)");
    const row = mem.ledger.find((l) => l.model.startsWith("stories260K"));
    assert.equal(row.devices.length, 1);
    assert.equal(row.devices[0].total, ps.size_vram);
    assert.deepEqual(Object.keys(row.devices[0].bytes).sort(), ["kv", "scratch", "weights"]);

    const m1 = (await get(srv.base, "/metrics")).text;
    const allocs = counter(m1, "berth_device_allocations_total");
    assert.equal(allocs, 3, "weights, KV and scratch: one allocation each");
    assert.equal(counter(m1, "berth_model_device_loads_total"), 1);
    assert.equal(counter(m1, "berth_device_host_context_bytes"), 0);
    assert.match(m1, /^berth_device_model_bytes\{model="stories260K[^"]*",device="0",kind="weights"\} \d+$/m);
    for (let i = 0; i < 5; i++) {
      r = await post(srv.base, "/api/generate", { ...body, prompt: story.prompt + " " + i });
      assert.equal(r.status, 200, r.text);
    }
    assert.equal(counter((await get(srv.base, "/metrics")).text, "berth_device_allocations_total"), allocs,
      "no device allocation while serving");

    // The client's num_gpu 0: reloaded on the CPU.
    r = await post(srv.base, "/api/generate", { ...body, options: { ...greedy, num_gpu: 0 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.response, story.greedy_text);
    const cpu = (await get(srv.base, "/api/ps")).json.models[0];
    assert.equal(cpu.size_vram, 0);
    assert.equal(cpu.processor, "100% CPU");
    assert.equal((await get(srv.base, "/api/memory?history=0")).json.devices[0].used_by_process, 0,
      "the device memory came back at the unload");
    r = await post(srv.base, "/api/generate", { ...body, options: { ...greedy, num_gpu: "all" } });
    assert.equal(r.status, 400, "num_gpu must be a number");
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test("BERTH_MAX_VRAM below the model: the first layers on the device, the rest on the CPU; 503 with numbers", async () => {
  // The model's device size with one layer there and with all of it; the budget lies between the two.
  let srv = await startServer({ BERTH_DEVICE: "fake:256MiB" });
  const size = {};
  try {
    for (const n of [1, 99]) {
      const r = await post(srv.base, "/api/generate", { model: "llama-spm-q8_0", prompt: "", options: { num_gpu: n } });
      assert.equal(r.status, 200, r.text);
      size[n] = (await get(srv.base, "/api/ps")).json.models[0].size_vram;
    }
  } finally {
    await srv.stop();
  }
  assert.ok(size[1] < size[99]);
  const budget = Math.floor((size[1] + size[99]) / 2);
  srv = await startServer({ BERTH_DEVICE: "fake:256MiB", BERTH_MAX_VRAM: String(budget) });
  try {
    const ref = oracle("llama-spm-q8_0").cases[0];
    let r = await post(srv.base, "/api/generate", { model: "llama-spm-q8_0", prompt: ref.prompt, raw: true, stream: false,
      options: { temperature: 0, num_predict: 4 } });
    assert.equal(r.status, 200, r.text);
    const ps = (await get(srv.base, "/api/ps")).json.models[0];
    assert.ok(ps.gpu_layers > 0 && ps.gpu_layers < ps.layers, `partly on the device: ${ps.gpu_layers}/${ps.layers}`);
    assert.ok(ps.size_vram <= budget);
    assert.match(ps.processor, /^\d+%\/\d+% CPU\/GPU$/);
    // A layer count that cannot fit the budget is a 503 that says what to change.
    r = await post(srv.base, "/api/generate", { model: "llama-spm-q8_0", prompt: "x", stream: false,
      options: { num_gpu: 99, num_predict: 1 } });
    assert.equal(r.status, 503, r.text);
    assert.match(r.json.error, /needs .* on device 0 .* device budget .*BERTH_MAX_VRAM/);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
