/**
 * `GET /v1/watch`: server-sent events of revision changes. Resumable: `Last-Event-ID` (or
 * `?since=`) replays what the client missed — one event per revision, or one `*` event when it is
 * too far behind for a replay to be worth it. The reply is hijacked from Fastify and written
 * raw: a stream of small writes per connection, no per-connection timers (the hub's heartbeat
 * serves all).
 *
 * With `?service=NAME` and request header `ward-watch-include: bundle`, the stream carries NAME's
 * signed bundle itself (`event: bundle`) instead of `revision` events, so the PDP needs no GET.
 */
import type { ServerResponse } from 'node:http';
import type { WatchEventV1 } from '@ward/api-types';
import { canonicalServiceKey } from '@ward/spiffe';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServerError } from '../../errors.ts';
import {
  bundleEvent,
  WATCH_HEARTBEAT_HEADER,
  WATCH_INCLUDE_HEADER,
  wantsBundles,
} from '../../watch/bundle-event.ts';
import { eventConcerns, formatEvent, type Watcher } from '../../watch/hub.ts';
import type { Release, WatchAdmission, WatchLimit } from '../../watch/limits.ts';
import { principalOf, requireOwnService } from '../auth-hook.ts';
import { STORE_RETRY_AFTER_SECONDS } from '../problem.ts';
import { bearer, nameParam, problemResponses } from '../schemas.ts';

/** Further behind than this, a client gets one `*` event instead of a replay. */
const MAX_REPLAY = 100;

/**
 * Seconds a refused watcher is told to wait: long enough that a fleet retrying does not hammer a
 * full replica, short enough that a slot freed by a restarting instance is taken up soon.
 */
const RETRY_AFTER_S = 10;

const LIMIT_FIELDS: Record<WatchLimit, [string, string]> = {
  perCredential: ['credential', 'too many watch streams open with this credential'],
  perAddress: ['address', 'too many watch streams open from this client address'],
  total: ['server', 'this replica holds as many watch streams as it may'],
};

const countsSchema = {
  type: 'object',
  properties: {
    perCredential: { type: 'integer' },
    perAddress: { type: 'integer' },
    total: { type: 'integer' },
  },
} as const;

/** Takes a watch slot for this request, or throws the 429 naming the limit reached. */
export function admit(admission: WatchAdmission, credential: string, address: string): Release {
  const slot = admission.acquire(credential, address);
  if (typeof slot === 'function') return slot;
  const [field, message] = LIMIT_FIELDS[slot];
  throw new ServerError('API_RATE_LIMITED', `${message} (limit ${admission.limits[slot]})`, {
    errors: [{ field, message }],
    retryAfterSeconds: RETRY_AFTER_S,
  });
}

/** Longest delay a Node timer takes; a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Ends `res` when the credential it was opened with expires (a client SVID's notAfter): a
 * stream must not outlive the proof it was opened with. Returns a function that cancels it.
 */
export function endAt(res: ServerResponse, expiresAt: number): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = expiresAt - Date.now();
    if (left <= 0) {
      res.end();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}

