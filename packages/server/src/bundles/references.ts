/**
 * Which Service documents a destination's bundle carries, and so which bundles a change touches.
 * A bundle holds the destination's own Service document and that of every service a rule's
 * sources can name (by name, SPIFFE ID, glob over either, or `*`), so the PDP can map a caller's
 * SPIFFE ID to its service name and labels without asking anyone.
 */
import {
  compileGlob,
  defaultSpiffeId,
  type Glob,
  type IntentionDocument,
  type ServiceDocument,
} from '@ward/policy';

/** The SPIFFE ID a service is known by: explicit, else derived from namespace and name. */
export function spiffeIdOf(service: ServiceDocument, trustDomain: string): string {
  return (
    service.spec?.spiffeId ??
    defaultSpiffeId(trustDomain, service.metadata.namespace ?? 'default', service.metadata.name)
  );
}

// Globs compile with the policy engine's own function, so a bundle carries exactly the
// services the engine would match; a cache keeps the per-change cost flat.
const globCache = new Map<string, Glob>();

function globToRegExp(glob: string): Glob {
  let re = globCache.get(glob);
  if (re) return re;
  re = compileGlob(glob);
  if (globCache.size < 10_000) globCache.set(glob, re);
  return re;
}

/** Whether a rule source can name `service`. Errs on the side of "yes" (an extra document). */
export function sourceMatches(
  source: string,
  service: ServiceDocument,
  trustDomain: string,
): boolean {
  if (source === '*') return true;
  const subject = source.startsWith('spiffe://')
    ? spiffeIdOf(service, trustDomain)
    : service.metadata.name;
  return source.includes('*') ? globToRegExp(source).test(subject) : source === subject;
}

/** Every source string of every rule of the intentions. */
export function sourcesOf(intentions: readonly IntentionDocument[]): Set<string> {
  const out = new Set<string>();
  for (const intention of intentions) {
    for (const rule of intention.spec?.rules ?? []) for (const s of rule.sources ?? []) out.add(s);
  }
  return out;
}

/** Names of the services whose documents go into `destination`'s bundle. */
export function referencedServices(
  destination: string,
  intentions: readonly IntentionDocument[],
  services: readonly ServiceDocument[],
  trustDomain: string,
): Set<string> {
  const names = new Set<string>([destination]);
  const sources = [...sourcesOf(intentions)];
  for (const service of services) {
    if (names.has(service.metadata.name)) continue;
    if (sources.some((s) => sourceMatches(s, service, trustDomain)))
      names.add(service.metadata.name);
  }
  return names;
}
