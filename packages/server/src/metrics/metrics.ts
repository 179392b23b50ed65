/**
 * The control plane's Prometheus metrics: one `Registry` per server instance (never prom-client's
 * global default registry), so two servers in one process (tests, the demo) count apart. Only
 * the process metrics (`ward_server_process_*`, `ward_server_nodejs_*`) are per process.
 *
 * The hot paths record through a few methods that cost a map lookup and an increment. Counts
 * that already exist elsewhere (watchers, bundle builds, the revision) are read at scrape time by
 * `collect` functions instead of being mirrored on every change.
 */
import { readFileSync } from 'node:fs';
import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type Metric,
  Registry,
} from 'prom-client';

/** Prometheus text exposition format, the one `GET /metrics` answers with. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label of a request that matched no route: the raw URL is never a label (cardinality). */
export const UNMATCHED_ROUTE = 'unmatched';

/** Method labels; anything else counts as OTHER (the last). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'] as const;
const METHOD_INDEX = new Map<string, number>(METHODS.map((m, i) => [m, i]));
/** Status class labels, indexed by `status / 100` (0: outside 100..599). */
const CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Ingest streams, each with its own unit (records, spans, edges). */
export type IngestKind = 'decision_logs' | 'traces' | 'wire';

/** What the metrics read from the server when scraped (no copy is kept up to date). */
export interface ServerMetricsSource {
  /** Open PDP watch streams. */
  watchers(): number;
  /** Open node-agent watch streams. */
  agentWatchers(): number;
  /** Latest revision this replica follows. */
  revision(): number;
  /** Whether this replica follows the revision log (0 = stale: its streams are closed). */
  following(): boolean;
}

/**
 * One label set of the request metrics, kept as plain numbers: prom-client's `inc`/`observe`
 * hash the label set on every call (about 1 µs, several percent of a cheap request), so the
 * request path only adds here and the scrape formats (see `requestMetric`).
 */
