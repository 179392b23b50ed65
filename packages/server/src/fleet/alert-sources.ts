/**
 * Alert sources over the fleet table, for the alerts engine (alerts/engine.ts polls them):
 *
 * - `WardPdpStale`: a PDP is STALE (behind its service's bundle revision past the grace) or LOST
 *   (no report for `lostAfterIntervals` of its interval).
 * - `WardSvidExpiring`: a workload SVID that its agent last reported holding has less than
 *   `fraction` (default 1/3) of its lifetime left — agents renew at half life, so a healthy
 *   agent never gets there — or, when the lifetime is unknown, less than `fallbackMs` (10 min).
 *
 * Each alert's key is stable across evaluations (the PDP instance; the node and SPIFFE ID), so
 * the engine sees one alert start and resolve, not a new one every poll.
 */
import type { Kysely } from 'kysely';
import type { AlertSourceFactory } from '../alerts/plugin.ts';
import type { AlertInstance, AlertSource } from '../alerts/types.ts';
import type { CaDatabase } from '../ca/tables.ts';
import type { Database } from '../store/schema.ts';
import {
  DEFAULT_FLEET_LIMITS,
  type FleetDb,
  type FleetLimits,
  listMembers,
  reportedWorkloads,
} from './members.ts';

export interface FleetAlertOptions {
  /** The control plane's database (`app.ward.db`). */
  db: Kysely<Database>;
  /** The fleet plugin's limits (interval, LOST after, grace); defaults otherwise. */
  limits?: Partial<FleetLimits>;
}

/** `WardPdpStale`: one alert per PDP instance that is STALE or LOST. */
export function pdpStaleSource(options: FleetAlertOptions): AlertSource {
  const db = options.db as unknown as FleetDb;
  const limits = { ...DEFAULT_FLEET_LIMITS, ...options.limits };
  return {
    name: 'WardPdpStale',
    async evaluate(now: number): Promise<AlertInstance[]> {
      const members = await listMembers(db, now, limits, { agents: false });
      return members
        .filter((m) => m.state !== 'SYNCED')
        .map(
          (m): AlertInstance => ({
            name: 'WardPdpStale',
            key: `pdp/${m.instance}`,
            severity: m.state === 'LOST' ? 'critical' : 'warning',
            labels: { service: m.service ?? '', instance: m.instance, state: m.state },
            summary:
              m.state === 'LOST'
                ? `PDP ${m.instance} of ${m.service} has not reported since ${m.lastContact}`
                : `PDP ${m.instance} of ${m.service} is at revision ${m.revision}, behind ${m.desiredRevision}`,
            ...(m.label ? { description: `instance label: ${m.label}` } : {}),
          }),
        );
    },
  };
}

export interface SvidAlertOptions extends FleetAlertOptions {
  /** Fires when less than this fraction of the SVID's lifetime is left. Default 1/3. */
  fraction?: number;
  /** The threshold when the lifetime is unknown (no registration entry). Default 10 min. */
  fallbackMs?: number;
}

/** `WardSvidExpiring`: one alert per (node, SPIFFE ID) whose held SVID is near its end. */
export function svidExpiringSource(options: SvidAlertOptions): AlertSource {
  const db = options.db as unknown as FleetDb;
  const ca = options.db as unknown as Kysely<CaDatabase>;
  const limits = { ...DEFAULT_FLEET_LIMITS, ...options.limits };
  const fraction = options.fraction ?? 1 / 3;
  const fallbackMs = options.fallbackMs ?? 10 * 60_000;
  if (!(fraction > 0 && fraction < 1)) throw new TypeError('fraction must be between 0 and 1');
  if (!(fallbackMs > 0)) throw new TypeError('fallbackMs must be positive');
  return {
    name: 'WardSvidExpiring',
    async evaluate(now: number): Promise<AlertInstance[]> {
      const held = await reportedWorkloads(db, now, limits);
      if (held.length === 0) return [];
      const ttl = new Map<string, number>();
      for (const e of await ca
        .selectFrom('ca_entries')
        .select(['node', 'spiffe_id', 'body'])
        .execute()) {
        const seconds = (JSON.parse(e.body) as { ttlSeconds?: number }).ttlSeconds;
        if (typeof seconds === 'number') ttl.set(`${e.node}\n${e.spiffe_id}`, seconds * 1000);
      }
      const out: AlertInstance[] = [];
      for (const w of held) {
        const lifetime = ttl.get(`${w.node}\n${w.spiffeId}`);
        const threshold = lifetime === undefined ? fallbackMs : lifetime * fraction;
        const left = w.notAfter - now;
        if (left >= threshold) continue;
        out.push({
          name: 'WardSvidExpiring',
          key: `svid/${w.node}/${w.spiffeId}`,
          severity: left <= 0 ? 'critical' : 'warning',
          labels: { spiffe_id: w.spiffeId, node: w.node, serial: w.serial },
          summary:
            left <= 0
              ? `SVID of ${w.spiffeId} on ${w.node} expired at ${new Date(w.notAfter).toISOString()}`
              : `SVID of ${w.spiffeId} on ${w.node} expires in ${Math.round(left / 1000)} s`,
        });
      }
      return out;
    },
  };
}

/**
 * Both fleet sources for `alertsPlugin({ sources })`, reading the control plane's own database
 * with the default limits.
 */
export function fleetAlertSources(
  options: { limits?: Partial<FleetLimits>; svid?: Omit<SvidAlertOptions, 'db' | 'limits'> } = {},
): AlertSourceFactory[] {
  return [
    (ctx) => pdpStaleSource({ db: ctx.db, ...(options.limits ? { limits: options.limits } : {}) }),
    (ctx) =>
      svidExpiringSource({
        db: ctx.db,
        ...(options.limits ? { limits: options.limits } : {}),
        ...options.svid,
      }),
  ];
}
