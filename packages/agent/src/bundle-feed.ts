/**
 * The agent's one bundle stream: a single `GET /v1/agent/watch` for every workload of the node,
 * whatever their number, so the control plane's fan-out grows with nodes rather than instances.
 * The feed keeps the newest signed bundle of each service of the node in memory and emits
 * `bundle` (service name) when one changes; the Workload API hands it to the local PDPs.
 *
 * The agent does not verify bundle signatures — the PDP does, with its own trust key, so an agent
 * can neither forge nor roll back a bundle — but it treats the stream as untrusted input: bounded
 * events, shape checks, and each service's revision only rises.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentBundleEventV1, SignedBundleV1 } from '@ward/api-types';
import { SseParser } from '@ward/sdk';
import { isServiceKey } from '@ward/spiffe';
import type { Logger } from 'pino';
import type { AgentIdentity, ControlPlaneClient } from './control-plane.ts';
import { parseSecretEvent, type SecretStore } from './secret-store.ts';

/** A bundle the agent holds for one service of its node. */
export interface HeldBundle extends AgentBundleEventV1 {
  /** The bundle's revision (read from its payload; only ever rises per service). */
  revision: number;
}

/** Timing knobs (tests shorten them). */
export interface BundleFeedTiming {
  /** Reconnect backoff bounds, ms. Default 250 … 15000. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Silence tolerated on the stream, in announced heartbeats. Default 3. */
  missedHeartbeats?: number;
}

/** How long a refusal of the control plane (service not on this node) is remembered, ms. */
const REFUSAL_MS = 5000;
/** Largest event accepted from the control plane (a bundle with its envelope). */
const MAX_EVENT = 8 << 20;

/** Checks the shape of an event's data; returns the held form, or a reason to drop it. */
export function parseBundleEvent(data: unknown): HeldBundle | string {
  if (data === null || typeof data !== 'object') return 'not an object';
  const d = data as Record<string, unknown>;
  // The service key (`name`, or `namespace/name`): the control plane sends it canonical.
  if (typeof d.service !== 'string' || !isServiceKey(d.service))
    return 'service: not a service key';
  if (typeof d.spiffeId !== 'string' || !d.spiffeId.startsWith('spiffe://'))
    return 'spiffeId: not a SPIFFE ID';
  const b = d.bundle as Record<string, unknown> | null;
  if (
    b === null ||
    typeof b !== 'object' ||
    !['payload', 'signature', 'keyId', 'hash'].every((k) => typeof b[k] === 'string')
  )
    return 'bundle: not a signed bundle';
  // A server that sends `revision` beside the bundle spares the agent parsing the whole payload
  // for one number, on every event of every node; an older server's events are read as before.
  let revision: unknown = d.revision;
  const where = revision === undefined ? 'bundle.payload.revision' : 'revision';
  if (revision === undefined) {
    try {
      revision = (JSON.parse(b.payload as string) as { revision?: unknown } | null)?.revision;
    } catch {
      return 'bundle.payload: not JSON';
    }
  }
  if (!Number.isSafeInteger(revision) || (revision as number) < 0)
    return `${where}: not a revision`;
  return {
    service: d.service,
    spiffeId: d.spiffeId,
    bundle: b as unknown as SignedBundleV1,
    revision: revision as number,
  };
}

export class BundleFeed extends EventEmitter {
  readonly #client: ControlPlaneClient;
  readonly #identity: () => AgentIdentity;
  readonly #log: Logger;
  readonly #timing: Required<BundleFeedTiming>;
  readonly #secrets: SecretStore | undefined;
  readonly #held = new Map<string, HeldBundle>();
  readonly #fetching = new Map<string, Promise<HeldBundle | undefined>>();
  /**
   * Services the control plane refused (not on this node), with when: a local process asking
   * for them again within {@link REFUSAL_MS} is answered from here, so it cannot make the agent
   * hammer the control plane.
   */
  readonly #refused = new Map<string, { at: number; error: unknown }>();
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  /** The open stream's connection; {@link resync} aborts it. */
  #connection: AbortController | undefined;
  #resyncing = false;
  /** Whether the stream is open now. */
  connected = false;
  /** Streams opened since start (tests and metrics). */
  connects = 0;

