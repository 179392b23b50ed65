/**
 * Fleet routes: PDPs and node agents report their status; admins and teams read the fleet and
 * the identity view. Reports are small and frequent: bounded bodies, one upsert each.
 */
import type { FleetAnswerV1, IdentityAnswerV1, IdentityWorkloadV1 } from '@ward/api-types';
import { AGENT_PROOF_HEADER } from '@ward/ca';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { ownedServices } from '../auth/owned.ts';
import { owns } from '../auth/tokens.ts';
import type { CaDatabase } from '../ca/tables.ts';
import { ServerError } from '../errors.ts';
import { principalOf, requireOwnService } from '../http/auth-hook.ts';
import { bearer, problemResponses } from '../http/schemas.ts';
import { trustBundleInfo } from './identity.ts';
import {
  type FleetDb,
  type FleetLimits,
  listMembers,
  recordAgent,
  recordPdp,
  reportedWorkloads,
} from './members.ts';
import { isProblem, MAX_AGENT_ITEMS, screenAgentReport, screenPdpReport } from './reports.ts';
import { agentReportSchema, fleetSchema, identitySchema, pdpReportSchema } from './schemas.ts';

/** Largest PDP report body (a few hundred bytes are expected). */
export const PDP_REPORT_LIMIT = 8 * 1024;
/** Largest agent report body: MAX_AGENT_ITEMS workloads with long SPIFFE IDs fit. */
export const AGENT_REPORT_LIMIT = 512 * 1024;

function refuse(problem: { field: string; message: string }): never {
  throw new ServerError('API_VALIDATION', `${problem.field} ${problem.message}`, {
    errors: [problem],
  });
}

