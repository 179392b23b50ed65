/**
 * Which bundles a committed change set touches. Each touched service's bundle revision becomes
 * the commit's revision; untouched bundles keep theirs, so their ETag stays stable.
 */
import {
  documentKey,
  documentNamespace,
  type IntentionDocument,
  type PolicyDocument,
  type ResolvedSource,
  resolveSource,
  routeGatewayKey,
  type ServiceDocument,
} from '@ward/policy';
import { destinationKey, resolvedMatches, spiffeIdOf } from './references.ts';

export interface DocumentChange {
  kind: 'Service' | 'Intention' | 'AttributeSchema' | 'Gateway' | 'Route' | 'Secret';
  name: string;
  before: PolicyDocument | null;
  after: PolicyDocument | null;
}

/**
 * The keys of the services whose bundles the change touches. `intentions` is every intention
 * after the change. Sources are indexed once (exact names and
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
        const destination = destinationKey(doc);
        if (destination !== undefined) out.add(destination);
        if (doc === change.before) all.push(doc);
      } else if (doc.kind === 'Service') {
        out.add(documentKey(doc));
        serviceChanges.push(doc);
      } else if (doc.kind === 'Gateway') {
        // The gateway's own bundle carries its Gateway and Routes (a route moved to another
        // gateway touches both: `before` and `after` are each counted).
        out.add(documentKey(doc));
      } else if (doc.kind === 'Route') {
        out.add(routeGatewayKey(doc));
      }
      // A Secret is in no bundle (its values travel on their own path): no service is touched.
    }
  }
  if (serviceChanges.length === 0) return out;
  // Exact sources by key (`key:…`) or SPIFFE ID (`spiffe:…`), resolved in each intention's
  // namespace: `orders` in a `shop` intention names `shop/orders`, never the default `orders`.
  const exact = new Map<string, Set<string>>();
  const patterns: { source: ResolvedSource; destination: string }[] = [];
  for (const intention of all) {
    const destination = destinationKey(intention);
    if (destination === undefined) continue;
    const namespace = documentNamespace(intention);
    for (const rule of intention.spec.rules ?? []) {
      for (const text of rule.sources ?? []) {
        const source = resolveSource(text, namespace);
        if (source.kind === 'any' || source.glob) patterns.push({ source, destination });
        else {
          const id = `${source.kind}:${source.text}`;
          const set = exact.get(id);
          if (set) set.add(destination);
          else exact.set(id, new Set([destination]));
        }
      }
    }
  }
  for (const service of serviceChanges) {
    for (const id of [
      `key:${documentKey(service)}`,
      `spiffe:${spiffeIdOf(service, trustDomain)}`,
    ]) {
      for (const d of exact.get(id) ?? []) out.add(d);
    }
    for (const p of patterns) {
      if (!out.has(p.destination) && resolvedMatches(p.source, service, trustDomain)) {
        out.add(p.destination);
      }
    }
  }
  return out;
}
