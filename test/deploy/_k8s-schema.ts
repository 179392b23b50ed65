/**
 * Validates an object against its Kubernetes schema (kubernetes-models' compiled OpenAPI
 * validators, as the graph writers' tests do), and — what those validators do not do — refuses
 * fields the schema does not know, the way `kubectl apply --validate=strict` does: a misspelt
 * `readinesProbe` would otherwise pass and be dropped by the apiserver.
 *
 * The unknown-field check watches which properties the validator reads: a compiled validator
 * reads every property its schema declares and enumerates the keys of free-form maps (labels,
 * data); a key of a structured object it never read is not in the schema.
 */
import type { Model } from '@kubernetes-models/base';
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';

type ModelClass = { new (data: never): Model<unknown>; apiVersion: string; kind: string };
const MODELS: ModelClass[] = [
  ConfigMap,
  Namespace,
  Secret,
  Service,
  ServiceAccount,
  DaemonSet,
  Deployment,
  StatefulSet,
  NetworkPolicy,
  PodDisruptionBudget,
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
] as unknown as ModelClass[];

/** Wraps `value` so every property read (and every key enumeration) is recorded in `seen`. */
function watched(value: unknown, path: string, seen: Set<string>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const child = Reflect.get(target, key, receiver);
      if (typeof key !== 'string' || !Object.hasOwn(target, key)) return child;
      seen.add(`${path}/${key}`);
      return watched(child, `${path}/${key}`, seen);
    },
    has(target, key) {
      if (typeof key === 'string') seen.add(`${path}/${key}`);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      seen.add(`${path}/*`);
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(value: unknown, path: string, seen: Set<string>, out: string[]): void {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) unknownFields(v, `${path}/${i}`, seen, out);
  } else if (typeof value === 'object' && value !== null) {
    const map = seen.has(`${path}/*`);
    for (const [k, v] of Object.entries(value)) {
      if (!map && !seen.has(`${path}/${k}`)) out.push(`${path}/${k}`);
      unknownFields(v, `${path}/${k}`, seen, out);
    }
  }
}

/** The schema errors of `obj` (empty when valid), each naming its JSON path. */
export function schemaErrors(obj: { apiVersion?: unknown; kind?: unknown }): string[] {
  const model = MODELS.find((m) => m.apiVersion === obj.apiVersion && m.kind === obj.kind);
  if (!model) return [`no schema here for ${String(obj.apiVersion)} ${String(obj.kind)}`];
  const seen = new Set<string>();
  try {
    // The validator reads the data through `this`: give it the watched plain object.
    model.prototype.validate.call(watched(structuredClone(obj), '', seen) as never);
  } catch (error) {
    return [(error as Error).message];
  }
  const unknown: string[] = [];
  unknownFields(obj, '', seen, unknown);
  return unknown.map((p) => `${p}: not a field of the ${String(obj.kind)} schema`);
}
