/**
 * The soft-apply reports, read from the hourly per-edge buckets.
 *
 * A window starts at `since` (epoch ms). A bucket belongs to the window when its last call
 * (`last_seen`) is at or after `since`; its whole hour is counted. So the oldest bucket of a window
 * may hold calls up to 59 minutes older than `since`, and its `firstSeen` may predate `since`:
 * counts are "calls in the hours the window touches", never fewer than the calls inside it.
 * `lastSeen` is exact.
 */
import type { DryRunItemV1 as DryRunItem } from '@ward/api-types';
import type { Kysely } from 'kysely';
import type { Approvals, ApprovingRule } from './approvals.ts';
import { hourOf, type IngestDatabase } from './tables.ts';

export interface DryRunReport {
  since: string;
  until: string;
  items: DryRunItem[];
  /** Records shippers reported as dropped in the window's hours: the counts may be short by this. */
  dropped: number;
}

const iso = (ms: unknown) => new Date(Number(ms)).toISOString();

/** Method and path of raw denials, summed per (source, destination, rule, method, path). */
export interface DenialSample {
  source: string;
  destination: string;
  rule: string;
  method: string;
  path: string;
  count: number;
  /** Times (epoch ms) of the first and last of them. */
  first: number;
  last: number;
}

/**
 * The raw denials of the window grouped by method and path, keyed `source NUL destination NUL
 * rule` (the dry-run report's samples; `ward propose`'s method and path evidence).
 */
export async function denialSamples(
  db: Kysely<IngestDatabase>,
  opts: { since: number; service?: string; enforced?: 0 | 1 },
): Promise<Map<string, DenialSample[]>> {
  let sq = db
    .selectFrom('ingest_denials')
    .select(['source', 'destination', 'rule', 'method', 'path'])
    .select((eb) => [
      eb.fn.sum<string>('count').as('n'),
      eb.fn.min<string>('time').as('first'),
      eb.fn.max<string>('time').as('last'),
    ])
    .where('time', '>=', opts.since);
  if (opts.enforced !== undefined) sq = sq.where('enforced', '=', opts.enforced);
  if (opts.service !== undefined) sq = sq.where('destination', '=', opts.service);
  const rows = await sq.groupBy(['source', 'destination', 'rule', 'method', 'path']).execute();
  const samples = new Map<string, DenialSample[]>();
  for (const s of rows) {
    const k = `${s.source}\u0000${s.destination}\u0000${s.rule}`;
    let list = samples.get(k);
    if (!list) {
      list = [];
      samples.set(k, list);
    }
    list.push({
      source: s.source,
      destination: s.destination,
      rule: s.rule,
      method: s.method,
      path: s.path,
      count: Number(s.n),
      first: Number(s.first),
      last: Number(s.last),
    });
  }
  return samples;
}

/**
 * The method and path each hourly decision bucket kept as its sample (the last one seen), per
 * edge: what is left of an edge's endpoints once its raw denials are pruned (24 h).
 */
export async function decisionSamples(
  db: Kysely<IngestDatabase>,
  opts: { since: number },
): Promise<{ source: string; destination: string; method: string; path: string }[]> {
  return db
    .selectFrom('ingest_decision_edges')
    .select(['source', 'destination', 'method', 'path'])
    .where('hour', '>=', hourOf(opts.since))
    .where('last_seen', '>=', opts.since)
    .groupBy(['source', 'destination', 'method', 'path'])
    .execute();
}

