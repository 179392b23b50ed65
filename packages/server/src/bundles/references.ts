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
  type ServiceDocument,
  serviceKey,
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

/**
 * A rule source resolved in its intention's namespace: `any` (`*`), a SPIFFE ID (or pattern over
 * SPIFFE IDs), or a service key (or pattern over keys: `ns/*`, `shop/pay*`).
 */
export type ResolvedSource =
  | { kind: 'any' }
  | { kind: 'spiffe'; text: string; glob: boolean }
  | { kind: 'key'; text: string; glob: boolean };

/**
 * Resolves a (valid) rule source written in an intention of `namespace`, the way the policy
 * engine's `compileSource` does. For the default namespace `default/*` is the glob `*` over keys
 * (which never crosses a `/`), not the "any caller" token.
 */
export function resolveSource(source: string, namespace: string): ResolvedSource {
  if (source === '*') return { kind: 'any' };
  if (source.startsWith('spiffe://'))
    return { kind: 'spiffe', text: source, glob: source.includes('*') };
  const slash = source.indexOf('/');
  const ns = slash < 0 ? namespace : source.slice(0, slash);
  const name = slash < 0 ? source : source.slice(slash + 1);
  const glob = name.includes('*');
  // In a name `**` means `*`: a `**` must not reach into other namespaces.
  return { kind: 'key', text: serviceKey(ns, glob ? name.replace(/\*\*/g, '*') : name), glob };
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
