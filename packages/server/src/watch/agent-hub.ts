/**
 * Fan-out to node agents: one server-sent-event stream per agent carries the signed bundles of
 * exactly the services whose workloads are registered on that agent's node (its scope). A change
 * to service S costs one build of S's bundle (the shared bundle cache), one buffer encoded once,
 * and one `write` per agent whose node runs S — the control plane's fan-out grows with nodes, not
 * with service instances; each agent hands the bundle on to its local PDPs.
 *
 * Events (see docs/api.md, `GET /v1/agent/watch`):
 * - `event: bundle`, `data: {"service":S,"spiffeId":ID,"revision":R,"bundle":<SignedBundleV1>}` — S changed (or
 *   the agent just connected): the agent keeps it and serves it to S's workloads.
 * - `event: changed`, `data: {"service":S,"revision":R}` — S changed but its bundle could not be
 *   built here; the agent fetches `GET /v1/agent/bundles/S` and meets the answer a GET gives.
 * - `: heartbeat <revision>` comments, like the PDP watch.
 *
 * There is no resume point: on every connect the agent receives the current bundle of each
 * service in its scope (a node runs a few services; a snapshot is cheaper to reason about than a
 * per-service replay), and drops what it already holds.
 */
import type { ServerResponse } from 'node:http';
import type { BuiltBundle } from '../bundles/builder.ts';
import { type BundleSource, type EventText, writeOrReset } from './hub.ts';

/** Services an agent may receive, by name, each with the SPIFFE ID its workloads hold. */
export type AgentScope = ReadonlyMap<string, string>;

export interface AgentWatcher {
  res: ServerResponse;
  /** The agent's SPIFFE ID: revoking it ends this stream. */
  agentId: string;
  /** The agent's node. */
  node: string;
  scope: AgentScope;
  /** Revision of the bundle last written, per service (each service's events only rise). */
  sent: Map<string, number>;
  /** Events queued while the connect snapshot is being read; null once live. */
  pending: AgentEvent[] | null;
  /** Size of the largest bundle written: a slow socket may hold one beyond the limit. */
  bundleBytes: number;
}

interface AgentEvent {
  service: string;
  /** Bundle revision for `bundle` events; undefined for `changed` (never deduplicated). */
  revision: number | undefined;
  text: EventText;
}

/** The agent envelope of one built bundle, per SPIFFE ID; weakly keyed by the cached build. */
const encoded = new WeakMap<BuiltBundle, Map<string, Buffer>>();

/** `event: bundle` for `service`, encoded once per build and shared by every agent stream. */
export function agentBundleEvent(service: string, spiffeId: string, built: BuiltBundle): Buffer {
  let bySpiffe = encoded.get(built);
  if (!bySpiffe) {
    bySpiffe = new Map();
    encoded.set(built, bySpiffe);
  }
  let buf = bySpiffe.get(spiffeId);
  if (!buf) {
    buf = Buffer.from(`event: bundle\ndata: ${agentBundleBody(service, spiffeId, built)}\n\n`);
    bySpiffe.set(spiffeId, buf);
  }
  return buf;
}

/**
 * JSON of `{ service, spiffeId, revision, bundle }`, the body of `GET /v1/agent/bundles/:service` and the
 * data of a `bundle` event. `built.body` is `JSON.stringify` output, so it is one line.
 */
export function agentBundleBody(service: string, spiffeId: string, built: BuiltBundle): string {
  return `{"service":${JSON.stringify(service)},"spiffeId":${JSON.stringify(spiffeId)},"revision":${built.revision},"bundle":${built.body}}`;
}

function changedEvent(service: string, revision: number): string {
  return `event: changed\ndata: ${JSON.stringify({ service, revision })}\n\n`;
}

/** Timing of one service's change written to the agent streams (`GET /v1/agent/watch/stats`). */
export interface FanoutTiming {
  service: string;
  /** Revision of the bundle written. */
  revision: number;
  /** Agent streams written to. */
  streams: number;
  /** From the revision reaching this hub to the bundle built (or taken from the cache), ms. */
  buildMs: number;
  /** Writing the one encoded buffer to every stream (the kernel takes it from there), ms. */
  writeMs: number;
}

export class AgentHub {
  readonly #byService = new Map<string, Set<AgentWatcher>>();
  readonly #all = new Set<AgentWatcher>();
  readonly #bundles: BundleSource;
  readonly #revision: () => number;
  readonly #timer: NodeJS.Timeout;
  readonly heartbeatMs: number;
  /** Agents reset for reading too slowly, for metrics. */
  slowDropped = 0;
  /** Bundle events written (one per agent per bundle), for tests and the benchmark. */
  bundlesPushed = 0;
  /** The last change fanned out: how long its build and its writes to every stream took. */
  lastFanout: FanoutTiming | undefined;

  constructor(heartbeatMs: number, bundles: BundleSource, revision: () => number) {
    this.heartbeatMs = heartbeatMs;
    this.#bundles = bundles;
    this.#revision = revision;
    this.#timer = setInterval(() => this.#heartbeat(), heartbeatMs);
    this.#timer.unref();
  }

