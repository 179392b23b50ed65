/**
 * Lease routes (docs/api.md, secrets). Agents take, renew and give back leases on dynamic credentials with
 * their proof header: only for a service whose workloads are registered on the agent's node and
 * that reads the `postgres` secret, and only the agent that took a lease renews or revokes it.
 * The secret's owners (and admins) list its leases and revoke any of them.
 */
import type { AgentLeaseRequestV1 } from '@ward/api-types';
import { canonicalServiceKey } from '@ward/spiffe';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { owns } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';
import { agentProofAuth, agentProofHeaders, provenAgent } from '../http/agent-proof.ts';
import { principalOf } from '../http/auth-hook.ts';
import { bearer, nameParam, problemResponses } from '../http/schemas.ts';
import { agentActor, type LeaseManager } from './leases.ts';

/** What the routes need to know of a secret (from its `Secret` document). */
export interface LeaseSecretInfo {
  /** The owning service's key. */
  owner: string;
  /** Reader service keys. */
  readers: readonly string[];
  type: string;
  postgres?: { connectionKey: string; ttlMs: number; maxTtlMs: number; grants: readonly string[] };
}

export interface LeaseRouteOptions {
  leases: LeaseManager;
  resolve: (secretKey: string) => Promise<LeaseSecretInfo | undefined>;
  /** The admin URL held by the connection secret (its field `url`). */
  connectionUrl: (connectionKey: string) => Promise<string>;
}

const leaseIdParam = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' };
const iso = { type: 'string', format: 'date-time' } as const;
const leaseInfoSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    secret: { type: 'string' },
    service: { type: 'string' },
    node: { type: 'string' },
    agent: { type: 'string' },
    role: { type: 'string' },
    createdAt: iso,
    expiresAt: iso,
    maxExpiresAt: iso,
    revokedAt: { type: ['string', 'null'] },
    revokeReason: { type: ['string', 'null'] },
  },
} as const;

/** A canonical key from a path or body field, or a 400 naming it. */
function keyOf(value: string, field: string): string {
  const key = canonicalServiceKey(value);
  if (key === undefined) {
    throw new ServerError('API_VALIDATION', `${field} is not a key (name or namespace/name)`, {
      errors: [{ field, message: 'is not a key (name or namespace/name)' }],
    });
  }
  return key;
}

