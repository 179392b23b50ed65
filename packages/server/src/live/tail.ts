/**
 * The live tail of denials: fan-out of denied and dry-run-denied decisions, as the decision-log
 * ingest commits them, to `GET /v1/decisions/stream` subscribers on this replica (events from
 * other replicas arrive through the relay, see relay.ts).
 *
 * Bounds: a flood is cut twice. The tail as a whole admits at most `maxPerSecond` events (the
 * rest are counted, not formatted), so a flooding service costs one counter per record beyond;
 * each subscriber has its own token bucket, and what it misses is reported once a second as
 * `event: dropped` with the count, so a reader always knows the tail is partial. A subscriber
 * whose socket buffers more than `MAX_BUFFERED` is reset (`writeOrReset`, as watch streams are).
 * One shared timer serves heartbeats, bucket refills and dropped reports.
 */
import type { ServerResponse } from 'node:http';
import type { DecisionLogRecordV1, LiveDecisionV1 as LiveDecision } from '@ward/api-types';
import { writeOrReset } from '../watch/hub.ts';

export type LiveKind = 'deny' | 'dry-run-deny';

export interface TailFilter {
  /** Only events whose source or destination is this. */
  service?: string;
  kind?: LiveKind;
  /** Team tokens: only events whose source or destination is one of these. */
  owned?: { has(service: string): boolean };
}

export interface TailSubscriber {
  res: ServerResponse;
  filter: TailFilter;
  /** Credential the stream was opened with (ended when it is revoked). */
  heldBy: string;
  /** Tokens left in this subscriber's bucket. */
  tokens: number;
  /** Events this subscriber missed since its last `dropped` event. */
  dropped: number;
}

export interface TailOptions {
  /** Events per second the whole tail admits (the rest are counted as dropped). Default 1000. */
  maxPerSecond: number;
  /** Events per second one subscriber receives, and its burst. Default 100, burst 500. */
  perSubscriberPerSecond: number;
  perSubscriberBurst: number;
  heartbeatMs: number;
}

export const DEFAULT_TAIL_OPTIONS: TailOptions = {
  maxPerSecond: 1000,
  perSubscriberPerSecond: 100,
  perSubscriberBurst: 500,
  heartbeatMs: 5000,
};

/** The reason a reader sees: which rule denied, and whether the denial was applied. */
export function reasonOf(rule: string, enforced: boolean): string {
  const what = rule === 'default' ? 'no rule allows the call (default deny)' : `rule ${rule}`;
  return enforced ? `denied: ${what}` : `dry-run would deny: ${what}`;
}

/** The tail's event for a denied record; undefined for an allowed one. */
export function liveDecisionOf(r: DecisionLogRecordV1): LiveDecision | undefined {
  if (r.effect !== 'deny') return undefined;
  const n = r.count ?? 1;
  return {
    at: r.lastTime ?? r.time,
    source: r.source,
    destination: r.destination,
    method: r.method,
    path: r.path,
    allowed: false,
    dryRun: !r.enforced,
    rule: r.rule,
    reason: reasonOf(r.rule, r.enforced),
    ...(n > 1 ? { count: n } : {}),
  };
}

export function matches(e: LiveDecision, f: TailFilter): boolean {
  if (f.kind !== undefined && (f.kind === 'dry-run-deny') !== e.dryRun) return false;
  if (f.service !== undefined && e.source !== f.service && e.destination !== f.service)
    return false;
  if (f.owned !== undefined && !f.owned.has(e.source) && !f.owned.has(e.destination)) return false;
  return true;
}

export class DecisionTail {
  readonly options: TailOptions;
  readonly #subs = new Set<TailSubscriber>();
  readonly #timer: NodeJS.Timeout;
  #budget: number;
  #nextId = 0;
  #sinceBeat = 0;
  /** Events refused by the tail-wide rate (counted for every subscriber). */
  floodDropped = 0;
  /** Subscribers reset for reading too slowly. */
  slowReset = 0;
  /** Events admitted (for tests and metrics). */
  published = 0;

  constructor(options: Partial<TailOptions> = {}) {
    this.options = { ...DEFAULT_TAIL_OPTIONS, ...options };
    this.#budget = this.options.maxPerSecond;
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
  }

  get size(): number {
    return this.#subs.size;
  }

  add(s: TailSubscriber): void {
    this.#subs.add(s);
  }

  remove(s: TailSubscriber): void {
    this.#subs.delete(s);
  }

  /**
   * Takes events this replica ingested: admits those within the tail-wide rate, publishes them
   * here, and returns them (what the relay passes on to other replicas).
   */
  admit(events: readonly LiveDecision[]): LiveDecision[] {
    const n = Math.min(events.length, Math.max(0, Math.floor(this.#budget)));
    this.#budget -= n;
    const lost = events.length - n;
    if (lost > 0) {
      this.floodDropped += lost;
      for (const s of this.#subs) s.dropped += lost;
    }
    const kept = events.slice(0, n);
    this.publish(kept);
    return kept;
  }

  /** Writes events (already admitted, here or on another replica) to matching subscribers. */
  publish(events: readonly LiveDecision[]): void {
    if (events.length === 0) return;
    this.published += events.length;
    if (this.#subs.size === 0) return;
    for (const e of events) {
      const text = `id: ${++this.#nextId}\nevent: decision\ndata: ${JSON.stringify(e)}\n\n`;
      for (const s of this.#subs) {
        if (!matches(e, s.filter)) continue;
        if (s.tokens < 1) {
          s.dropped++;
          continue;
        }
        s.tokens--;
        this.#write(s, text);
      }
    }
  }

  #write(s: TailSubscriber, text: string): void {
    if (writeOrReset(s.res, text, 0)) return;
    this.#subs.delete(s);
    this.slowReset++;
  }

  #tick(): void {
    const o = this.options;
    this.#budget = o.maxPerSecond;
    this.#sinceBeat += 1000;
    const beat = this.#sinceBeat >= o.heartbeatMs;
    if (beat) this.#sinceBeat = 0;
    for (const s of this.#subs) {
      s.tokens = Math.min(o.perSubscriberBurst, s.tokens + o.perSubscriberPerSecond);
      if (s.dropped > 0) {
        const text = `event: dropped\ndata: ${JSON.stringify({ dropped: s.dropped })}\n\n`;
        s.dropped = 0;
        this.#write(s, text);
      } else if (beat) this.#write(s, ': heartbeat\n\n');
    }
  }

  /** Distinct credentials behind the open streams (for the revocation sweep). */
  holders(): Set<string> {
    const ids = new Set<string>();
    for (const s of this.#subs) ids.add(s.heldBy);
    return ids;
  }

  /** Ends the streams opened with credential `id` (a revoked token); returns how many. */
  closeHeldBy(id: string): number {
    let n = 0;
    for (const s of this.#subs) {
      if (s.heldBy !== id) continue;
      this.#subs.delete(s);
      s.res.end();
      n++;
    }
    return n;
  }

  close(): void {
    clearInterval(this.#timer);
    for (const s of this.#subs) s.res.end();
    this.#subs.clear();
  }
}
