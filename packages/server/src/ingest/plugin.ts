/**
 * The ingest plugin: decision logs, OTLP traces, node agents' wire observations, the dependency
 * graph, the soft-apply reports and promote. Pass it to `startServer({ plugins: [ingestPlugin()] })`.
 */
import type { DecisionLogRecordV1, LiveDecisionV1 as LiveDecision } from '@ward/api-types';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { WardPlugin } from '../http/app.ts';
import { DecisionRelay } from '../live/relay.ts';
import { liveRoutes } from '../live/routes.ts';
import { DecisionTail, liveDecisionOf, type TailOptions } from '../live/tail.ts';
import { WatchAdmission, type WatchLimits } from '../watch/limits.ts';
import { DecisionIngestor } from './decision-ingestor.ts';
import { decisionRoutes } from './decision-routes.ts';
import { exportRoutes } from './export-routes.ts';
import { graphRoutes } from './graph-routes.ts';
import { proposeRoutes } from './propose-routes.ts';
import { Quota, type QuotaOptions } from './quota.ts';
import { reportRoutes } from './report-routes.ts';
import { prune } from './retention.ts';
import { RuleNames } from './rule-names.ts';
import { HOUR_MS, type IngestDatabase, ingestMigrations } from './tables.ts';
import { TraceIngestor } from './trace-ingestor.ts';
import { traceRoutes } from './trace-routes.ts';
import { wireRoutes } from './wire-routes.ts';

export interface IngestPluginOptions {
  /** Hours of hourly per-edge buckets kept (decisions and traces). Default 720 (30 days). */
  retentionHours?: number;
  /** Raw denials are kept this long. Default 24 h. */
  denialRetentionMs?: number;
  /**
   * Raw denials kept at most. Default 100,000 rows. Shared fairly among destinations: when the
   * cap is reached, the destinations holding the most rows lose their oldest first, so a
   * flooding service never pushes out the denials of a service that stays within its share.
   */
  maxDenials?: number;
  /** Raw denials written per flush at most (the rest are counted only). Default 5,000. */
  maxDenialsPerFlush?: number;
  /** Raw denials written per flush per identity at most. Default 1,000. */
  maxDenialsPerFlushPerIdentity?: number;
  /**
   * Decision-log records per identity (a PDP's service, else the token): sustained rate and
   * burst; beyond, 429 with Retry-After. Default 20,000/s, burst 100,000.
   */
  decisionQuota?: QuotaOptions;
  /** Spans per identity, the same way. Default 50,000/s, burst 500,000. */
  spanQuota?: QuotaOptions;
  /** Wire-observed edges per node agent, the same way. Default 1,000/s, burst 20,000. */
  wireQuota?: QuotaOptions;
  /** Decoded body size limit of the ingest routes. Default 16 MiB. */
  maxBodyBytes?: number;
  /** Decision-log flushes start at most this often (group commit window). Default 100 ms. */
  minFlushIntervalMs?: number;
  /** Records waiting for a flush before batches get 503. Default 1,000,000. */
  maxPendingRecords?: number;
  /** Open traces are finalized this often (unpaired client spans become peer calls). Default 60 s. */
  traceFinalizeMs?: number;
  /** Spans held in memory for pairing at most. Default 200,000. */
  maxPendingSpans?: number;
  /** How often retention runs. Default 60 s. */
  pruneIntervalMs?: number;
  /** Clock (epoch ms), for tests. */
  now?: () => number;
  /** Rates of the live tail (`GET /v1/decisions/stream`); defaults in `DEFAULT_TAIL_OPTIONS`. */
  tail?: Partial<TailOptions>;
  /** Live tails open at once per credential, per address and in total. Default 8, 64, 256. */
  tailLimits?: Partial<WatchLimits>;
}

/** Default limits of live tails: for people and dashboards, not for a fleet. */
export const DEFAULT_TAIL_LIMITS: WatchLimits = { perCredential: 8, perAddress: 64, total: 256 };

/**
 * Creates the ingest plugin.
 *
 * @example
 * ```ts
 * import { ingestPlugin, startServer } from '@ward/server';
 * const server = await startServer({ port: 0, plugins: [ingestPlugin()] });
 * ```
 */