/** Every call that dry-run rules would have denied (effect deny, enforced false) in the window. */
export async function dryRunReport(
  db: Kysely<IngestDatabase>,
  opts: { since: number; now: number; service?: string },
): Promise<DryRunReport> {
  let q = db
    .selectFrom('ingest_decision_edges')
    .select(['source', 'destination', 'rule'])
    .select((eb) => [
      eb.fn.sum<string>('count').as('count'),
      eb.fn.sum<string>('sampled').as('sampled'),
      eb.fn.min<string>('first_seen').as('first_seen'),
      eb.fn.max<string>('last_seen').as('last_seen'),
      eb.fn.max<number>('revision').as('revision'),
    ])
    .where('effect', '=', 'deny')
    .where('enforced', '=', 0)
    .where('hour', '>=', hourOf(opts.since))
    .where('last_seen', '>=', opts.since);
  if (opts.service !== undefined) q = q.where('destination', '=', opts.service);
  const rows = await q
    .groupBy(['destination', 'source', 'rule'])
    .orderBy('destination')
    .orderBy('source')
    .orderBy('rule')
    .execute();

  const samples = await denialSamples(db, { ...opts, enforced: 0 });
  const dropped = await db
    .selectFrom('ingest_decision_shippers')
    .select((eb) => eb.fn.sum<string>('dropped').as('dropped'))
    .where('hour', '>=', hourOf(opts.since))
    .executeTakeFirst();
  return {
    since: iso(opts.since),
    until: iso(opts.now),
    dropped: Number(dropped?.dropped ?? 0),
    items: rows.map((r) => ({
      source: r.source,
      destination: r.destination,
      rule: r.rule,
      count: Number(r.count),
      sampled: Number(r.sampled),
      firstSeen: iso(r.first_seen),
      lastSeen: iso(r.last_seen),
      revision: Number(r.revision),
      samples: (samples.get(`${r.source}\u0000${r.destination}\u0000${r.rule}`) ?? [])
        .sort((a, b) => b.count - a.count || (a.path < b.path ? -1 : 1))
        .slice(0, 5)
        .map((x) => ({ method: x.method, path: x.path, count: x.count })),
    })),
  };
}

/** Observed traffic per (resolved source, destination) from decision logs, traces and the wire. */
interface Observed {
  source: string;
  destination: string;
  decisions: number;
  denied: number;
  traceCalls: number;
  traceErrors: number;
  /** Samples of node agents that saw a connection on the edge. */
  wireSamples: number;
  firstSeen: number;
  lastSeen: number;
}

async function observed(
  db: Kysely<IngestDatabase>,
  approvals: Approvals,
  since: number,
  servicesOnly: boolean,
): Promise<Map<string, Observed>> {
  const out = new Map<string, Observed>();
  const at = (source: string, destination: string) => {
    const s = approvals.resolve(source);
    const k = `${s}\u0000${destination}`;
    let o = out.get(k);
    if (!o) {
      o = {
        source: s,
        destination,
        decisions: 0,
        denied: 0,
        traceCalls: 0,
        traceErrors: 0,
        wireSamples: 0,
        firstSeen: Infinity,
        lastSeen: 0,
      };
      out.set(k, o);
    }
    return o;
  };
  const decisions = await db
    .selectFrom('ingest_decision_edges')
    .select(['source', 'destination', 'effect'])
    .select((eb) => [
      eb.fn.sum<string>('count').as('count'),
      eb.fn.min<string>('first_seen').as('first_seen'),
      eb.fn.max<string>('last_seen').as('last_seen'),
    ])
    .where('hour', '>=', hourOf(since))
    .where('last_seen', '>=', since)
    .groupBy(['source', 'destination', 'effect'])
    .execute();
  for (const r of decisions) {
    const o = at(r.source, r.destination);
    o.decisions += Number(r.count);
    if (r.effect === 'deny') o.denied += Number(r.count);
    o.firstSeen = Math.min(o.firstSeen, Number(r.first_seen));
    o.lastSeen = Math.max(o.lastSeen, Number(r.last_seen));
  }
  let tq = db
    .selectFrom('ingest_trace_edges')
    .select(['source', 'destination'])
    .select((eb) => [
      eb.fn.sum<string>('calls').as('calls'),
      eb.fn.sum<string>('errors').as('errors'),
      eb.fn.min<string>('first_seen').as('first_seen'),
      eb.fn.max<string>('last_seen').as('last_seen'),
    ])
    .where('hour', '>=', hourOf(since))
    .where('last_seen', '>=', since);
  if (servicesOnly) tq = tq.where('dest_type', '=', 'service');
  const traces = await tq.groupBy(['source', 'destination']).execute();
  for (const r of traces) {
    const o = at(r.source, r.destination);
    o.traceCalls += Number(r.calls);
    o.traceErrors += Number(r.errors);
    o.firstSeen = Math.min(o.firstSeen, Number(r.first_seen));
    o.lastSeen = Math.max(o.lastSeen, Number(r.last_seen));
  }
  // Wire edges name both ends by SPIFFE ID when the destination is a workload: resolve both.
  const wire = await db
    .selectFrom('ingest_wire_edges')
    .select(['source', 'destination'])
    .select((eb) => [
      eb.fn.sum<string>('samples').as('samples'),
      eb.fn.min<string>('first_seen').as('first_seen'),
      eb.fn.max<string>('last_seen').as('last_seen'),
    ])
    .where('hour', '>=', hourOf(since))
    .where('last_seen', '>=', since)
    .groupBy(['source', 'destination'])
    .execute();
  for (const r of wire) {
    const o = at(r.source, approvals.resolve(r.destination));
    o.wireSamples += Number(r.samples);
    o.firstSeen = Math.min(o.firstSeen, Number(r.first_seen));
    o.lastSeen = Math.max(o.lastSeen, Number(r.last_seen));
  }
  return out;
}