interface RequestSeries {
  labels: { method: string; route: string; status_class: string };
  count: number;
  sum: number;
  /** Per bucket of LATENCY_BUCKETS, then +Inf; not cumulative (the scrape adds them up). */
  buckets: Float64Array;
}

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function serverVersion(): string {
  try {
    const url = new URL('../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * A metric read from the request series at scrape time, in the shape prom-client's registry
 * formats (`get()` → name, help, type, values).
 */
function requestMetric(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  series: ReadonlyMap<string, readonly (RequestSeries | undefined)[]>,
): Metric {
  const values = () => {
    const out: { value: number; labels: Record<string, string | number>; metricName?: string }[] =
      [];
    for (const s of [...series.values()].flat()) {
      if (s === undefined) continue;
      if (type === 'counter') {
        out.push({ value: s.count, labels: s.labels });
        continue;
      }
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        cumulative += s.buckets[i]!;
        const labels = { ...s.labels, le: LATENCY_BUCKETS[i]! };
        out.push({ value: cumulative, labels, metricName: `${name}_bucket` });
      }
      const inf = { ...s.labels, le: '+Inf' };
      out.push({ value: s.count, labels: inf, metricName: `${name}_bucket` });
      out.push({ value: s.sum, labels: s.labels, metricName: `${name}_sum` });
      out.push({ value: s.count, labels: s.labels, metricName: `${name}_count` });
    }
    return out;
  };
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset() {},
  } as unknown as Metric;
}

let processMetrics: Registry | undefined;

/**
 * prom-client's process and Node metrics (CPU, memory, event-loop lag, GC), in one registry per
 * process: they describe the process, not a server, and each collection starts an event-loop
 * monitor and a GC observer that are never stopped — one per server instance would pile up in a
 * process that starts many (tests). Each scrape merges it with the server's own registry.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics, prefix: 'ward_server_' });
  }
  return processMetrics;
}

export class ServerMetrics {
  readonly registry = new Registry();
  /** Request series by route pattern, then by method and status class (see `request`). */
  readonly #series = new Map<string, (RequestSeries | undefined)[]>();
  readonly #apply: Histogram<'operation' | 'outcome'>;
  readonly #bundleBuild: Histogram<'outcome'>;
  readonly #ingest: Counter<'kind' | 'outcome'>;
  readonly #ca: Counter<'kind' | 'outcome'>;
  readonly #storeErrors: Counter<'code'>;
  #source: ServerMetricsSource | undefined;
  readonly #process: Registry | undefined;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.#process = options.defaultMetrics === false ? undefined : processRegistry();
    new Gauge({
      name: 'ward_server_build_info',
      help: 'Always 1; the labels say which build runs.',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version: serverVersion(), node_version: process.version }, 1);
    this.registry.registerMetric(
      requestMetric(
        'ward_http_requests_total',
        'HTTP requests answered, by method, route pattern (not the URL) and status class.',
        'counter',
        this.#series,
      ),
    );
    this.registry.registerMetric(
      requestMetric(
        'ward_http_request_duration_seconds',
        'Time to answer an HTTP request (open watch streams are in ward_watch_streams instead).',
        'histogram',
        this.#series,
      ),
    );
    this.#apply = new Histogram({
      name: 'ward_apply_duration_seconds',
      help: 'Time to apply a change (validate, commit, publish), by operation and outcome.',
      labelNames: ['operation', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#bundleBuild = new Histogram({
      name: 'ward_bundle_build_duration_seconds',
      help: "Time to build and sign one service's bundle (cache misses only), by outcome.",
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#ingest = new Counter({
      name: 'ward_ingest_items_total',
      help: 'Ingested items (decision records, spans, wire edges) accepted, rejected, or reported dropped by the shipper.',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.#ca = new Counter({
      name: 'ward_ca_issuance_total',
      help: 'Identity CA issuance requests (agent attest/renew, X.509-SVIDs, JWT-SVIDs) by outcome.',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.#storeErrors = new Counter({
      name: 'ward_store_errors_total',
      help: 'Requests failed by the store: STORE_UNREACHABLE (unavailable) or STORE_CONFLICT.',
      labelNames: ['code'],
      registers,
    });
    const source = () => this.#source;
    const gauge = (name: string, help: string, read: (s: ServerMetricsSource) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const s = source();
          if (s) this.set(read(s));
        },
      });
    gauge('ward_watch_streams', 'Open PDP watch streams on this replica.', (s) => s.watchers());
    gauge('ward_agent_watch_streams', 'Open node-agent watch streams on this replica.', (s) =>
      s.agentWatchers(),
    );
    gauge('ward_revision', 'Latest revision this replica has published.', (s) => s.revision());
    gauge(
      'ward_revision_follower_healthy',
      '1 while this replica follows the revision log; 0 when stale (its streams are closed).',
      (s) => (s.following() ? 1 : 0),
    );
  }

  /** Where the scrape-time gauges read from; set once the hubs and the follower exist. */
  attach(source: ServerMetricsSource): void {
    this.#source = source;
  }

  /**
   * One answered request. `route` is the matched route's pattern (`/v1/documents/:kind/:name`),
   * or undefined for a 404 without a route; `seconds` is Fastify's elapsed time.
   */
  request(method: string, route: string | undefined, status: number, seconds: number): void {
    // No string is built here: a concatenated key would be flattened and hashed per request.
    const r = route ?? UNMATCHED_ROUTE;
    let row = this.#series.get(r);
    if (!row) {
      row = new Array(METHODS.length * CLASSES.length);
      this.#series.set(r, row);
    }
    const m = METHOD_INDEX.get(method) ?? METHODS.length - 1;
    const c = status >= 100 && status < 600 ? Math.floor(status / 100) : 0;
    const slot = m * CLASSES.length + c;
    let s = row[slot];
    if (!s) {
      s = {
        labels: { method: METHODS[m]!, route: r, status_class: CLASSES[c]! },
        count: 0,
        sum: 0,
        buckets: new Float64Array(LATENCY_BUCKETS.length + 1),
      };
      row[slot] = s;
    }
    s.count++;
    s.sum += seconds;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    s.buckets[i]!++;
  }

  /** Times `run` (an apply, create, replace or delete) and records its outcome. */
  async timeApply<T extends { changed: boolean; dryRun?: boolean }>(
    operation: string,
    dryRun: boolean,
    run: () => Promise<T>,
  ): Promise<T> {
    const end = this.#apply.startTimer({ operation });
    try {
      const result = await run();
      end({ outcome: dryRun ? 'dry_run' : result.changed ? 'changed' : 'unchanged' });
      return result;
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      end({ outcome: typeof status === 'number' && status < 500 ? 'refused' : 'error' });
      throw error;
    }
  }

  /** Times one bundle build (the cache calls it on a miss). */
  timeBundleBuild<T>(build: () => Promise<T | undefined>): Promise<T | undefined> {
    const end = this.#bundleBuild.startTimer();
    const promise = build();
    promise.then(
      (built) => end({ outcome: built === undefined ? 'unknown_service' : 'built' }),
      () => end({ outcome: 'error' }),
    );
    return promise;
  }

  /** Items of one ingest batch: kept, refused, and those the shipper says it dropped. */
  ingest(kind: IngestKind, accepted: number, rejected: number, dropped = 0): void {
    if (accepted > 0) this.#ingest.inc({ kind, outcome: 'accepted' }, accepted);
    if (rejected > 0) this.#ingest.inc({ kind, outcome: 'rejected' }, rejected);
    if (dropped > 0) this.#ingest.inc({ kind, outcome: 'dropped' }, dropped);
  }

  /** One CA issuance request. */
  caIssuance(kind: string, outcome: 'issued' | 'refused' | 'error'): void {
    this.#ca.inc({ kind, outcome });
  }

  /** A request the store failed (only STORE_* codes are counted). */
  storeError(code: string): void {
    if (code.startsWith('STORE_')) this.#storeErrors.inc({ code });
  }

  /** The Prometheus text of every metric. */
  scrape(): Promise<string> {
    return this.#process
      ? Registry.merge([this.registry, this.#process]).metrics()
      : this.registry.metrics();
  }
}
