/**
 * The agent-scoped bundle API: a node agent watches (`GET /v1/agent/watch`) and fetches
 * (`GET /v1/agent/bundles/:service`) the signed bundles of exactly the services whose workloads
 * are registered on its node — its scope: the registration entries of the agent's node, mapped
 * to services through the Service documents' SPIFFE IDs. The agent authenticates as itself with
 * its proof header (agent SVID key, bound to method and path), like every other agent call.
 * Bundles carry passport keys, secret to their service: an agent never reaches a service it does
 * not run.
 */
import type { CaService, RegistrationEntry } from '@ward/ca';
import { AGENT_PROOF_HEADER, CaError } from '@ward/ca';
import { canonicalServiceKey } from '@ward/spiffe';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServiceIdentities } from '../auth/service-identities.ts';
import { ServerError } from '../errors.ts';
import { STORE_RETRY_AFTER_SECONDS } from '../http/problem.ts';
import { admit, endAt, openEventStream } from '../http/routes/watch.ts';
import { bearer, nameParam } from '../http/schemas.ts';
import {
  type AgentHub,
  type AgentScope,
  type AgentWatcher,
  agentBundleBody,
} from '../watch/agent-hub.ts';

/** The authenticated agent of a request (set by the CA plugin's agent pre-handler). */
export interface RequestAgent {
  spiffeId: string;
  node: string;
  /** notAfter of the agent SVID that signed the proof. */
  notAfter: number;
}

const proofHeaders = {
  type: 'object',
  properties: { [AGENT_PROOF_HEADER]: { type: 'string' } },
} as const;

/** The scope of a node given its registration entries: service key → SPIFFE ID. */
export async function scopeOf(
  entries: readonly RegistrationEntry[],
  identities: ServiceIdentities,
  trustDomain: string,
): Promise<AgentScope> {
  const scope = new Map<string, string>();
  for (const e of entries) {
    // An entry of another trust domain (a shared store) is not this CA's to serve.
    if (!e.spiffeId.startsWith(`spiffe://${trustDomain}/`)) continue;
    const service = await identities.serviceOf(e.spiffeId);
    if (service !== undefined) scope.set(service, e.spiffeId);
  }
  return scope;
}

/**
 * Every `intervalMs`, re-checks every open agent stream with two queries in all: streams of an
 * agent revoked on another replica end, and each scope follows the registration entries and
 * Service identities (a service leaving a node stops flowing to it; one joining starts). The
 * replica that revokes ends its streams at once (`onAgentRevoked`). Returns a stop function.
 */
