// Tool calling and thinking through the official clients, unchanged: openai (tool_choice required / named, streamed
// tool calls, reasoning), ollama (tools, think), and LangChain's ChatOllama (bindTools round trip as n8n's AI Agent
// does it, thinking). The test models have random weights: calls are certain only where the request (tool_choice) or
// the model's parameters (berth's `tool_choice` PARAMETER) make berth constrain decoding to a call; the parsers carry
// the rest and have their own canned-output tests.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { ChatOllama } from "@langchain/ollama";
import { tool } from "@langchain/core/tools";
import { HumanMessage, ToolMessage } from "@langchain/core/messages";
import { z } from "zod";
import { startServer, post, testdata, weather } from "./server.mjs";

let srv, ollama, openai;
const MODEL = "qwen3-tools-q8_0";
// Where parallel calls are allowed, the grammar admits up to 8 of them and random weights may write all 8 (about
// 60 tokens each with this vocabulary): such requests get a budget of 1000 tokens so that they end with "stop".
// Tools say additionalProperties: false: by the specification the default allows more properties, and random
// weights then write property names until the budget cuts the call.
const time = {
  type: "function",
  function: { name: "get_time", description: "Time in a zone", parameters: { type: "object", properties: { zone: { type: "string", maxLength: 12 } }, required: ["zone"],
                                                                             additionalProperties: false } },
};

before(async () => {
  srv = await startServer();
  ollama = new Ollama({ host: srv.base });
  openai = new OpenAI({ baseURL: srv.base + "/v1", apiKey: "berth", maxRetries: 0, timeout: 120000 });
  // A model that must call a tool whenever tools are offered (berth's `tool_choice` parameter), for clients such as
  // LangChain's ChatOllama that cannot send tool_choice. Random weights left free to think may never close their
  // reasoning block, so the calls below ask for no thinking (the grammar then starts with the call).
  const c = await post(srv.base, "/api/create", { model: "qwen3-forced", from: MODEL, parameters: { tool_choice: "required" }, stream: false });
  assert.equal(c.status, 200, c.text);
});
after(async () => { if (srv) assert.equal(await srv.stop(), 0, "berth exits 0 on SIGTERM"); });

function checkWeatherArgs(args) {
  assert.ok(["Paris", "Berlin", "Rome"].includes(args.city), JSON.stringify(args));
  assert.ok(["celsius", "fahrenheit"].includes(args.unit), JSON.stringify(args));
}

test("capabilities come from the template", async () => {
  const q = await ollama.show({ model: MODEL });
  for (const c of ["completion", "tools", "thinking"]) assert.ok(q.capabilities.includes(c), `${c} in ${q.capabilities}`);
  const s = await ollama.show({ model: "stories260K" });
  assert.deepEqual(s.capabilities, ["completion"]);
  const bad = await post(srv.base, "/api/chat", { model: "stories260K", messages: [{ role: "user", content: "x" }], tools: [weather], stream: false });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /does not support tools/);
  const noThink = await post(srv.base, "/api/chat", { model: "stories260K", messages: [{ role: "user", content: "x" }], think: true, stream: false });
  assert.equal(noThink.status, 400);
  assert.match(noThink.json.error, /does not support thinking/);
});

test("openai: tool_choice required, not streamed", async () => {
  for (let seed = 1; seed <= 3; seed++) {
    const r = await openai.chat.completions.create({
      model: MODEL, messages: [{ role: "user", content: "Weather in Paris?" }], tools: [weather, time],
      tool_choice: "required", parallel_tool_calls: false, max_tokens: 300, seed, reasoning_effort: "none",
    });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.tool_calls.length, 1, "parallel_tool_calls false: one call");
    const call = choice.message.tool_calls[0];
    assert.match(call.id, /^call_[a-z0-9]+$/);
    assert.equal(call.type, "function");
    assert.ok(["get_weather", "get_time"].includes(call.function.name));
    const args = JSON.parse(call.function.arguments);
    if (call.function.name === "get_weather") checkWeatherArgs(args);
    else assert.equal(typeof args.zone, "string");
    assert.ok(!choice.message.content || !choice.message.content.includes("tool_call"), "no call text in content");
  }
});

test("openai: a named function, streamed; calls accumulate by index; then the round trip", async () => {
  const stream = await openai.chat.completions.create({
    model: MODEL, messages: [{ role: "user", content: "Weather?" }], tools: [weather, time],
    tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 1000, seed: 4, stream: true,
    reasoning_effort: "none",
  });
  const calls = [];
  let finish = null, content = "";
  for await (const c of stream) {
    const ch = c.choices[0];
    if (!ch) continue;
    content += ch.delta.content || "";
    for (const tc of ch.delta.tool_calls || []) {
      calls[tc.index] ??= { id: "", name: "", arguments: "" };
      if (tc.id) calls[tc.index].id = tc.id;
      if (tc.function?.name) calls[tc.index].name += tc.function.name;
      if (tc.function?.arguments) calls[tc.index].arguments += tc.function.arguments;
    }
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  assert.equal(finish, "tool_calls");
  assert.ok(calls.length >= 1);
  for (const call of calls) {
    assert.equal(call.name, "get_weather");
    checkWeatherArgs(JSON.parse(call.arguments));
  }
  assert.ok(!content.includes("<tool_call>"), "no call text in content");
  // The agent runs the tool and sends the result back (tool_call_id only, as the OpenAI SDK does).
  const back = await openai.chat.completions.create({
    model: MODEL, max_tokens: 8, seed: 1,
    messages: [
      { role: "user", content: "Weather?" },
      { role: "assistant", content: null, tool_calls: calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) },
      ...calls.map((c) => ({ role: "tool", tool_call_id: c.id, content: "18 degrees" })),
    ],
    tools: [weather, time],
  });
  assert.ok(["stop", "length", "tool_calls"].includes(back.choices[0].finish_reason));
});

