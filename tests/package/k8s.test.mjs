// deploy/kubernetes/*.yaml against schemas: core and apps objects with kubernetes-models (the Kubernetes OpenAPI
// schemas), HTTPRoute with @kubernetes-models/gateway-api, InferencePool with inferencepool.schema.json (written
// from the extension's API types). Then what the schemas cannot see: selectors match the pod labels, the pool's
// port is the container's, probes use /health (readiness) and / (liveness), the grace period covers preStop and
// BERTH_SHUTDOWN_GRACE, the memory request covers BERTH_MAX_MEMORY. A broken copy must fail, so the validators
// are known to look.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import Ajv from "ajv";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, "../../deploy/kubernetes");
const poolSchema = JSON.parse(fs.readFileSync(path.join(here, "inferencepool.schema.json"), "utf8"));
const validatePool = new Ajv({ allErrors: true, strict: false }).compile(poolSchema);

const models = {
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "apps/v1/StatefulSet": StatefulSet,
  "gateway.networking.k8s.io/v1/HTTPRoute": HTTPRoute,
};

// Throws with the validator's message when `doc` is not valid.
function validate(doc) {
  const key = `${doc.apiVersion}/${doc.kind}`;
  if (key === "inference.networking.k8s.io/v1/InferencePool") {
    if (!validatePool(doc)) throw new Error(JSON.stringify(validatePool.errors));
    const ports = doc.spec.targetPorts.map((p) => p.number);
    if (new Set(ports).size !== ports.length) throw new Error("port number must be unique");  // the CRD's CEL rule
    const ref = doc.spec.endpointPickerRef;
    if (ref && (ref.kind ?? "Service") === "Service" && !ref.port) throw new Error("port is required for a Service");
    return;
  }
  const Model = models[key];
  if (!Model) throw new Error(`no schema for ${key}`);
  new Model(doc).validate();
}

function load() {
  const docs = [];
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    for (const d of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"))) {
      assert.equal(d.errors.length, 0, `${f}: ${d.errors}`);
      docs.push({ file: f, doc: d.toJS() });
    }
  }
  return docs;
}

const docs = load();
const find = (kind) => docs.find((d) => d.doc.kind === kind).doc;

test("every manifest validates against its schema", () => {
  const kinds = docs.map((d) => d.doc.kind).sort();
  assert.deepEqual(kinds, ["ConfigMap", "HTTPRoute", "InferencePool", "Service", "StatefulSet"]);
  for (const { file, doc } of docs) assert.doesNotThrow(() => validate(doc), `${file}: ${doc.kind}`);
});

test("broken copies are refused (the validators look)", () => {
  const broken = [
    ["StatefulSet", (d) => { d.spec.template.spec.containers[0].ports[0].containerPort = "http"; }],
    ["StatefulSet", (d) => { delete d.spec.selector; }],
    ["Service", (d) => { d.spec.ports[0].port = "eleven"; }],
    ["HTTPRoute", (d) => { d.spec.rules[0].backendRefs[0].port = "x"; }],
    ["InferencePool", (d) => { d.spec.targetPorts = []; }],
    ["InferencePool", (d) => { d.spec.targetPorts.push({ number: d.spec.targetPorts[0].number }); }],
    ["InferencePool", (d) => { d.spec.endpointPickerRef.failureMode = "Sometimes"; }],
    ["InferencePool", (d) => { delete d.spec.endpointPickerRef.port; }],
    ["InferencePool", (d) => { d.spec.selector.matchLabels = {}; }],
  ];
  for (const [kind, breakIt] of broken) {
    const d = structuredClone(find(kind));
    breakIt(d);
    assert.throws(() => validate(d), `${kind}: ${breakIt}`);
  }
});

test("selectors, ports, probes, shutdown and memory fit berth", () => {
  const sts = find("StatefulSet"), svc = find("Service"), pool = find("InferencePool"), route = find("HTTPRoute");
  const podLabels = sts.spec.template.metadata.labels;
  const matches = (sel) => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  assert.ok(matches(sts.spec.selector.matchLabels), "the StatefulSet selects its pods");
  assert.ok(matches(svc.spec.selector), "the Service selects the pods");
  assert.ok(matches(pool.spec.selector.matchLabels), "the InferencePool selects the pods");
  const c = sts.spec.template.spec.containers[0];
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  const port = c.ports.find((p) => p.name === "http").containerPort;
  assert.equal(env.BERTH_HOST, `0.0.0.0:${port}`, "berth listens on the container port, on every address");
  assert.deepEqual(pool.spec.targetPorts.map((p) => p.number), [port], "the pool targets berth's port");
  assert.equal(route.spec.rules[0].backendRefs[0].name, pool.metadata.name);
  assert.equal(c.readinessProbe.httpGet.path, "/health", "ready only after preloads");
  assert.equal(c.startupProbe.httpGet.path, "/health");
  assert.equal(c.livenessProbe.httpGet.path, "/", "alive while it answers");
  const secs = (s) => Number(/^(\d+)s$/.exec(s)[1]);
  const preStop = c.lifecycle.preStop.sleep.seconds;
  assert.ok(sts.spec.template.spec.terminationGracePeriodSeconds >= preStop + secs(env.BERTH_SHUTDOWN_GRACE) + 10,
    "the grace period covers preStop, the drain and unloading");
  const gib = (s) => Number(/^(\d+)GiB$/.exec(s)[1]) * 1024;
  const mi = (s) => Number(/^(\d+)Mi$/.exec(s)[1]);
  assert.equal(mi(c.resources.requests.memory), gib(env.BERTH_MAX_MEMORY) + 512, "request = budget + 512 MiB");
  assert.equal(c.resources.limits.memory, c.resources.requests.memory);
  const mounts = Object.fromEntries(c.volumeMounts.map((m) => [m.mountPath, m.name]));
  assert.ok(env.BERTH_MODELS.startsWith("/var/lib/berth/") && mounts["/var/lib/berth"] === "store", "the store is on the claim");
  assert.ok(sts.spec.volumeClaimTemplates.some((v) => v.metadata.name === "store"));
  assert.equal(mounts[path.dirname(env.BERTH_CONFIG)], "config");
  assert.match(find("ConfigMap").data["config.toml"], /max_loaded_models = \d+/);
});
