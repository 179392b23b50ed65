/**
 * The alerts plugin: the engine, its receivers (webhooks, Alertmanager), leadership, the built-in
 * sources and `GET /v1/alerts`. Register it after `ingestPlugin()`: the built-in sources read the
 * ingest tables. Other sources are added with `sources` or `addSource` (a source, or a function
 * of the WardContext that makes one), before the server starts.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { WardPlugin } from '../http/app.ts';
import type { WardContext } from '../http/context.ts';
import type { IngestDatabase } from '../ingest/tables.ts';
import { DEFAULT_DELIVERY, type DeliveryOptions, HttpReceiver } from './delivery.ts';
import { AlertEngine } from './engine.ts';
import { AdvisoryLeader, type Leadership, soleLeader } from './leader.ts';
import { alertRoutes } from './routes.ts';
import {
  DEFAULT_DENIAL_SPIKE,
  type DenialSpikeOptions,
  denialSpikeSource,
} from './sources/denial-spike.ts';
import {
  DEFAULT_UNAPPROVED_EDGE,
  type UnapprovedEdgeOptions,
  unapprovedEdgeSource,
} from './sources/unapproved-edge.ts';
import type { AlertSource } from './types.ts';

export type AlertSourceFactory = AlertSource | ((ctx: WardContext) => AlertSource);

export interface AlertsPluginOptions {
  /** Generic webhook URLs (JSON POST). */
  webhooks?: readonly string[];
  /** Signs webhook bodies (`x-ward-signature: sha256=<hex>`) when set. */
  webhookSecret?: string | Buffer;
  /** Alertmanager base URLs (`/api/v2/alerts` is appended). */
  alertmanagers?: readonly string[];
  /** Evaluation interval. Default 60 s. */
  intervalMs?: number;
  /** Firing alerts are sent again this often. Default 5 min. */
  repeatMs?: number;
  unapprovedEdge?: Partial<UnapprovedEdgeOptions>;
  denialSpike?: Partial<DenialSpikeOptions>;
  delivery?: Partial<Omit<DeliveryOptions, 'log'>>;
  /** Extra sources (the fleet's WardPdpStale, WardSvidExpiring, …). */
  sources?: readonly AlertSourceFactory[];
  /** Alerts link back here (default: the console's alerts view on this server's URL). */
  generatorURL?: string;
  now?: () => number;
}

export interface AlertsPlugin extends WardPlugin {
  /** Adds a source; call before the server starts. */
  addSource(source: AlertSourceFactory): void;
  /** The engine, once the server started (tests, embedders). */
  readonly engine: AlertEngine | undefined;
  /** The receivers, once the server started. */
  readonly receivers: readonly HttpReceiver[];
}

export const DEFAULT_ALERT_INTERVAL_MS = 60_000;

export function alertsPlugin(options: AlertsPluginOptions = {}): AlertsPlugin {
  const factories: AlertSourceFactory[] = [...(options.sources ?? [])];
  let engine: AlertEngine | undefined;
  let receivers: HttpReceiver[] = [];
  return {
    name: 'alerts',
    addSource(source) {
      factories.push(source);
    },
    get engine() {
      return engine;
    },
    get receivers() {
      return receivers;
    },
    async register(app: FastifyInstance) {
      const ctx = app.ward;
      const intervalMs = options.intervalMs ?? DEFAULT_ALERT_INTERVAL_MS;
      const db = ctx.db as unknown as Kysely<IngestDatabase>;
      const log = (m: string) => app.log.warn(m);
      const delivery: DeliveryOptions = { ...DEFAULT_DELIVERY, ...options.delivery, log };
      receivers = [
        ...(options.webhooks ?? []).map(
          (u) => new HttpReceiver('webhook', u, delivery, options.webhookSecret),
        ),
        ...(options.alertmanagers ?? []).map((u) => new HttpReceiver('alertmanager', u, delivery)),
      ];
      const leader: Leadership = ctx.postgresUrl ? new AdvisoryLeader(ctx.postgresUrl) : soleLeader;
      const sources: AlertSource[] = [
        unapprovedEdgeSource(db, ctx.store, {
          ...DEFAULT_UNAPPROVED_EDGE,
          ...options.unapprovedEdge,
        }),
        denialSpikeSource(db, { ...DEFAULT_DENIAL_SPIKE, ...options.denialSpike }),
        ...factories.map((f) => (typeof f === 'function' ? f(ctx) : f)),
      ];
      const running = new AlertEngine({
        sources,
        receivers,
        isLeader: () => leader.isLeader(),
        repeatMs: options.repeatMs ?? 5 * 60_000,
        generatorURL: options.generatorURL ?? '/#/live',
        evaluateTimeoutMs: Math.max(1000, Math.min(intervalMs, 30_000)),
        now: options.now ?? Date.now,
        log,
      });
      engine = running;
      const timer = setInterval(() => void running.tick(), intervalMs);
      timer.unref();
      app.addHook('onClose', async () => {
        clearInterval(timer);
        await running.idle().catch(() => {});
        for (const r of receivers) r.close();
        await leader.close();
      });
      await app.register(alertRoutes(running));
    },
  };
}
