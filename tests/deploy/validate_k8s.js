// SPDX-License-Identifier: Apache-2.0
// Validates deploy/k8s: every overlay is rendered (kubectl kustomize when it
// works, else render.js, which must then agree with kubectl where both run),
// every object is checked against the Kubernetes schemas (kubernetes-models),
// and the manifests are checked against the node itself: each role file
// passes `weft-node check-config --config` with the role its labels say, the
// bootstrap address deploy.sh writes is accepted as BOOTSTRAP_PEERS and names
// the headless Service's pod, every env var is one `weft-node --help` lists,
// ports and probes match API_PORT/SIDECAR_PORT/listen_port, and selectors of
// Services, PDBs and workloads match pod labels.
// usage: node validate_k8s.js REPO_ROOT WEFT_NODE [--self-test]
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import { render } from "./render.js";

const [root, weftNode] = process.argv.slice(2);
const selfTest = process.argv.includes("--self-test");
const k8s = path.join(root, "deploy/k8s");
const overlays = fs.readdirSync(path.join(k8s, "overlays")).sort();

function kubectlRender(dir) {
  if (process.env.WEFT_K8S_NO_KUBECTL === "1") return null;
  const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
  if (r.error || r.status !== 0) return null;
  return YAML.parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
}

async function schemaErrors(obj) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : [null, obj.apiVersion];
  const mod = group ? `kubernetes-models/${group}/${version}/${obj.kind}` : `kubernetes-models/${version}/${obj.kind}`;
  let Model;
  try {
    Model = (await import(mod))[obj.kind];
  } catch {
    return [`${obj.kind} ${obj.apiVersion}: no schema (unknown kind or apiVersion)`];
  }
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return [`${obj.kind}/${obj.metadata?.name}: ${e.message.split("\n").slice(0, 4).join(" | ")}`];
  }
}

// Lists of named maps (env, ports, containers) compare in any order:
// kustomize puts the items a patch touched first.
const byName = (a, b) => String(a.name).localeCompare(String(b.name));
const sortKeys = (v) =>
  Array.isArray(v) ? (v.every((x) => x && typeof x === "object" && "name" in x) ? [...v].sort(byName) : v).map(sortKeys)
    : v && typeof v === "object"
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])])) : v;
const ident = (o) => `${o.kind}/${o.metadata.namespace || ""}/${o.metadata.name}`;

function help() {
  return execFileSync(weftNode, ["--help"], { encoding: "utf8" });
}

