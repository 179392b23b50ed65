/**
 * `GET /v1/graph`: the merged dependency graph — declared (Service documents' dependencies) and
 * observed (OTLP traces, decision logs and node agents' wire samples in the window) — with every analysis of `@ward/graph`
 * (cycles, boot order, break suggestions, declared vs observed, …), as the same JSON report
 * `ward graph analyze -o json` writes (so it can serve as a `ward graph check` baseline),
 * or as Graphviz DOT / Mermaid.
 */

import type { NodeType } from '@ward/graph';
import {
  analyze,
  GraphBuilder,
  LatencySketch,
  readWardServices,
  toDot,
  toJsonReport,
  toMermaid,
} from '@ward/graph';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { bearer, problemResponses } from '../http/schemas.ts';
import { hourOf, type IngestDatabase } from './tables.ts';
import { windowStart } from './windows.ts';

const TRACES = { type: 'otlp-proto', file: 'POST /v1/traces' } as const;
const DECISIONS = { type: 'decision-log', file: 'POST /v1/decision-logs' } as const;
const WIRE = { type: 'wire', file: 'POST /v1/ingest/connections' } as const;

export function graphRoutes(options: { now: () => number }) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Querystring: { since: string; format: 'json' | 'dot' | 'mermaid' } }>(
      '/v1/graph',
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['graph'],
          summary: 'The dependency graph (declared + observed) and its analyses',
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              since: { type: 'string', minLength: 1, maxLength: 64, default: '7d' },
              format: { type: 'string', enum: ['json', 'dot', 'mermaid'], default: 'json' },
            },
          },
          response: { ...problemResponses },
        },
      },
      async (request, reply) => {
        const now = options.now();
        const since = windowStart(request.query.since, now);
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
        const traces = await db
          .selectFrom('ingest_trace_edges')
          .select(['source', 'destination', 'dest_type', 'calls', 'errors', 'sketch'])
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
          }
        >();
        for (const r of traces) {
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
            };
            merged.set(k, m);
          }
          m.calls += Number(r.calls);
          m.errors += Number(r.errors);
          m.sketch.merge(JSON.parse(r.sketch));
        }
        for (const m of merged.values()) {
          if (m.type !== 'service')
            builder.service(m.to, { type: m.type as NodeType, virtual: true });
          builder.observeAggregate(m.from, m.to, TRACES, {
            calls: m.calls,
            errors: m.errors,
            denied: 0,
            ...(m.sketch.count > 0 ? { sketch: m.sketch.toJSON() } : {}),
          });
        }
        const decisions = await db
          .selectFrom('ingest_decision_edges')
          .select(['source', 'destination', 'effect'])
          .select((eb) => eb.fn.sum<string>('count').as('count'))
          .where('hour', '>=', hourOf(since))
          .where('last_seen', '>=', since)
          .groupBy(['source', 'destination', 'effect'])
          .execute();
        for (const r of decisions) {
          if (r.source === 'anonymous' || r.source === r.destination) continue;
          const n = Number(r.count);
          builder.service(r.destination, { virtual: false });
          builder.observeAggregate(r.source, r.destination, DECISIONS, {
            calls: n,
            errors: 0,
            denied: r.effect === 'deny' ? n : 0,
          });
        }
        // Wire observations prove a connection, not a number of calls: they add the edge, its
        // evidence and its ports, and count no calls.
        const wire = await db
          .selectFrom('ingest_wire_edges')
          .select(['source', 'destination', 'port'])
          .where('hour', '>=', hourOf(since))
          .where('last_seen', '>=', since)
          .groupBy(['source', 'destination', 'port'])
          .execute();
        for (const r of wire) {
          if (r.source === r.destination) continue;
          builder.observeAggregate(
            r.source,
            r.destination,
            WIRE,
            { calls: 0, errors: 0, denied: 0 },
            [Number(r.port)],
          );
        }
        const graph = builder.build();
        const analysis = analyze(graph);
        reply.header('cache-control', 'no-store');
        if (request.query.format === 'dot')
          return reply.type('text/vnd.graphviz').send(toDot(graph, analysis));
        if (request.query.format === 'mermaid')
          return reply.type('text/plain').send(toMermaid(graph, analysis));
        return reply.type('application/json').send(toJsonReport(graph, analysis));
      },
    );
  };
}
