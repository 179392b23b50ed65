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
import { type Rotator, startRotation } from './rotation.ts';
import { secretRoutes } from './routes.ts';
import { SecretStore } from './store.ts';
import { secretsMigrations } from './tables.ts';

/** What the leases part (helper LEASES) receives to register its routes and chores. */
export interface SecretsPluginDeps {
  secrets: SecretStore;
  /** Run `fn` after a secret was deleted (revoke its leases). */
  onSecretDeleted(fn: (secret: string) => Promise<void>): void;
  /** Count the active leases of a secret for the summaries. */
  setActiveLeases(fn: (secret: string) => Promise<number>): void;
  /** Run `fn` on the leader's rotation tick (reap expired leases). */
  onLeaderTick(fn: () => Promise<void>): void;
}

export interface SecretsPluginOptions {
  /** How often the leader checks for due rotations (ms). Default `secrets.rotationCheckMs`, else 10 s. */
  rotationCheckMs?: number;
  /** Clock (tests). */
  now?: () => number;
  /** Registers the leases routes and chores (helper LEASES: `leaseRoutes`). */
  leases?: (app: FastifyInstance, deps: SecretsPluginDeps) => void | Promise<void>;
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
    migrations: secretsMigrations(),
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

      const deletedHooks: ((secret: string) => Promise<void>)[] = [];
      const chores: (() => Promise<void>)[] = [];
      let activeLeases: (secret: string) => Promise<number> = async () => 0;
      secretRoutes(app, {
        secrets,
        activeLeases: (s) => activeLeases(s),
        deleted: async (s) => {
          for (const hook of deletedHooks) await hook(s);
        },
        wrote: (operation) => writes.inc({ operation }),
      });
      // ---- Leases (helper LEASES) register here: `leases: (app, deps) => leaseRoutes(app, deps)`.
      await options.leases?.(app, {
        secrets,
        onSecretDeleted: (fn) => deletedHooks.push(fn),
        setActiveLeases: (fn) => {
          activeLeases = fn;
        },
        onLeaderTick: (fn) => chores.push(fn),
      });

      const leader: Leadership = ctx.postgresUrl
        ? new AdvisoryLeader(ctx.postgresUrl, 'ward_secrets')
        : soleLeader;
      const started = startRotation({
        secrets,
        leader,
        intervalMs: options.rotationCheckMs ?? kek.rotationCheckMs ?? DEFAULT_ROTATION_CHECK_MS,
        log: (m) => app.log.warn(m),
        chores,
        rotated: () => writes.inc({ operation: 'rotate' }),
      });
      rotator = started;
      app.addHook('onClose', async () => {
        unsubscribe();
        if (ctx.agentHub.secrets === source) ctx.agentHub.secrets = undefined;
        await started.stop();
      });
    },
  };
}

/** The declaration of secret `key` (postgres settings and all), for the leases part. */
export function secretDeclaration(app: FastifyInstance, key: string) {
  const secrets = app.ward.secrets;
  if (!secrets)
    throw new ServerError('SERVER_CONFIG_INVALID', 'the secrets plugin is not registered');
  return secrets.declaration(key);
}

/** The decrypted current value of secret `key` (a postgres connection's `url`, for leases). */
export async function readSecretValue(
  app: FastifyInstance,
  key: string,
): Promise<Record<string, string>> {
  const secrets = app.ward.secrets;
  if (!secrets)
    throw new ServerError('SERVER_CONFIG_INVALID', 'the secrets plugin is not registered');
  return (await secrets.read(key)).data;
}
