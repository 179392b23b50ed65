/**
 * The fleet: the latest report of every PDP and node agent, and its state against the bundle
 * revision each service should be at. Writes keep the table bounded (expired rows deleted, a cap
 * per service); reads compute each member's state from its last contact and revision.
 */
import type {
  AgentStatusReportV1 as AgentReport,
  FleetMemberV1 as FleetMember,
  PdpStatusReportV1 as PdpReport,
} from '@ward/api-types';
import type { Kysely } from 'kysely';
import { ServerError } from '../errors.ts';
import type { Database } from '../store/schema.ts';
import type { FleetDatabase } from './tables.ts';

export type FleetDb = Kysely<FleetDatabase & Database>;

/** Timing and bounds of the fleet table. */
export interface FleetLimits {
  /** Report interval assumed for a member that does not say its own. Default 30 s. */
  intervalMs: number;
  /** A member is LOST after this many intervals without a report. Default 3. */
  lostAfterIntervals: number;
  /** A member's row is deleted after this many intervals without a report. Default 20. */
  expireAfterIntervals: number;
  /** A member behind its service's revision for longer than this is STALE. Default 60 s. */
  staleGraceMs: number;
  /** Most PDP instances kept per service; a new one beyond it is refused (429). Default 1000. */
  maxPerService: number;
}

export const DEFAULT_FLEET_LIMITS: FleetLimits = {
  intervalMs: 30_000,
  lostAfterIntervals: 3,
  expireAfterIntervals: 20,
  staleGraceMs: 60_000,
  maxPerService: 1000,
};

/** A member's own interval, clamped: a reporter may not claim to be alive for an hour. */
export const MIN_INTERVAL_MS = 1000;
export const MAX_INTERVAL_MS = 600_000;

function intervalOf(body: { intervalMs?: unknown }, limits: FleetLimits): number {
  const ms = body.intervalMs;
  return typeof ms === 'number' && Number.isFinite(ms)
    ? Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, ms))
    : limits.intervalMs;
}

// When each database's expired rows were last deleted: once a second is plenty (reads filter
// by age anyway), and spares every report a DELETE.
const lastExpire = new WeakMap<object, number>();

/** Deletes rows that have not reported for `expireAfterIntervals` of the longest interval. */
async function expire(db: FleetDb, now: number, limits: FleetLimits): Promise<void> {
  if (Math.abs(now - (lastExpire.get(db) ?? -Infinity)) < 1000) return;
  lastExpire.set(db, now);
  const oldest = now - limits.expireAfterIntervals * Math.max(limits.intervalMs, MAX_INTERVAL_MS);
  await db.deleteFrom('fleet_members').where('reported_at', '<', oldest).execute();
}

// The row is overwritten only by a report for the same service: an instance id is global, and a
// credential of one service must not take over (or hide) another service's instance, even when
// it races the check in recordPdp.
async function upsert(db: FleetDb, row: FleetDatabase['fleet_members']): Promise<void> {
  await db
    .insertInto('fleet_members')
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['kind', 'instance'])
        .doUpdateSet({
          node: row.node,
          revision: row.revision,
          version: row.version,
          connected: row.connected,
          reported_at: row.reported_at,
          body: row.body,
        })
        .where('fleet_members.service', '=', row.service),
    )
    .execute();
}

/**
 * Stores a PDP's report. A new instance of a service that already has `maxPerService` live ones
 * is refused (`API_RATE_LIMITED`): the instances already known keep reporting, so a credential
 * that floods instance ids hides nobody. Rows of the service past their expiry go first. An
 * instance id already reporting for another service is refused (`API_CONFLICT`).
 */
export async function recordPdp(
  db: FleetDb,
  report: PdpReport & { intervalMs?: number },
  now: number,
  limits: FleetLimits,
): Promise<void> {
  await expire(db, now, limits);
  const known = await db
    .selectFrom('fleet_members')
    .select('service')
    .where('kind', '=', 'pdp')
    .where('instance', '=', report.instance)
    .executeTakeFirst();
  if (known && known.service !== report.service) {
    throw new ServerError(
      'API_CONFLICT',
      `instance ${report.instance} reports for another service; an instance speaks for one service`,
      { errors: [{ field: 'body.instance', message: 'is the instance id of another service' }] },
    );
  }
  if (!known) {
    const live = await db
      .selectFrom('fleet_members')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('kind', '=', 'pdp')
      .where('service', '=', report.service)
      .where('reported_at', '>=', now - limits.expireAfterIntervals * limits.intervalMs)
      .executeTakeFirstOrThrow();
    if (Number(live.n) >= limits.maxPerService) {
      throw new ServerError(
        'API_RATE_LIMITED',
        `service ${report.service} already has ${limits.maxPerService} PDP instances reporting; a new one is kept out until some expire`,
        {
          errors: [{ field: 'body.instance', message: 'too many instances for this service' }],
          retryAfterSeconds: Math.ceil(limits.intervalMs / 1000),
        },
      );
    }
  }
  const { instance, service, revision, version, connected, ...rest } = report;
  await upsert(db, {
    kind: 'pdp',
    instance,
    service,
    node: '',
    revision,
    version,
    connected: connected ? 1 : 0,
    reported_at: now,
    body: JSON.stringify(rest),
  });
}

