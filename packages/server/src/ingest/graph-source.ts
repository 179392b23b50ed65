/**
 * The control plane's merged dependency graph: declared (Service documents' dependencies) and
 * observed (OTLP traces, decision logs and node agents' wire samples in the window), built with
 * `@ward/graph` exactly as `ward graph analyze` builds one from files. `GET /v1/graph` writes it
 * as a report; `GET /v1/graph/view` draws from it, plus the per-edge rows kept here (first/last
 * seen, deciding rules) that the graph model does not carry.
 */

import type { DependencyGraph, NodeType } from '@ward/graph';
import { GraphBuilder, LatencySketch, readWardServices } from '@ward/graph';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { hourOf, type IngestDatabase } from './tables.ts';

const TRACES = { type: 'otlp-proto', file: 'POST /v1/traces' } as const;
const DECISIONS = { type: 'decision-log', file: 'POST /v1/decision-logs' } as const;
const WIRE = { type: 'wire', file: 'POST /v1/ingest/connections' } as const;

/** Decisions on one edge for one (effect, enforced, rule), summed over the window. */
export interface DecisionRow {
  source: string;
  destination: string;
  effect: string;
  enforced: number;
  rule: string;
  count: number;
  firstSeen: number;
  lastSeen: number;
  method: string;
}

/** What any observation of an edge says beyond the graph model: when and how it was seen. */
export interface SeenRow {
  source: string;
  destination: string;
  firstSeen: number;
  lastSeen: number;
}

export interface GraphSource {
  graph: DependencyGraph;
  decisions: DecisionRow[];
  traces: (SeenRow & { destType: string })[];
  wire: (SeenRow & { port: number })[];
}

/** Reads the Service documents and the ingest tables since `since` (epoch ms) into one graph. */
export async function loadGraph(app: FastifyInstance, since: number): Promise<GraphSource> {
  const db = app.ward.db as unknown as Kysely<IngestDatabase>;
  const builder = new GraphBuilder();
  const services = await app.ward.store.listDocuments({ kind: 'Service' });
  if (services.length > 0) {
    // Stored documents are JSON, which is YAML: the graph package's own reader applies the
    // same defaults (namespace, SPIFFE ID, labels) as `ward graph analyze` on the files.
    const text = services.map((d) => JSON.stringify(d.document)).join('\n---\n');
    readWardServices(text, 'control-plane:services', builder, {
      trustDomain: app.ward.trustDomain,
    });
  }
  const traceRows = await db
    .selectFrom('ingest_trace_edges')
    .select([
      'source',
      'destination',
      'dest_type',
      'calls',
      'errors',
      'sketch',
      'first_seen',
      'last_seen',
    ])
    .where('hour', '>=', hourOf(since))
    .where('last_seen', '>=', since)
    .execute();
  const merged = new Map<
    string,
    {
      from: string;
      to: string;
      type: string;
      calls: number;
      errors: number;
      sketch: LatencySketch;
      firstSeen: number;
      lastSeen: number;
    }
  >();
  for (const r of traceRows) {
    const k = `${r.source}\u0000${r.destination}`;
    let m = merged.get(k);
    if (!m) {
      m = {
        from: r.source,
        to: r.destination,
        type: r.dest_type,
        calls: 0,
        errors: 0,
        sketch: new LatencySketch(),
        firstSeen: Number(r.first_seen),
        lastSeen: Number(r.last_seen),
      };
      merged.set(k, m);
    }
    m.calls += Number(r.calls);
    m.errors += Number(r.errors);
    m.firstSeen = Math.min(m.firstSeen, Number(r.first_seen));
    m.lastSeen = Math.max(m.lastSeen, Number(r.last_seen));
    m.sketch.merge(JSON.parse(r.sketch));
  }
  for (const m of merged.values()) {
    if (m.type !== 'service') builder.service(m.to, { type: m.type as NodeType, virtual: true });
    builder.observeAggregate(m.from, m.to, TRACES, {
      calls: m.calls,
      errors: m.errors,
      denied: 0,
      ...(m.sketch.count > 0 ? { sketch: m.sketch.toJSON() } : {}),
    });
  }
  const decisionRows = await db
    .selectFrom('ingest_decision_edges')
    .select(['source', 'destination', 'effect', 'enforced', 'rule'])
    .select((eb) => [
      eb.fn.sum<string>('count').as('count'),
      eb.fn.min<string>('first_seen').as('first_seen'),
      eb.fn.max<string>('last_seen').as('last_seen'),
      eb.fn.max<string>('method').as('method'),
    ])
    .where('hour', '>=', hourOf(since))
    .where('last_seen', '>=', since)
    .groupBy(['source', 'destination', 'effect', 'enforced', 'rule'])
    .execute();
  const decisions: DecisionRow[] = [];
  for (const r of decisionRows) {
    if (r.source === 'anonymous' || r.source === r.destination) continue;
    const n = Number(r.count);
    decisions.push({
      source: r.source,
      destination: r.destination,
      effect: r.effect,
      enforced: Number(r.enforced),
      rule: r.rule,
      count: n,
      firstSeen: Number(r.first_seen),
      lastSeen: Number(r.last_seen),
      method: r.method,
    });
    builder.service(r.destination, { virtual: false });
    builder.observeAggregate(r.source, r.destination, DECISIONS, {
      calls: n,
      errors: 0,
      denied: r.effect === 'deny' ? n : 0,
    });
  }
  // Wire observations prove a connection, not a number of calls: they add the edge, its
  // evidence and its ports, and count no calls.
  const wireRows = await db
    .selectFrom('ingest_wire_edges')
    .select(['source', 'destination', 'port'])
    .select((eb) => [
      eb.fn.min<string>('first_seen').as('first_seen'),
      eb.fn.max<string>('last_seen').as('last_seen'),
    ])
    .where('hour', '>=', hourOf(since))
    .where('last_seen', '>=', since)
    .groupBy(['source', 'destination', 'port'])
    .execute();
  const wire: GraphSource['wire'] = [];
  for (const r of wireRows) {
    if (r.source === r.destination) continue;
    const port = Number(r.port);
    wire.push({
      source: r.source,
      destination: r.destination,
      port,
      firstSeen: Number(r.first_seen),
      lastSeen: Number(r.last_seen),
    });
    builder.observeAggregate(r.source, r.destination, WIRE, { calls: 0, errors: 0, denied: 0 }, [
      port,
    ]);
  }
  return {
    graph: builder.build(),
    decisions,
    traces: [...merged.values()].map((m) => ({
      source: m.from,
      destination: m.to,
      destType: m.type,
      firstSeen: m.firstSeen,
      lastSeen: m.lastSeen,
    })),
    wire,
  };
}
