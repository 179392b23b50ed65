/**
 * Dynamic credentials (issue 16): a `postgres` secret carries no value on the stream; the agent
 * takes a lease for the reading service when the first workload (or template) watches it, renews
 * it at 2/3 of its remaining time while anyone watches, and gives it back when the last watcher
 * leaves — so a login lives about as long as the workloads that use it, and a node whose
 * workloads are gone holds none.
 *
 * Renewals never extend past the lease's `maxExpiresAt`: when the next renewal could not, or
 * the control plane no longer knows the lease (404), the keeper takes a new lease, which is a new
 * version of the secret (1, 2, 3 … per service and secret). The replaced login stays listed as
 * the previous version until it expires, so connections opened with it can finish.
 *
 * Failures are retried with jittered exponential backoff and logged with the lease id, never
 * with the credential.
 */
import { EventEmitter } from 'node:events';
import type { LeaseV1, SecretVersionV1 } from '@ward/api-types';
import type { Logger } from 'pino';
import type { AgentIdentity, ControlPlaneClient } from './control-plane.ts';

/** Timing knobs (tests shorten them). */
export interface LeaseKeeperTiming {
  /** Retry backoff bounds, ms. Default 500 … 30000. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Shortest wait before a renewal, ms. Default 1000. */
  minRenewMs?: number;
}

/** What a watcher of a dynamic secret sees. */
export interface LeasedSecret {
  /** The newest lease's version first, then a replaced one still valid. */
  versions: SecretVersionV1[];
  lease: { id: string; expiresAt: number };
}

interface Held {
  version: number;
  lease: LeaseV1;
  obtainedAt: number;
}

interface Entry {
  service: string;
  secret: string;
  watchers: number;
  /** Bumped whenever watching stops, so work of a finished session stops too. */
  session: number;
  current: Held | undefined;
  previous: Held | undefined;
  versions: number;
  timer: NodeJS.Timeout | undefined;
  failures: number;
  /** The last refusal of the control plane (HTTP status), cleared by a success. */
  refusal: number | undefined;
}

const keyOf = (service: string, secret: string) => `${service}\n${secret}`;