export async function watchRoutes(app: FastifyInstance): Promise<void> {
  // What a PDP watching another replica asks this one to find out whether its own replica lags:
  // answered from the revision follower, no store query, so probing it costs a fleet little.
  app.get(
    '/v1/watch/revision',
    {
      config: { auth: ['pdp', 'admin'] },
      schema: {
        tags: ['bundles'],
        summary: "This replica's current revision (what its watch heartbeats carry)",
        description:
          'The revision this replica has caught up to in the revision log. 503 ' +
          'STORE_UNREACHABLE with Retry-After when it cannot follow the log (it serves no ' +
          'watches then). PDPs configured with several replicas compare it with the ' +
          'heartbeats of the replica they watch (docs/operations.md, High availability).',
        security: bearer,
        response: {
          200: {
            type: 'object',
            required: ['revision'],
            properties: { revision: { type: 'integer' } },
          },
          ...problemResponses,
        },
      },
    },
    async (_request, reply) => {
      const { follower } = app.ward;
      if (!follower.healthy) {
        throw new ServerError(
          'STORE_UNREACHABLE',
          'this replica cannot follow the revision log; retry later or another replica',
          { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS },
        );
      }
      reply.header('cache-control', 'no-store');
      return { revision: follower.revision };
    },
  );

  app.get(
    '/v1/watch/stats',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['bundles'],
        summary: "This replica's watch streams: open, limits, refusals, slow watchers reset",
        security: bearer,
        response: {
          200: {
            type: 'object',
            properties: {
              open: { type: 'integer' },
              limits: countsSchema,
              rejected: countsSchema,
              slowReset: { type: 'integer' },
            },
          },
          ...problemResponses,
        },
      },
    },
    async () => {
      const { watchAdmission, hub } = app.ward;
      return {
        open: watchAdmission.open,
        limits: watchAdmission.limits,
        rejected: watchAdmission.rejected,
        slowReset: hub.slowDropped,
      };
    },
  );

  app.get<{ Querystring: { since?: number; service?: string } }>(
    '/v1/watch',
    {
      config: { auth: ['pdp', 'admin'] },
      schema: {
        tags: ['bundles'],
        summary: 'Server-sent events of revision changes (text/event-stream)',
        description:
          'Events: `id: <revision>`, `event: revision`, `data: {"revision":R,"services":[...]}`; ' +
          'comments `: heartbeat <revision>` (the replica revision) every heartbeat interval. Resume with Last-Event-ID or ?since=. ' +
          'With ?service=KEY (`name` or `namespace/name`) and header `ward-watch-include: bundle`: `event: bundle`, ' +
          "`data: <SignedBundleV1>` (id = bundle revision) whenever KEY's bundle changes, and " +
          'on connect when the client is behind; the response then echoes that header. A pdp ' +
          'credential must name its own service (403 otherwise); the stream ends when that ' +
          'credential is revoked or (client SVID) expires. 429 API_RATE_LIMITED with ' +
          'Retry-After when the credential, the client address or the replica holds as many ' +
          'streams as it may (docs/operations.md).',
        security: bearer,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'integer', minimum: 0 },
            service: nameParam,
          },
        },
        headers: {
          type: 'object',
          properties: {
            'last-event-id': { type: 'string', pattern: '^[0-9]{1,15}$' },
            // Unknown values are ignored (forward compatible), so no pattern here.
            [WATCH_INCLUDE_HEADER]: { type: 'string', maxLength: 256 },
          },
        },
        response: {
          200: { description: 'text/event-stream of WatchEventV1', type: 'string' },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { hub, store } = app.ward;
      const lastEventId = request.headers['last-event-id'];
      const since = typeof lastEventId === 'string' ? Number(lastEventId) : request.query.since;
      if (since !== undefined && !Number.isSafeInteger(since)) {
        throw new ServerError('API_VALIDATION', 'bad resume point', {
          errors: [{ field: 'headers.last-event-id', message: 'must be a revision number' }],
        });
      }
      // The key (`default/x` is `x`); the schema checked the pattern.
      const named = request.query.service;
      const service = named === undefined ? undefined : (canonicalServiceKey(named) ?? named);
      const principal = principalOf(request);
      requireOwnService(principal, service, 'querystring.service');
      if (!app.ward.follower.healthy) {
        throw new ServerError(
          'STORE_UNREACHABLE',
          'this replica cannot follow the revision log; retry later or another replica',
          { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS },
        );
      }
      // Admitted last, after every check that can refuse: nothing below throws before the
      // stream's close handler, which gives the slot back.
      const release = admit(
        app.ward.watchAdmission,
        principal.id,
        request.socket.remoteAddress ?? 'unknown',
      );
      // Bundles are per service: without ?service= the header is ignored.
      const push =
        service !== undefined &&
        hub.pushesBundles &&
        wantsBundles(request.headers[WATCH_INCLUDE_HEADER]);
      const res = openEventStream(
        request,
        reply,
        release,
        hub.heartbeatMs,
        push ? { [WATCH_INCLUDE_HEADER]: 'bundle' } : {},
      );
      if (!res) return;
      const w: Watcher = {
        res,
        service,
        push,
        lastSent: since ?? 0,
        pending: [],
        heldBy: principal.id,
      };
      hub.add(w);
      const stopExpiry =
        principal.expiresAt === undefined ? undefined : endAt(res, principal.expiresAt);
      res.on('close', () => {
        hub.remove(w);
        stopExpiry?.();
      });
      // Registered before reading the backlog, queuing meanwhile: nothing falls in between.
      try {
        const current = app.ward.follower.revision;
        // Catch-up for a push watcher is the current bundle when it is newer than what the client
        // holds (one event, whatever the gap). When it cannot be built, fall through to the
        // revision replay below, so the client fetches and meets the same answer a GET gives.
        const built =
          push && service !== undefined && since !== undefined && current > since
            ? await app.ward.bundles.get(service).catch(() => undefined)
            : undefined;
        if (built && since !== undefined) {
          if (built.revision > since) {
            w.pending?.unshift({ revision: built.revision, text: bundleEvent(built) });
          }
        } else if (since !== undefined && current > since) {
          const backlog =
            current - since > MAX_REPLAY ? null : await store.revisionsAfter(since, MAX_REPLAY + 1);
          if (backlog === null || backlog.length > MAX_REPLAY) {
            const all: WatchEventV1 = { revision: current, services: ['*'] };
            w.pending?.unshift({ revision: current, text: formatEvent(all) });
          } else {
            const events = backlog.filter((e) => eventConcerns(e, service));
            w.pending?.unshift(
              ...events.map((e) => ({ revision: e.revision, text: formatEvent(e) })),
            );
          }
        }
      } catch (error) {
        // Live without its backlog the stream would skip revisions: end it instead, so the
        // client resumes from the same point (here once the store answers, or elsewhere), and
        // have the replica check whether it still follows the log.
        request.log.warn({ err: error }, 'watch backlog failed; ending the stream');
        hub.remove(w);
        res.end();
        void app.ward.follower.catchUp();
        return;
      }
      if (!res.destroyed) hub.goLive(w);
    },
  );
}

/**
 * Takes over the response of an admitted watch request as a server-sent-event stream: headers
 * (with the heartbeat interval, so clients can time out a silent stream) and a first comment.
 * `release` (the admission slot) runs when the stream closes. Null when the client left while
 * its request was authenticated: 'close' has been and gone already, so the slot is released here.
 */
export function openEventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  release: () => void,
  heartbeatMs: number,
  headers: Record<string, string> = {},
): ServerResponse | null {
  reply.hijack();
  const res = reply.raw;
  res.once('close', release);
  if (request.socket.destroyed) {
    release();
    return null;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    [WATCH_HEARTBEAT_HEADER]: String(heartbeatMs),
    ...headers,
  });
  res.socket?.setNoDelay(true);
  res.write(': connected\n\n');
  return res;
}
