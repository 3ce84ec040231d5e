// SPDX-License-Identifier: Apache-2.0
// A small renderer of the kustomize features deploy/k8s uses, for machines
// without kubectl: resources (files and directories), namespace, labels
// (metadata only), images, replicas and strategic-merge patches (maps merge,
// lists of named maps merge by name, other lists are replaced), with a
// target (kind regex, labelSelector) or by the patch's own kind and name.
// validate_k8s.js compares it against kubectl kustomize wherever both run.
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

const load = (f) => YAML.parseAllDocuments(fs.readFileSync(f, "utf8")).map((d) => d.toJS()).filter(Boolean);

function merge(a, b) {
  if (Array.isArray(a) && Array.isArray(b) && b.every((x) => x && typeof x === "object" && "name" in x)) {
    const out = a.map((x) => ({ ...x }));
    for (const x of b) {
      const i = out.findIndex((y) => y && y.name === x.name);
      if (i >= 0) out[i] = merge(out[i], x); else out.push(x);
    }
    return out;
  }
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in a ? merge(a[k], v) : v;
    return out;
  }
  return b;
}

function selects(target, o) {
  if (target.kind && !new RegExp(`^(?:${target.kind})$`).test(o.kind)) return false;
  if (target.name && target.name !== o.metadata.name) return false;
  if (target.labelSelector)
    for (const term of target.labelSelector.split(",")) {
      const [k, v] = term.split("=");
      if (o.metadata.labels?.[k] !== v) return false;
    }
  return true;
}

function podSpecs(o) {
  return o.spec?.template?.spec ? [o.spec.template.spec] : [];
}

export function render(dir) {
  const k = load(path.join(dir, "kustomization.yaml"))[0];
  let objs = [];
  for (const r of k.resources || []) {
    const p = path.join(dir, r);
    objs.push(...(fs.statSync(p).isDirectory() ? render(p) : load(p)));
  }
  for (const l of k.labels || [])
    for (const o of objs) o.metadata.labels = { ...(o.metadata.labels || {}), ...l.pairs };
  for (const pt of k.patches || []) {
    const patch = load(path.join(dir, pt.path))[0];
    objs = objs.map((o) => {
      const hit = pt.target ? selects(pt.target, o) : o.kind === patch.kind && o.metadata.name === patch.metadata.name;
      if (!hit) return o;
      const p = JSON.parse(JSON.stringify(patch));
      delete p.apiVersion; delete p.kind; delete p.metadata;
      return merge(o, p);
    });
  }
  for (const rp of k.replicas || [])
    for (const o of objs) if (o.metadata.name === rp.name && o.spec && "replicas" in o.spec) o.spec.replicas = rp.count;
  for (const im of k.images || [])
    for (const o of objs)
      for (const ps of podSpecs(o))
        for (const c of [...(ps.containers || []), ...(ps.initContainers || [])]) {
          const [name, tag] = c.image.split(":");
          if (name !== im.name) continue;
          c.image = `${im.newName || name}:${im.newTag || tag}`;
        }
  if (k.namespace)
    for (const o of objs) if (o.kind !== "Namespace") o.metadata.namespace = k.namespace;
  return objs;
}