export interface UnusedItem {
  source: string;
  destination: string;
  rules: ApprovingRule[];
  /** True when only `*` or glob sources approve the edge. */
  wildcard: boolean;
  /** The last call on the edge within retention, before the window; null when none is kept. */
  lastSeen: string | null;
}

/** Approved edges that no decision log or trace shows in the window (least privilege). */
export async function unusedReport(
  db: Kysely<IngestDatabase>,
  approvals: Approvals,
  opts: { since: number; now: number },
): Promise<{ since: string; until: string; items: UnusedItem[] }> {
  const inWindow = await observed(db, approvals, opts.since, false);
  const ever = await observed(db, approvals, 0, false);
  const items: UnusedItem[] = [];
  for (const e of approvals.approvedEdges()) {
    const k = `${e.source}\u0000${e.destination}`;
    if (inWindow.has(k)) continue;
    const last = ever.get(k)?.lastSeen;
    items.push({
      source: e.source,
      destination: e.destination,
      rules: e.rules,
      wildcard: e.rules.every((r) => r.wildcard),
      lastSeen: last ? iso(last) : null,
    });
  }
  return { since: iso(opts.since), until: iso(opts.now), items };
}

export interface UnapprovedItem {
  source: string;
  destination: string;
  /** Decisions logged on the edge (any effect), and how many of them denied. */
  decisions: number;
  denied: number;
  /** Calls seen in traces. */
  traceCalls: number;
  traceErrors: number;
  /** Node-agent samples that saw a TCP connection on the edge. */
  wireSamples: number;
  firstSeen: string;
  lastSeen: string;
  seenIn: ('decision-logs' | 'traces' | 'wire')[];
}

/** Observed edges between services that no allow rule approves. */
export async function unapprovedReport(
  db: Kysely<IngestDatabase>,
  approvals: Approvals,
  opts: { since: number; now: number },
): Promise<{ since: string; until: string; items: UnapprovedItem[] }> {
  const seen = await observed(db, approvals, opts.since, true);
  const items: UnapprovedItem[] = [];
  for (const o of seen.values()) {
    if (o.source === o.destination) continue;
    if (approvals.approving(o.source, o.destination).length > 0) continue;
    items.push({
      source: o.source,
      destination: o.destination,
      decisions: o.decisions,
      denied: o.denied,
      traceCalls: o.traceCalls,
      traceErrors: o.traceErrors,
      wireSamples: o.wireSamples,
      firstSeen: iso(o.firstSeen),
      lastSeen: iso(o.lastSeen),
      seenIn: [
        ...(o.decisions > 0 ? (['decision-logs'] as const) : []),
        ...(o.traceCalls > 0 ? (['traces'] as const) : []),
        ...(o.wireSamples > 0 ? (['wire'] as const) : []),
      ],
    });
  }
  items.sort((a, b) =>
    a.destination === b.destination
      ? a.source < b.source
        ? -1
        : 1
      : a.destination < b.destination
        ? -1
        : 1,
  );
  return { since: iso(opts.since), until: iso(opts.now), items };
}
