/**
 * Aggregates decision-log batches into hourly per-edge rows, with group commit.
 *
 * A batch is validated, then folded into an in-memory aggregate keyed by (hour, source,
 * destination, effect, enforced, rule); its request waits for the next flush. A flush writes
 * everything pending in ONE transaction, one upsert per key (`INSERT … ON CONFLICT … DO UPDATE`,
 * the same SQL on SQLite and PostgreSQL), and only then are the waiting requests answered: an
 * accepted batch is durable, a failed flush fails every batch in it (the shippers retry; nothing
 * of it was written). While one flush runs, the next batches gather, so under load each flush
 * carries many batches and the write cost per record falls as traffic rises.
 *
 * Keys are written in sorted order so that replicas sharing PostgreSQL lock rows in the same
 * order and cannot deadlock each other.
 */
import type { DecisionLogBatchV1, DecisionLogRecordV1 } from '@ward/api-types';
import { type Kysely, sql } from 'kysely';
import { ServerError } from '../errors.ts';
import { type DenialsTable, hourOf, type IngestDatabase } from './tables.ts';

export interface DecisionIngestOptions {
  /** Raw denials kept at most this many rows (oldest pruned first). Default 100,000. */
  maxDenials: number;
  /** Raw denials written per flush at most; the rest are counted, not kept. Default 5,000. */
  maxDenialsPerFlush: number;
  /** Records waiting for a flush at most; beyond, batches get 503 (the shipper retries). */
  maxPendingRecords: number;
  /**
   * A flush starts at least this long after the previous one started, so that batches arriving
   * meanwhile share rows: with thousands of edges, rows written per record fall as the interval
   * grows. Batches wait at most about this long for their answer. Default 100 ms.
   */
  minFlushIntervalMs: number;
  /** Clock, for tests. */
  now: () => number;
  /** Told about failed flushes (the batches in them get an error answer and are retried). */
  onError: (error: unknown) => void;
}

interface EdgeAgg {
  hour: number;
  source: string;
  destination: string;
  effect: string;
  enforced: number;
  rule: string;
  count: number;
  sampled: number;
  first_seen: number;
  last_seen: number;
  method: string;
  path: string;
  revision: number;
}

interface ShipperAgg {
  hour: number;
  token_id: string;
  token_name: string;
  batches: number;
  records: number;
  dropped: number;
  denials_skipped: number;
}

/** A raw denial as buffered before its flush: the table's row with numbers, not driver strings. */
type DenialRow = {
  [K in keyof DenialsTable]: number extends DenialsTable[K] ? number : DenialsTable[K];
};

/** Who sent a batch (the token behind the request). */
export interface Shipper {
  id: string;
  name: string;
}

