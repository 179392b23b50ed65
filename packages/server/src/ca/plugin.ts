/**
 * The identity CA plugin: join tokens and registration entries for admins, agent attestation
 * and SVID issuance for node agents, the public trust bundle, and rotation. Pass it to
 * `startServer({ plugins: [caPlugin()] })`.
 */
import {
  AGENT_PROOF_HEADER,
  type AuthorityLifetimes,
  CaError,
  CaService,
  caRoutes,
  parseSealKey,
  type SealKey,
} from '@ward/ca';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { ServerError } from '../errors.ts';
import type { WardPlugin } from '../http/app.ts';
import { agentBundleRoutes, startAgentSweep } from './agent-bundles.ts';
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
  /**
   * How often open agent streams are re-checked (ms): revocation on another replica, and
   * registration entries that moved a service onto or off a node. Default 5000.
   */
  agentSweepMs?: number;
}

/** CA routes that issue credentials, and the `kind` label each counts under. */
const ISSUANCE: Readonly<Record<string, string>> = {
  '/v1/agent/attest': 'agent_attest',
  '/v1/agent/renew': 'agent_renew',
  '/v1/agent/svids': 'x509_svid',
  '/v1/agent/jwt-svids': 'jwt_svid',
};

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
      const revokedListeners = new Set<(spiffeId: string) => void>();
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
        // Revoked here: the agent's streams on this replica end now, not at the next sweep.
        onAgentRevoked: (spiffeId) => {
          app.ward.agentHub.closeHeldBy(spiffeId);
          for (const fn of revokedListeners) fn(spiffeId);
        },
      });
      // Create (or load and check) the authority now, so a wrong seal key fails the start.
      await service.authority();
      app.decorate('wardCa', service);
      // app.ward is the one context object every plugin shares (decorated at the root), so the
      // directory set here is what the ingest plugin's routes find at request time.
      app.ward.agents = {
        async authenticate(proof, method, path) {
          try {
            return await service.authenticateAgent(proof, method, path);
          } catch (error) {
            if (!(error instanceof CaError)) throw error;
            throw new ServerError('API_UNAUTHENTICATED', error.message, {
              errors: [{ field: `headers.${AGENT_PROOF_HEADER}`, message: error.message }],
            });
          }
        },
        async workloadsOf(node) {
          // As in the agent's sync: entries of another trust domain are not this CA's to serve.
          const prefix = `spiffe://${service.trustDomain}/`;
          const entries = await service.listEntries({ node });
          return new Set(entries.map((e) => e.spiffeId).filter((id) => id.startsWith(prefix)));
        },
        liveAgents: () => service.agentIds(),
        onRevoked(fn) {
          revokedListeners.add(fn);
          return () => revokedListeners.delete(fn);
        },
      };
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
      agentBundleRoutes(app, service, agentAuth);
      const stopSweep = startAgentSweep({
        ca: service,
        hub: app.ward.agentHub,
        identities: app.ward.identities,
        intervalMs: options.agentSweepMs ?? 5000,
        log: (m) => app.log.warn(m),
      });
      app.addHook('onClose', async () => stopSweep());
      // An issuance request whose agent proof fails is refused before the handler runs.
      const countRefusals =
        (path: string, auth: typeof agentAuth) => async (request: FastifyRequest) => {
          const issuance = ISSUANCE[path];
          try {
            await auth(request);
          } catch (error) {
            if (issuance !== undefined) app.ward.metrics.caIssuance(issuance, 'refused');
            throw error;
          }
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
          ...(route.auth === 'agent' ? { preHandler: countRefusals(route.path, agentAuth) } : {}),
          handler: async (request: FastifyRequest, reply: FastifyReply) => {
            const issuance = ISSUANCE[route.path];
            if (issuance === undefined) return handle(request, reply);
            try {
              const sent = await handle(request, reply);
              app.ward.metrics.caIssuance(issuance, reply.statusCode < 400 ? 'issued' : 'refused');
              return sent;
            } catch (error) {
              // A CaError is a refusal (bad proof, unknown entry, rate); anything else failed.
              app.ward.metrics.caIssuance(issuance, error instanceof CaError ? 'refused' : 'error');
              throw error;
            }
          },
        });
        async function handle(request: FastifyRequest, reply: FastifyReply) {
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
        }
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