export function fleetRoutes(app: FastifyInstance, limits: FleetLimits, now: () => number): void {
  const db = app.ward.db as unknown as FleetDb;

  app.post(
    '/v1/status/pdp',
    {
      config: { auth: ['pdp'] },
      bodyLimit: PDP_REPORT_LIMIT,
      schema: {
        tags: ['fleet'],
        summary: 'A PDP reports its status (revision, connection, decision counts)',
        description:
          'Sent by the SDK every `statusIntervalMs`. A pdp credential reports only its own ' +
          'service (403 otherwise). A new instance beyond the per-service cap gets 429; an ' +
          'instance id already reporting for another service gets 409.',
        security: bearer,
        body: pdpReportSchema,
        response: { 204: { type: 'null' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const report = screenPdpReport(request.body);
      if (isProblem(report)) refuse(report);
      requireOwnService(principalOf(request), report.service, 'body.service');
      await recordPdp(db, report, now(), limits);
      return reply.code(204).send();
    },
  );

  const agentOf = async (request: FastifyRequest) => {
    const agents = app.ward.agents;
    if (!agents) {
      throw new ServerError('API_NOT_FOUND', 'this control plane runs no identity CA', {
        errors: [{ field: 'url', message: 'no node agents without the CA plugin' }],
      });
    }
    return agents.authenticate(
      request.headers[AGENT_PROOF_HEADER],
      request.method,
      request.url.split('?')[0]!,
    );
  };

  app.post(
    '/v1/status/agent',
    {
      config: { auth: 'public' },
      bodyLimit: AGENT_REPORT_LIMIT,
      schema: {
        tags: ['fleet'],
        summary: "A node agent reports its node's workloads, SVIDs and bundle revisions",
        description:
          `Agent proof required (\`${AGENT_PROOF_HEADER}\`). The node must be the agent's own ` +
          'and every workload one registered on it (403 otherwise); bundles of services with ' +
          `no workload on the node are dropped. At most ${MAX_AGENT_ITEMS} workloads and bundles.`,
        headers: { type: 'object', properties: { [AGENT_PROOF_HEADER]: { type: 'string' } } },
        body: agentReportSchema,
        response: { 204: { type: 'null' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const agent = await agentOf(request);
      const report = screenAgentReport(request.body);
      if (isProblem(report)) refuse(report);
      const forbid = (field: string, message: string): never => {
        throw new ServerError('API_FORBIDDEN', `${field} ${message}`, {
          errors: [{ field, message }],
        });
      };
      if (report.node !== agent.node)
        forbid('body.node', `must be ${agent.node}, this agent's node`);
      const registered = await app.ward.agents!.workloadsOf(agent.node);
      const services = new Set<string>();
      for (const id of registered) {
        const service = await app.ward.identities.serviceOf(id);
        if (service !== undefined) services.add(service);
      }
      report.workloads.forEach((w, i) => {
        if (!registered.has(w.spiffeId)) {
          forbid(`body.workloads[${i}].spiffeId`, `is not registered on node ${agent.node}`);
        }
      });
      // A bundle of a service that left the node is dropped, not refused: the agent's feed
      // keeps what it once held, and refusing would turn a healthy agent LOST.
      report.bundles = report.bundles.filter((b) => services.has(b.service));
      await recordAgent(db, agent.spiffeId, report, now(), limits);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/fleet',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags: ['fleet'],
        summary: 'Every PDP and node agent: revision, desired revision, state, last contact',
        description:
          'A team token sees the PDPs of its services only, and no agents. STALE: behind its ' +
          "service's revision for longer than the grace; LOST: no report for 3 intervals.",
        security: bearer,
        response: { 200: fleetSchema, ...problemResponses },
      },
    },
    async (request): Promise<FleetAnswerV1> => {
      const principal = principalOf(request);
      const at = now();
      const admin = principal.scope === 'admin';
      const items = await listMembers(db, at, limits, {
        // A team: the stored services it owns (its namespaces' too) and those it names.
        ...(admin ? {} : { services: await ownedServices(app.ward.store, principal) }),
        agents: admin,
      });
      const { revision } = await app.ward.store.revision();
      return { revision, now: new Date(at).toISOString(), items };
    },
  );

  app.get(
    '/v1/identity',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags: ['fleet'],
        summary: 'Trust bundle roots, rotation state, and workloads with their SVID expiry',
        description:
          'Workloads are the registration entries; `serial` and `notAfter` are what the ' +
          "node's agent last reported holding (null before its first report). A team token " +
          'sees the workloads of its services only.',
        security: bearer,
        response: { 200: identitySchema, ...problemResponses },
      },
    },
    async (request): Promise<IdentityAnswerV1> => {
      const principal = principalOf(request);
      const at = now();
      const trustDomain = app.ward.trustDomain;
      if (!app.ward.agents) {
        return { trustDomain, trustBundle: null, workloads: [] };
      }
      const ca = app.ward.db as unknown as Kysely<CaDatabase>;
      const held = new Map<string, { serial: string; notAfter: number }>();
      for (const w of await reportedWorkloads(db, at, limits)) {
        held.set(`${w.node}\n${w.spiffeId}`, w);
      }
      const entries = await ca
        .selectFrom('ca_entries')
        .select(['node', 'spiffe_id'])
        .orderBy('spiffe_id')
        .orderBy('node')
        .execute();
      const workloads: IdentityWorkloadV1[] = [];
      for (const e of entries) {
        const service = (await app.ward.identities.serviceOf(e.spiffe_id)) ?? null;
        if (principal.scope !== 'admin' && (service === null || !owns(principal, service))) {
          continue;
        }
        const svid = held.get(`${e.node}\n${e.spiffe_id}`);
        workloads.push({
          spiffeId: e.spiffe_id,
          service,
          node: e.node,
          serial: svid?.serial ?? null,
          notAfter: svid ? new Date(svid.notAfter).toISOString() : null,
          expiresInMs: svid ? svid.notAfter - at : null,
        });
      }
      return {
        trustDomain,
        trustBundle: (await trustBundleInfo(ca, trustDomain)) ?? null,
        workloads,
      };
    },
  );
}
