/**
 * Per-identity ingest quotas: a token bucket per shipping identity (a pdp principal's service, or
 * the token of an admin or collector), so one flooding service is answered 429 while every other
 * keeps shipping. A bucket holds `burst` units and refills at `perSecond`; a batch takes as many
 * units as it carries records (or spans).
 */
import type { Principal } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';

export interface QuotaOptions {
  /** Sustained units per second per identity. */
  perSecond: number;
  /** Units an idle identity may send at once (at least the largest batch allowed). */
  burst: number;
}

interface Bucket {
  level: number;
  at: number;
}

/** Buckets kept at most; full (idle) buckets are dropped first when it is reached. */
const MAX_BUCKETS = 100_000;

/** The identity quotas and raw-denial shares are kept per: the bound service, else the token. */
export function identityOf(principal: Principal): string {
  if (principal.scope === 'pdp' && principal.services.size === 1) {
    for (const s of principal.services) return `service:${s}`;
  }
  return `token:${principal.id}`;
}

export class Quota {
  readonly #options: QuotaOptions;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: QuotaOptions) {
    if (!(options.perSecond > 0) || !(options.burst > 0)) {
      throw new TypeError('quota perSecond and burst must be positive');
    }
    this.#options = options;
  }

  /**
   * Takes `units` from `identity`'s bucket, or throws a 429 problem (`API_RATE_LIMITED`) naming
   * when to retry. `what` names the unit in the message ("records", "spans").
   */
  take(identity: string, units: number, what: string, now = performance.now()): void {
    const { perSecond, burst } = this.#options;
    let b = this.#buckets.get(identity);
    if (b === undefined) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#sweep(now);
      b = { level: burst, at: now };
      this.#buckets.set(identity, b);
    } else {
      b.level = Math.min(burst, b.level + ((now - b.at) / 1000) * perSecond);
      b.at = now;
    }
    // A batch larger than the burst costs the burst: it passes once the bucket is full.
    const cost = Math.min(units, burst);
    if (cost <= b.level) {
      b.level -= cost;
      return;
    }
    const need = cost - b.level;
    throw new ServerError(
      'API_RATE_LIMITED',
      `${identity} is over its ingest quota of ${perSecond} ${what}/s (burst ${burst}); retry later`,
      {
        errors: [{ field: 'body', message: `${units} ${what} exceed the quota left` }],
        retryAfterSeconds: Math.max(1, Math.ceil(need / perSecond)),
      },
    );
  }

  /** Charges `units` already consumed (the bucket may go into debt, at most one burst deep). */
  charge(identity: string, units: number, now = performance.now()): void {
    const b = this.#buckets.get(identity);
    if (b === undefined || units <= 0) return;
    const { perSecond, burst } = this.#options;
    b.level = Math.max(
      -burst,
      Math.min(burst, b.level + ((now - b.at) / 1000) * perSecond) - units,
    );
    b.at = now;
  }

  #sweep(now: number): void {
    const { perSecond, burst } = this.#options;
    for (const [k, b] of this.#buckets) {
      if (b.level + ((now - b.at) / 1000) * perSecond >= burst) this.#buckets.delete(k);
    }
    if (this.#buckets.size >= MAX_BUCKETS) this.#buckets.clear();
  }
}
