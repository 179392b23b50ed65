/**
 * Finds references to other services in configuration strings: URLs, `host:port` pairs and
 * Kubernetes service DNS names (`orders`, `orders.shop`, `orders.shop.svc.cluster.local`).
 * A bare single-label name counts only with a port or a URL scheme around it, because plain
 * words in environment values ("true", "info", "orders") are not references.
 */

export interface HostRef {
  name: string;
  /** Namespace from a `name.ns[.svc…]` DNS name. */
  namespace?: string;
  port?: number;
  /** URL scheme (`http`, `grpc`, …) when the reference is a URL. */
  scheme?: string;
  /** `true` when the name came as `name.ns.svc[…]`: certainly a Kubernetes Service name. */
  serviceDns?: boolean;
}

const HOST =
  /(?:([a-z][a-z0-9+.-]*):\/\/)?(?:[^\s@/:]+(?::[^\s@/]*)?@)?([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)(?::(\d{1,5}))?/gi;

export function findHostRefs(value: string): HostRef[] {
  if (value.length > 65_536) value = value.slice(0, 65_536);
  const out: HostRef[] = [];
  for (const m of value.matchAll(HOST)) {
    const scheme = m[1];
    const host = m[2]!.toLowerCase();
    const port = m[3] === undefined ? undefined : Number(m[3]);
    if (port !== undefined && port > 65_535) continue;
    const labels = host.split('.');
    const s = scheme === undefined ? {} : { scheme: scheme.toLowerCase() };
    if (labels.length === 1) {
      if (scheme !== undefined || port !== undefined)
        out.push(withPort({ name: host, ...s }, port));
    } else if (labels.length >= 3 && labels[2] === 'svc') {
      out.push(withPort({ name: labels[0]!, namespace: labels[1]!, serviceDns: true, ...s }, port));
    } else if (labels.length === 2 && /^[a-z]/.test(labels[1]!)) {
      // `name.namespace`: resolved only when such a Service exists; callers check.
      out.push(withPort({ name: labels[0]!, namespace: labels[1]!, ...s }, port));
    }
  }
  return out;
}

function withPort(ref: HostRef, port: number | undefined): HostRef {
  if (port !== undefined) ref.port = port;
  return ref;
}
