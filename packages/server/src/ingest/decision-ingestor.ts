/**
 * Aggregates decision-log batches into hourly per-edge rows, with group commit.
 *
 * A batch is validated, then folded into an in-memory aggregate keyed by (hour, source,
 * destination, effect, enforced, rule); its request waits for the next flush. A flush writes
 * everything pending in ONE transaction, one upsert per key (`INSERT … ON CONFLICT … DO UPDATE`,
 * the same SQL on SQLite and PostgreSQL), and only then are the waiting requests answered: an
 * accepted batch is durable. While one flush runs, the next batches gather, so under load each
 * flush carries many batches and the write cost per record falls as traffic rises.
 *
 * One batch never fails another's write: when the combined write fails, each batch's part is
 * written again in a transaction of its own, so only the batch the store refuses gets an error
 * (records are screened before they get here; this holds for what screening did not foresee).
 * Raw denial rows are budgeted per flush and per identity, so a flooding service cannot take the
 * budget of the others.
 *
 * Keys are written in sorted order so that replicas sharing PostgreSQL lock rows in the same
 * order and cannot deadlock each other.
 */
import type { DecisionLogRecordV1, ProblemFieldErrorV1 } from '@ward/api-types';
import { type Kysely, sql } from 'kysely';
import { ServerError } from '../errors.ts';
import { type DenialsTable, hourOf, type IngestDatabase } from './tables.ts';

export interface DecisionIngestOptions {
  /** Raw denials kept at most this many rows (oldest pruned first). Default 100,000. */
  maxDenials: number;
  /** Raw denials written per flush at most; the rest are counted, not kept. Default 5,000. */
  maxDenialsPerFlush: number;
  /** Raw denials written per flush per identity at most (a flood keeps others' share). */
  maxDenialsPerFlushPerIdentity: number;
  /** Records older than this (ms) are refused: retention would delete them at once. */
  maxAgeMs: number;
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

/** Who sent a batch (the token behind the request, and the identity quotas are kept for). */
export interface Shipper {
  id: string;
  name: string;
  identity: string;
}

/** What a batch brings once screened: the records to count, and the shipper's drop report. */
export interface AcceptInput {
  records: readonly DecisionLogRecordV1[];
  /** Positions of `records` in the request body, for error fields. */
  positions: readonly number[];
  sample: readonly DecisionLogRecordV1[];
  dropped: number;
}

/** One batch waiting for its flush: kept so it can be written alone if the combined write fails. */
interface Part {
  records: readonly DecisionLogRecordV1[];
  firsts: number[];
  times: number[];
  sample: readonly DecisionLogRecordV1[];
  sampleFirsts: number[];
  sampleTimes: number[];
  denials: DenialRow[];
  shipper: ShipperAgg;
  shipperKey: string;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Everything one write stores. */
class Aggregate {
  edges = new Map<string, EdgeAgg>();
  shippers = new Map<string, ShipperAgg>();
  denials: DenialRow[] = [];

  /** Adds a batch's counts (its denial rows and shipper row were built at accept). */
  add(p: Part): void {
    for (let i = 0; i < p.records.length; i++) {
      const r = p.records[i]!;
      this.fold(r, p.firsts[i]!, p.times[i]!, r.count ?? 1, 0);
    }
    // Sampled drops make an edge seen only during an overflow visible, without counting as calls.
    for (let i = 0; i < p.sample.length; i++) {
      const r = p.sample[i]!;
      this.fold(r, p.sampleFirsts[i]!, p.sampleTimes[i]!, 0, r.count ?? 1);
    }
    for (const d of p.denials) this.denials.push(d);
    const s = this.shippers.get(p.shipperKey);
    if (s === undefined) this.shippers.set(p.shipperKey, { ...p.shipper });
    else {
      s.token_name = p.shipper.token_name;
      s.batches += p.shipper.batches;
      s.records += p.shipper.records;
      s.dropped += p.shipper.dropped;
      s.denials_skipped += p.shipper.denials_skipped;
    }
  }

