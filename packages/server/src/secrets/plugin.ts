/**
 * The secrets plugin (issue 16): versioned values encrypted under a KEK ring, the API of
 * docs/api.md (secrets), push to node agents over `GET /v1/agent/watch` (with `caPlugin()`), and
 * scheduled rotation on the leader. Pass it to `startServer({ plugins: [caPlugin(),
 * secretsPlugin()] })`; the KEK comes from `startServer({ secrets })` / `WARD_SECRETS_KEK`.
 */
import type { FastifyInstance } from 'fastify';
import { Counter } from 'prom-client';
import { AdvisoryLeader, type Leadership, soleLeader } from '../alerts/leader.ts';
import { ServerError } from '../errors.ts';
import type { WardPlugin } from '../http/app.ts';
import { SecretDeliverySource } from './delivery.ts';
import { leaseRoutes } from './lease-routes.ts';
import { leaseMigrations } from './lease-tables.ts';
import { LeaseManager } from './leases.ts';
import { PostgresEngine } from './postgres-engine.ts';
import { type Rotator, startRotation } from './rotation.ts';
import { secretRoutes } from './routes.ts';
import { SecretStore } from './store.ts';
import { secretsMigrations } from './tables.ts';

export interface SecretsPluginOptions {
  /** How often the leader checks for due rotations (ms). Default `secrets.rotationCheckMs`, else 10 s. */
  rotationCheckMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

export interface SecretsPlugin extends WardPlugin {
  /** Scheduled rotation, once the server started (tests call `runOnce`). */
  readonly rotator: Rotator | undefined;
}

export const DEFAULT_ROTATION_CHECK_MS = 10_000;

/**
 * Creates the secrets plugin.
 *
 * @example
 * ```ts
 * import { caPlugin, secretsPlugin, startServer } from '@ward/server';
 * const server = await startServer({ plugins: [caPlugin(), secretsPlugin()] });
 * ```
 */
export function secretsPlugin(options: SecretsPluginOptions = {}): SecretsPlugin {
  let rotator: Rotator | undefined;
  return {
    name: 'secrets',
    migrations: { ...secretsMigrations(), ...leaseMigrations() },
    get rotator() {
      return rotator;
    },
    async register(app: FastifyInstance) {
      const ctx = app.ward;
      const kek = ctx.secretsKek;
      if (!kek) {
        throw new ServerError(
          'SERVER_CONFIG_INVALID',
          'the secrets plugin has no KEK (start it through startServer)',
        );
      }
      const secrets = new SecretStore({
        store: ctx.store,
        ring: kek.ring,
        changed: () => ctx.changed(),
        ...(options.now ? { now: options.now } : {}),
      });
      ctx.secrets = secrets;

      const writes = new Counter({
        name: 'ward_secret_writes_total',
        help: 'Secret value writes on this replica, by operation (put, rotate, rollback, delete)',
        labelNames: ['operation'] as const,
        registers: [ctx.metrics.registry],
      });
      const deliveries = new Counter({
        name: 'ward_secret_deliveries_total',
        help: 'Secret events written to agent streams, by kind (snapshot, fanout)',
        labelNames: ['kind'] as const,
        registers: [ctx.metrics.registry],
      });

      const source = new SecretDeliverySource({
        secrets,
        store: ctx.store,
        log: (m) => app.log.warn(m),
        onDelivered: (d) =>
          deliveries.inc({ kind: d.kind }, d.kind === 'snapshot' ? d.secrets.length : d.agents),
      });
      ctx.agentHub.secrets = source;
      const unsubscribe = ctx.onRevision((event) => {
        if (event.secrets.length === 0) return;
        source.invalidate(event.secrets);
        ctx.agentHub.publishSecrets(event.revision, event.secrets);
      });

      // Dynamic credentials: leases on PostgreSQL logins (docs/secrets.md). The admin URL is
      // read from the connection secret at each use, so rotating it takes effect at once.
      const engine = new PostgresEngine();
      const connectionUrl = async (key: string) => (await secrets.read(key)).data.url ?? '';
      const leases = new LeaseManager({ db: ctx.db, engine, connectionUrl });
      leaseRoutes(app, {
        leases,
        resolve: async (key) => secrets.declaration(key),
        connectionUrl,
      });
      secretRoutes(app, {
        secrets,
        activeLeases: (s) => leases.activeCount(s),
        deleting: async (s) => {
          await leases.revokeWhere({ secret: s }, 'secret deleted');
          await leases.revokeWhere({ connection: s }, 'connection secret deleted');
        },
        wrote: (operation) => writes.inc({ operation }),
      });
      // An agent revoked here loses its logins now; one revoked on another replica, or a workload
      // whose registration entry or grant went away, at the leader's next sweep.
      const stopRevoked = ctx.agents?.onRevoked((agentId) => {
        leases
          .revokeWhere({ agentId }, 'agent revoked')
          .catch((e) => app.log.warn(`revoking the leases of ${agentId}: ${(e as Error).message}`));
      });
      const sweepLeases = async () => {
        const { failed } = await leases.reap();
        for (const f of failed) app.log.warn(`lease reaper: ${f}`);
        await revokeOrphanLeases(app, leases, secrets);
      };

      const leader: Leadership = ctx.postgresUrl
        ? new AdvisoryLeader(ctx.postgresUrl, 'ward_secrets')
        : soleLeader;
      const started = startRotation({
        secrets,
        leader,
        intervalMs: options.rotationCheckMs ?? kek.rotationCheckMs ?? DEFAULT_ROTATION_CHECK_MS,
        log: (m) => app.log.warn(m),
        chores: [sweepLeases],
        rotated: () => writes.inc({ operation: 'rotate' }),
      });
      rotator = started;
      app.addHook('onClose', async () => {
        unsubscribe();
        stopRevoked?.();
        if (ctx.agentHub.secrets === source) ctx.agentHub.secrets = undefined;
        await started.stop();
        await source.flushed();
        await engine.close();
      });
    },
  };
}

/**
 * Revokes the active leases whose holder no longer may hold them: the agent was revoked (on any
 * replica), the service's workloads are no longer registered on the agent's node, or the service
 * is no longer a reader of the secret. Runs on the leader's tick.
 */
async function revokeOrphanLeases(
  app: FastifyInstance,
  leases: LeaseManager,
  secrets: SecretStore,
): Promise<void> {
  const agents = app.ward.agents;
  if (!agents) return;
  const held = await leases.active();
  if (held.length === 0) return;
  const live = await agents.liveAgents();
  const servicesOn = new Map<string, Set<string>>();
  const readersOf = new Map<string, readonly string[]>();
  for (const lease of held) {
    let why: string | undefined;
    if (!live.has(lease.agent)) why = 'agent revoked';
    else {
      let services = servicesOn.get(lease.node);
      if (!services) {
        services = new Set();
        for (const id of await agents.workloadsOf(lease.node)) {
          const s = await app.ward.identities.serviceOf(id);
          if (s !== undefined) services.add(s);
        }
        servicesOn.set(lease.node, services);
      }
      let readers = readersOf.get(lease.secret);
      if (!readers) {
        readers = (await secrets.declaration(lease.secret))?.readers ?? [];
        readersOf.set(lease.secret, readers);
      }
      if (!services.has(lease.service)) why = 'workload no longer registered on its node';
      else if (!readers.includes(lease.service)) why = 'grant withdrawn';
    }
    if (why) {
      await leases
        .revoke(lease.id, why)
        .catch((e) => app.log.warn(`revoking lease ${lease.id}: ${(e as Error).message}`));
    }
  }
}
