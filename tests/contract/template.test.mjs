// Modelfile TEMPLATE is Jinja (like a GGUF chat template) or one of Ollama's Go templates: a created model's
// Jinja template renders its chat prompts (native and OpenAI) and /api/generate's `template` field does the same;
// Go templates are accepted and stored; a template that is neither gets 400 naming the parse errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, post } from "./server.mjs";

let srv;
before(async () => { srv = await startServer(); });
after(async () => { if (srv) assert.equal(await srv.stop(), 0); });

const tmpl = "PREFIX {% for m in messages %}{{ m.content }}{% endfor %}";
const greedy = { temperature: 0, num_predict: 16 };

test("a model created with a Jinja TEMPLATE renders chat prompts with it", async () => {
  const c = await post(srv.base, "/api/create", { model: "templated", from: "stories260K", template: tmpl, stream: false });
  assert.equal(c.status, 200, c.text);
  // The template turns the message "Once upon a time" into the text "PREFIX Once upon a time": the raw
  // generation of that text is what the templated chat must produce, token for token.
  const raw = await post(srv.base, "/api/generate",
                         { model: "stories260K", prompt: "PREFIX Once upon a time", raw: true, stream: false, options: greedy });
  assert.equal(raw.status, 200, raw.text);
  const plain = await post(srv.base, "/api/generate",
                           { model: "stories260K", prompt: "Once upon a time", raw: true, stream: false, options: greedy });
  assert.notEqual(raw.json.prompt_eval_count, plain.json.prompt_eval_count, "the prefix adds prompt tokens");

  const messages = [{ role: "user", content: "Once upon a time" }];
  const chat = await post(srv.base, "/api/chat", { model: "templated", messages, stream: false, options: greedy });
  assert.equal(chat.status, 200, chat.text);
  assert.equal(chat.json.prompt_eval_count, raw.json.prompt_eval_count);
  assert.equal(chat.json.message.content, raw.json.response);

  const oa = await post(srv.base, "/v1/chat/completions",
                        { model: "templated", messages, temperature: 0, max_tokens: 16 });
  assert.equal(oa.status, 200, oa.text);
  assert.equal(oa.json.usage.prompt_tokens, raw.json.prompt_eval_count);
  assert.equal(oa.json.choices[0].message.content, raw.json.response);

  // /api/generate (not raw) renders the prompt as one user message with the model's template...
  const gen = await post(srv.base, "/api/generate", { model: "templated", prompt: "Once upon a time", stream: false, options: greedy });
  assert.equal(gen.json.prompt_eval_count, raw.json.prompt_eval_count);
  assert.equal(gen.json.response, raw.json.response);
  // ... or with the request's own template.
  const own = await post(srv.base, "/api/generate", {
    model: "stories260K", prompt: "Once upon a time", template: tmpl, stream: false, options: greedy,
  });
  assert.equal(own.status, 200, own.text);
  assert.equal(own.json.response, raw.json.response);

  const show = await post(srv.base, "/api/show", { model: "templated" });
  assert.equal(show.json.template, tmpl);
});

test("Go templates are accepted as Ollama accepts them; a template that is neither syntax gets 400", async () => {
  const go = "{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}";
  const c = await post(srv.base, "/api/create", { model: "gotmpl", from: "stories260K", template: go, stream: false });
  assert.equal(c.status, 200, c.text);
  assert.equal((await post(srv.base, "/api/show", { model: "gotmpl" })).json.template, go);

  const bad = await post(srv.base, "/api/create",
                         { model: "badtmpl", from: "stories260K", template: "{{ .System }} {{ end }}", stream: false });
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.json.error, /neither valid Jinja \(.*\) nor a valid Go template \(template: :1: unexpected \{\{end\}\}\)/);
  assert.equal((await post(srv.base, "/api/show", { model: "badtmpl" })).status, 404, "nothing was created");

  // A Go template renders prompts as Ollama renders them: here the user's text alone, so the chat answer is the
  // raw generation of that text; /api/generate's own `template` may be a Go template too.
  const raw = await post(srv.base, "/api/generate",
                         { model: "stories260K", prompt: "Once upon a time", raw: true, stream: false, options: greedy });
  const chat = await post(srv.base, "/api/chat", { model: "gotmpl", messages: [{ role: "user", content: "Once upon a time" }],
                                                   stream: false, options: greedy });
  assert.equal(chat.status, 200, chat.text);
  assert.equal(chat.json.prompt_eval_count, raw.json.prompt_eval_count);
  assert.equal(chat.json.message.content, raw.json.response);
  const g = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "Once upon a time", template: "{{ .Prompt }}",
                                                   stream: false, options: greedy });
  assert.equal(g.status, 200, g.text);
  assert.equal(g.json.response, raw.json.response);
  const neither = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "Once", template: "{{ .System }} {{ end }}", stream: false });
  assert.equal(neither.status, 400, neither.text);
  assert.match(neither.json.error, /neither valid Jinja/);
  const t = await post(srv.base, "/api/generate", { model: "stories260K", prompt: "Once", template: 5, stream: false });
  assert.equal(t.status, 400, t.text);
});