export function leaseRoutes(app: FastifyInstance, options: LeaseRouteOptions): void {
  const { leases, resolve } = options;

  // The agent proof is checked before the body is validated: a stranger learns nothing.
  const agentAuth = agentProofAuth(app, 'leases');
  const agentOf = provenAgent;

  app.post<{ Body: AgentLeaseRequestV1 }>(
    '/v1/agent/leases',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['secrets'],
        summary:
          "A dynamic credential for a service of the agent's node that reads the postgres secret (agent proof header)",
        headers: agentProofHeaders,
        body: {
          type: 'object',
          required: ['service', 'secret'],
          additionalProperties: false,
          properties: { service: nameParam, secret: nameParam },
        },
        response: {
          201: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              secret: { type: 'string' },
              service: { type: 'string' },
              data: { type: 'object', additionalProperties: { type: 'string' } },
              expiresAt: { type: 'integer' },
              maxExpiresAt: { type: 'integer' },
            },
          },
          ...problemResponses,
        },
      },
      preValidation: agentAuth,
    },
    async (request, reply) => {
      const agent = agentOf(request);
      const service = keyOf(request.body.service, 'service');
      const secret = keyOf(request.body.secret, 'secret');
      const onNode = new Set<string>();
      for (const id of await app.ward.agents!.workloadsOf(agent.node)) {
        const s = await app.ward.identities.serviceOf(id);
        if (s !== undefined) onNode.add(s);
      }
      if (!onNode.has(service)) {
        throw new ServerError(
          'API_FORBIDDEN',
          `${service} has no workload registered on node ${agent.node}: an agent leases only for its own node's services`,
        );
      }
      const info = await resolve(secret);
      // Unknown and unreadable answer alike: an agent learns nothing of others' secrets.
      if (!info?.readers.includes(service)) {
        throw new ServerError('API_FORBIDDEN', `${service} may not read secret ${secret}`);
      }
      if (info.type !== 'postgres' || !info.postgres) {
        throw new ServerError(
          'API_CONFLICT',
          `secret ${secret} is of type ${info.type}: only postgres secrets are leased`,
        );
      }
      const pg = info.postgres;
      let connectionUrl: string;
      try {
        connectionUrl = await options.connectionUrl(pg.connectionKey);
      } catch (error) {
        if (error instanceof ServerError && error.status >= 500) throw error;
        throw new ServerError(
          'LEASE_BACKEND_FAILED',
          `the connection secret ${pg.connectionKey} of ${secret} has no usable url`,
        );
      }
      const lease = await leases.create({
        secret,
        service,
        agentId: agent.spiffeId,
        node: agent.node,
        settings: {
          connectionKey: pg.connectionKey,
          connectionUrl,
          ttlMs: pg.ttlMs,
          maxTtlMs: pg.maxTtlMs,
          grants: pg.grants,
        },
      });
      reply.header('cache-control', 'no-store');
      return reply.code(201).send(lease);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/agent/leases/:id/renew',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['secrets'],
        summary: 'Renew a lease this agent took (until its maxExpiresAt at most)',
        headers: agentProofHeaders,
        params: { type: 'object', required: ['id'], properties: { id: leaseIdParam } },
        response: {
          200: {
            type: 'object',
            properties: { id: { type: 'string' }, expiresAt: { type: 'integer' } },
          },
          ...problemResponses,
        },
      },
      preValidation: agentAuth,
    },
    async (request) => leases.renew(request.params.id, agentOf(request).spiffeId),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/agent/leases/:id',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['secrets'],
        summary: 'Give back a lease this agent took: its login is dropped and its sessions end',
        headers: agentProofHeaders,
        params: { type: 'object', required: ['id'], properties: { id: leaseIdParam } },
        response: { 204: { type: 'null' }, ...problemResponses },
      },
      preValidation: agentAuth,
    },
    async (request, reply) => {
      const agent = agentOf(request);
      const lease = await leases.get(request.params.id);
      if (!lease || lease.agent !== agent.spiffeId) {
        throw new ServerError('LEASE_NOT_FOUND', `no lease ${request.params.id} of this agent`);
      }
      await leases.revoke(
        lease.id,
        'released by its agent',
        agentActor(agent.spiffeId, agent.node),
      );
      return reply.code(204).send();
    },
  );

  /** The secret's info when the principal may manage it (admin, or owner of its owner). */
  const managed = async (request: FastifyRequest, secret: string) => {
    const principal = principalOf(request);
    const info = await resolve(secret);
    const allowed = info ? owns(principal, info.owner) : principal.scope === 'admin';
    if (!allowed) {
      throw new ServerError('API_FORBIDDEN', `you do not own secret ${secret}`);
    }
    return principal;
  };

  app.get<{ Params: { secret: string } }>(
    '/v1/secrets/:secret/leases',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags: ['secrets'],
        summary: "A dynamic secret's leases, newest first (never the credential)",
        security: bearer,
        params: { type: 'object', required: ['secret'], properties: { secret: nameParam } },
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: leaseInfoSchema } },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const secret = keyOf(request.params.secret, 'secret');
      await managed(request, secret);
      return { items: await leases.list(secret) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/leases/:id',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags: ['secrets'],
        summary:
          "Revoke a lease (the secret's owners, admins): its login is dropped and its sessions end",
        security: bearer,
        params: { type: 'object', required: ['id'], properties: { id: leaseIdParam } },
        response: { 204: { type: 'null' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const lease = await leases.get(request.params.id);
      if (!lease) throw new ServerError('LEASE_NOT_FOUND', `no lease ${request.params.id}`);
      const principal = await managed(request, lease.secret);
      await leases.revoke(lease.id, `revoked by ${principal.name}`, principal);
      return reply.code(204).send();
    },
  );
}
