/**
 * Tells a replica that lags from one that is merely a heartbeat behind. A replica can lose its
 * feed of the revision log without knowing it (its notification connection went silent, its
 * poll is far off): it keeps heartbeating, at an old revision. The PDP asks another replica for
 * its revision now and then; if the watched replica has not reached that revision a grace period
 * later, it lags, and the PDP moves to the fresher one. Comparing against a fixed target (not
 * the other replica's latest) keeps steady writes from looking like lag: a current replica
 * reaches any given revision within milliseconds and says so at its next heartbeat.
 */

export interface LagCheckOptions {
  /** Indexes (into the PDP's control planes) of the replicas to ask, and how. */
  others: readonly number[];
  probe(plane: number): Promise<number>;
  intervalMs: number;
  /** Grace before lag counts; at least 1.5 heartbeats; default 2 heartbeats (or 10 s). */
  graceMs: number | undefined;
  maxLagRevisions: number;
  /** The watched replica lags behind `plane`: `watched` is its revision, `fresher` the other's. */
  onLag(plane: number, watched: number, fresher: number): void;
}

const DEFAULT_GRACE_MS = 10_000;

export class LagCheck {
  readonly #o: LagCheckOptions;
  /** Highest revision the watched replica has shown (heartbeats, events); null before one. */
  #watched: number | null = null;
  #heartbeats = false;
  #pending: { target: number; timer: NodeJS.Timeout } | null = null;
  #interval: NodeJS.Timeout | null = null;
  #graceMs = DEFAULT_GRACE_MS;
  #stopped = false;
  /** A probe is out: a slow replica does not get a second one stacked on it. */
  #probing = false;

  constructor(options: LagCheckOptions) {
    this.#o = options;
  }

  /** The stream is open; `heartbeatMs` is what the replica announced. */
  start(heartbeatMs: number | undefined): void {
    if (this.#o.others.length === 0 || this.#stopped) return;
    const configured = this.#o.graceMs ?? (heartbeatMs ? 2 * heartbeatMs : DEFAULT_GRACE_MS);
    this.#graceMs = heartbeatMs ? Math.max(configured, 1.5 * heartbeatMs) : configured;
    this.#interval = setInterval(() => void this.#probe(), this.#o.intervalMs);
    this.#interval.unref();
  }

  /** A heartbeat with the watched replica's revision: the check works from the first one. */
  heartbeat(revision: number): void {
    this.#heartbeats = true;
    this.seen(revision);
  }

  /** The watched replica showed `revision` (a heartbeat or an event). */
  seen(revision: number): void {
    if (this.#watched === null || revision > this.#watched) this.#watched = revision;
    const p = this.#pending;
    if (p && revision >= p.target) {
      clearTimeout(p.timer);
      this.#pending = null;
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#interval) clearInterval(this.#interval);
    if (this.#pending) clearTimeout(this.#pending.timer);
    this.#pending = null;
  }

  async #probe(): Promise<void> {
    // Without heartbeat revisions (an older control plane) there is nothing to compare.
    if (!this.#heartbeats || this.#pending || this.#stopped || this.#probing) return;
    this.#probing = true;
    const answers = await Promise.allSettled(this.#o.others.map((i) => this.#o.probe(i)));
    this.#probing = false;
    if (this.#stopped || this.#pending) return;
    let best = -1;
    let plane = -1;
    answers.forEach((a, k) => {
      if (a.status === 'fulfilled' && a.value > best) {
        best = a.value;
        plane = this.#o.others[k]!;
      }
    });
    const target = best - this.#o.maxLagRevisions;
    if (plane < 0 || this.#watched === null || this.#watched >= target) return;
    const timer = setTimeout(() => {
      if (this.#stopped || this.#pending?.timer !== timer) return;
      this.#o.onLag(plane, this.#watched ?? 0, best);
    }, this.#graceMs);
    timer.unref();
    this.#pending = { target, timer };
  }
}
