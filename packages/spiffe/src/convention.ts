/**
 * Ward's default naming of services as SPIFFE IDs, the Kubernetes service-account convention
 * that Istio also uses: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 */
import { isNamespace, isServiceName, serviceKey } from './service-ref.ts';
import { SPIFFE_SCHEME_PREFIX } from './spiffe-id.ts';

/** The default SPIFFE ID of a service: `spiffe://<trust-domain>/ns/<namespace>/sa/<name>`. */
export function defaultSpiffeId(trustDomain: string, namespace: string, name: string): string {
  return `${SPIFFE_SCHEME_PREFIX}${trustDomain}/ns/${namespace}/sa/${name}`;
}

/**
 * The service key (`name`, or `namespace/name` outside the default namespace) of an ID that
 * follows the convention, or undefined when it does not. The namespace is part of the answer:
 * `ns/team-b/sa/payments` is `team-b/payments`, never the default namespace's `payments`.
 */
export function serviceByConvention(spiffeId: string): string | undefined {
  const slash = spiffeId.indexOf('/', SPIFFE_SCHEME_PREFIX.length);
  if (slash < 0) return undefined;
  const parts = spiffeId.slice(slash + 1).split('/');
  if (parts.length !== 4 || parts[0] !== 'ns' || parts[2] !== 'sa') return undefined;
  const [, namespace, , name] = parts as [string, string, string, string];
  return isNamespace(namespace) && isServiceName(name) ? serviceKey(namespace, name) : undefined;
}