export function ingestPlugin(options: IngestPluginOptions = {}): WardPlugin {
  const now = options.now ?? Date.now;
  const retention = {
    retentionHours: options.retentionHours ?? 720,
    denialRetentionMs: options.denialRetentionMs ?? 24 * 3_600_000,
    maxDenials: options.maxDenials ?? 100_000,
  };
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  return {
    name: 'ingest',
    migrations: ingestMigrations(),
    async register(app: FastifyInstance) {
      const db = app.ward.db as unknown as Kysely<IngestDatabase>;
      const ingestor = new DecisionIngestor(db, {
        maxDenials: retention.maxDenials,
        maxDenialsPerFlush: options.maxDenialsPerFlush ?? 5000,
        maxDenialsPerFlushPerIdentity: options.maxDenialsPerFlushPerIdentity ?? 1000,
        maxAgeMs: retention.retentionHours * HOUR_MS,
        maxPendingRecords: options.maxPendingRecords ?? 1_000_000,
        minFlushIntervalMs: options.minFlushIntervalMs ?? 100,
        now,
        onError: (error) => app.log.error({ err: error }, 'decision-log flush failed'),
      });
      const traces = new TraceIngestor(db, app.ward.dialect, {
        now,
        onError: (error) => app.log.error({ err: error }, 'trace edge flush failed'),
        ...(options.maxPendingSpans !== undefined
          ? { maxPendingSpans: options.maxPendingSpans }
          : {}),
      });
      const finalize = setInterval(
        () => void traces.finalize().catch(() => {}),
        options.traceFinalizeMs ?? 60_000,
      );
      finalize.unref();
      let pruning: Promise<unknown> | null = null;
      const runPrune = () => {
        pruning ??= prune(db, retention, now())
          .catch((error) => app.log.warn({ err: error }, 'ingest retention failed'))
          .finally(() => {
            pruning = null;
          });
        return pruning;
      };
      const timer = setInterval(() => {
        // Also prune early when denials arrive fast, so the row cap holds within ~10 %.
        void runPrune();
      }, options.pruneIntervalMs ?? 60_000);
      timer.unref();
      const burst = setInterval(() => {
        if (ingestor.denialsSincePrune > retention.maxDenials / 10) {
          ingestor.denialsSincePrune = 0;
          void runPrune();
        }
      }, 1000);
      burst.unref();
      app.addHook('onClose', async () => {
        clearInterval(timer);
        clearInterval(burst);
        clearInterval(finalize);
        await ingestor.flush();
        await traces.close();
        if (pruning) await pruning;
      });
      // The live tail: denials as they are committed, here and (PostgreSQL) on other replicas.
      const tail = new DecisionTail({ heartbeatMs: app.ward.hub.heartbeatMs, ...options.tail });
      const detach = app.ward.hub.attach(tail);
      const relay = app.ward.postgresUrl
        ? new DecisionRelay(app.ward.postgresUrl, app.ward.db, tail, (m) => app.log.warn(m))
        : undefined;
      await relay?.start();
      app.addHook('onClose', async () => {
        detach();
        tail.close();
        await relay?.close();
      });
      const onCommitted = (records: readonly DecisionLogRecordV1[]) => {
        const events: LiveDecision[] = [];
        for (const r of records) {
          const e = liveDecisionOf(r);
          if (e) events.push(e);
        }
        if (events.length === 0) return;
        const kept = tail.admit(events);
        if (kept.length > 0) relay?.send(kept);
      };
      await app.register(
        liveRoutes(tail, new WatchAdmission({ ...DEFAULT_TAIL_LIMITS, ...options.tailLimits })),
      );
      const rules = new RuleNames(app.ward.store, () => app.ward.follower.revision);
      const decisionQuota = new Quota(
        options.decisionQuota ?? { perSecond: 20_000, burst: 100_000 },
      );
      const spanQuota = new Quota(options.spanQuota ?? { perSecond: 50_000, burst: 500_000 });
      await app.register(
        decisionRoutes({ ingestor, rules, quota: decisionQuota, maxBodyBytes, now, onCommitted }),
      );
      await app.register(reportRoutes({ now }));
      await app.register(proposeRoutes({ now }));
      await app.register(traceRoutes({ ingestor: traces, quota: spanQuota, maxBodyBytes }));
      await app.register(graphRoutes({ now }));
      await app.register(exportRoutes());
      await app.register(
        wireRoutes({
          quota: new Quota(options.wireQuota ?? { perSecond: 1000, burst: 20_000 }),
          maxBodyBytes,
          retentionHours: retention.retentionHours,
          now,
        }),
      );
    },
  };
}
