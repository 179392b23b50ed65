/**
 * `POST /v1/decision-logs`: batches from the SDK's decision-log shipper (`DecisionLogBatchV1`,
 * JSON, optionally gzip). `GET /v1/decision-logs/denials`: the raw denials kept for
 * investigation.
 */
import {
  AGENT_DECISION_LOG_PATH,
  DECISION_LOG_PATH,
  type DecisionLogBatchV1,
  type DecisionLogDenialsV1,
  type DecisionLogRecordV1,
} from '@ward/api-types';
import { MAX_SERVICE_KEY_LENGTH } from '@ward/spiffe';
import { Ajv } from 'ajv';
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { ownedServices } from '../auth/owned.ts';
import { ServerError } from '../errors.ts';
import { agentProofAuth, agentProofHeaders, provenAgent } from '../http/agent-proof.ts';
import { principalOf } from '../http/auth-hook.ts';
import { bearer, problemResponses } from '../http/schemas.ts';
import { batchAnswerSchema, MAX_LISTED } from './batch-answer.ts';
import { bodyWasInvalidUtf8, registerIngestParsers } from './body.ts';
import type { DecisionIngestor } from './decision-ingestor.ts';
import { decisionBatchSchema } from './decision-schema.ts';
import { identityOf, type Quota } from './quota.ts';
import { type ScreenContext, screenRecords } from './record-screen.ts';
import type { RuleNames } from './rule-names.ts';
import type { IngestDatabase } from './tables.ts';
import { windowStart } from './windows.ts';

export interface DecisionRouteOptions {
  ingestor: DecisionIngestor;
  rules: RuleNames;
  /** Records per second per identity. */
  quota: Quota;
  /** Decoded (decompressed) body size limit. */
  maxBodyBytes: number;
  now: () => number;
  /** Told about the records of each batch once they are committed (the live tail). */
  onCommitted?: (records: readonly DecisionLogRecordV1[]) => void;
}

// The server's validators, except `unicode: false`: maxLength then reads `.length` instead of
// counting code points, which was the largest validation cost on 500-record batches (the bound
// only gets stricter: a UTF-16 length is never below the code-point count).
const bodyAjv = new Ajv({
  allErrors: true,
  coerceTypes: false,
  useDefaults: true,
  removeAdditional: false,
  strict: false,
  unicode: false,
  logger: false,
});
const queryAjv = new Ajv({
  allErrors: true,
  coerceTypes: true,
  useDefaults: true,
  removeAdditional: false,
  strict: false,
});
const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema as object) as ReturnType<
    FastifySchemaCompiler<unknown>
  >;