  get size(): number {
    return this.#all.size;
  }

  watchers(): Iterable<AgentWatcher> {
    return this.#all;
  }

  /** Registers a stream (queuing until {@link goLive}) and queues its connect snapshot. */
  async add(w: AgentWatcher): Promise<void> {
    this.#all.add(w);
    this.#index(w, w.scope.keys());
    await Promise.all([...w.scope.keys()].map((s) => this.#snapshot(w, s)));
  }

  /** Ends snapshot mode: writes what was queued, in order, each service's revisions rising. */
  goLive(w: AgentWatcher): void {
    const queued = w.pending ?? [];
    w.pending = null;
    for (const e of queued) this.#send(w, e);
  }

  remove(w: AgentWatcher): void {
    if (!this.#all.delete(w)) return;
    for (const s of w.scope.keys()) {
      const set = this.#byService.get(s);
      set?.delete(w);
      if (set?.size === 0) this.#byService.delete(s);
    }
  }

  /**
   * Replaces an agent's scope (entries or Service identities changed): services that left stop
   * flowing at once; services that joined get their current bundle.
   */
  async rescope(w: AgentWatcher, scope: AgentScope): Promise<void> {
    if (!this.#all.has(w)) return;
    const added = [...scope.keys()].filter((s) => w.scope.get(s) !== scope.get(s));
    for (const s of w.scope.keys()) {
      if (scope.get(s) === w.scope.get(s)) continue;
      this.#byService.get(s)?.delete(w);
      w.sent.delete(s);
    }
    w.scope = scope;
    this.#index(w, added);
    await Promise.all(added.map((s) => this.#snapshot(w, s)));
  }

  /** A revision was committed: pushes each changed service's bundle to the agents running it. */
  publish(event: { revision: number; services: readonly string[] }): void {
    const services = event.services.includes('*')
      ? [...this.#byService.keys()]
      : event.services.filter((s) => this.#byService.has(s));
    for (const s of services) void this.#push(s, event.revision);
  }

  /** Ends the streams of agent `agentId` (revoked); returns how many. */
  closeHeldBy(agentId: string): number {
    return this.closeWhere((w) => w.agentId === agentId);
  }

  closeWhere(pred: (w: AgentWatcher) => boolean): number {
    let ended = 0;
    for (const w of this.#all) {
      if (!pred(w)) continue;
      this.remove(w);
      w.res.end();
      ended++;
    }
    return ended;
  }

  close(): void {
    clearInterval(this.#timer);
    this.closeWhere(() => true);
  }

  #index(w: AgentWatcher, services: Iterable<string>): void {
    for (const s of services) {
      const set = this.#byService.get(s);
      if (set) set.add(w);
      else this.#byService.set(s, new Set([w]));
    }
  }

  async #build(service: string): Promise<BuiltBundle | undefined> {
    try {
      return await this.#bundles.get(service);
    } catch {
      return undefined;
    }
  }

  async #snapshot(w: AgentWatcher, service: string): Promise<void> {
    const built = await this.#build(service);
    const spiffeId = w.scope.get(service);
    if (!built || spiffeId === undefined) return;
    this.#send(w, {
      service,
      revision: built.revision,
      text: agentBundleEvent(service, spiffeId, built),
    });
  }

  /**
   * Builds resolve in any order; the per-service watermark drops a bundle not newer than one
   * already written, so each agent sees every service's revisions rise. A `*` event that left a
   * bundle unchanged yields the same cached build and is skipped the same way.
   */
  async #push(service: string, revision: number): Promise<void> {
    const t0 = performance.now();
    const built = await this.#build(service);
    const set = this.#byService.get(service);
    if (!set) return;
    const t1 = performance.now();
    if (!built) {
      const text = changedEvent(service, revision);
      for (const w of set) this.#send(w, { service, revision: undefined, text });
      return;
    }
    for (const w of set) {
      const spiffeId = w.scope.get(service)!;
      this.#send(w, {
        service,
        revision: built.revision,
        text: agentBundleEvent(service, spiffeId, built),
      });
    }
    this.lastFanout = {
      service,
      revision: built.revision,
      streams: set.size,
      buildMs: t1 - t0,
      writeMs: performance.now() - t1,
    };
  }

  #send(w: AgentWatcher, e: AgentEvent): void {
    if (w.pending) {
      w.pending.push(e);
      return;
    }
    if (e.revision !== undefined) {
      if (e.revision <= (w.sent.get(e.service) ?? 0)) return;
      w.sent.set(e.service, e.revision);
      this.bundlesPushed++;
      w.bundleBytes = Math.max(w.bundleBytes, e.text.length);
    }
    this.#write(w, e.text);
  }

  #write(w: AgentWatcher, text: EventText): void {
    if (writeOrReset(w.res, text, w.bundleBytes)) return;
    this.remove(w);
    this.slowDropped++;
  }

  #heartbeat(): void {
    const text = `: heartbeat ${this.#revision()}\n\n`;
    for (const w of this.#all) if (!w.pending) this.#write(w, text);
  }
}
