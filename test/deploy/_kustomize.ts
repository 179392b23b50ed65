/**
 * A small offline Kustomize for the subset deploy/ uses, so the manifests render in a test with
 * no kustomize binary: `resources` (files and kustomization directories), `namespace`, `images`,
 * `replicas` and `patches` from files: strategic-merge patches (targeted by their kind and name)
 * and, with a `target`, JSON patches (RFC 6902 add, replace, remove). Any
 * other field is refused, so a manifest cannot silently rely on a feature this renderer ignores;
 * where `kubectl kustomize` exists, manifests.test.ts checks both render the same objects.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
};

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  replicas?: { name: string; count: number }[];
  patches?: { path: string; target?: { kind: string; name: string } }[];
}

const FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'images',
  'replicas',
  'patches',
]);
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PriorityClass',
]);
// Strategic-merge keys of the lists deploy/ patches (k8s.io/api's patchMergeKey, plus the
// list-map keys kustomize also honours); other lists are replaced whole.
const MERGE_KEYS: Record<string, readonly string[]> = {
  containers: ['name'],
  initContainers: ['name'],
  env: ['name'],
  volumes: ['name'],
  volumeMounts: ['mountPath'],
  ports: ['containerPort'],
  topologySpreadConstraints: ['topologyKey', 'whenUnsatisfiable'],
};

/** Parses YAML the way kubectl does (YAML 1.1: `0440` is octal), one object per document. */
export function parseYamlDocs(text: string, file: string): unknown[] {
  return parseAllDocuments(text, { version: '1.1' }).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const value = doc.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A strategic merge of `patch` into `base` (a fresh value; neither input changes). */
export function strategicMerge(base: unknown, patch: unknown, field = ''): unknown {
  if (isObject(base) && isObject(patch)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = k in base ? strategicMerge(base[k], v, k) : v;
    }
    return out;
  }
  const keys = MERGE_KEYS[field];
  if (keys && Array.isArray(base) && Array.isArray(patch) && [...base, ...patch].every(isObject)) {
    const same = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      keys.every((k) => a[k] === b[k]);
    const items = base as Record<string, unknown>[];
    // kustomize (kyaml) lists the patch's items first, in its order, then the rest of the base.
    const fromPatch = (patch as Record<string, unknown>[]).map((p) => {
      const b = items.find((x) => same(x, p));
      return b === undefined ? p : strategicMerge(b, p);
    });
    const rest = items.filter((b) => !(patch as Record<string, unknown>[]).some((p) => same(b, p)));
    return [...fromPatch, ...rest];
  }
  return patch;
}

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
}

/** Applies RFC 6902 add/replace/remove operations to `doc` in place. */
function jsonPatch(doc: unknown, ops: JsonPatchOp[], where: string): void {
  for (const [n, { op, path, value }] of ops.entries()) {
    const fail = (why: string) => new Error(`${where} operation ${n + 1} (${op} ${path}): ${why}`);
    if (!['add', 'replace', 'remove'].includes(op)) throw fail('operation not supported here');
    const keys = path
      .split('/')
      .slice(1)
      .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop();
    let parent = doc as Record<string, unknown> | unknown[];
    for (const k of keys) {
      parent = (parent as Record<string, unknown>)[k] as Record<string, unknown>;
      if (typeof parent !== 'object' || parent === null) throw fail('no such path');
    }
    if (last === undefined) throw fail('cannot patch the root');
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length) throw fail('bad index');
      if (op === 'add') parent.splice(i, 0, value);
      else if (i === parent.length) throw fail('no such element');
      else if (op === 'replace') parent[i] = value;
      else parent.splice(i, 1);
    } else {
      if (op !== 'add' && !(last in parent)) throw fail('no such field');
      if (op === 'remove') delete parent[last];
      else parent[last] = value;
    }
  }
}

function podSpecs(obj: K8sObject): Record<string, unknown>[] {
  const template = (obj.spec as { template?: { spec?: Record<string, unknown> } } | undefined)
    ?.template;
  return template?.spec ? [template.spec] : [];
}

function setImages(objects: K8sObject[], images: NonNullable<Kustomization['images']>): void {
  for (const spec of objects.flatMap(podSpecs)) {
    for (const list of ['containers', 'initContainers']) {
      for (const c of (spec[list] ?? []) as { image?: string }[]) {
        if (!c.image) continue;
        const [, name, tag] = /^([^@]*?)(?::([^:/@]+))?(?:@.*)?$/.exec(c.image)!;
        const rule = images.find((i) => i.name === name);
        if (!rule) continue;
        const newName = rule.newName ?? name!;
        if (rule.digest) c.image = `${newName}@${rule.digest}`;
        else c.image = `${newName}${(rule.newTag ?? tag) ? `:${rule.newTag ?? tag}` : ''}`;
      }
    }
  }
}

function loadResource(dir: string, entry: string): K8sObject[] {
  const path = join(dir, entry);
  if (statSync(path).isDirectory()) return render(path);
  return parseYamlDocs(readFileSync(path, 'utf8'), path) as K8sObject[];
}

/** Renders the kustomization in `dir` to its list of objects. */
export function render(dir: string): K8sObject[] {
  const file = readdirSync(dir).find(
    (f) => f === 'kustomization.yaml' || f === 'kustomization.yml',
  );
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const k = parseYamlDocs(readFileSync(join(dir, file), 'utf8'), file)[0] as Kustomization;
  for (const field of Object.keys(k)) {
    if (!FIELDS.has(field)) throw new Error(`${dir}/${file}: "${field}" is not supported here`);
  }
  let objects = (k.resources ?? []).flatMap((r) => loadResource(dir, r));
  for (const { path, target } of k.patches ?? []) {
    const docs = parseYamlDocs(readFileSync(join(dir, path), 'utf8'), path);
    if (target) {
      const o = objects.find((x) => x.kind === target.kind && x.metadata.name === target.name);
      if (!o) throw new Error(`${dir}/${path}: no ${target.kind} ${target.name}`);
      jsonPatch(o, docs[0] as JsonPatchOp[], `${dir}/${path}`);
      continue;
    }
    for (const patch of docs as K8sObject[]) {
      const match = (o: K8sObject) =>
        o.kind === patch.kind && o.metadata.name === patch.metadata.name;
      if (!objects.some(match)) {
        throw new Error(`${dir}/${path}: no ${patch.kind} ${patch.metadata.name}`);
      }
      objects = objects.map((o) => (match(o) ? (strategicMerge(o, patch) as K8sObject) : o));
    }
  }
  if (k.namespace) {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  if (k.images) setImages(objects, k.images);
  for (const { name, count } of k.replicas ?? []) {
    const o = objects.find(
      (x) => x.metadata.name === name && ['Deployment', 'StatefulSet'].includes(x.kind),
    );
    if (!o) throw new Error(`${dir}/${file}: replicas: no Deployment or StatefulSet ${name}`);
    (o.spec as { replicas: number }).replicas = count;
  }
  return objects;
}
