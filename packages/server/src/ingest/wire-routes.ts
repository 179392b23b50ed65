/**
 * `POST /v1/ingest/connections`: dependencies node agents observed on the wire (their node's
 * TCP connections, `WireBatchV1`). Authenticated by the agent proof header, not a token: only an
 * attested agent reports, and it speaks for its own node only. Each edge's source must be a
 * workload registered on that node; an edge sourced elsewhere is refused on its own
 * (`API_NOT_OWNER`), a batch of nothing else with 403. The destination is what the agent saw
 * on the other end and is taken as reported: a node can lie about whom its own workloads call,
 * never about what another node's workloads do.
 */

import type { ProblemFieldErrorV1 } from '@ward/api-types';
import { WIRE_CONNECTIONS_PATH, type WireBatchV1, type WireEdgeV1 } from '@ward/api-types';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { ServerError } from '../errors.ts';
import { agentProofAuth, agentProofHeaders, provenAgent } from '../http/agent-proof.ts';
import { bearer, problemResponses } from '../http/schemas.ts';
import { batchAnswerSchema, MAX_LISTED } from './batch-answer.ts';
import { bodyWasInvalidUtf8, registerIngestParsers } from './body.ts';
import type { Quota } from './quota.ts';
import { HOUR_MS, hourOf, type IngestDatabase } from './tables.ts';
import { badText } from './text-check.ts';
import { windowStart } from './windows.ts';
import { wireBatchSchema } from './wire-schema.ts';

/** How far ahead of the server's clock an agent's sample time may be. */
const MAX_SKEW_MS = 5 * 60_000;

export interface WireRouteOptions {
  /** Edges per second per node. */
  quota: Quota;
  maxBodyBytes: number;
  /** Hours of buckets kept: older observations would be pruned at once and are refused. */
  retentionHours: number;
  now: () => number;
}

export interface WireScreenContext {
  /** SPIFFE IDs registered on the reporting agent's node. */
  workloads: ReadonlySet<string>;
  node: string;
  now: number;
  retentionHours: number;
  invalidUtf8: boolean;
}

export interface ScreenedWireEdge {
  edge: WireEdgeV1;
  first: number;
  last: number;
}

/** Why edge `e` is refused, or undefined. */
function refusal(e: WireEdgeV1, ctx: WireScreenContext): ProblemFieldErrorV1 | undefined {
  const bad = (field: string, message: string) => ({ field, message, code: 'API_VALIDATION' });
  for (const f of ['source', 'destination', 'firstSeen', 'lastSeen'] as const) {
    const why = badText(e[f], ctx.invalidUtf8);
    if (why !== undefined) return bad(f, why);
  }
  if (!ctx.workloads.has(e.source)) {
    return {
      field: 'source',
      message: `${e.source} is not a workload registered on node ${ctx.node}: an agent reports only its own node's workloads`,
      code: 'API_NOT_OWNER',
    };
  }
  const first = Date.parse(e.firstSeen);
  const last = Date.parse(e.lastSeen);
  if (Number.isNaN(first)) return bad('firstSeen', 'is not an ISO 8601 date-time');
  if (Number.isNaN(last)) return bad('lastSeen', 'is not an ISO 8601 date-time');
  if (first > last) return bad('firstSeen', 'is after lastSeen');
  if (last > ctx.now + MAX_SKEW_MS) return bad('lastSeen', 'is in the future');
  if (last < ctx.now - ctx.retentionHours * HOUR_MS) {
    return bad('lastSeen', 'is older than the retention');
  }
  return undefined;
}

/** Splits a batch's edges into those to store and the refusals (`/edges/i/field`). */
export function screenWireEdges(
  edges: readonly WireEdgeV1[],
  ctx: WireScreenContext,
): { kept: ScreenedWireEdge[]; rejections: ProblemFieldErrorV1[]; scopeRejections: number } {
  const kept: ScreenedWireEdge[] = [];
  const rejections: ProblemFieldErrorV1[] = [];
  let scopeRejections = 0;
  const oldest = ctx.now - ctx.retentionHours * HOUR_MS;
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i]!;
    const why = refusal(e, ctx);
    if (why === undefined) {
      // A first sighting older than the retention is clipped to it: the bucket's hour is the
      // last sighting's, and nothing older is kept anyway.
      kept.push({
        edge: e,
        first: Math.max(Date.parse(e.firstSeen), oldest),
        last: Date.parse(e.lastSeen),
      });
      continue;
    }
    if (why.code === 'API_NOT_OWNER') scopeRejections++;
    rejections.push({ ...why, field: `/edges/${i}/${why.field}` });
  }
  return { kept, rejections, scopeRejections };
}

