/**
 * Kubernetes objects as the reader sees them: each manifest object with where it is, workloads
 * with their pod template and container ports, Services with their ports and the workloads they
 * select. Shared by the reader (./kubernetes.ts) and the entry points (./k8s-entry-points.ts).
 */
import type { PodPort } from '../model.ts';
import { isObject, stringMap } from '../util.ts';
import type { YamlDoc } from './yaml-docs.ts';

export type Obj = Record<string, unknown>;
export type Path = (string | number)[];
export type Protocol = PodPort['protocol'];

/** One object of a manifest, with where it is. */
export interface Item {
  obj: Obj;
  kind: string;
  name: string;
  namespace: string;
  spec: Obj;
  path: Path;
  doc: YamlDoc;
  file: string;
}

export interface ContainerPort {
  name?: string;
  port: number;
  protocol: Protocol;
}

export interface Workload {
  item: Item;
  id: string;
  selector: Record<string, string>;
  podLabels: Record<string, string>;
  pod: Obj;
  podPath: Path;
  ports: ContainerPort[];
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol: Protocol;
}

export interface Service {
  item: Item;
  type: string;
  ports: ServicePort[];
  /** Workloads it selects; empty when none is in the inputs (then `id` is a node of its own). */
  workloads: Workload[];
  id: string;
}

export const WORKLOAD_KINDS = new Set([
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Pod',
]);
/** Kinds without a namespace: diagnostics name them without one. */
export const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'IngressClass',
  'GatewayClass',
  'PriorityClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

export function itemName(i: { kind: string; namespace: string; name: string }): string {
  return CLUSTER_SCOPED.has(i.kind) ? i.name : `${i.namespace}/${i.name}`;
}

export function workloadOf(item: Item): Workload | undefined {
  const { obj, spec, path } = item;
  let pod: unknown;
  let podPath: Path;
  if (item.kind === 'Pod') {
    pod = obj;
    podPath = path;
  } else if (item.kind === 'CronJob') {
    const job =
      isObject(spec.jobTemplate) && isObject(spec.jobTemplate.spec) ? spec.jobTemplate.spec : {};
    pod = job.template;
    podPath = [...path, 'spec', 'jobTemplate', 'spec', 'template'];
  } else {
    pod = spec.template;
    podPath = [...path, 'spec', 'template'];
  }
  if (!isObject(pod)) return undefined;
  const podMeta = isObject(pod.metadata) ? pod.metadata : {};
  const podLabels = stringMap(item.kind === 'Pod' ? (obj.metadata as Obj).labels : podMeta.labels);
  const matchLabels = isObject(spec.selector) ? stringMap(spec.selector.matchLabels) : {};
  const podSpec = isObject(pod.spec) ? pod.spec : {};
  const ports: ContainerPort[] = [];
  for (const c of Array.isArray(podSpec.containers) ? podSpec.containers : []) {
    if (!isObject(c) || !Array.isArray(c.ports)) continue;
    for (const p of c.ports) {
      if (!isObject(p) || !validPort(p.containerPort)) continue;
      const cp: ContainerPort = { port: p.containerPort, protocol: protocolOf(p.protocol) };
      if (typeof p.name === 'string') cp.name = p.name;
      ports.push(cp);
    }
  }
  return {
    item,
    id: item.name,
    selector: Object.keys(matchLabels).length > 0 ? matchLabels : podLabels,
    podLabels,
    pod,
    podPath: [...podPath, 'spec'],
    ports,
  };
}

export function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65_535;
}

export function protocolOf(p: unknown): Protocol {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

export function isIstio(obj: Obj): boolean {
  return typeof obj.apiVersion === 'string' && obj.apiVersion.startsWith('networking.istio.io/');
}

export function isGatewayApi(obj: Obj): boolean {
  return (
    typeof obj.apiVersion === 'string' && obj.apiVersion.startsWith('gateway.networking.k8s.io/')
  );
}