  /** Adds `count` decisions seen from `first` to `t`; the bucket is the hour of the last one. */
  fold(r: DecisionLogRecordV1, first: number, t: number, count: number, sampled: number): void {
    const hour = hourOf(t);
    const enforced = r.enforced ? 1 : 0;
    const key = `${hour}\u0000${r.source}\u0000${r.destination}\u0000${r.effect}\u0000${enforced}\u0000${r.rule}`;
    const e = this.edges.get(key);
    if (e === undefined) {
      this.edges.set(key, {
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

/**
 * The records whose last decision is not older than `oldest` (the others go to `refused`, named by
 * their body position), with `firsts`/`lasts` compacted to match and first times clamped to
 * `oldest`: retention would delete anything older at once, and an absurd epoch would not fit
 * the hourly bucket column.
 */
function dropOld(
  list: readonly DecisionLogRecordV1[],
  firsts: number[],
  lasts: number[],
  oldest: number,
  positions: readonly number[] | undefined,
  refused: ProblemFieldErrorV1[],
): readonly DecisionLogRecordV1[] {
  if (!firsts.some((x) => x < oldest)) return list;
  const out: DecisionLogRecordV1[] = [];
  for (let i = 0; i < list.length; i++) {
    if (lasts[i]! < oldest) {
      refused.push({
        field: `/records/${positions ? positions[i] : i}/time`,
        message: 'is older than the retention',
        code: 'API_VALIDATION',
      });
      continue;
    }
    firsts[out.length] = Math.max(firsts[i]!, oldest);
    lasts[out.length] = lasts[i]!;
    out.push(list[i]!);
  }
  firsts.length = out.length;
  lasts.length = out.length;
  return out;
}

export class DecisionIngestor {
  readonly #db: Kysely<IngestDatabase>;
  readonly #options: DecisionIngestOptions;
  #agg = new Aggregate();
  #parts: Part[] = [];
  /** Raw denial rows buffered for the next flush, per identity. */
  #denialsBy = new Map<string, number>();
  #pendingRecords = 0;
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
   * Folds a screened batch into the pending aggregate; `done` resolves with the decisions counted
   * once they are committed. Throws (before touching any state) when a record's time does not
   * parse; records older than the retention are refused one by one (`tooOld`).
   */
  accept(
    input: AcceptInput,
    shipper: Shipper,
  ): { tooOld: ProblemFieldErrorV1[]; done: Promise<number> } {
    const now = this.#options.now();
    const oldest = now - this.#options.maxAgeMs;
    const [firsts, times] = this.#times(input.records, input.positions, '/records', now);
    const [sampleFirsts, sampleTimes] = this.#times(input.sample, undefined, '/droppedSample', now);
    if (this.#pendingRecords > this.#options.maxPendingRecords) {
      throw new ServerError('API_UNAVAILABLE', 'decision-log ingest is behind; retry later', {
        errors: [{ field: 'body', message: 'too many records are waiting to be written' }],
        retryAfterSeconds: 1,
      });
    }
    const tooOld: ProblemFieldErrorV1[] = [];
    const records = dropOld(input.records, firsts, times, oldest, input.positions, tooOld);
    const sample = dropOld(input.sample, sampleFirsts, sampleTimes, oldest, undefined, []);
    const denials: DenialRow[] = [];
    let skipped = 0;
    let decisions = 0;
    let mine = this.#denialsBy.get(shipper.identity) ?? 0;
    const total = this.#agg.denials.length;
    const { maxDenialsPerFlush, maxDenialsPerFlushPerIdentity } = this.#options;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const n = r.count ?? 1;
      decisions += n;
      if (r.effect !== 'deny') continue;
      if (total + denials.length < maxDenialsPerFlush && mine < maxDenialsPerFlushPerIdentity) {
        mine++;
        denials.push({
          time: times[i]!,
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
    this.#denialsBy.set(shipper.identity, mine);
    const hour = hourOf(now);
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const committed = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const part: Part = {
      records,
      firsts,
      times,
      sample,
      sampleFirsts,
      sampleTimes,
      denials,
      shipperKey: `${hour}\u0000${shipper.id}`,
      shipper: {
        hour,
        token_id: shipper.id,
        token_name: shipper.name,
        batches: 1,
        records: decisions,
        dropped: input.dropped,
        denials_skipped: skipped,
      },
      resolve,
      reject,
    };
    this.#agg.add(part);
    this.#parts.push(part);
    this.#pendingRecords += records.length;
    this.#schedule();
    return { tooOld, done: committed.then(() => decisions) };
  }

  /** Writes whatever is pending now (and waits for a flush already running). */
  async flush(): Promise<void> {
    if (this.#flushing) await this.#flushing.catch(() => {});
    if (this.#flushing === null && (this.#parts.length > 0 || this.#agg.edges.size > 0)) {
      await this.#run().catch(() => {});
    }
  }

  /**
   * First and last time of every record (`time`, and `lastTime` of a folded record). Throws
   * before any state changes when one does not parse.
   */
  #times(
    records: readonly DecisionLogRecordV1[],
    positions: readonly number[] | undefined,
    at: string,
    now: number,
  ): [number[], number[]] {
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
                field: `${at}/${positions ? positions[i] : i}/${field}`,
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
      if (this.#parts.length > 0) this.#schedule();
    });
    this.#flushing = p;
    return p;
  }

  async #write(): Promise<void> {
    const agg = this.#agg;
    const parts = this.#parts;
    this.#agg = new Aggregate();
    this.#parts = [];
    this.#denialsBy = new Map();
    this.#pendingRecords = 0;
    if (parts.length === 0 && agg.edges.size === 0) return;
    try {
      await this.#store(agg);
      for (const p of parts) p.resolve();
      return;
    } catch (error) {
      if (parts.length <= 1) {
        for (const p of parts) p.reject(error);
        throw error;
      }
      this.#options.onError(error);
    }
    // The combined write failed: write each batch alone, so only the guilty one fails.
    let firstError: unknown;
    for (const p of parts) {
      const own = new Aggregate();
      own.add(p);
      try {
        await this.#store(own);
        p.resolve();
      } catch (error) {
        firstError ??= error;
        p.reject(error);
      }
    }
    if (firstError !== undefined) throw firstError;
  }

  /** One transaction: the edges' upserts, the raw denials, the shippers' rows. */
  async #store(agg: Aggregate): Promise<void> {
    const byKey = <T>(m: Map<string, T>) =>
      [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
    const edges = byKey(agg.edges);
    const shippers = byKey(agg.shippers);
    const denials = agg.denials;
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
  }
}