export function decisionRoutes(options: DecisionRouteOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    registerIngestParsers(app, {
      maxDecodedBytes: options.maxBodyBytes,
      wireLimit: options.maxBodyBytes,
    });
    app.setValidatorCompiler(validatorCompiler);

    app.post<{ Body: DecisionLogBatchV1 }>(
      DECISION_LOG_PATH,
      {
        config: { auth: ['pdp', 'admin'] },
        bodyLimit: options.maxBodyBytes,
        schema: {
          tags: ['ingest'],
          summary:
            'Ingest a batch of decision-log records (DecisionLogBatchV1; JSON, gzip allowed)',
          security: bearer,
          body: decisionBatchSchema,
          response: {
            200: batchAnswerSchema('Decisions counted', 'Records', '/records/i'),
            ...problemResponses,
          },
        },
      },
      async (request) => {
        const p = principalOf(request);
        // A pdp principal speaks for its one service; an unbound one (a token from before
        // binding) for none. Admin tokens may import any service's records.
        const destination =
          p.scope === 'pdp' ? (p.services.size === 1 ? [...p.services][0]! : '') : undefined;
        return ingest(
          request,
          { id: p.id, name: p.name, identity: identityOf(p) },
          {
            destination,
            refusedAll: `token "${p.name}" may ship only decisions on calls to ${destination || 'its service (it is bound to none)'}; no record was counted`,
          },
        );
      },
    );

    // The same batches from a node agent (its local decision API), authenticated by its proof:
    // only records of calls into services with a workload registered on its node count.
    app.post<{ Body: DecisionLogBatchV1 }>(
      AGENT_DECISION_LOG_PATH,
      {
        // The agent proof header authenticates (checked below), not a bearer token.
        config: { auth: 'public' },
        bodyLimit: options.maxBodyBytes,
        schema: {
          tags: ['ingest'],
          summary:
            "Ingest a node agent's decision-log records (its local decision API; DecisionLogBatchV1; agent proof header)",
          headers: agentProofHeaders,
          body: decisionBatchSchema,
          response: {
            200: batchAnswerSchema('Decisions counted', 'Records', '/records/i'),
            ...problemResponses,
          },
        },
        // Authenticate before the body is validated: a stranger learns nothing about the schema.
        preValidation: agentProofAuth(app, 'agent decision logs'),
      },
      async (request) => {
        const agent = provenAgent(request);
        const services = new Set<string>();
        for (const id of await app.ward.agents!.workloadsOf(agent.node)) {
          const s = await app.ward.identities.serviceOf(id);
          if (s !== undefined) services.add(s);
        }
        return ingest(
          request,
          {
            id: agent.spiffeId,
            name: `agent of node ${agent.node}`,
            identity: `node:${agent.node}`,
          },
          {
            destination: undefined,
            node: { name: agent.node, services },
            refusedAll: `the agent of node ${agent.node} may ship only decisions on calls to services with a workload on ${agent.node}; no record was counted`,
          },
        );
      },
    );

    /** Screens, counts and stores one batch for `who`, within `scope`. */
    async function ingest(
      request: FastifyRequest<{ Body: DecisionLogBatchV1 }>,
      who: { id: string; name: string; identity: string },
      scope: Pick<ScreenContext, 'destination' | 'node'> & { refusedAll: string },
    ) {
      const body = request.body;
      const sampleIn = body.droppedSample ?? [];
      options.quota.take(who.identity, body.records.length + sampleIn.length, 'records');
      let claimed = 0;
      for (const r of body.records) if (r.revision > claimed) claimed = r.revision;
      const ctx: ScreenContext = {
        destination: scope.destination,
        ...(scope.node ? { node: scope.node } : {}),
        rules: await options.rules.current(claimed),
        invalidUtf8: bodyWasInvalidUtf8(request),
      };
      const screened = screenRecords(body.records, '/records', ctx);
      const sample = screenRecords(sampleIn, '/droppedSample', ctx);
      const { tooOld, done } = options.ingestor.accept(
        {
          records: screened.kept,
          positions: screened.positions,
          sample: sample.kept,
          dropped: body.dropped ?? 0,
        },
        who,
      );
      const rejections = [...screened.rejections, ...tooOld, ...sample.rejections];
      const refusedAll =
        body.records.length > 0 &&
        screened.rejections.length + tooOld.length === body.records.length;
      if (refusedAll) {
        app.ward.metrics.ingest('decision_logs', 0, rejections.length, body.dropped ?? 0);
        // Nothing of the batch counts; the dropped count and samples still do (below).
        const scopeOnly = screened.scopeRejections === body.records.length;
        void done.catch(() => {});
        throw new ServerError(
          scopeOnly ? 'API_FORBIDDEN' : 'API_VALIDATION',
          scopeOnly ? scope.refusedAll : 'every record of the batch was refused; none was counted',
          { errors: rejections.slice(0, MAX_LISTED) },
        );
      }
      const accepted = await done;
      options.onCommitted?.(screened.kept);
      app.ward.metrics.ingest('decision_logs', accepted, rejections.length, body.dropped ?? 0);
      return {
        accepted,
        rejected: rejections.length,
        ...(rejections.length > 0 ? { rejections: rejections.slice(0, MAX_LISTED) } : {}),
      };
    }

    app.get<{
      Querystring: { since: string; destination?: string; source?: string; limit: number };
    }>(
      `${DECISION_LOG_PATH}/denials`,
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['reports'],
          summary: 'Raw denials (enforced and dry-run) kept for investigation, newest first',
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              since: { type: 'string', default: '1h', maxLength: 64 },
              destination: { type: 'string', maxLength: MAX_SERVICE_KEY_LENGTH },
              source: { type: 'string', maxLength: 2048 },
              limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 },
            },
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
                      time: { type: 'string' },
                      source: { type: 'string' },
                      destination: { type: 'string' },
                      method: { type: 'string' },
                      path: { type: 'string' },
                      rule: { type: 'string' },
                      enforced: { type: 'boolean' },
                      revision: { type: 'integer' },
                      subject: { type: 'string' },
                      kid: { type: 'string' },
                      count: { type: 'integer' },
                    },
                  },
                },
              },
            },
            ...problemResponses,
          },
        },
      },
      async (request): Promise<DecisionLogDenialsV1> => {
        const q = request.query;
        const since = windowStart(q.since, options.now());
        const db = app.ward.db as unknown as import('kysely').Kysely<IngestDatabase>;
        let query = db
          .selectFrom('ingest_denials')
          .selectAll()
          .where('time', '>=', since)
          .orderBy('time', 'desc')
          .limit(q.limit);
        if (q.destination !== undefined) query = query.where('destination', '=', q.destination);
        if (q.source !== undefined) query = query.where('source', '=', q.source);
        // A team sees the denials of calls from or to its services only.
        const p = principalOf(request);
        if (p.scope === 'team') {
          // Its services: the stored ones `owns` accepts (whole namespaces too) and those it names.
          const owned = [...(await ownedServices(app.ward.store, p))];
          if (owned.length === 0) return { since: new Date(since).toISOString(), items: [] };
          query = query.where((eb) =>
            eb.or([eb('destination', 'in', owned), eb('source', 'in', owned)]),
          );
        }
        const rows = await query.execute();
        return {
          since: new Date(since).toISOString(),
          items: rows.map((r) => ({
            time: new Date(Number(r.time)).toISOString(),
            source: r.source,
            destination: r.destination,
            method: r.method,
            path: r.path,
            rule: r.rule,
            enforced: Number(r.enforced) === 1,
            revision: Number(r.revision),
            count: Number(r.count),
            ...(r.subject !== null ? { subject: r.subject } : {}),
            ...(r.kid !== null ? { kid: r.kid } : {}),
          })),
        };
      },
    );
  };
}
