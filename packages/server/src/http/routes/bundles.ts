/**
 * What PDPs read: signed bundles (ETag / 304), the bundle verification key, the current
 * revision; plus passport-key rotation and health probes.
 */
import { BUNDLE_MEDIA_TYPE } from '@ward/api-types';
import { canonicalServiceKey } from '@ward/spiffe';
import type { FastifyInstance } from 'fastify';
import { ServerError } from '../../errors.ts';
import { listPassportKeys, rotatePassportKeys } from '../../store/passport-keys.ts';
import { principalOf, requireOwnService } from '../auth-hook.ts';
import { STORE_RETRY_AFTER_SECONDS } from '../problem.ts';
import { bearer, nameParam, problemResponses } from '../schemas.ts';

/** A trust zone name: a DNS label, like `spec.passport.zone`. */
const ZONE = {
  type: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
} as const;

/** True when an If-None-Match header names `etag` (a list, weak validators, or `*`). */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export async function bundleRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { service: string } }>(
    '/v1/bundles/:service',
    {
      config: { auth: ['pdp', 'admin'] },
      schema: {
        tags: ['bundles'],
        summary:
          'The signed bundle of one destination service (SignedBundleV1); ETag / If-None-Match',
        description:
          'The service is its key: `name`, or `namespace/name` with the `/` percent-encoded ' +
          '(`team-a%2Fpayments`). A pdp credential (token bound to one service, or client SVID) ' +
          "reads only its own service's bundle (403 otherwise); admin reads any.",
        security: bearer,
        params: { type: 'object', required: ['service'], properties: { service: nameParam } },
        response: {
          200: {
            description: 'SignedBundleV1',
            type: 'object',
            properties: {
              payload: { type: 'string' },
              signature: { type: 'string' },
              keyId: { type: 'string' },
              hash: { type: 'string' },
            },
          },
          304: { description: 'Not modified', type: 'null' },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      // The key (`team-a/payments`, percent-encoded in the path; `default/x` is `x`). The schema
      // checked the pattern, so there is always one.
      const service = canonicalServiceKey(request.params.service) ?? request.params.service;
      // Before the lookup: a PDP learns nothing about other services, not even which exist.
      requireOwnService(principalOf(request), service, 'params.service');
      const built = await app.ward.bundles.get(service);
      if (!built) {
        throw new ServerError('API_NOT_FOUND', `no service or destination named ${service}`, {
          errors: [{ field: 'params.service', message: 'unknown service' }],
        });
      }
      reply.header('etag', built.etag).header('cache-control', 'no-cache');
      if (matches(request.headers['if-none-match'], built.etag)) return reply.code(304).send();
      // Pre-serialised once per build: a string body skips the serialiser.
      return reply
        .type(
          request.headers.accept?.includes(BUNDLE_MEDIA_TYPE)
            ? BUNDLE_MEDIA_TYPE
            : 'application/json',
        )
        .send(built.body);
    },
  );

  app.get(
    '/v1/keys/bundle',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['bundles'],
        summary: 'Public keys that verify bundle signatures',
        response: {
          200: {
            type: 'object',
            properties: {
              keys: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    keyId: { type: 'string' },
                    alg: { type: 'string' },
                    publicKey: { type: 'string', description: 'base64url raw 32-byte Ed25519 key' },
                  },
                },
              },
            },
          },
          ...problemResponses,
        },
      },
    },
    async () => {
      const k = app.ward.signingKey;
      return { keys: [{ keyId: k.keyId, alg: 'Ed25519', publicKey: k.publicKeyText }] };
    },
  );

  app.get(
    '/v1/revision',
    {
      config: { auth: ['pdp', 'admin', 'team'] },
      schema: {
        tags: ['bundles'],
        summary: 'The current global revision',
        security: bearer,
        response: {
          200: { type: 'object', properties: { revision: { type: 'integer' } } },
          ...problemResponses,
        },
      },
    },
    async () => ({ revision: (await app.ward.store.revision()).revision }),
  );

  app.get(
    '/v1/passport-keys',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['passport-keys'],
        summary: 'Passport key ids, zones, algorithms and states (never a secret)',
        security: bearer,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { zone: ZONE },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    kid: { type: 'string' },
                    zone: { type: 'string' },
                    alg: { type: 'string' },
                    status: { type: 'string' },
                    publicKey: { type: 'string' },
                    createdAt: { type: 'string' },
                    createdRevision: { type: 'integer' },
                  },
                },
              },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => ({
      items: await listPassportKeys(
        app.ward.db,
        (request.query as { zone?: string } | undefined)?.zone,
      ),
    }),
  );

  app.post<{
    Body: { retirePrevious?: boolean; zone?: string; alg?: 'HS256' | 'EdDSA' } | undefined;
  }>(
    '/v1/passport-keys/rotate',
    {
      config: { auth: ['admin'] },
      bodyLimit: 4 * 1024,
      schema: {
        tags: ['passport-keys'],
        summary:
          "New active passport key of one zone; the zone's previous one stays for verification unless retirePrevious",
        security: bearer,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            retirePrevious: { type: 'boolean' },
            zone: ZONE,
            alg: { enum: ['HS256', 'EdDSA'] },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              kid: { type: 'string' },
              zone: { type: 'string' },
              alg: { type: 'string' },
              revision: { type: 'integer' },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const result = await rotatePassportKeys(
        app.ward.store,
        principalOf(request),
        request.body?.retirePrevious ?? false,
        {
          ...(request.body?.zone !== undefined ? { zone: request.body.zone } : {}),
          ...(request.body?.alg !== undefined ? { alg: request.body.alg } : {}),
        },
      );
      await app.ward.changed();
      return result;
    },
  );

  app.get(
    '/healthz',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['health'],
        summary: 'Liveness',
        response: { 200: { type: 'object', properties: { status: { type: 'string' } } } },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['health'],
        summary: 'Readiness: 200 when the store answers',
        response: {
          200: {
            type: 'object',
            properties: { status: { type: 'string' }, revision: { type: 'integer' } },
          },
          ...problemResponses,
        },
      },
    },
    async () => {
      if (!app.ward.follower.healthy) {
        throw new ServerError('API_UNAVAILABLE', 'this replica cannot follow the revision log', {
          retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
        });
      }
      try {
        return { status: 'ready', revision: (await app.ward.store.revision()).revision };
      } catch (cause) {
        throw new ServerError('API_UNAVAILABLE', 'the store does not answer', {
          cause,
          retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
        });
      }
    },
  );
}
