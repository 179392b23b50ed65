import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { DECISION_LOG_PATH, type DecisionLogBatchV1 } from '@ward/api-types';
import type { Dispatcher } from 'undici';
import { undici } from '../undici.ts';
import { type DecisionLogEntry, type DecisionRecorder, foldRecords, toRecordV1 } from './entry.ts';
import { DecisionLogError } from './errors.ts';
import { DecisionLogRing } from './ring.ts';

const gzip = promisify(gzipCallback);

/** Options of {@link createDecisionLogShipper}. */
export interface DecisionLogShipperOptions {
  /** Control-plane base URL(s); on failure the shipper moves to the next one. */
  controlPlanes: string | readonly string[];
  /** Bearer token (scope `pdp`), or a function read before each batch (for rotation). */
  token?: string | (() => string | undefined);
  /**
   * The route batches go to. Default `/v1/decision-logs`; the node agent ships to
   * `/v1/agent/decision-logs` (`AGENT_DECISION_LOG_PATH`) with its proof.
   */
  path?: string;
  /**
   * Headers that authenticate each batch, computed per request (e.g. the node agent's proof,
   * which is bound to the method and path). Added after `token`.
   */
  authenticate?: (
    method: string,
    path: string,
  ) => Record<string, string> | Promise<Record<string, string>>;
  /** Entries held in memory at most (the ring). Default 20,000. */
  capacity?: number;
  /**
   * Entries per batch at most; a full batch ships at once. Default 2,000: a batch has fixed costs
   * (an HTTP request, the fold), so bigger batches cost the service less per decision.
   */
  batchSize?: number;
  /** A partial batch ships after this long. Default 1,000 ms. */
  flushIntervalMs?: number;
  /** Dropped entries kept as a sample per batch. Default 32. */
  sampleSize?: number;
  /** Attempts per batch before it is dropped (and counted). Default 6. */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt, with jitter, up to `maxBackoffMs`. Default 250 ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Fold identical decisions of a batch into one record with `count` (and `lastTime`). Default
   * true; false ships one record per decision.
   */
  fold?: boolean;
  /** Gzip bodies larger than 1 KiB. Default true. */
  gzip?: boolean;
  /** Per-request timeout. Default 10,000 ms. */
  timeoutMs?: number;
  /** An undici dispatcher, e.g. the mTLS agent of the workload identity. */
  dispatcher?: Dispatcher;
  /** Called for every failed attempt (never throws into the service). */
  onError?: (error: DecisionLogError) => void;
}

/** Counters of a shipper since it was created. */
export interface DecisionLogShipperStats {
  /** Entries recorded. */
  recorded: number;
  /** Entries the control plane accepted. */
  shipped: number;
  /** Entries dropped: ring overflow, or batches refused or failed too often. */
  dropped: number;
  /** Entries waiting in the ring. */
  buffered: number;
  /** Entries in the batch being sent or waiting to be retried. */
  inFlight: number;
  /** Batches accepted. */
  batches: number;
  /** Attempts that failed. */
  failedAttempts: number;
  lastError: { code: string; message: string; at: string } | null;
  /** ISO time of the last accepted batch. */
  lastShippedAt: string | null;
}

/** A decision recorder that ships to the control plane. */
export interface DecisionLogShipper extends DecisionRecorder {
  stats(): DecisionLogShipperStats;
  /** Ships what is buffered now (one attempt per batch while there is anything to send). */
  flush(): Promise<void>;
  /** Stops the timers and makes one last attempt to ship what is buffered. */
  close(): Promise<DecisionLogShipperStats>;
}

interface PendingBatch {
  entries: DecisionLogEntry[];
  dropped: number;
  sample: DecisionLogEntry[];
  attempts: number;
}

/**
 * Buffers decision-log entries in a fixed ring and ships them in batches to
 * `POST /v1/decision-logs` on the control plane, off the request path.
 *
 * `record()` is O(1): it stores the entry and, when a batch is full, schedules a send. Memory is
 * bounded by `capacity + batchSize` entries whatever the traffic or the control plane does; drops
 * are counted and sampled, and travel with the next batch (`dropped`, `droppedSample`).
 *
 * @example
 * ```ts
 * const log = createDecisionLogShipper({ controlPlanes: 'https://ward:8443', token });
 * app.register(wardFastify, { decider: pdp, service: 'orders', log });
 * // at shutdown
 * await log.close();
 * ```
 */
