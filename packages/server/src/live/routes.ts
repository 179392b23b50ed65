/**
 * `GET /v1/decisions/stream`: the live tail of denials and dry-run denials (server-sent events).
 * Admission, the stream's opening and the slow-reader cut are the watch stream's
 * (`admit`, `openEventStream`, `writeOrReset`), with limits of its own: a tail is for people
 * and dashboards, not for every instance of a fleet.
 */
import type { FastifyInstance } from 'fastify';
import { owns } from '../auth/tokens.ts';
import { principalOf } from '../http/auth-hook.ts';
import { admit, endAt, openEventStream } from '../http/routes/watch.ts';
import { bearer, problemResponses } from '../http/schemas.ts';
import type { WatchAdmission } from '../watch/limits.ts';
import type { DecisionTail, LiveKind, TailSubscriber } from './tail.ts';

export const DECISION_STREAM_PATH = '/v1/decisions/stream';

export function liveRoutes(tail: DecisionTail, admission: WatchAdmission) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Querystring: { service?: string; kind?: LiveKind } }>(
      DECISION_STREAM_PATH,
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['reports'],
          summary: 'Live tail of denials and dry-run denials (text/event-stream)',
          description:
            'Events: `id: <n>` (per replica, not resumable), `event: decision`, `data: ' +
            '{"at","source","destination","method","path","allowed":false,"dryRun","rule",' +
            '"reason","count"?}` as the decision-log ingest commits them (on any replica); ' +
            '`event: dropped`, `data: {"dropped":N}` when the tail was rate-limited; comments ' +
            '`: heartbeat`. ?service= keeps events whose source or destination it is; ?kind= ' +
            'deny|dry-run-deny. A team token sees only events on its services. 429 ' +
            'API_RATE_LIMITED with Retry-After when the credential, the address or the replica ' +
            'holds as many tails as it may; the stream ends when its token is revoked.',
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              service: { type: 'string', minLength: 1, maxLength: 2048 },
              kind: { type: 'string', enum: ['deny', 'dry-run-deny'] },
            },
          },
          response: {
            200: { description: 'text/event-stream of decisions', type: 'string' },
            ...problemResponses,
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { service, kind } = request.query;
        const release = admit(admission, principal.id, request.socket.remoteAddress ?? 'unknown');
        const res = openEventStream(request, reply, release, tail.options.heartbeatMs);
        if (!res) return;
        const sub: TailSubscriber = {
          res,
          filter: {
            ...(service !== undefined ? { service } : {}),
            ...(kind !== undefined ? { kind } : {}),
            // A team sees decisions of the services it owns (`owns`: key or whole namespace).
            ...(principal.scope === 'team'
              ? { owned: { has: (service: string) => owns(principal, service) } }
              : {}),
          },
          heldBy: principal.id,
          tokens: tail.options.perSubscriberBurst,
          dropped: 0,
        };
        tail.add(sub);
        const stopExpiry =
          principal.expiresAt === undefined ? undefined : endAt(res, principal.expiresAt);
        res.on('close', () => {
          tail.remove(sub);
          stopExpiry?.();
        });
      },
    );
  };
}