/** Takes, renews and gives back leases; emits `lease` (service, secret) on every change. */
export class LeaseKeeper extends EventEmitter {
  readonly #client: ControlPlaneClient;
  readonly #identity: () => AgentIdentity;
  readonly #log: Logger;
  readonly #timing: Required<LeaseKeeperTiming>;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: {
    client: ControlPlaneClient;
    identity: () => AgentIdentity;
    logger: Logger;
    timing?: LeaseKeeperTiming;
  }) {
    super();
    this.setMaxListeners(0);
    this.#client = options.client;
    this.#identity = options.identity;
    this.#log = options.logger;
    this.#timing = { minBackoffMs: 500, maxBackoffMs: 30_000, minRenewMs: 1000, ...options.timing };
  }

  /**
   * Starts watching (service, secret): the first watcher takes a lease. Returns the function
   * that stops watching (idempotent); the last one gives the lease back.
   */
  watch(service: string, secret: string): () => void {
    const key = keyOf(service, secret);
    let e = this.#entries.get(key);
    if (!e) {
      e = {
        service,
        secret,
        watchers: 0,
        session: 0,
        current: undefined,
        previous: undefined,
        versions: 0,
        timer: undefined,
        failures: 0,
        refusal: undefined,
      };
      this.#entries.set(key, e);
    }
    const entry = e;
    if (entry.watchers++ === 0 && !this.#closed) this.#track(this.#acquire(entry, entry.session));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--entry.watchers === 0) this.#release(entry, 'no watcher left');
    };
  }

  /** What watchers of (service, secret) are served now, if a lease is held. */
  get(service: string, secret: string): LeasedSecret | undefined {
    const e = this.#entries.get(keyOf(service, secret));
    if (!e?.current) return undefined;
    const now = Date.now();
    const versions = [e.current, e.previous]
      .filter((h): h is Held => h !== undefined && h.lease.expiresAt > now)
      .map((h) => ({
        version: h.version,
        data: h.lease.data,
        notBefore: h.obtainedAt,
        notAfter: h.lease.expiresAt,
      }));
    return { versions, lease: { id: e.current.lease.id, expiresAt: e.current.lease.expiresAt } };
  }

  /** The control plane's last refusal of a lease for (service, secret) (403, 404), if any. */
  refusal(service: string, secret: string): number | undefined {
    return this.#entries.get(keyOf(service, secret))?.refusal;
  }

  /** Stops every renewal and gives every lease back. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const e of this.#entries.values()) this.#release(e, 'agent stopping');
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  #live(e: Entry, session: number): boolean {
    return !this.#closed && e.session === session && e.watchers > 0;
  }

  #schedule(e: Entry, session: number, delayMs: number, run: () => Promise<void>): void {
    clearTimeout(e.timer);
    e.timer = setTimeout(() => {
      e.timer = undefined;
      if (this.#live(e, session)) this.#track(run());
    }, delayMs);
    e.timer.unref?.();
  }

  #backoff(e: Entry): number {
    const cap = Math.min(this.#timing.maxBackoffMs, this.#timing.minBackoffMs * 2 ** e.failures);
    e.failures++;
    return cap / 2 + (Math.random() * cap) / 2;
  }

  async #acquire(e: Entry, session: number): Promise<void> {
    let lease: LeaseV1;
    try {
      lease = await this.#client.createLease(this.#identity(), {
        service: e.service,
        secret: e.secret,
      });
    } catch (error) {
      if (!this.#live(e, session)) return;
      const status = (error as { status?: number }).status;
      const refused = status === 403 || status === 404;
      const changed = refused && e.refusal !== status;
      e.refusal = refused ? status : e.refusal;
      const wait = this.#backoff(e);
      this.#log.warn(
        {
          service: e.service,
          secret: e.secret,
          err: (error as Error).message,
          retryMs: Math.round(wait),
        },
        'lease creation failed; retrying',
      );
      this.#schedule(e, session, wait, () => this.#acquire(e, session));
      if (changed) this.emit('lease', e.service, e.secret);
      return;
    }
    if (!this.#live(e, session)) {
      // Watching stopped while the lease was being taken: give it straight back.
      await this.#revoke(e, lease.id, 'no watcher left');
      return;
    }
    e.failures = 0;
    e.refusal = undefined;
    const now = Date.now();
    if (e.current && e.current.lease.expiresAt > now) {
      // The replaced login stays valid until it expires; an older one still held is given back.
      if (e.previous) this.#track(this.#revoke(e, e.previous.lease.id, 'replaced'));
      e.previous = e.current;
    } else {
      // The current login is gone (expired or unknown to the control plane): the previous one
      // is given back rather than left to live until its own expiry.
      if (e.previous) this.#track(this.#revoke(e, e.previous.lease.id, 'replaced'));
      e.previous = undefined;
    }
    e.current = { version: ++e.versions, lease, obtainedAt: now };
    this.#log.info(
      {
        service: e.service,
        secret: e.secret,
        lease: lease.id,
        version: e.current.version,
        expiresAt: new Date(lease.expiresAt).toISOString(),
      },
      'lease taken',
    );
    this.#scheduleRenewal(e, session);
    this.emit('lease', e.service, e.secret);
  }

  #scheduleRenewal(e: Entry, session: number): void {
    const held = e.current!;
    const now = Date.now();
    const wait = Math.max(this.#timing.minRenewMs, ((held.lease.expiresAt - now) * 2) / 3);
    // A renewal cannot extend past maxExpiresAt: then take a new lease at the renewal point.
    const replace = held.lease.expiresAt >= held.lease.maxExpiresAt;
    this.#schedule(e, session, Math.min(wait, Math.max(0, held.lease.expiresAt - now - 1)), () =>
      replace ? this.#acquire(e, session) : this.#renew(e, session),
    );
  }

  async #renew(e: Entry, session: number): Promise<void> {
    const held = e.current;
    if (!held) return this.#acquire(e, session);
    try {
      const reply = await this.#client.renewLease(this.#identity(), held.lease.id);
      if (!this.#live(e, session) || e.current !== held) return;
      e.failures = 0;
      const expiresAt = Math.min(reply.expiresAt, held.lease.maxExpiresAt);
      const changed = expiresAt !== held.lease.expiresAt;
      held.lease = { ...held.lease, expiresAt };
      this.#log.debug(
        { service: e.service, secret: e.secret, lease: held.lease.id, expiresAt },
        'lease renewed',
      );
      this.#scheduleRenewal(e, session);
      if (changed) this.emit('lease', e.service, e.secret);
    } catch (error) {
      if (!this.#live(e, session) || e.current !== held) return;
      const status = (error as { status?: number }).status;
      const now = Date.now();
      if (status === 404 || held.lease.expiresAt <= now) {
        // The control plane no longer knows the lease (revoked, reaped): take a new one.
        this.#log.warn(
          { service: e.service, secret: e.secret, lease: held.lease.id, status },
          'lease lost; taking a new one',
        );
        if (held.lease.expiresAt <= now || status === 404) {
          e.current = undefined;
          this.emit('lease', e.service, e.secret);
        }
        return this.#acquire(e, session);
      }
      const wait = Math.min(this.#backoff(e), Math.max(0, held.lease.expiresAt - now - 1));
      this.#log.warn(
        {
          service: e.service,
          secret: e.secret,
          lease: held.lease.id,
          err: (error as Error).message,
        },
        'lease renewal failed; retrying',
      );
      this.#schedule(e, session, wait, () => this.#renew(e, session));
    }
  }

  #release(e: Entry, reason: string): void {
    e.session++;
    clearTimeout(e.timer);
    e.timer = undefined;
    e.failures = 0;
    e.refusal = undefined;
    const held = [e.current, e.previous].filter((h): h is Held => h !== undefined);
    e.current = undefined;
    e.previous = undefined;
    // Once at shutdown (the control plane reaps it at expiry anyway), else with retries. The
    // entry stays (small, one per secret the node's workloads used) so versions keep rising.
    const attempts = this.#closed ? 1 : 5;
    for (const h of held) this.#track(this.#revoke(e, h.lease.id, reason, attempts));
    if (held.length > 0) this.emit('lease', e.service, e.secret);
  }

  /** Gives a lease back, retrying a few times (the control plane reaps it at expiry anyway). */
  async #revoke(e: Entry, id: string, reason: string, attempts = 5): Promise<void> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        await this.#client.revokeLease(this.#identity(), id);
        this.#log.info(
          { service: e.service, secret: e.secret, lease: id, reason },
          'lease revoked',
        );
        return;
      } catch (error) {
        const status = (error as { status?: number }).status;
        if (status === 404) return; // already gone
        if (attempt === attempts - 1) {
          this.#log.warn(
            { service: e.service, secret: e.secret, lease: id, err: (error as Error).message },
            'lease revocation failed; it ends at its expiry',
          );
          return;
        }
        const cap = Math.min(this.#timing.maxBackoffMs, this.#timing.minBackoffMs * 2 ** attempt);
        await new Promise((r) => setTimeout(r, cap / 2 + (Math.random() * cap) / 2));
      }
    }
  }
}