function checkConfig(yamlText, env, tmp) {
  const f = path.join(tmp, `role-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(f, yamlText);
  const r = spawnSync(weftNode, ["check-config", "--config", f], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, IDENTITY_DIR: path.join(tmp, "id"), ...env },
  });
  return r.status === 0 ? { ok: true, cfg: JSON.parse(r.stdout) } : { ok: false, err: (r.stderr || "").trim() };
}

const matches = (sel, labels) => sel && Object.entries(sel).every(([k, v]) => labels?.[k] === v);

// Everything but the schema: objects of one rendered overlay against the node.
function crossCheck(objs, ctx) {
  const errs = [];
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const workloads = objs.filter((o) => ["StatefulSet", "Deployment"].includes(o.kind));
  const cms = Object.fromEntries(byKind("ConfigMap").map((c) => [c.metadata.name, c]));
  if (!workloads.length) errs.push("no workloads");
  for (const w of workloads) {
    const n = `${w.kind}/${w.metadata.name}`;
    const tl = w.spec.template.metadata.labels;
    const role = tl["app.kubernetes.io/component"];
    if (!matches(w.spec.selector.matchLabels, tl)) errs.push(`${n}: selector does not match its pod labels`);
    const a = w.spec.template.metadata.annotations || {};
    const c = w.spec.template.spec.containers.find((x) => x.name === "weft-node");
    if (!c) { errs.push(`${n}: no container weft-node`); continue; }
    const env = Object.fromEntries((c.env || []).map((e) => [e.name, e.value]));
    for (const e of c.env || [])
      if (!new RegExp(`^\\s+${e.name}\\b`, "m").test(ctx.help)) errs.push(`${n}: env ${e.name} is not a weft-node variable (--help)`);
    const ports = Object.fromEntries((c.ports || []).map((p) => [p.name, p.containerPort]));
    const api = Number(env.API_PORT ?? ctx.defaults.API_PORT), sidecar = Number(env.SIDECAR_PORT ?? ctx.defaults.SIDECAR_PORT);
    if (ports.api !== api) errs.push(`${n}: port api ${ports.api} but API_PORT ${api}`);
    if (ports.sidecar !== sidecar) errs.push(`${n}: port sidecar ${ports.sidecar} but SIDECAR_PORT ${sidecar}`);
    for (const pr of ["readinessProbe", "livenessProbe"]) {
      const g = c[pr]?.httpGet;
      if (!g || g.path !== "/api/v1/health" || (g.port !== "api" && g.port !== api)) errs.push(`${n}: ${pr} is not GET /api/v1/health on the API port`);
    }
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory) errs.push(`${n}: no resource requests`);
    if (a["prometheus.io/scrape"] !== "true" || Number(a["prometheus.io/port"]) !== api || a["prometheus.io/path"] !== "/metrics")
      errs.push(`${n}: Prometheus annotations do not point at API_PORT /metrics`);
    const argi = (c.args || []).indexOf("--config");
    const mountPath = argi >= 0 ? path.dirname(c.args[argi + 1]) : null;
    const mount = (c.volumeMounts || []).find((m) => m.mountPath === mountPath);
    const vol = mount && w.spec.template.spec.volumes.find((v) => v.name === mount.name);
    const cm = vol?.configMap && cms[vol.configMap.name];
    const file = cm?.data?.[path.basename(c.args[argi + 1])];
    if (!file) { errs.push(`${n}: --config does not name a file of a ConfigMap it mounts`); continue; }
    const cenv = { ...env, WEFT_LISTEN_IP: "127.0.0.1" };
    delete cenv.IDENTITY_DIR; delete cenv.CLUSTER_ID;
    const boot = (c.env || []).find((e) => e.name === "BOOTSTRAP_PEERS");
    if (boot) {
      const ref = boot.valueFrom?.configMapKeyRef;
      if (!ref || !ctx.deploy.includes(`configmap ${ref.name}`) || !ctx.deploy.includes(`${ref.key}=`))
        errs.push(`${n}: BOOTSTRAP_PEERS does not come from the ConfigMap deploy.sh creates`);
      cenv.BOOTSTRAP_PEERS = ctx.bootstrapPeers;
    }
    const r = checkConfig(file, cenv, ctx.tmp);
    if (!r.ok) { errs.push(`${n}: weft-node check-config refuses its role file: ${r.err}`); continue; }
    if (r.cfg.WEFT_ROLE !== role) errs.push(`${n}: role file says ${r.cfg.WEFT_ROLE}, labels say ${role}`);
    if (ports.p2p !== r.cfg.OPTIMUM_PORT) errs.push(`${n}: port p2p ${ports.p2p} but listen_port ${r.cfg.OPTIMUM_PORT}`);
    if (boot && r.cfg.BOOTSTRAP_PEERS.length !== 1) errs.push(`${n}: bootstrap address not taken`);
    const sec = w.spec.template.spec.volumes.find((v) => v.secret);
    if (role === "bootstrap") {
      if (w.kind !== "StatefulSet" || w.spec.replicas !== 1) errs.push(`${n}: the bootstrap must be a 1-replica StatefulSet`);
      const idm = (c.volumeMounts || []).find((m) => m.mountPath === env.IDENTITY_DIR);
      const idv = idm && w.spec.template.spec.volumes.find((v) => v.name === idm.name);
      if (!idv?.secret || !ctx.deploy.includes(`secret generic ${idv.secret.secretName}`) || idv.secret.items?.[0]?.path !== "p2p.key")
        errs.push(`${n}: IDENTITY_DIR is not p2p.key from the Secret deploy.sh creates`);
      const svc = byKind("Service").find((s) => s.metadata.name === w.spec.serviceName);
      if (!svc || svc.spec.clusterIP !== "None") errs.push(`${n}: serviceName is not a headless Service`);
      const ns = w.metadata.namespace;
      const want = `/dns4/${w.metadata.name}-0.${w.spec.serviceName}.${ns}.svc.cluster.local/tcp/${ports.p2p}/p2p/`;
      if (!ctx.bootstrapPeers.startsWith(want)) errs.push(`${n}: deploy.sh's BOOTSTRAP_PEERS ${ctx.bootstrapPeers} is not ${want}<id>`);
    } else if (sec) errs.push(`${n}: only the bootstrap mounts a Secret`);
    if (!byKind("PodDisruptionBudget").some((p) => matches(p.spec.selector.matchLabels, tl))) errs.push(`${n}: no PodDisruptionBudget`);
    if (!byKind("NetworkPolicy").some((p) => matches(p.spec.podSelector.matchLabels, tl))) errs.push(`${n}: no NetworkPolicy`);
  }
  for (const s of byKind("Service")) {
    const w = workloads.find((x) => matches(s.spec.selector, x.spec.template.metadata.labels));
    if (!w) { errs.push(`Service/${s.metadata.name}: selects no workload`); continue; }
    const c = w.spec.template.spec.containers[0];
    for (const p of s.spec.ports)
      if (!(c.ports || []).some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort))
        errs.push(`Service/${s.metadata.name}: targetPort ${p.targetPort} is no container port`);
  }
  for (const np of byKind("NetworkPolicy"))
    for (const rule of np.spec.ingress || [])
      for (const p of rule.ports || [])
        if (!workloads.some((w) => w.spec.template.spec.containers[0].ports.some((cp) => cp.containerPort === p.port)))
          errs.push(`NetworkPolicy/${np.metadata.name}: port ${p.port} is no container port`);
  for (const o of objs) if (o.kind !== "Namespace" && o.metadata.namespace !== "weft") errs.push(`${ident(o)}: not in namespace weft`);
  return errs;
}