test("ollama: tools with berth's tool_choice, streamed and not; arguments are objects", async () => {
  const r = await ollama.chat({ model: MODEL, messages: [{ role: "user", content: "Weather in Rome?" }], tools: [weather],
                                tool_choice: "required", think: false, stream: false, options: { seed: 2, num_predict: 1000 } });
  assert.equal(r.message.tool_calls.length >= 1, true, JSON.stringify(r.message));
  const call = r.message.tool_calls[0];
  assert.equal(call.function.name, "get_weather");
  assert.equal(typeof call.function.arguments, "object");
  checkWeatherArgs(call.function.arguments);
  assert.equal(r.done_reason, "stop");
  assert.equal(r.message.content, "", "a forced call leaves nothing for content");
  let seen = 0, inFinal = false;
  for await (const part of await ollama.chat({ model: "qwen3-forced", messages: [{ role: "user", content: "Weather?" }],
                                                tools: [weather], think: false, stream: true, options: { seed: 3, num_predict: 1000 } })) {
    if (part.message.tool_calls?.length) {
      seen += part.message.tool_calls.length;
      if (part.done) inFinal = true;
      for (const c of part.message.tool_calls) checkWeatherArgs(c.function.arguments);
    }
  }
  assert.ok(seen >= 1, "the call arrives in a chunk");
  assert.equal(inFinal, false, "calls are not held back until the final frame");
});

test("LangChain bindTools round trip, as n8n's AI Agent runs it", async () => {
  const getWeather = tool(async ({ city, unit }) => `${city}: 18 ${unit}`, {
    name: "get_weather", description: "Current weather in a city",
    schema: z.object({ city: z.enum(["Paris", "Berlin", "Rome"]), unit: z.enum(["celsius", "fahrenheit"]) }),
  });
  const llm = new ChatOllama({ baseUrl: srv.base, model: "qwen3-forced", seed: 5, numPredict: 1000, think: false }).bindTools([getWeather]);
  const messages = [new HumanMessage("What is the weather in Paris?")];
  const ai = await llm.invoke(messages);
  assert.ok(ai.tool_calls.length >= 1, JSON.stringify(ai));
  assert.equal(ai.tool_calls[0].name, "get_weather");
  checkWeatherArgs(ai.tool_calls[0].args);
  messages.push(ai);
  for (const call of ai.tool_calls) messages.push(new ToolMessage({ content: await getWeather.invoke(call.args), tool_call_id: call.id }));
  // The second turn: history with the call and its result (LangChain sends the result with neither tool_name nor id).
  const plain = new ChatOllama({ baseUrl: srv.base, model: MODEL, seed: 5, numPredict: 8 }).bindTools([getWeather]);
  const answer = await plain.invoke(messages);
  assert.equal(typeof answer.content, "string");
});

test("LangChain withStructuredOutput through function calling", async () => {
  const Plan = z.object({ steps: z.array(z.enum(["plan", "build", "test"])).min(1).max(3), done: z.boolean() });
  const llm = new ChatOllama({ baseUrl: srv.base, model: "qwen3-forced", seed: 6, numPredict: 300, think: false });
  const plan = await llm.withStructuredOutput(Plan, { method: "functionCalling", name: "plan" }).invoke("Plan the work.");
  assert.deepEqual(Plan.parse(plan), plan);
});

test("thinking: a template that opens the reasoning block routes the output to thinking, never to content", async () => {
  const r1 = fs.readFileSync(path.join(testdata, "templates/jinja/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"), "utf8");
  const c = await post(srv.base, "/api/create", { model: "r1-like", from: MODEL, template: r1, stream: false });
  assert.equal(c.status, 200, c.text);
  const show = await ollama.show({ model: "r1-like" });
  assert.ok(show.capabilities.includes("thinking"), show.capabilities);
  const r = await ollama.chat({ model: "r1-like", messages: [{ role: "user", content: "17 * 23?" }], think: true,
                                stream: false, options: { seed: 1, num_predict: 12 } });
  assert.ok(r.message.thinking && r.message.thinking.length > 0, JSON.stringify(r.message));
  assert.equal(r.message.content, "", "the random model never closes </think>: nothing reaches content");
  const oa = await openai.chat.completions.create({ model: "r1-like", messages: [{ role: "user", content: "17 * 23?" }], max_tokens: 12, seed: 1 });
  const m = oa.choices[0].message;
  assert.ok((m.reasoning_content || m.reasoning || "").length > 0, JSON.stringify(m));
  assert.equal(m.content, "");
  // think false: the reasoning still appears (the template forces it open) and still never reaches content.
  const off = await ollama.chat({ model: "r1-like", messages: [{ role: "user", content: "hi" }], think: false,
                                  stream: false, options: { seed: 1, num_predict: 12 } });
  assert.equal(off.message.content, "");
  // LangChain with think: thinking lands in additional_kwargs.reasoning_content.
  const lc = await new ChatOllama({ baseUrl: srv.base, model: "r1-like", think: true, seed: 1, numPredict: 12 }).invoke("hi");
  assert.ok((lc.additional_kwargs?.reasoning_content || "").length > 0, JSON.stringify(lc));
  assert.equal(lc.content, "");
});

test("think on a thinking template is accepted; no reasoning tags leak into content", async () => {
  for (const think of [true, false, "high"]) {
    const r = await post(srv.base, "/api/chat", { model: MODEL, messages: [{ role: "user", content: "hi" }], think, stream: false,
                                                  options: { seed: 1, num_predict: 16 } });
    assert.equal(r.status, 200, r.text);
    assert.ok(!/<\/?think>/.test(r.json.message.content), r.json.message.content);
  }
});
