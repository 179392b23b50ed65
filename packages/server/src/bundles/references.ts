/**
 * Which Service documents a destination's bundle carries, and so which bundles a change touches.
 * A bundle holds the destination's own Service document and that of every service a rule's
 * sources can name (by name, SPIFFE ID, glob over either, `ns/*`, or `*`), so the PDP can map a
 * caller's SPIFFE ID to its service key and labels without asking anyone. Services are compared
 * by KEY (`name`, or `namespace/name` outside the default namespace); a rule source is resolved
 * in its intention's namespace first, exactly as the policy engine resolves it (`orders` in a
 * `shop` intention is `shop/orders`; globs never leave their namespace).
 */
import {
  canonicalServiceKey,
  compileGlob,
  defaultSpiffeId,
  documentKey,
  documentNamespace,
  type Glob,
  type IntentionDocument,
  type ResolvedSource,
  resolveSource,
  type ServiceDocument,
} from '@ward/policy';

/** The SPIFFE ID a service is known by: explicit, else derived from namespace and name. */
export function spiffeIdOf(service: ServiceDocument, trustDomain: string): string {
  return (
    service.spec?.spiffeId ??
    defaultSpiffeId(trustDomain, documentNamespace(service), service.metadata.name)
  );
}

// Globs compile with the policy engine's own function, so a bundle carries exactly the
// services the engine would match; a cache keeps the per-change cost flat.
const globCache = new Map<string, Glob>();

export function globToRegExp(glob: string): Glob {
  let re = globCache.get(glob);
  if (re) return re;
  re = compileGlob(glob);
  if (globCache.size < 10_000) globCache.set(glob, re);
  return re;
}

/** Whether a resolved source can name `service`. Errs on the side of "yes" (an extra document). */
export function resolvedMatches(
  source: ResolvedSource,
  service: ServiceDocument,
  trustDomain: string,
): boolean {
  if (source.kind === 'any') return true;
  const subject =
    source.kind === 'spiffe' ? spiffeIdOf(service, trustDomain) : documentKey(service);
  return source.glob ? globToRegExp(source.text).test(subject) : source.text === subject;
}

/** Whether a rule source of an intention in `namespace` can name `service`. */
export function sourceMatches(
  source: string,
  namespace: string,
  service: ServiceDocument,
  trustDomain: string,
): boolean {
  return resolvedMatches(resolveSource(source, namespace), service, trustDomain);
}

/** The key of an intention's destination (`spec.destination` is relative to its namespace). */
export function destinationKey(intention: IntentionDocument): string | undefined {
  const destination = intention.spec?.destination;
  return typeof destination === 'string'
    ? canonicalServiceKey(destination, documentNamespace(intention))
    : undefined;
}

/** Every source of every rule of the intentions, resolved in each intention's namespace. */
export function sourcesOf(intentions: readonly IntentionDocument[]): ResolvedSource[] {
  const seen = new Set<string>();
  const out: ResolvedSource[] = [];
  for (const intention of intentions) {
    const namespace = documentNamespace(intention);
    for (const rule of intention.spec?.rules ?? []) {
      for (const s of rule.sources ?? []) {
        const resolved = resolveSource(s, namespace);
        const id =
          resolved.kind === 'any' ? '*' : `${resolved.kind}:${resolved.glob}:${resolved.text}`;
        if (seen.has(id)) continue;
        seen.add(id);
        out.push(resolved);
      }
    }
  }
  return out;
}

/** Keys of the services whose documents go into `destination`'s bundle (`destination`: a key). */
export function referencedServices(
  destination: string,
  intentions: readonly IntentionDocument[],
  services: readonly ServiceDocument[],
  trustDomain: string,
): Set<string> {
  const keys = new Set<string>([destination]);
  const sources = sourcesOf(intentions);
  for (const service of services) {
    const key = documentKey(service);
    if (keys.has(key)) continue;
    if (sources.some((s) => resolvedMatches(s, service, trustDomain))) keys.add(key);
  }
  return keys;
}