  constructor(options: {
    client: ControlPlaneClient;
    identity: () => AgentIdentity;
    logger: Logger;
    timing?: BundleFeedTiming;
    /** Takes the stream's `secret` events (issue 16); without it they are ignored. */
    secrets?: SecretStore;
  }) {
    super();
    this.setMaxListeners(0);
    this.#client = options.client;
    this.#identity = options.identity;
    this.#log = options.logger;
    this.#secrets = options.secrets;
    this.#timing = {
      minBackoffMs: 250,
      maxBackoffMs: 15_000,
      missedHeartbeats: 3,
      ...options.timing,
    };
  }

  /** The bundle held for `service`, if any. */
  get(service: string): HeldBundle | undefined {
    return this.#held.get(service);
  }

  /** Every service's held revision (for the agent's status report). */
  revisions(): { service: string; revision: number }[] {
    return [...this.#held].map(([service, b]) => ({ service, revision: b.revision }));
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  /**
   * Reopens the stream, for a fresh connect snapshot of everything in the node's scope: the
   * agent dropped what it held for a service whose entries left, and the service came back
   * before the control plane saw it leave (so it sends nothing again by itself).
   */
  resync(): void {
    if (!this.#connection || this.#connection.signal.aborted) return;
    this.#resyncing = true;
    this.#connection.abort();
  }

  /**
   * The bundle of `service`, fetched once when not held yet (a workload that started before the
   * stream named its service). One fetch at a time per service. Throws the control plane's
   * refusal (403: not a service of this node) or unreachability.
   */
  async ensure(service: string): Promise<HeldBundle | undefined> {
    const held = this.#held.get(service);
    if (held) return held;
    const refused = this.#refused.get(service);
    if (refused && Date.now() - refused.at < REFUSAL_MS) throw refused.error;
    let pending = this.#fetching.get(service);
    if (!pending) {
      pending = this.#fetch(service)
        .catch((error: unknown) => {
          if ((error as { status?: number }).status === 403) {
            if (this.#refused.size > 1000) this.#refused.clear();
            this.#refused.set(service, { at: Date.now(), error });
          }
          throw error;
        })
        .finally(() => this.#fetching.delete(service));
      this.#fetching.set(service, pending);
    }
    return pending;
  }

  async #fetch(service: string): Promise<HeldBundle | undefined> {
    const parsed = parseBundleEvent(await this.#client.bundle(this.#identity(), service));
    if (typeof parsed === 'string' || parsed.service !== service) {
      this.#log.warn({ service, why: parsed }, 'control plane sent a malformed bundle; ignored');
      return undefined;
    }
    this.#accept(parsed);
    return this.#held.get(service);
  }

  /** Keeps `b` when it is newer than what is held for its service; emits `bundle` then. */
  #accept(b: HeldBundle): void {
    const held = this.#held.get(b.service);
    if (held && (b.revision < held.revision || b.bundle.hash === held.bundle.hash)) return;
    this.#held.set(b.service, b);
    this.emit('bundle', b.service);
  }

  #onEvent(event: string, data: string, unconfirmed?: Set<string>): void {
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.#log.warn({ event }, 'agent watch: event data is not JSON; ignored');
      return;
    }
    if (event === 'bundle') {
      const parsed = parseBundleEvent(json);
      if (typeof parsed === 'string') this.#log.warn({ why: parsed }, 'agent watch: bad bundle');
      else this.#accept(parsed);
    } else if (event === 'secret') {
      if (!this.#secrets) return;
      const parsed = parseSecretEvent(json);
      // The reason names a field, never a value.
      if (typeof parsed === 'string') this.#log.warn({ why: parsed }, 'agent watch: bad secret');
      else {
        unconfirmed?.delete(`${parsed.service}\n${parsed.secret}`);
        this.#secrets.accept(parsed);
      }
    } else if (event === 'changed') {
      const service = (json as { service?: unknown } | null)?.service;
      if (typeof service !== 'string' || !isServiceKey(service)) return;
      // The control plane could not build it for the stream: fetch it (one at a time).
      void this.#fetch(service).catch((error: unknown) =>
        this.#log.warn({ service, err: (error as Error).message }, 'bundle fetch failed'),
      );
    }
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      const connection = new AbortController();
      this.#connection = connection;
      const stop = () => connection.abort();
      signal.addEventListener('abort', stop, { once: true });
      let healthy = false;
      try {
        const res = await this.#client.watch(this.#identity(), connection.signal);
        this.connected = true;
        this.connects++;
        healthy = true;
        this.emit('connected');
        await this.#read(res, connection);
      } catch (error) {
        if (!signal.aborted && !this.#resyncing) {
          this.#log.warn({ err: (error as Error).message }, 'agent bundle stream failed');
        }
      } finally {
        this.#resyncing = false;
        signal.removeEventListener('abort', stop);
        connection.abort();
        if (this.connected) {
          this.connected = false;
          this.emit('disconnected');
        }
      }
      if (signal.aborted) break;
      failures = healthy ? 1 : failures + 1;
      const cap = Math.min(this.#timing.maxBackoffMs, this.#timing.minBackoffMs * 2 ** failures);
      // Full jitter: a fleet of agents that lost the same replica does not return in lockstep.
      try {
        await sleep(Math.random() * cap, undefined, { signal });
      } catch {
        break;
      }
    }
  }

  /** Reads the stream until it ends, fails, or stays silent past the heartbeat allowance. */
  async #read(res: Response, connection: AbortController): Promise<void> {
    const announced = Number(res.headers.get('ward-heartbeat-ms'));
    const idleMs =
      Number.isSafeInteger(announced) && announced > 0
        ? announced * this.#timing.missedHeartbeats
        : 60_000;
    let timer = setTimeout(() => connection.abort(), idleMs);
    const parser = new SseParser({ maxLineLength: MAX_EVENT, maxEventSize: MAX_EVENT });
    // The control plane has no resume point and cannot know what this agent still holds: a
    // `removed` written while the agent was away never reaches it. Whatever the connect snapshot
    // (written whole before the stream's first heartbeat) does not carry again is withdrawn.
    let unconfirmed: Set<string> | undefined = this.#secrets
      ? new Set(this.#secrets.pairs().map(([s, n]) => `${s}\n${n}`))
      : undefined;
    let comments = parser.comments;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(timer);
        timer = setTimeout(() => connection.abort(), idleMs);
        for (const e of parser.feedBytes(chunk)) this.#onEvent(e.event, e.data, unconfirmed);
        if (unconfirmed && parser.comments !== comments) {
          comments = parser.comments;
          if (parser.lastComment.startsWith('heartbeat')) {
            for (const pair of unconfirmed) {
              const [service, secret] = pair.split('\n') as [string, string];
              this.#log.info({ service, secret }, 'secret not in the connect snapshot; dropped');
              this.#secrets?.withdraw(service, secret);
            }
            unconfirmed = undefined;
            this.#secrets?.markSynced();
          }
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
