/**
 * Kubernetes manifests (multi-document YAML, `List` objects too): Deployments, StatefulSets,
 * DaemonSets, Jobs, CronJobs and Pods become services; Services map DNS names to the workloads
 * they select; ConfigMaps contribute their data to the workloads that mount or reference them.
 * Edges come from container env values, args, command and referenced ConfigMap data that name
 * another Service (`http://orders:8080`, `orders.shop.svc.cluster.local`, `orders.shop:5432`).
 * References made by init containers are startup edges; all others are runtime edges.
 */
import { defaultSpiffeId } from '@ward/spiffe';
import type { GraphBuilder, SourceRef } from '../model.ts';
import { isObject, stringMap } from '../util.ts';
import { findHostRefs } from './hostnames.ts';
import { wardLabels } from './labels.ts';
import { parseYamlDocuments, type YamlDoc } from './yaml-docs.ts';

export interface KubernetesReadOptions {
  /** Trust domain of generated SPIFFE IDs. Default `cluster.local` (Istio's default). */
  trustDomain?: string;
}

interface Workload {
  name: string;
  namespace: string;
  selector: Record<string, string>;
  podLabels: Record<string, string>;
  pod: Record<string, unknown>;
  podPath: (string | number)[];
  doc: YamlDoc;
}

interface Text {
  value: string;
  line: number;
  startup: boolean;
}

const WORKLOAD_KINDS = new Set([
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Pod',
]);

export function readKubernetes(
  text: string,
  file: string,
  builder: GraphBuilder,
  options: KubernetesReadOptions = {},
): void {
  const trustDomain = options.trustDomain ?? 'cluster.local';
  const source = (line: number): SourceRef => ({ type: 'kubernetes', file, line });
  const workloads: Workload[] = [];
  const services = new Map<string, { selector: Record<string, string> }>();
  const configMaps = new Map<
    string,
    { data: Record<string, string>; doc: YamlDoc; path: (string | number)[] }
  >();

  for (const doc of parseYamlDocuments(text, file, 'Kubernetes manifests')) {
    const items: [unknown, (string | number)[]][] = [];
    if (isObject(doc.data) && doc.data.kind === 'List' && Array.isArray(doc.data.items)) {
      for (const [i, item] of (doc.data.items as unknown[]).entries())
        items.push([item, ['items', i]]);
    } else items.push([doc.data, []]);
    for (const [obj, path] of items) {
      if (!isObject(obj) || typeof obj.kind !== 'string' || !isObject(obj.metadata)) continue;
      const name = obj.metadata.name;
      if (typeof name !== 'string' || name === '') continue;
      const namespace =
        typeof obj.metadata.namespace === 'string' ? obj.metadata.namespace : 'default';
      const spec = isObject(obj.spec) ? obj.spec : {};
      if (obj.kind === 'Service') {
        services.set(`${namespace}/${name}`, { selector: stringMap(spec.selector) });
      } else if (obj.kind === 'ConfigMap') {
        configMaps.set(`${namespace}/${name}`, {
          data: stringMap(obj.data),
          doc,
          path: [...path, 'data'],
        });
      } else if (WORKLOAD_KINDS.has(obj.kind)) {
        let pod: unknown;
        let podPath: (string | number)[];
        if (obj.kind === 'Pod') {
          pod = obj;
          podPath = path;
        } else if (obj.kind === 'CronJob') {
          const job =
            isObject(spec.jobTemplate) && isObject(spec.jobTemplate.spec)
              ? spec.jobTemplate.spec
              : {};
          pod = job.template;
          podPath = [...path, 'spec', 'jobTemplate', 'spec', 'template'];
        } else {
          pod = spec.template;
          podPath = [...path, 'spec', 'template'];
        }
        if (!isObject(pod)) continue;
        const podMeta = isObject(pod.metadata) ? pod.metadata : {};
        const podLabels = stringMap(obj.kind === 'Pod' ? obj.metadata.labels : podMeta.labels);
        const matchLabels = isObject(spec.selector) ? stringMap(spec.selector.matchLabels) : {};
        const selector = Object.keys(matchLabels).length > 0 ? matchLabels : podLabels;
        const podSpec = isObject(pod.spec) ? pod.spec : {};
        const sa =
          typeof podSpec.serviceAccountName === 'string' ? podSpec.serviceAccountName : 'default';
        builder.service(
          name,
          {
            virtual: false,
            namespace,
            serviceAccount: sa,
            spiffeId: defaultSpiffeId(trustDomain, namespace, sa),
            labels: {
              ...wardLabels(podLabels, stringMap(podMeta.annotations)),
              ...wardLabels(stringMap(obj.metadata.labels), stringMap(obj.metadata.annotations)),
            },
            podSelector: selector,
          },
          file,
        );
        workloads.push({
          name,
          namespace,
          selector,
          podLabels,
          pod: podSpec,
          podPath: [...podPath, 'spec'],
          doc,
        });
      }
    }
  }

  // Service (namespace/name) → the workloads it selects.
  const targets = new Map<string, string[]>();
  for (const [key, svc] of services) {
    const ns = key.slice(0, key.indexOf('/'));
    const selected =
      Object.keys(svc.selector).length === 0
        ? []
        : workloads.filter(
            (w) =>
              w.namespace === ns &&
              Object.entries(svc.selector).every(([k, v]) => w.podLabels[k] === v),
          );
    if (selected.length === 0) {
      // A Service whose pods are not in these files (or an ExternalName): the DNS name is the node.
      const name = key.slice(ns.length + 1);
      builder.service(name, { virtual: !builder.has(name), namespace: ns }, file);
      targets.set(key, [name]);
    } else
      targets.set(
        key,
        selected.map((w) => w.name),
      );
  }

  for (const w of workloads) {
    for (const t of texts(w, configMaps)) {
      for (const ref of findHostRefs(t.value)) {
        const ns = ref.namespace ?? w.namespace;
        const to = targets.get(`${ns}/${ref.name}`);
        if (!to) continue;
        for (const target of to) {
          if (target === w.name) continue;
          const extra: { port?: number } = {};
          if (ref.port !== undefined) extra.port = ref.port;
          builder.declare(w.name, target, t.startup ? 'startup' : 'runtime', source(t.line), extra);
        }
      }
    }
  }
}