export function wireRoutes(options: WireRouteOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    registerIngestParsers(app, {
      maxDecodedBytes: options.maxBodyBytes,
      wireLimit: options.maxBodyBytes,
    });
    app.post<{ Body: WireBatchV1 }>(
      WIRE_CONNECTIONS_PATH,
      {
        // The agent proof header authenticates (checked below), not a bearer token.
        config: { auth: 'public' },
        bodyLimit: options.maxBodyBytes,
        schema: {
          tags: ['ingest'],
          summary:
            'Ingest the TCP dependencies a node agent sampled on its node (WireBatchV1; agent proof header)',
          headers: agentProofHeaders,
          body: wireBatchSchema,
          response: {
            200: batchAnswerSchema('Edges stored', 'Edges', '/edges/i'),
            ...problemResponses,
          },
        },
        // Authenticate before the body is validated: a stranger learns nothing about the schema.
        preValidation: agentProofAuth(app, 'wire ingest'),
      },
      async (request) => {
        const { node } = provenAgent(request);
        const body = request.body;
        options.quota.take(`node:${node}`, Math.max(1, body.edges.length), 'edges');
        const now = options.now();
        const screened = screenWireEdges(body.edges, {
          workloads: await app.ward.agents!.workloadsOf(node),
          node,
          now,
          retentionHours: options.retentionHours,
          invalidUtf8: bodyWasInvalidUtf8(request),
        });
        if (body.edges.length > 0 && screened.kept.length === 0) {
          app.ward.metrics.ingest('wire', 0, screened.rejections.length, body.dropped);
          const scopeOnly = screened.scopeRejections === body.edges.length;
          throw new ServerError(
            scopeOnly ? 'API_FORBIDDEN' : 'API_VALIDATION',
            scopeOnly
              ? `the agent of node ${node} may report only edges from workloads registered on ${node}; no edge was stored`
              : 'every edge of the batch was refused; none was stored',
            { errors: screened.rejections.slice(0, MAX_LISTED) },
          );
        }
        await store(
          app.ward.db as unknown as Kysely<IngestDatabase>,
          node,
          body,
          screened.kept,
          now,
        );
        app.ward.metrics.ingest(
          'wire',
          screened.kept.length,
          screened.rejections.length,
          body.dropped,
        );
        return {
          accepted: screened.kept.length,
          rejected: screened.rejections.length,
          ...(screened.rejections.length > 0
            ? { rejections: screened.rejections.slice(0, MAX_LISTED) }
            : {}),
        };
      },
    );

    app.get<{ Querystring: { since: string } }>(
      `${WIRE_CONNECTIONS_PATH}/nodes`,
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['reports'],
          summary:
            "Per node: what its agent's wire sampling reported and could not resolve (counts, not edges)",
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { since: { type: 'string', minLength: 1, maxLength: 64, default: '1h' } },
          },
          response: {
            200: {
              type: 'object',
              properties: {
                since: { type: 'string' },
                items: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      node: { type: 'string' },
                      batches: { type: 'integer' },
                      edges: { type: 'integer' },
                      dropped: { type: 'integer' },
                      unknownRemote: { type: 'integer' },
                      unattested: { type: 'integer' },
                      noProcess: { type: 'integer' },
                    },
                  },
                },
              },
            },
            ...problemResponses,
          },
        },
      },
      async (request) => {
        const since = windowStart(request.query.since, options.now());
        const db = app.ward.db as unknown as Kysely<IngestDatabase>;
        const rows = await db
          .selectFrom('ingest_wire_nodes')
          .select('node')
          .select((eb) => [
            eb.fn.sum<string>('batches').as('batches'),
            eb.fn.sum<string>('edges').as('edges'),
            eb.fn.sum<string>('dropped').as('dropped'),
            eb.fn.sum<string>('unknown_remote').as('unknown_remote'),
            eb.fn.sum<string>('unattested').as('unattested'),
            eb.fn.sum<string>('no_process').as('no_process'),
          ])
          .where('hour', '>=', hourOf(since))
          .groupBy('node')
          .orderBy('node')
          .execute();
        return {
          since: new Date(since).toISOString(),
          items: rows.map((r) => ({
            node: r.node,
            batches: Number(r.batches),
            edges: Number(r.edges),
            dropped: Number(r.dropped),
            unknownRemote: Number(r.unknown_remote),
            unattested: Number(r.unattested),
            noProcess: Number(r.no_process),
          })),
        };
      },
    );
  };
}

/** Upserts the hourly buckets and the node's counts in one transaction. */
async function store(
  db: Kysely<IngestDatabase>,
  node: string,
  batch: WireBatchV1,
  kept: readonly ScreenedWireEdge[],
  now: number,
): Promise<void> {
  await db.transaction().execute(async (tx) => {
    // CASE rather than LEAST/GREATEST (PostgreSQL) or min/max (SQLite): one SQL on both dialects.
    for (const { edge: e, first, last } of kept) {
      await tx
        .insertInto('ingest_wire_edges')
        .values({
          hour: hourOf(last),
          source: e.source,
          destination: e.destination,
          port: e.port,
          samples: e.samples,
          connections: e.connections,
          first_seen: first,
          last_seen: last,
          node,
        })
        .onConflict((oc) =>
          oc.columns(['source', 'destination', 'port', 'hour']).doUpdateSet({
            samples: sql`ingest_wire_edges.samples + excluded.samples`,
            connections: sql`ingest_wire_edges.connections + excluded.connections`,
            first_seen: sql`CASE WHEN excluded.first_seen < ingest_wire_edges.first_seen
              THEN excluded.first_seen ELSE ingest_wire_edges.first_seen END`,
            last_seen: sql`CASE WHEN excluded.last_seen > ingest_wire_edges.last_seen
              THEN excluded.last_seen ELSE ingest_wire_edges.last_seen END`,
            node: sql`excluded.node`,
          }),
        )
        .execute();
    }
    const u = batch.unresolved;
    await tx
      .insertInto('ingest_wire_nodes')
      .values({
        hour: hourOf(now),
        node,
        batches: 1,
        edges: kept.length,
        dropped: batch.dropped + u.overCap,
        unknown_remote: u.unknownRemote,
        unattested: u.unattested,
        no_process: u.noProcess,
      })
      .onConflict((oc) =>
        oc.columns(['node', 'hour']).doUpdateSet({
          batches: sql`ingest_wire_nodes.batches + 1`,
          edges: sql`ingest_wire_nodes.edges + excluded.edges`,
          dropped: sql`ingest_wire_nodes.dropped + excluded.dropped`,
          unknown_remote: sql`ingest_wire_nodes.unknown_remote + excluded.unknown_remote`,
          unattested: sql`ingest_wire_nodes.unattested + excluded.unattested`,
          no_process: sql`ingest_wire_nodes.no_process + excluded.no_process`,
        }),
      )
      .execute();
  });
}
