/**
 * Ward's default naming of services as SPIFFE IDs, the Kubernetes service-account convention
 * that Istio also uses: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 */
import { SPIFFE_SCHEME_PREFIX } from './spiffe-id.ts';

/** The default SPIFFE ID of a service: `spiffe://<trust-domain>/ns/<namespace>/sa/<name>`. */
export function defaultSpiffeId(trustDomain: string, namespace: string, name: string): string {
  return `${SPIFFE_SCHEME_PREFIX}${trustDomain}/ns/${namespace}/sa/${name}`;
}

/**
 * The service-account name of an ID that follows the convention, or undefined when it does not.
 */
export function serviceByConvention(spiffeId: string): string | undefined {
  const slash = spiffeId.indexOf('/', SPIFFE_SCHEME_PREFIX.length);
  if (slash < 0) return undefined;
  const parts = spiffeId.slice(slash + 1).split('/');
  return parts.length === 4 && parts[0] === 'ns' && parts[2] === 'sa' ? parts[3] : undefined;
}
