/**
 * Admission of watch streams: how many one credential, one client address and the whole replica
 * may hold open. A stream costs a socket, up to `MAX_BUFFERED` of queued output and its share of
 * every fan-out, so a hostile or broken client must not open them without bound. Counting is a
 * map lookup per open and per close; nothing runs per event.
 */

export interface WatchLimits {
  /**
   * Streams one credential (a token id, or a client SPIFFE ID) may hold. Every instance of a
   * service shares its credential, so this bounds the replicas of the largest service.
   */
  perCredential: number;
  /** Streams one client address may hold (a NAT, a node, or a proxy in front of many). */
  perAddress: number;
  /** Streams this replica holds in all. */
  total: number;
}

/**
 * Defaults sized for a real fleet: a service of a few hundred replicas sharing one token (each
 * may briefly hold two streams while it reconnects), a few hundred PDPs behind one address, and
 * ten thousand instances on one replica (the watch benchmark's scale).
 */
export const DEFAULT_WATCH_LIMITS: WatchLimits = {
  perCredential: 1024,
  perAddress: 1024,
  total: 16_384,
};

export type WatchLimit = keyof WatchLimits;

/** A held slot: call once when the stream ends. */
export type Release = () => void;

export class WatchAdmission {
  readonly limits: WatchLimits;
  readonly #byCredential = new Map<string, number>();
  readonly #byAddress = new Map<string, number>();
  #total = 0;
  /** Streams refused, by the limit that refused them. */
  readonly rejected: Record<WatchLimit, number> = { perCredential: 0, perAddress: 0, total: 0 };

  constructor(limits: Partial<WatchLimits> = {}) {
    this.limits = { ...DEFAULT_WATCH_LIMITS, ...limits };
  }

  get open(): number {
    return this.#total;
  }

  /**
   * Takes a slot for a stream of `credential` from `address`, or names the limit it would
   * exceed (and counts the refusal). The total is checked first: when the replica is full, the
   * answer does not depend on who asks.
   */
  acquire(credential: string, address: string): Release | WatchLimit {
    let refused: WatchLimit | undefined;
    if (this.#total >= this.limits.total) refused = 'total';
    else if ((this.#byCredential.get(credential) ?? 0) >= this.limits.perCredential)
      refused = 'perCredential';
    else if ((this.#byAddress.get(address) ?? 0) >= this.limits.perAddress) refused = 'perAddress';
    if (refused) {
      this.rejected[refused]++;
      return refused;
    }
    this.#total++;
    bump(this.#byCredential, credential, 1);
    bump(this.#byAddress, address, 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#total--;
      bump(this.#byCredential, credential, -1);
      bump(this.#byAddress, address, -1);
    };
  }
}

/** Adds `delta` to a counter, deleting it at zero so the maps hold only live keys. */
function bump(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n === 0) map.delete(key);
  else map.set(key, n);
}
