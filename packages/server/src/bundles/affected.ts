/**
 * Which bundles a committed change set touches. Each touched service's bundle revision becomes
 * the commit's revision; untouched bundles keep theirs, so their ETag stays stable.
 */
import type { IntentionDocument, PolicyDocument, ServiceDocument } from '@ward/policy';
import { sourceMatches, spiffeIdOf } from './references.ts';

export interface DocumentChange {
  kind: 'Service' | 'Intention' | 'AttributeSchema';
  name: string;
  before: PolicyDocument | null;
  after: PolicyDocument | null;
}

/**
 * `intentions` is every intention after the change. Sources are indexed once (exact names and
 * SPIFFE IDs in a map, patterns in a list) so a change set of S services over I intentions costs
 * O(I + S × patterns), not O(S × I).
 */
export function affectedServices(
  changes: readonly DocumentChange[],
  intentions: readonly IntentionDocument[],
  trustDomain: string,
): Set<string> {
  const out = new Set<string>();
  const serviceChanges: ServiceDocument[] = [];
  const all: IntentionDocument[] = [...intentions];
  for (const change of changes) {
    for (const doc of [change.before, change.after]) {
      if (!doc) continue;
      if (doc.kind === 'Intention') {
        if (doc.spec?.destination) out.add(doc.spec.destination);
        if (doc === change.before) all.push(doc);
      } else if (doc.kind === 'Service') {
        out.add(doc.metadata.name);
        serviceChanges.push(doc);
      }
    }
  }
  if (serviceChanges.length === 0) return out;
  const exact = new Map<string, Set<string>>();
  const patterns: { source: string; destination: string }[] = [];
  for (const intention of all) {
    const destination = intention.spec?.destination;
    if (!destination) continue;
    for (const rule of intention.spec.rules ?? []) {
      for (const source of rule.sources ?? []) {
        if (source.includes('*')) patterns.push({ source, destination });
        else {
          const set = exact.get(source);
          if (set) set.add(destination);
          else exact.set(source, new Set([destination]));
        }
      }
    }
  }
  for (const service of serviceChanges) {
    for (const key of [service.metadata.name, spiffeIdOf(service, trustDomain)]) {
      for (const d of exact.get(key) ?? []) out.add(d);
    }
    for (const p of patterns) {
      if (!out.has(p.destination) && sourceMatches(p.source, service, trustDomain)) {
        out.add(p.destination);
      }
    }
  }
  return out;
}