/** Future times are clamped to now: a skewed clock must not create buckets ahead of time. */
const MAX_FUTURE_MS = 5 * 60_000;
/** Rows per multi-row statement: far below SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 400;

// Shippers send `YYYY-MM-DDTHH:MM:SS.mmmZ` and a batch spans a few seconds, so the date part is
// parsed once per second and the milliseconds added: Date.parse per record was a visible share
// of ingest CPU. Anything else falls back to Date.parse.
let lastPrefix = '';
let lastBase = 0;

function parseTime(text: string): number {
  if (text.length === 24 && text.charCodeAt(19) === 46 && text.charCodeAt(23) === 90) {
    const a = text.charCodeAt(20) - 48;
    const b = text.charCodeAt(21) - 48;
    const c = text.charCodeAt(22) - 48;
    if (a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9) {
      if (!text.startsWith(lastPrefix) || lastPrefix === '') {
        const base = Date.parse(`${text.slice(0, 19)}Z`);
        if (!Number.isFinite(base)) return Number.NaN;
        lastPrefix = text.slice(0, 19);
        lastBase = base;
      }
      return lastBase + a * 100 + b * 10 + c;
    }
  }
  return Date.parse(text);
}

export class DecisionIngestor {
  readonly #db: Kysely<IngestDatabase>;
  readonly #options: DecisionIngestOptions;
  #edges = new Map<string, EdgeAgg>();
  #shippers = new Map<string, ShipperAgg>();
  #denials: DenialRow[] = [];
  #pendingRecords = 0;
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #flushing: Promise<void> | null = null;
  #scheduled = false;
  #lastStart = 0;
  /** Raw denial rows inserted since the last prune, so the row cap is enforced promptly. */
  denialsSincePrune = 0;

  constructor(db: Kysely<IngestDatabase>, options: DecisionIngestOptions) {
    this.#db = db;
    this.#options = options;
  }

  /**
   * Folds a schema-valid batch into the pending aggregate and resolves once it is committed.
   * Throws (before touching any state) when a record's time does not parse.
   */
  accept(batch: DecisionLogBatchV1, shipper: Shipper): Promise<number> {
    const now = this.#options.now();
    const records = batch.records;
    const sample = batch.droppedSample ?? [];
    const [firsts, times] = this.#times(records, '/records', now);
    const [sampleFirsts, sampleTimes] = this.#times(sample, '/droppedSample', now);
    if (this.#pendingRecords > this.#options.maxPendingRecords) {
      throw new ServerError('API_UNAVAILABLE', 'decision-log ingest is behind; retry later', {
        errors: [{ field: 'body', message: 'too many records are waiting to be written' }],
      });
    }
    let skipped = 0;
    let decisions = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const t = times[i]!;
      const n = r.count ?? 1;
      decisions += n;
      this.#fold(r, firsts[i]!, t, n, 0);
      if (r.effect === 'deny') {
        if (this.#denials.length < this.#options.maxDenialsPerFlush) {
          this.#denials.push({
            time: t,
            source: r.source,
            destination: r.destination,
            method: r.method,
            path: r.path,
            rule: r.rule,
            enforced: r.enforced ? 1 : 0,
            revision: r.revision,
            subject: r.subject ?? null,
            kid: r.kid ?? null,
            count: n,
          });
        } else skipped += n;
      }
    }
    // Sampled drops make an edge seen only during an overflow visible, without counting as calls.
    for (let i = 0; i < sample.length; i++) {
      this.#fold(sample[i]!, sampleFirsts[i]!, sampleTimes[i]!, 0, sample[i]!.count ?? 1);
    }
    const hour = hourOf(now);
    const sk = `${hour}\u0000${shipper.id}`;
    let s = this.#shippers.get(sk);
    if (!s) {
      s = {
        hour,
        token_id: shipper.id,
        token_name: shipper.name,
        batches: 0,
        records: 0,
        dropped: 0,
        denials_skipped: 0,
      };
      this.#shippers.set(sk, s);
    }
    s.batches++;
    s.records += decisions;
    s.dropped += batch.dropped ?? 0;
    s.denials_skipped += skipped;
    this.#pendingRecords += records.length;
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#schedule();
    return done.then(() => decisions);
  }

  /** Writes whatever is pending now (and waits for a flush already running). */
  async flush(): Promise<void> {
    if (this.#flushing) await this.#flushing.catch(() => {});
    if (this.#flushing === null && (this.#waiters.length > 0 || this.#edges.size > 0)) {
      await this.#run().catch(() => {});
    }
  }

  /**
   * First and last time of every record (`time`, and `lastTime` of a folded record). Throws
   * before any state changes when one does not parse.
   */
  #times(records: readonly DecisionLogRecordV1[], at: string, now: number): [number[], number[]] {
    const firsts = new Array<number>(records.length);
    const lasts = new Array<number>(records.length);
    const parse = (text: string, i: number, field: string): number => {
      const t = parseTime(text);
      if (!Number.isFinite(t)) {
        throw new ServerError(
          'API_VALIDATION',
          'the batch does not match DecisionLogBatchV1; nothing was written',
          {
            errors: [
              {
                field: `${at}/${i}/${field}`,
                message: 'must be an ISO 8601 date-time',
                code: 'API_VALIDATION',
              },
            ],
          },
        );
      }
      return t > now + MAX_FUTURE_MS ? now : t;
    };
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const first = parse(r.time, i, 'time');
      const last = r.lastTime === undefined ? first : parse(r.lastTime, i, 'lastTime');
      firsts[i] = Math.min(first, last);
      lasts[i] = Math.max(first, last);
    }
    return [firsts, lasts];
  }

  /** Adds `count` decisions seen from `first` to `t`; the bucket is the hour of the last one. */
  #fold(r: DecisionLogRecordV1, first: number, t: number, count: number, sampled: number): void {
    const hour = hourOf(t);
    const enforced = r.enforced ? 1 : 0;
    const key = `${hour}\u0000${r.source}\u0000${r.destination}\u0000${r.effect}\u0000${enforced}\u0000${r.rule}`;
    const e = this.#edges.get(key);
    if (e === undefined) {
      this.#edges.set(key, {
        hour,
        source: r.source,
        destination: r.destination,
        effect: r.effect,
        enforced,
        rule: r.rule,
        count,
        sampled,
        first_seen: first,
        last_seen: t,
        method: r.method,
        path: r.path,
        revision: r.revision,
      });
      return;
    }
    e.count += count;
    e.sampled += sampled;
    if (first < e.first_seen) e.first_seen = first;
    if (t >= e.last_seen) {
      e.last_seen = t;
      e.method = r.method;
      e.path = r.path;
    }
    if (r.revision > e.revision) e.revision = r.revision;
  }

  #schedule(): void {
    // A running flush reschedules itself when it ends if anything is waiting.
    if (this.#flushing !== null || this.#scheduled) return;
    this.#scheduled = true;
    const wait = this.#lastStart + this.#options.minFlushIntervalMs - performance.now();
    const go = () => {
      this.#scheduled = false;
      if (this.#flushing === null) void this.#run().catch((e) => this.#options.onError(e));
    };
    if (wait > 1) setTimeout(go, wait);
    else setImmediate(go);
  }

  #run(): Promise<void> {
    this.#lastStart = performance.now();
    const p = this.#write().finally(() => {
      this.#flushing = null;
      if (this.#waiters.length > 0) this.#schedule();
    });
    this.#flushing = p;
    return p;
  }

  async #write(): Promise<void> {
    const edges = [...this.#edges.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map((e) => e[1]);
    const shippers = [...this.#shippers.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map((e) => e[1]);
    const denials = this.#denials;
    const waiters = this.#waiters;
    this.#edges = new Map();
    this.#shippers = new Map();
    this.#denials = [];
    this.#waiters = [];
    this.#pendingRecords = 0;
    if (waiters.length === 0 && edges.length === 0) return;
    try {
      await this.#db.transaction().execute(async (trx) => {
        for (let i = 0; i < edges.length; i += CHUNK) {
          await trx
            .insertInto('ingest_decision_edges')
            .values(edges.slice(i, i + CHUNK))
            .onConflict((oc) =>
              oc
                .columns(['source', 'destination', 'effect', 'enforced', 'rule', 'hour'])
                .doUpdateSet({
                  count: sql`ingest_decision_edges.count + excluded.count`,
                  sampled: sql`ingest_decision_edges.sampled + excluded.sampled`,
                  first_seen: sql`CASE WHEN excluded.first_seen < ingest_decision_edges.first_seen THEN excluded.first_seen ELSE ingest_decision_edges.first_seen END`,
                  method: sql`CASE WHEN excluded.last_seen >= ingest_decision_edges.last_seen THEN excluded.method ELSE ingest_decision_edges.method END`,
                  path: sql`CASE WHEN excluded.last_seen >= ingest_decision_edges.last_seen THEN excluded.path ELSE ingest_decision_edges.path END`,
                  last_seen: sql`CASE WHEN excluded.last_seen > ingest_decision_edges.last_seen THEN excluded.last_seen ELSE ingest_decision_edges.last_seen END`,
                  revision: sql`CASE WHEN excluded.revision > ingest_decision_edges.revision THEN excluded.revision ELSE ingest_decision_edges.revision END`,
                }),
            )
            .execute();
        }
        for (let i = 0; i < denials.length; i += CHUNK) {
          await trx
            .insertInto('ingest_denials')
            .values(denials.slice(i, i + CHUNK))
            .execute();
        }
        for (let i = 0; i < shippers.length; i += CHUNK) {
          await trx
            .insertInto('ingest_decision_shippers')
            .values(shippers.slice(i, i + CHUNK))
            .onConflict((oc) =>
              oc.columns(['token_id', 'hour']).doUpdateSet({
                token_name: sql`excluded.token_name`,
                batches: sql`ingest_decision_shippers.batches + excluded.batches`,
                records: sql`ingest_decision_shippers.records + excluded.records`,
                dropped: sql`ingest_decision_shippers.dropped + excluded.dropped`,
                denials_skipped: sql`ingest_decision_shippers.denials_skipped + excluded.denials_skipped`,
              }),
            )
            .execute();
        }
      });
      this.denialsSincePrune += denials.length;
      for (const w of waiters) w.resolve();
    } catch (error) {
      for (const w of waiters) w.reject(error);
      throw error;
    }
  }
}
