/**
 * The identity CA plugin: join tokens and registration entries for admins, agent attestation
 * and SVID issuance for node agents, the public trust bundle, and rotation. Pass it to
 * `startServer({ plugins: [caPlugin()] })`.
 */
import {
  AGENT_PROOF_HEADER,
  type AuthorityLifetimes,
  CaService,
  caRoutes,
  parseSealKey,
  type SealKey,
} from '@ward/ca';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { WardPlugin } from '../http/app.ts';
import { SqlCaStore } from './store.ts';
import { type CaDatabase, caMigrations } from './tables.ts';
import { type TokenReviewConfig, tokenReviewer } from './token-review.ts';

export interface CaPluginOptions {
  /**
   * Key that seals the CA private keys in the database. Default: the control plane's seal key
   * (`startServer`'s `sealKey`, `WARD_SEAL_KEY`, `--seal-key-file`, or the generated one), which
   * also seals the bundle-signing and passport keys. Replicas sharing a database must share it.
   * Give one here (or `env.WARD_CA_KEY`) only to keep the CA under a key of its own.
   */
  sealKey?: SealKey;
  /** Read for `WARD_CA_KEY` when given (the control plane's key is used otherwise). */
  env?: NodeJS.ProcessEnv;
  lifetimes?: AuthorityLifetimes;
  agentSvidTtlSeconds?: number;
  /** Enables Kubernetes projected service-account token attestation. */
  tokenReview?: TokenReviewConfig;
  now?: () => number;
}

function sealKeyOf(options: CaPluginOptions, shared: SealKey): SealKey {
  if (options.sealKey) return options.sealKey;
  const own = options.env?.WARD_CA_KEY;
  return own ? parseSealKey(own, 'WARD_CA_KEY') : shared;
}

/**
 * Creates the CA plugin.
 *
 * @example
 * ```ts
 * import { caPlugin, startServer } from '@ward/server';
 * const server = await startServer({ port: 0, plugins: [caPlugin()] });
 * ```
 */
export function caPlugin(options: CaPluginOptions = {}): WardPlugin {
  return {
    name: 'ca',
    migrations: caMigrations(),
    async register(app: FastifyInstance) {
      const service = new CaService({
        store: new SqlCaStore(app.ward.db as unknown as Kysely<CaDatabase>, app.ward.trustDomain),
        sealKey: sealKeyOf(options, app.ward.sealKey),
        trustDomain: app.ward.trustDomain,
        ...(options.lifetimes ? { lifetimes: options.lifetimes } : {}),
        ...(options.agentSvidTtlSeconds
          ? { agentSvidTtlSeconds: options.agentSvidTtlSeconds }
          : {}),
        ...(options.tokenReview ? { reviewK8sToken: tokenReviewer(options.tokenReview) } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
      // Create (or load and check) the authority now, so a wrong seal key fails the start.
      await service.authority();
      app.decorate('wardCa', service);
      // CA errors reach the server's one error handler, which answers them with their own code
      // and status in the same problem format as every other route.
      const agentAuth = async (request: FastifyRequest) => {
        const path = request.url.split('?')[0]!;
        (request as { wardAgent?: unknown }).wardAgent = await service.authenticateAgent(
          request.headers[AGENT_PROOF_HEADER],
          request.method,
          path,
        );
      };
      for (const route of caRoutes(service)) {
        app.route({
          method: route.method,
          url: route.path,
          config: { auth: route.auth === 'admin' ? ['admin'] : 'public' },
          schema: {
            summary: route.summary,
            tags: ['identity'],
            ...(route.auth === 'agent'
              ? {
                  headers: {
                    type: 'object',
                    properties: { [AGENT_PROOF_HEADER]: { type: 'string' } },
                  },
                }
              : {}),
          },
          ...(route.auth === 'agent' ? { preHandler: agentAuth } : {}),
          handler: async (request: FastifyRequest, reply: FastifyReply) => {
            const out = await route.handle({
              params: (request.params ?? {}) as Record<string, string>,
              query: (request.query ?? {}) as Record<string, string | undefined>,
              body: request.body,
              ...((request as { wardAgent?: { spiffeId: string; node: string } }).wardAgent
                ? {
                    agent: (request as unknown as { wardAgent: { spiffeId: string; node: string } })
                      .wardAgent,
                  }
                : {}),
            });
            reply.code(out.status);
            if (out.contentType) reply.type(out.contentType);
            return out.body === undefined ? reply.send() : reply.send(out.body);
          },
        });
      }
    },
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The identity CA (set by the CA plugin). */
    wardCa?: CaService;
  }
}