export function startAgentSweep(options: {
  ca: CaService;
  hub: AgentHub;
  identities: ServiceIdentities;
  intervalMs: number;
  log: (message: string) => void;
}): () => void {
  const { ca, hub, identities } = options;
  let running = false;
  const sweep = async () => {
    if (running || hub.size === 0) return;
    running = true;
    try {
      const live = await ca.agentIds();
      const byNode = new Map<string, RegistrationEntry[]>();
      for (const e of await ca.listEntries()) {
        const list = byNode.get(e.node);
        if (list) list.push(e);
        else byNode.set(e.node, [e]);
      }
      hub.closeWhere((w) => !live.has(w.agentId));
      const scopes = new Map<string, AgentScope>();
      for (const w of [...hub.watchers()]) {
        let scope = scopes.get(w.node);
        if (!scope) {
          scope = await scopeOf(byNode.get(w.node) ?? [], identities, ca.trustDomain);
          scopes.set(w.node, scope);
        }
        await hub.rescope(w, scope);
      }
    } catch (error) {
      options.log(`agent stream sweep: ${(error as Error).message}`);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Registers the agent-scoped watch and fetch routes; `agentAuth` sets `request.wardAgent`. */
export function agentBundleRoutes(
  app: FastifyInstance,
  ca: CaService,
  agentAuth: (request: FastifyRequest) => Promise<void>,
): void {
  const agentOf = (request: FastifyRequest) =>
    (request as unknown as { wardAgent: RequestAgent }).wardAgent;
  const scopeOfAgent = async (agent: RequestAgent) =>
    scopeOf(await ca.listEntries({ node: agent.node }), app.ward.identities, ca.trustDomain);

  app.route<{ Params: { service: string } }>({
    method: 'GET',
    url: '/v1/agent/bundles/:service',
    config: { auth: 'public' },
    schema: {
      tags: ['identity'],
      summary:
        'The signed bundle of a service on the calling agent\'s node: {"service","spiffeId","bundle"}',
      description:
        'Agent proof required. 403 CA_NOT_AUTHORIZED for a service with no registration entry ' +
        "on the agent's node.",
      headers: proofHeaders,
      params: { type: 'object', required: ['service'], properties: { service: nameParam } },
    },
    preHandler: agentAuth,
    handler: async (request, reply) => {
      // The key (`team-a%2Fpayments` in the path; `default/x` is `x`); the schema checked it.
      const service = canonicalServiceKey(request.params.service) ?? request.params.service;
      const spiffeId = (await scopeOfAgent(agentOf(request))).get(service);
      if (spiffeId === undefined) {
        throw new CaError(
          'CA_NOT_AUTHORIZED',
          `params.service: no workload of ${service} is registered on node ${agentOf(request).node}`,
          { field: 'params.service' },
        );
      }
      const built = await app.ward.bundles.get(service);
      if (!built) {
        throw new ServerError('API_NOT_FOUND', `no service or destination named ${service}`, {
          errors: [{ field: 'params.service', message: 'unknown service' }],
        });
      }
      return reply
        .header('cache-control', 'no-store')
        .type('application/json')
        .send(agentBundleBody(service, spiffeId, built));
    },
  });

  app.get(
    '/v1/agent/watch/stats',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['identity'],
        summary:
          "This replica's agent streams: open, bundles and secrets written, slow agents reset, the last fan-outs' timing",
        security: bearer,
      },
    },
    async () => {
      const hub = app.ward.agentHub;
      return {
        open: hub.size,
        bundlesPushed: hub.bundlesPushed,
        slowReset: hub.slowDropped,
        lastFanout: hub.lastFanout ?? null,
        secretsPushed: hub.secretsPushed,
        lastSecretFanout: hub.lastSecretFanout ?? null,
      };
    },
  );

  app.route({
    method: 'GET',
    url: '/v1/agent/watch',
    config: { auth: 'public' },
    schema: {
      tags: ['identity'],
      summary: "Server-sent events: the signed bundles of the calling agent's node's services",
      description:
        'Agent proof required. On connect, one `event: bundle` per service in scope; then one ' +
        'per change (`data: {"service","spiffeId","bundle":<SignedBundleV1>}`), or ' +
        '`event: changed` (`{"service","revision"}`) when the bundle could not be built and the ' +
        'agent should GET it. Ends when the agent is revoked or its SVID expires; 429 under the ' +
        'watch limits; 503 when this replica cannot follow the store.',
      headers: proofHeaders,
    },
    preHandler: agentAuth,
    handler: async (request, reply) => {
      const agent = agentOf(request);
      if (!app.ward.follower.healthy) {
        throw new ServerError(
          'STORE_UNREACHABLE',
          'this replica cannot follow the revision log; retry later or another replica',
          { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS },
        );
      }
      const scope = await scopeOfAgent(agent);
      const release = admit(
        app.ward.watchAdmission,
        agent.spiffeId,
        request.socket.remoteAddress ?? 'unknown',
      );
      const hub = app.ward.agentHub;
      const res = openEventStream(request, reply, release, hub.heartbeatMs);
      if (!res) return;
      const w: AgentWatcher = {
        res,
        agentId: agent.spiffeId,
        node: agent.node,
        scope,
        sent: new Map(),
        pending: [],
        bundleBytes: 0,
      };
      // A stream must not outlive the SVID it was opened with; the agent reconnects with its
      // renewed one.
      const stopExpiry = endAt(res, agent.notAfter);
      res.on('close', () => {
        hub.remove(w);
        stopExpiry();
      });
      // Registered (queuing) before the snapshot is read: nothing falls in between.
      await hub.add(w);
      if (!res.destroyed) hub.goLive(w);
    },
  });
}