async function checkOverlay(name, ctx) {
  const dir = path.join(k8s, "overlays", name);
  let objs = render(dir);
  const errs = [];
  const kc = kubectlRender(dir);
  if (kc) {
    const a = new Map(objs.map((o) => [ident(o), JSON.stringify(sortKeys(o))]));
    for (const o of kc)
      if (a.get(ident(o)) !== JSON.stringify(sortKeys(o))) {
        errs.push(`render.js and kubectl kustomize differ on ${ident(o)}`);
        if (process.env.WEFT_K8S_DIFF) console.log(a.get(ident(o)), "\n", JSON.stringify(sortKeys(o)));
      }
    if (kc.length !== objs.length) errs.push(`render.js made ${objs.length} objects, kubectl ${kc.length}`);
    objs = kc;
  }
  for (const o of objs) errs.push(...(await schemaErrors(o)));
  errs.push(...crossCheck(objs, ctx));
  return { objs, errs, kubectl: !!kc };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "weft-k8s-"));
let failed = 0;
try {
  const deploy = fs.readFileSync(path.join(root, "deploy/scripts/deploy.sh"), "utf8");
  const id = execFileSync(weftNode, ["generate-key", "--output-peer-id"], { encoding: "utf8", env: { PATH: process.env.PATH, IDENTITY_DIR: path.join(tmp, "bk") } }).trim();
  const m = deploy.match(/^peers="([^"]+)"/m);
  if (!m) throw new Error("deploy.sh: no peers=\"...\" line");
  const h = help();
  const spec = fs.readFileSync(path.join(root, "../shared/spec/optimum-compat.md"), "utf8").replace(/\n\s+/g, " ");
  const defaults = {};
  for (const v of ["SIDECAR_PORT", "API_PORT", "OPTIMUM_PORT"]) {
    const d = spec.match(new RegExp("`" + v + "`[^\\[]*\\[(\\d+)\\]"));
    const hd = h.match(new RegExp(v + "\\s[^\\[]*\\[(\\d+)\\]"));
    if (!d || !hd || d[1] !== hd[1]) { console.log(`FAIL: ${v}: spec default ${d?.[1]} vs --help ${hd?.[1]}`); failed++; }
    defaults[v] = Number(hd?.[1]);
  }
  const ctx = { help: h, defaults, deploy, tmp, bootstrapPeers: m[1].replace("$ns", "weft").replace("$id", id) };
  for (const o of overlays) {
    const { objs, errs, kubectl } = await checkOverlay(o, ctx);
    for (const e of errs) console.log(`FAIL: overlay ${o}: ${e}`);
    failed += errs.length;
    console.log(`overlay ${o}: ${objs.length} objects${kubectl ? " (kubectl kustomize and render.js agree)" : " (render.js)"}, ${errs.length} problems`);
  }
  if (selfTest) {
    // Mutations of a good rendering that the checks must catch.
    const good = await checkOverlay(overlays[0], ctx);
    const base = good.objs, known = new Set(good.errs);
    const muts = [
      ["schema: replicas as a string", (o) => o.kind === "Deployment" && (o.spec.replicas = "two")],
      ["schema: a port as text", (o) => o.kind === "Service" && (o.spec.ports[0].port = "7070")],
      ["schema: a bad probe", (o) => o.kind === "StatefulSet" && (o.spec.template.spec.containers[0].livenessProbe.httpGet = {})],
      ["an env var the node lacks", (o) => o.kind === "Deployment" && o.spec.template.spec.containers[0].env.push({ name: "OPTIMUM_PORTS", value: "1" })],
      ["a probe on a wrong path", (o) => o.kind === "Deployment" && (o.spec.template.spec.containers[0].readinessProbe.httpGet.path = "/health")],
      ["a role file with a bad key", (o) => o.kind === "ConfigMap" && o.metadata.name.includes("worker") && (o.data["node.yaml"] += "  colour: red\n")],
      ["labels and role disagree", (o) => o.kind === "ConfigMap" && o.metadata.name.includes("relay") && (o.data["node.yaml"] = o.data["node.yaml"].replace("role: relay", "role: worker"))],
      ["a Service selecting nothing", (o) => o.kind === "Service" && o.metadata.name === "weft-relay" && (o.spec.selector["app.kubernetes.io/component"] = "relays")],
      ["API port and annotation differ", (o) => o.kind === "StatefulSet" && (o.spec.template.metadata.annotations["prometheus.io/port"] = "9091")],
    ];
    for (const [what, f] of muts) {
      const objs = JSON.parse(JSON.stringify(base));
      if (!objs.some((o) => f(o))) { console.log(`FAIL: self-test "${what}" changed nothing`); failed++; continue; }
      const errs = [];
      for (const o of objs) errs.push(...(await schemaErrors(o)));
      errs.push(...crossCheck(objs, ctx));
      errs.splice(0, errs.length, ...errs.filter((e) => !known.has(e)));
      if (!errs.length) { console.log(`FAIL: self-test "${what}" not caught`); failed++; } else console.log(`self-test "${what}": caught (${errs[0]})`);
    }
  }
} catch (e) {
  console.log(`FAIL: ${e.stack || e}`);
  failed++;
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