/** Stores an agent's report (one row per agent; its SPIFFE ID is the instance). */
export async function recordAgent(
  db: FleetDb,
  agentId: string,
  report: AgentReport,
  now: number,
  limits: FleetLimits,
): Promise<void> {
  await expire(db, now, limits);
  const { intervalMs } = report;
  const lowest = report.bundles.length ? Math.min(...report.bundles.map((b) => b.revision)) : 0;
  await upsert(db, {
    kind: 'agent',
    instance: agentId,
    service: '',
    node: report.node,
    revision: lowest,
    version: report.version,
    connected: 1,
    reported_at: now,
    body: JSON.stringify({
      workloads: report.workloads,
      bundles: report.bundles,
      ...(intervalMs === undefined ? {} : { intervalMs }),
    }),
  });
}

/** What each service's bundle revision should be, and when that revision was committed. */
export interface DesiredRevisions {
  revision: number;
  of(service: string): { revision: number; at: number } | undefined;
}

export async function desiredRevisions(db: FleetDb): Promise<DesiredRevisions> {
  const state = await db
    .selectFrom('ward_state')
    .select(['revision', 'keys_revision'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
  const keys = Number(state.keys_revision);
  const rows = await db.selectFrom('service_revisions').select(['service', 'revision']).execute();
  const bySvc = new Map(rows.map((r) => [r.service, Math.max(Number(r.revision), keys)]));
  const wanted = [...new Set(bySvc.values())];
  const times = new Map<number, number>();
  for (let i = 0; i < wanted.length; i += 500) {
    const part = wanted.slice(i, i + 500);
    const found = await db
      .selectFrom('revisions')
      .select(['revision', 'at'])
      .where('revision', 'in', part)
      .execute();
    for (const r of found) times.set(Number(r.revision), Date.parse(r.at));
  }
  return {
    revision: Number(state.revision),
    of(service) {
      const revision = bySvc.get(service);
      return revision === undefined ? undefined : { revision, at: times.get(revision) ?? 0 };
    },
  };
}

/** Who may see which members: `services` undefined = every member (admin). */
export interface FleetView {
  services?: ReadonlySet<string>;
  agents: boolean;
}

/** Every live member visible to `view`, with its state, sorted by kind, service/node, instance. */
export async function listMembers(
  db: FleetDb,
  now: number,
  limits: FleetLimits,
  view: FleetView,
  desired?: DesiredRevisions,
): Promise<FleetMember[]> {
  const want = desired ?? (await desiredRevisions(db));
  const oldest = now - limits.expireAfterIntervals * MAX_INTERVAL_MS;
  let q = db
    .selectFrom('fleet_members')
    .selectAll()
    .where('reported_at', '>=', oldest)
    .orderBy('kind', 'desc')
    .orderBy('service')
    .orderBy('node')
    .orderBy('instance');
  if (!view.agents) q = q.where('kind', '=', 'pdp');
  if (view.services) {
    const services = [...view.services];
    if (services.length === 0) return [];
    q = q.where((eb) => eb.or([eb('kind', '=', 'agent'), eb('service', 'in', services)]));
  }
  const out: FleetMember[] = [];
  for (const row of await q.execute()) {
    const body = JSON.parse(row.body) as {
      intervalMs?: number;
      label?: string;
      bundles?: { service: string; revision: number }[];
    };
    const interval = intervalOf(body, limits);
    const reportedAt = Number(row.reported_at);
    const age = Math.max(0, now - reportedAt);
    if (age > limits.expireAfterIntervals * interval) continue;
    const revision = Number(row.revision);
    const behind = (service: string, held: number) => {
      const d = want.of(service);
      return { d, late: d !== undefined && held < d.revision && now - d.at > limits.staleGraceMs };
    };
    let desiredRevision: number | null = null;
    let late = false;
    if (row.kind === 'pdp') {
      const b = behind(row.service, revision);
      desiredRevision = b.d?.revision ?? null;
      late = b.late;
    } else {
      for (const held of body.bundles ?? []) {
        const b = behind(held.service, held.revision);
        if (b.d) desiredRevision = Math.max(desiredRevision ?? 0, b.d.revision);
        late ||= b.late;
      }
    }
    out.push({
      kind: row.kind as 'pdp' | 'agent',
      instance: row.instance,
      service: row.kind === 'pdp' ? row.service : null,
      node: row.kind === 'agent' ? row.node : null,
      label: body.label ?? '',
      revision,
      desiredRevision,
      state: age > limits.lostAfterIntervals * interval ? 'LOST' : late ? 'STALE' : 'SYNCED',
      lastContact: new Date(reportedAt).toISOString(),
      ageMs: age,
      connected: row.connected === 1 || Number(row.connected) === 1,
      version: row.version,
    });
  }
  return out;
}

/** The workloads agents last reported (SPIFFE ID, node, SVID serial and notAfter). */
export async function reportedWorkloads(
  db: FleetDb,
  now: number,
  limits: FleetLimits,
): Promise<{ spiffeId: string; node: string; serial: string; notAfter: number }[]> {
  const rows = await db
    .selectFrom('fleet_members')
    .select(['node', 'body', 'reported_at'])
    .where('kind', '=', 'agent')
    .where('reported_at', '>=', now - limits.expireAfterIntervals * MAX_INTERVAL_MS)
    .execute();
  const out: { spiffeId: string; node: string; serial: string; notAfter: number }[] = [];
  for (const row of rows) {
    const body = JSON.parse(row.body) as {
      workloads?: { spiffeId: string; serial: string; notAfter: string }[];
    };
    for (const w of body.workloads ?? []) {
      out.push({
        spiffeId: w.spiffeId,
        node: row.node,
        serial: w.serial,
        notAfter: Date.parse(w.notAfter),
      });
    }
  }
  return out;
}
