/**
 * Leases on dynamic PostgreSQL credentials: a role per lease, valid until `expiresAt`, renewed
 * by its agent up to `maxExpiresAt`, revoked by its agent, its secret's owner, an identity
 * revocation (`revokeWhere`) or the reaper once expired. PostgreSQL's `VALID UNTIL` already
 * refuses new password logins after expiry; revocation (and reaping) drops the role and ends
 * its open sessions. Rows keep the role name, never the password. Each create and revoke is
 * audited (`lease.create`, `lease.revoke`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { LeaseInfoV1, LeaseV1 } from '@ward/api-types';
import { leaseRoleName } from '@ward/secrets';
import type { Kysely, Selectable } from 'kysely';
import { ServerError } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database } from '../store/schema.ts';
import type { Actor } from '../store/store.ts';
import type { LeaseDatabase, SecretLeasesTable } from './lease-tables.ts';
import type { PostgresEngine } from './postgres-engine.ts';

/** What a lease is cut from: the `postgres` secret's settings, its admin URL resolved. */
export interface LeaseSettings {
  /** The static secret holding the admin URL (kept, to revoke later with its current URL). */
  connectionKey: string;
  connectionUrl: string;
  ttlMs: number;
  maxTtlMs: number;
  grants: readonly string[];
}

export interface LeaseManagerOptions {
  db: Kysely<Database>;
  engine: PostgresEngine;
  /** The admin URL now held by the connection secret `connectionKey` (renewal, revocation). */
  connectionUrl: (connectionKey: string) => Promise<string>;
  now?: () => number;
  /** Revoked leases are listed this long, then deleted by `reap`. Default 7 days. */
  keepRevokedMs?: number;
}

export interface LeaseFilter {
  agentId?: string;
  node?: string;
  service?: string;
  secret?: string;
  /** The static secret holding the admin URL the leases were made with. */
  connection?: string;
}

type Row = Selectable<SecretLeasesTable>;

const SYSTEM: Actor = { id: 'system', name: 'system', scope: 'system' };
/** How long the reaper leaves a lease whose revocation failed before it tries again. */
const REAP_RETRY_MS = 60_000;
const iso = (ms: number | string) => new Date(Number(ms)).toISOString();

/** The actor of an agent's request in the audit log. */
export const agentActor = (agentId: string, node: string): Actor => ({
  id: agentId,
  name: `agent:${node}`,
  scope: 'agent',
});

export function leaseInfo(r: Row): LeaseInfoV1 {
  return {
    id: r.id,
    secret: r.secret,
    service: r.service,
    node: r.node,
    agent: r.agent_id,
    role: r.role,
    createdAt: iso(r.created_at),
    expiresAt: iso(r.expires_at),
    maxExpiresAt: iso(r.max_expires_at),
    revokedAt: r.revoked_at === null ? null : iso(r.revoked_at),
    revokeReason: r.revoke_reason,
  };
}

export class LeaseManager {
  readonly #db: Kysely<Database>;
  readonly #leases: Kysely<LeaseDatabase>;
  readonly #engine: PostgresEngine;
  readonly #connectionUrl: (key: string) => Promise<string>;
  readonly #now: () => number;
  readonly #keepRevokedMs: number;
  /** Lease id → when the reaper may try it again after a failed revocation. */
  readonly #retryAt = new Map<string, number>();

  constructor(options: LeaseManagerOptions) {
    this.#db = options.db;
    this.#leases = options.db as unknown as Kysely<LeaseDatabase>;
    this.#engine = options.engine;
    this.#connectionUrl = options.connectionUrl;
    this.#now = options.now ?? Date.now;
    this.#keepRevokedMs = options.keepRevokedMs ?? 7 * 86_400_000;
  }

