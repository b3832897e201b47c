// A small kustomize for the tests: renders deploy/k8s (a base, an overlay,
// a component) with no kubectl, so the manifests are checked offline on any
// machine. It implements exactly the fields deploy/k8s uses and refuses any
// other, so it can never render something differently by ignoring it; where
// kubectl is installed, tests/deploy/k8s_test.ts checks that both render the
// same objects.
//
// Supported: resources (files and directories), components, namespace,
// labels (pairs; never into selectors or templates), configMapGenerator
// (files, with generatorOptions.disableNameSuffixHash), images, replicas,
// patches (a strategic-merge patch file naming its object, or a JSON 6902
// list of `add` operations with a target kind regex).

import { join } from "node:path";
import { parseAllDocuments } from "yaml";

// deno-lint-ignore no-explicit-any
export type K8sObject = Record<string, any>;

const KNOWN_FIELDS = new Set([
  "apiVersion",
  "kind",
  "resources",
  "components",
  "namespace",
  "labels",
  "configMapGenerator",
  "generatorOptions",
  "images",
  "replicas",
  "patches",
]);

/** Objects that have no namespace. */
const CLUSTER_SCOPED = new Set(["Namespace"]);

/** Every YAML document of a file, as plain objects (comments dropped). */
export function readYaml(path: string): K8sObject[] {
  return parseAllDocuments(Deno.readTextFileSync(path))
    .map((doc) => doc.toJS())
    .filter((value) => value !== null && value !== undefined);
}

/** The objects `kubectl kustomize dir` would print. */
export function kustomize(dir: string): K8sObject[] {
  const [k] = readYaml(join(dir, "kustomization.yaml"));
  for (const field of Object.keys(k)) {
    if (!KNOWN_FIELDS.has(field)) {
      throw new Error(`${dir}: unsupported kustomization field ${field}`);
    }
  }
  let objects: K8sObject[] = [];
  for (const resource of k.resources ?? []) objects.push(...load(join(dir, resource)));
  for (const generator of k.configMapGenerator ?? []) {
    if (k.generatorOptions?.disableNameSuffixHash !== true) {
      throw new Error(`${dir}: configMapGenerator needs disableNameSuffixHash here`);
    }
    objects.push(configMap(dir, generator));
  }
  for (const component of k.components ?? []) objects.push(...kustomize(join(dir, component)));
  if (k.namespace) {
    objects = objects.map((o) =>
      CLUSTER_SCOPED.has(o.kind) ? o : { ...o, metadata: { ...o.metadata, namespace: k.namespace } }
    );
  }
  for (const label of k.labels ?? []) {
    if (label.includeSelectors || label.includeTemplates) {
      throw new Error(`${dir}: labels into selectors or templates are not supported here`);
    }
    for (const o of objects) o.metadata.labels = { ...o.metadata.labels, ...label.pairs };
  }
  for (const image of k.images ?? []) for (const o of objects) setImage(o, image);
  for (const { name, count } of k.replicas ?? []) {
    const target = objects.find((o) => o.metadata.name === name && o.spec?.replicas !== undefined);
    if (target === undefined) throw new Error(`${dir}: replicas: no workload ${name}`);
    target.spec.replicas = count;
  }
  for (const patch of k.patches ?? []) objects = applyPatch(dir, patch, objects);
  return objects;
}

function load(path: string): K8sObject[] {
  return Deno.statSync(path).isDirectory ? kustomize(path) : readYaml(path);
}

function configMap(dir: string, generator: { name: string; files: string[] }): K8sObject {
  const data: Record<string, string> = {};
  for (const file of generator.files) {
    const eq = file.indexOf("=");
    const key = eq === -1 ? file.split("/").pop()! : file.slice(0, eq);
    data[key] = Deno.readTextFileSync(join(dir, eq === -1 ? file : file.slice(eq + 1)));
  }
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name: generator.name }, data };
}

function setImage(o: K8sObject, image: { name: string; newName?: string; newTag?: string }) {
  for (const container of o.spec?.template?.spec?.containers ?? []) {
    const [name, tag] = container.image.split(":");
    if (name !== image.name) continue;
    container.image = `${image.newName ?? name}:${image.newTag ?? tag}`;
  }
}

function applyPatch(
  dir: string,
  patch: { path: string; target?: { kind?: string; name?: string } },
  objects: K8sObject[],
): K8sObject[] {
  const [body] = readYaml(join(dir, patch.path));
  const matches = (o: K8sObject) =>
    (patch.target?.kind === undefined || new RegExp(`^${patch.target.kind}$`).test(o.kind)) &&
    (patch.target?.name === undefined ||
      new RegExp(`^${patch.target.name}$`).test(o.metadata.name));
  if (Array.isArray(body)) {
    if (patch.target === undefined) throw new Error(`${patch.path}: a JSON patch needs a target`);
    return objects.map((o) => (matches(o) ? jsonPatch(o, body) : o));
  }
  let found = false;
  const result = objects.map((o) => {
    if (o.kind !== body.kind || o.metadata.name !== body.metadata.name || !matches(o)) return o;
    found = true;
    return strategicMerge(o, body);
  });
  if (!found) throw new Error(`${patch.path}: no ${body.kind} ${body.metadata.name} to patch`);
  return result;
}

function jsonPatch(o: K8sObject, ops: { op: string; path: string; value: unknown }[]): K8sObject {
  const copy = structuredClone(o);
  for (const { op, path, value } of ops) {
    if (op !== "add") throw new Error(`JSON patch: only "add" is supported, not ${op}`);
    const parts = path.split("/").slice(1);
    const last = parts.pop()!;
    // deno-lint-ignore no-explicit-any
    let at: any = copy;
    for (const part of parts) at = at[Array.isArray(at) ? Number(part) : part];
    if (Array.isArray(at) && last === "-") at.push(value);
    else if (Array.isArray(at)) at.splice(Number(last), 0, value);
    else at[last] = value;
  }
  return copy;
}

/** Strategic merge: maps merge; lists of named items merge by name; other lists are replaced. */
export function strategicMerge(base: unknown, patch: unknown): K8sObject {
  if (Array.isArray(base) && Array.isArray(patch)) {
    const named = (list: unknown[]) =>
      list.every((item) => typeof item === "object" && item !== null && "name" in item);
    if (!named(base) || !named(patch)) return patch as K8sObject;
    const merged = [...base] as K8sObject[];
    for (const item of patch as K8sObject[]) {
      const at = merged.findIndex((m) => m.name === item.name);
      if (at === -1) merged.push(item);
      else merged[at] = strategicMerge(merged[at], item);
    }
    return merged as unknown as K8sObject;
  }
  if (isMap(base) && isMap(patch)) {
    const merged: K8sObject = { ...base };
    for (const [key, value] of Object.entries(patch)) {
      merged[key] = key in merged ? strategicMerge(merged[key], value) : value;
    }
    return merged;
  }
  return patch as K8sObject;
}

function isMap(value: unknown): value is K8sObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A stable order for comparing two renders: by kind, then name. */
export function byKindAndName(objects: readonly K8sObject[]): K8sObject[] {
  return [...objects].sort((a, b) =>
    `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`)
  );
}