/** Every configuration string of a workload's pod, with its line and whether it is init-time. */
function texts(
  w: Workload,
  configMaps: Map<
    string,
    { data: Record<string, string>; doc: YamlDoc; path: (string | number)[] }
  >,
): Text[] {
  const out: Text[] = [];
  const fromConfigMap = (name: unknown, key: unknown, startup: boolean): void => {
    if (typeof name !== 'string') return;
    const cm = configMaps.get(`${w.namespace}/${name}`);
    if (!cm) return;
    for (const [k, value] of Object.entries(cm.data)) {
      if (key === undefined || key === k)
        out.push({ value, line: cm.doc.lineOf([...cm.path, k]), startup });
    }
  };
  for (const [field, startup] of [
    ['initContainers', true],
    ['containers', false],
  ] as const) {
    const containers = w.pod[field];
    if (!Array.isArray(containers)) continue;
    containers.forEach((c: unknown, ci: number) => {
      if (!isObject(c)) return;
      const base = [...w.podPath, field, ci];
      for (const list of ['args', 'command'] as const) {
        const values = c[list];
        if (Array.isArray(values)) {
          values.forEach((v: unknown, i: number) => {
            if (typeof v === 'string')
              out.push({ value: v, line: w.doc.lineOf([...base, list, i]), startup });
          });
        }
      }
      if (Array.isArray(c.env)) {
        c.env.forEach((e: unknown, i: number) => {
          if (!isObject(e)) return;
          if (typeof e.value === 'string')
            out.push({ value: e.value, line: w.doc.lineOf([...base, 'env', i, 'value']), startup });
          const ref =
            isObject(e.valueFrom) && isObject(e.valueFrom.configMapKeyRef)
              ? e.valueFrom.configMapKeyRef
              : undefined;
          if (ref) fromConfigMap(ref.name, ref.key, startup);
        });
      }
      if (Array.isArray(c.envFrom)) {
        for (const e of c.envFrom) {
          if (isObject(e) && isObject(e.configMapRef))
            fromConfigMap(e.configMapRef.name, undefined, startup);
        }
      }
    });
  }
  if (Array.isArray(w.pod.volumes)) {
    for (const v of w.pod.volumes) {
      if (isObject(v) && isObject(v.configMap)) fromConfigMap(v.configMap.name, undefined, false);
    }
  }
  return out;
}