  /** Creates the role and records the lease; the answer is the one time the credential is seen. */
  async create(request: {
    secret: string;
    service: string;
    agentId: string;
    node: string;
    settings: LeaseSettings;
  }): Promise<LeaseV1> {
    const { settings } = request;
    if (!(settings.ttlMs > 0) || !(settings.maxTtlMs >= settings.ttlMs)) {
      throw new TypeError('LeaseManager.create: ttlMs must be > 0 and maxTtlMs ≥ ttlMs');
    }
    const now = this.#now();
    const id = `lease_${randomUUID()}`;
    const role = leaseRoleName(request.service, now, randomBytes(8));
    const expiresAt = now + settings.ttlMs;
    const maxExpiresAt = now + settings.maxTtlMs;
    const data = await this.#engine.create({
      connectionUrl: settings.connectionUrl,
      role,
      validUntil: expiresAt,
      grants: settings.grants,
    });
    try {
      await this.#db.transaction().execute(async (trx) => {
        await (trx as unknown as Kysely<LeaseDatabase>)
          .insertInto('secret_leases')
          .values({
            id,
            secret: request.secret,
            service: request.service,
            node: request.node,
            agent_id: request.agentId,
            role,
            connection: settings.connectionKey,
            ttl_ms: settings.ttlMs,
            created_at: now,
            expires_at: expiresAt,
            max_expires_at: maxExpiresAt,
            revoked_at: null,
            revoke_reason: null,
          })
          .execute();
        await appendAudit(trx, agentActor(request.agentId, request.node), 'lease.create', id, {
          secret: request.secret,
          service: request.service,
          node: request.node,
          role,
          expiresAt: iso(expiresAt),
        });
      });
    } catch (error) {
      // Unrecorded, the role would outlive every revocation: drop it now.
      await this.#engine.revoke(settings.connectionUrl, role).catch(() => {});
      throw error;
    }
    return { id, secret: request.secret, service: request.service, data, expiresAt, maxExpiresAt };
  }

  async get(id: string): Promise<LeaseInfoV1 | undefined> {
    const row = await this.#row(id);
    return row && leaseInfo(row);
  }

  async #row(id: string): Promise<Row | undefined> {
    return this.#leases
      .selectFrom('secret_leases')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /**
   * Moves the lease's expiry to now + ttl, never past `maxExpiresAt`. Only the agent that took
   * it may: another agent's, a revoked or an expired lease is `LEASE_NOT_FOUND`.
   */
  async renew(id: string, agentId: string): Promise<{ id: string; expiresAt: number }> {
    const now = this.#now();
    const row = await this.#row(id);
    const notFound = () =>
      new ServerError('LEASE_NOT_FOUND', `no active lease ${id} of this agent`);
    if (!row || row.agent_id !== agentId || row.revoked_at !== null) throw notFound();
    if (Number(row.expires_at) <= now) throw notFound();
    const expiresAt = Math.min(now + Number(row.ttl_ms), Number(row.max_expires_at));
    if (expiresAt > Number(row.expires_at)) {
      const url = await this.#connectionUrl(row.connection);
      if (!(await this.#engine.renew(url, row.role, expiresAt))) throw notFound();
      await this.#leases
        .updateTable('secret_leases')
        .set({ expires_at: expiresAt })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
      return { id, expiresAt };
    }
    return { id, expiresAt: Number(row.expires_at) };
  }

  /**
   * Drops the lease's role (ending its sessions), then marks the lease revoked. Idempotent: a
   * revoked lease stays as it is. Returns false when the lease was already revoked.
   */
  async revoke(id: string, reason: string, actor: Actor = SYSTEM): Promise<boolean> {
    const row = await this.#row(id);
    if (!row) throw new ServerError('LEASE_NOT_FOUND', `no lease ${id}`);
    return this.#revokeRow(row, reason, actor);
  }

  async #revokeRow(row: Row, reason: string, actor: Actor): Promise<boolean> {
    if (row.revoked_at !== null) return false;
    // The role first: if the database fails, the lease stays active and is retried (by the
    // caller, or by the reaper at expiry) rather than marked revoked with the role alive.
    const url = await this.#connectionUrl(row.connection);
    const dropped = await this.#engine.revoke(url, row.role);
    const now = this.#now();
    return this.#db.transaction().execute(async (trx) => {
      const done = await (trx as unknown as Kysely<LeaseDatabase>)
        .updateTable('secret_leases')
        .set({ revoked_at: now, revoke_reason: reason })
        .where('id', '=', row.id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(done.numUpdatedRows) === 0) return false;
      await appendAudit(trx, actor, 'lease.revoke', row.id, {
        reason,
        secret: row.secret,
        service: row.service,
        node: row.node,
        role: row.role,
        roleExisted: dropped,
      });
      return true;
    });
  }

  /**
   * Revokes every active lease matching all the given fields (an agent's or node's on identity
   * revocation, a secret's on deletion). Tries every one; if any failed, throws
   * `LEASE_BACKEND_FAILED` after the others were revoked (the reaper retries at expiry).
   */
  async revokeWhere(filter: LeaseFilter, reason: string, actor: Actor = SYSTEM): Promise<number> {
    let q = this.#leases.selectFrom('secret_leases').selectAll().where('revoked_at', 'is', null);
    if (filter.agentId !== undefined) q = q.where('agent_id', '=', filter.agentId);
    if (filter.node !== undefined) q = q.where('node', '=', filter.node);
    if (filter.service !== undefined) q = q.where('service', '=', filter.service);
    if (filter.secret !== undefined) q = q.where('secret', '=', filter.secret);
    if (filter.connection !== undefined) q = q.where('connection', '=', filter.connection);
    if (Object.values(filter).every((v) => v === undefined)) {
      throw new TypeError('revokeWhere: give at least one field');
    }
    const { revoked, failed } = await this.#revokeAll(await q.execute(), reason, actor);
    if (failed.length > 0) {
      throw new ServerError(
        'LEASE_BACKEND_FAILED',
        `${failed.length} lease(s) could not be revoked (${revoked} were); they are retried when they expire: ${failed[0]}`,
      );
    }
    return revoked;
  }

  async #revokeAll(rows: Row[], reason: string, actor: Actor) {
    let revoked = 0;
    const failed: string[] = [];
    const failedIds: string[] = [];
    for (const row of rows) {
      try {
        if (await this.#revokeRow(row, reason, actor)) revoked++;
      } catch (error) {
        failed.push(`${row.id}: ${(error as Error).message}`);
        failedIds.push(row.id);
      }
    }
    return { revoked, failed, failedIds };
  }

  /**
   * Revokes every lease expired at `now` (reason `expired`) and deletes revoked leases older
   * than `keepRevokedMs`. Returns how many were revoked and the failures (retried next time).
   */
  async reap(now = this.#now()): Promise<{ revoked: number; failed: string[] }> {
    // Leases whose revocation failed lately wait their turn, so a few that fail for good (a
    // database gone) cannot hold back every lease that expires after them.
    for (const [id, at] of this.#retryAt) if (at <= now) this.#retryAt.delete(id);
    const waiting = [...this.#retryAt.keys()].slice(0, 1000);
    let q = this.#leases
      .selectFrom('secret_leases')
      .selectAll()
      .where('revoked_at', 'is', null)
      .where('expires_at', '<=', now);
    if (waiting.length > 0) q = q.where('id', 'not in', waiting);
    const expired = await q.orderBy('expires_at').limit(500).execute();
    const result = await this.#revokeAll(expired, 'expired', SYSTEM);
    for (const f of result.failedIds) {
      if (this.#retryAt.size < 10_000) this.#retryAt.set(f, now + REAP_RETRY_MS);
    }
    await this.#leases
      .deleteFrom('secret_leases')
      .where('revoked_at', '<', now - this.#keepRevokedMs)
      .execute();
    return { revoked: result.revoked, failed: result.failed };
  }

  /** The secret's leases, newest first (revoked ones for `keepRevokedMs`); never a credential. */
  async list(secret: string, limit = 1000): Promise<LeaseInfoV1[]> {
    const rows = await this.#leases
      .selectFrom('secret_leases')
      .selectAll()
      .where('secret', '=', secret)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(leaseInfo);
  }

  /** Every lease neither revoked nor expired (the plugin's sweep checks who still holds them). */
  async active(limit = 10_000): Promise<LeaseInfoV1[]> {
    const rows = await this.#leases
      .selectFrom('secret_leases')
      .selectAll()
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', this.#now())
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map(leaseInfo);
  }

  /** Leases of the secret neither revoked nor expired. */
  async activeCount(secret: string): Promise<number> {
    const r = await this.#leases
      .selectFrom('secret_leases')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('secret', '=', secret)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', this.#now())
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }
}