export function createDecisionLogShipper(options: DecisionLogShipperOptions): DecisionLogShipper {
  const path = options.path ?? DECISION_LOG_PATH;
  const urls = (
    typeof options.controlPlanes === 'string' ? [options.controlPlanes] : [...options.controlPlanes]
  ).map((u) => new URL(path, u).href);
  if (urls.length === 0) throw new TypeError('controlPlanes must name at least one URL');
  const batchSize = positiveInt('batchSize', options.batchSize ?? 2000);
  const flushIntervalMs = positiveInt('flushIntervalMs', options.flushIntervalMs ?? 1000);
  const maxAttempts = positiveInt('maxAttempts', options.maxAttempts ?? 6);
  const backoffMs = positiveInt('backoffMs', options.backoffMs ?? 250);
  const maxBackoffMs = positiveInt('maxBackoffMs', options.maxBackoffMs ?? 30_000);
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 10_000);
  const compress = options.gzip ?? true;
  const fold = options.fold ?? true;
  const ring = new DecisionLogRing(options.capacity ?? 20_000, options.sampleSize ?? 32);

  let urlIndex = 0;
  let recorded = 0;
  let shipped = 0;
  let batches = 0;
  let failedAttempts = 0;
  let lastError: DecisionLogShipperStats['lastError'] = null;
  let lastShippedAt: string | null = null;
  let pending: PendingBatch | null = null;
  let running: Promise<void> | null = null;
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | null = null;
  let closed = false;

  const interval = setInterval(() => void kick(), flushIntervalMs);
  interval.unref();

  function kick(): Promise<void> {
    if (running !== null) return running;
    if (retryTimer !== null && !closed) return Promise.resolve();
    running = drain().finally(() => {
      running = null;
    });
    return running;
  }

  function runSoon(): void {
    scheduled = false;
    void kick();
  }

  async function drain(): Promise<void> {
    for (;;) {
      if (pending === null) {
        if (ring.size === 0 && ring.dropped === 0) return;
        const entries = ring.take(batchSize);
        const { dropped, sample } = ring.takeDropped();
        pending = { entries, dropped, sample, attempts: 0 };
      }
      const batch = pending;
      const ok = await send(batch);
      if (!ok) return;
      // Keep going while full batches are waiting; a partial batch waits for the timer.
      if (ring.size < batchSize && !closed) return;
    }
  }

  /** One attempt. True when the batch is done with (accepted or dropped for good). */
  async function send(batch: PendingBatch): Promise<boolean> {
    batch.attempts++;
    try {
      await post(batch);
      shipped += batch.entries.length;
      batches++;
      lastShippedAt = new Date().toISOString();
      pending = null;
      return true;
    } catch (error) {
      const err =
        error instanceof DecisionLogError
          ? error
          : new DecisionLogError('DECISION_LOG_SHIP_FAILED', describe(error), { cause: error });
      failedAttempts++;
      lastError = { code: err.code, message: err.message, at: new Date().toISOString() };
      try {
        options.onError?.(err);
      } catch {
        // A faulty callback must not stop shipping.
      }
      urlIndex = (urlIndex + 1) % urls.length;
      if (err.code === 'DECISION_LOG_REJECTED' || batch.attempts >= maxAttempts || closed) {
        // Give the batch up, but count it: the next batch tells the control plane.
        for (const e of batch.entries) ring.drop(e);
        ring.restoreDropped(batch.dropped, batch.sample);
        pending = null;
        return !closed;
      }
      const delay = Math.min(maxBackoffMs, backoffMs * 2 ** (batch.attempts - 1));
      // Full jitter halves the synchronized retries of many services after a control-plane outage.
      retryTimer = setTimeout(
        () => {
          retryTimer = null;
          void kick();
        },
        delay / 2 + Math.random() * (delay / 2),
      );
      retryTimer.unref();
      return false;
    }
  }

  async function post(batch: PendingBatch): Promise<void> {
    const body: DecisionLogBatchV1 = {
      records: fold ? foldRecords(batch.entries) : batch.entries.map(toRecordV1),
    };
    if (batch.dropped > 0) {
      body.dropped = batch.dropped;
      body.droppedSample = batch.sample.map(toRecordV1);
    }
    let payload: string | Buffer = JSON.stringify(body);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (compress && payload.length > 1024) {
      // Level 1: records repeat almost entirely, so the fastest level already shrinks a batch
      // about tenfold, at a fraction of the default level's CPU on the service's own cores.
      payload = await gzip(payload, { level: 1 });
      headers['content-encoding'] = 'gzip';
    }
    const token = typeof options.token === 'function' ? options.token() : options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.authenticate) Object.assign(headers, await options.authenticate('POST', path));
    const url = urls[urlIndex]!;
    const res = await undici().request(url, {
      method: 'POST',
      headers,
      body: payload,
      signal: AbortSignal.timeout(timeoutMs),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
    const text = await res.body.text();
    if (res.statusCode >= 200 && res.statusCode < 300) return;
    // These answers will not change on retry: the batch itself is at fault.
    const permanent = [400, 413, 415, 422].includes(res.statusCode);
    throw new DecisionLogError(
      permanent ? 'DECISION_LOG_REJECTED' : 'DECISION_LOG_SHIP_FAILED',
      `${url} answered ${res.statusCode}: ${text.slice(0, 300)}`,
      { status: res.statusCode },
    );
  }

  return {
    record(entry: DecisionLogEntry): void {
      recorded++;
      ring.push(entry);
      // After close() entries are still counted and held (bounded), but nothing is sent.
      if (
        !scheduled &&
        !closed &&
        running === null &&
        retryTimer === null &&
        ring.size >= batchSize
      ) {
        scheduled = true;
        setImmediate(runSoon);
      }
    },
    stats(): DecisionLogShipperStats {
      return {
        recorded,
        shipped,
        dropped: ring.totalDropped,
        buffered: ring.size,
        inFlight: pending?.entries.length ?? 0,
        batches,
        failedAttempts,
        lastError,
        lastShippedAt,
      };
    },
    async flush(): Promise<void> {
      if (running !== null) await running;
      await kick();
    },
    async close(): Promise<DecisionLogShipperStats> {
      closed = true;
      clearInterval(interval);
      if (retryTimer !== null) {
        clearTimeout(retryTimer);
        retryTimer = null;
      }
      if (running !== null) await running;
      await kick();
      return this.stats();
    },
  };
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
