/**
 * `ward propose`'s shell: the observations of a window, read with the soft-apply reports' own
 * queries (unapproved edges, raw denial samples, decision buckets), handed to the pure
 * `proposeIntentions` of `@ward/policy` with the stored documents.
 *
 * Only unapproved edges are observed here (no allow rule names the source); the core also skips
 * edges a deny rule names. Method and path evidence comes from decision logs only: an edge seen
 * only in traces or by node agents has none, and its proposed rule is the whole edge.
 */
import {
  type IntentionDocument,
  type ObservedEdge,
  type ObservedSample,
  PROPOSED_ANNOTATION,
  type ProposeResult,
  proposeIntentions,
} from '@ward/policy';
import type { Kysely } from 'kysely';
import type { Store } from '../store/store.ts';
import { Approvals, compileStored } from './approvals.ts';
import { decisionSamples, denialSamples, unapprovedReport } from './reports.ts';
import type { IngestDatabase } from './tables.ts';

export interface ProposeRequest {
  since: number;
  now: number;
  /** Only these destinations (a team token's services, or the one asked for); all when absent. */
  destinations?: ReadonlySet<string>;
}

export async function proposeFromTraffic(
  store: Store,
  db: Kysely<IngestDatabase>,
  req: ProposeRequest,
): Promise<ProposeResult> {
  const docs = await store.listDocuments();
  const policy = compileStored(docs, store.trustDomain);
  const approvals = new Approvals(policy);
  const wanted = (destination: string) =>
    req.destinations === undefined || req.destinations.has(destination);

  const unapproved = await unapprovedReport(db, approvals, { since: req.since, now: req.now });
  // Samples per resolved edge and (method, path): raw denials (every decision on an unapproved
  // edge is a denial), then the hourly buckets' samples for what raw retention has dropped.
  const samples = new Map<string, Map<string, ObservedSample>>();
  const add = (source: string, destination: string, method: string, path: string, n: number) => {
    if (!wanted(destination)) return;
    const key = `${approvals.resolve(source)}\u0000${destination}`;
    let m = samples.get(key);
    if (m === undefined) {
      m = new Map();
      samples.set(key, m);
    }
    const k = `${method}\u0000${path}`;
    const s = m.get(k);
    if (s === undefined) m.set(k, { method, path, count: n });
    else s.count += n;
  };
  // Calls no rule decided (`default`) on edges that only proposals under review approve: what
  // the next round proposes beside them.
  const reviewing = new Set(
    docs
      .filter((d) => {
        const doc = d.document as IntentionDocument;
        return (
          d.kind === 'Intention' &&
          doc.spec.mode === 'dry-run' &&
          doc.metadata.annotations?.[PROPOSED_ANNOTATION] !== undefined
        );
      })
      .map((d) => d.name),
  );
  const underReview = new Map<string, { samples: ObservedSample[]; first: number; last: number }>();
  for (const list of (await denialSamples(db, { since: req.since })).values()) {
    for (const s of list) {
      add(s.source, s.destination, s.method, s.path, s.count);
      if (s.rule !== 'default' || !wanted(s.destination)) continue;
      const source = approvals.resolve(s.source);
      const rules = approvals.approving(source, s.destination);
      if (rules.length === 0 || !rules.every((r) => reviewing.has(r.rule.split('#')[0]!))) continue;
      const key = `${source}\u0000${s.destination}`;
      let e = underReview.get(key);
      if (e === undefined) {
        e = { samples: [], first: s.first, last: s.last };
        underReview.set(key, e);
      }
      e.samples.push({ method: s.method, path: s.path, count: s.count });
      e.first = Math.min(e.first, s.first);
      e.last = Math.max(e.last, s.last);
    }
  }
  for (const s of await decisionSamples(db, { since: req.since })) {
    add(s.source, s.destination, s.method, s.path, 0);
  }

  const edges: ObservedEdge[] = [];
  for (const u of unapproved.items) {
    if (!wanted(u.destination)) continue;
    const observed = samples.get(`${u.source}\u0000${u.destination}`);
    edges.push({
      source: u.source,
      destination: u.destination,
      calls: u.decisions > 0 ? u.decisions : u.traceCalls > 0 ? u.traceCalls : u.wireSamples,
      firstSeen: u.firstSeen,
      lastSeen: u.lastSeen,
      seenIn: u.seenIn,
      // Without decisions the edge was seen only by traces or node agents: no method or path.
      samples: u.decisions > 0 && observed ? [...observed.values()] : [],
    });
  }
  for (const [key, e] of [...underReview].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [source, destination] = key.split('\u0000') as [string, string];
    edges.push({
      source,
      destination,
      calls: e.samples.reduce((n, x) => n + x.count, 0),
      firstSeen: new Date(e.first).toISOString(),
      lastSeen: new Date(e.last).toISOString(),
      seenIn: ['decision-logs'],
      samples: e.samples,
    });
  }
  return proposeIntentions({
    edges,
    policy,
    reviewing,
    since: unapproved.since,
    until: unapproved.until,
  });
}
