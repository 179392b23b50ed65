/**
 * `GET /v1/graph`: the merged dependency graph — declared (Service documents' dependencies) and
 * observed (OTLP traces, decision logs and node agents' wire samples in the window) — with every analysis of `@ward/graph`
 * (cycles, boot order, break suggestions, declared vs observed, …), as the same JSON report
 * `ward graph analyze -o json` writes (so it can serve as a `ward graph check` baseline),
 * or as Graphviz DOT / Mermaid.
 *
 * `GET /v1/graph/view`: the same graph made for drawing (graph-view.ts), bounded.
 */

import { EDGE_STATES } from '@ward/api-types';
import { analyze, toDot, toJsonReport, toMermaid } from '@ward/graph';
import type { FastifyInstance } from 'fastify';
import { bearer, problemResponses } from '../http/schemas.ts';
import { Approvals } from './approvals.ts';
import { loadGraph } from './graph-source.ts';
import { graphView } from './graph-view.ts';
import { windowStart } from './windows.ts';

/** Hard bounds of one view answer (a larger graph is cut, with `truncated: true`). */
export const VIEW_MAX_SERVICES = 5_000;
export const VIEW_MAX_EDGES = 50_000;

const names = { type: 'array', items: { type: 'string' } } as const;
const nullableString = { type: ['string', 'null'] } as const;

const viewResponse = {
  type: 'object',
  required: ['nodes', 'edges', 'cycles', 'components', 'waves', 'truncated', 'totals'],
  properties: {
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'name', 'namespace', 'team', 'wave', 'inCycle', 'kind', 'virtual'],
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          namespace: nullableString,
          team: nullableString,
          wave: { type: ['integer', 'null'] },
          inCycle: { type: 'boolean' },
          kind: { type: 'string' },
          virtual: { type: 'boolean' },
        },
      },
    },
    edges: {
      type: 'array',
      items: {
        type: 'object',
        required: [
          'from',
          'to',
          'states',
          'startup',
          'calls',
          'errors',
          'denied',
          'dryRunDenied',
          'firstSeen',
          'lastSeen',
          'rule',
          'protocol',
          'ports',
          'mtls',
        ],
        properties: {
          from: { type: 'string' },
          to: { type: 'string' },
          states: { type: 'array', items: { type: 'string', enum: [...EDGE_STATES] } },
          startup: { type: 'boolean' },
          calls: { type: 'integer' },
          errors: { type: 'integer' },
          denied: { type: 'integer' },
          dryRunDenied: { type: 'integer' },
          firstSeen: nullableString,
          lastSeen: nullableString,
          rule: nullableString,
          protocol: nullableString,
          ports: { type: 'array', items: { type: 'integer' } },
          mtls: { type: ['boolean', 'null'] },
        },
      },
    },
    cycles: { type: 'array', items: names },
    components: { type: 'array', items: names },
    waves: { type: 'array', items: names },
    truncated: { type: 'boolean' },
    totals: {
      type: 'object',
      required: ['services', 'edges'],
      properties: { services: { type: 'integer' }, edges: { type: 'integer' } },
    },
  },
} as const;

/** The observation window both graph routes read: `7d`, `24h`, … back from now. */
export const sinceParam = { type: 'string', minLength: 1, maxLength: 64, default: '7d' } as const;

export function graphRoutes(options: { now: () => number }) {
  return async (app: FastifyInstance): Promise<void> => {
    const graphSince = (since: string) => loadGraph(app, windowStart(since, options.now()));

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
              since: sinceParam,
              format: { type: 'string', enum: ['json', 'dot', 'mermaid'], default: 'json' },
            },
          },
          response: { ...problemResponses },
        },
      },
      async (request, reply) => {
        const { graph } = await graphSince(request.query.since);
        const analysis = analyze(graph);
        reply.header('cache-control', 'no-store');
        if (request.query.format === 'dot')
          return reply.type('text/vnd.graphviz').send(toDot(graph, analysis));
        if (request.query.format === 'mermaid')
          return reply.type('text/plain').send(toMermaid(graph, analysis));
        return reply.type('application/json').send(toJsonReport(graph, analysis));
      },
    );

    // Same audience and the same map as GET /v1/graph: the dependency map is shared knowledge
    // (a team needs its callers and callees, whoever owns them); nothing here is more than the
    // report already tells, only shaped for drawing.
    app.get<{ Querystring: { since: string; maxServices: number; maxEdges: number } }>(
      '/v1/graph/view',
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['graph'],
          summary: 'The dependency graph shaped for drawing: nodes, edges with states and details',
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              since: sinceParam,
              maxServices: {
                type: 'integer',
                minimum: 1,
                maximum: VIEW_MAX_SERVICES,
                default: VIEW_MAX_SERVICES,
              },
              maxEdges: {
                type: 'integer',
                minimum: 0,
                maximum: VIEW_MAX_EDGES,
                default: VIEW_MAX_EDGES,
              },
            },
          },
          response: { 200: viewResponse, ...problemResponses },
        },
      },
      async (request, reply) => {
        const source = await graphSince(request.query.since);
        const approvals = await Approvals.load(app.ward.store);
        const view = graphView(
          source,
          analyze(source.graph),
          (from, to) => approvals.approving(from, to),
          { services: request.query.maxServices, edges: request.query.maxEdges },
        );
        reply.header('cache-control', 'no-store');
        return view;
      },
    );
  };
}
