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
 * - `event: secret`, `data: AgentSecretEventV1` — with the secrets plugin: a secret one of the
 *   node's services may read (on connect, when a service joins the scope, on every change of the
 *   secret), or `removed: true` when the service may no longer read it. Encoded once per
 *   (secret, service, revision) and written to every agent running that service.
 *
 * There is no resume point: on every connect the agent receives the current bundle of each
 * service in its scope (a node runs a few services; a snapshot is cheaper to reason about than a
 * per-service replay), and drops what it already holds.
 */
import type { ServerResponse } from 'node:http';
import type { AgentSecretEventV1, SecretTypeV1, SecretVersionV1 } from '@ward/api-types';
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
  /**
   * Revision of the last secret event written per `service\nsecret` (negated once `removed`
   * was written), so each pair's revisions rise; created by the hub.
   */
  secretsSent?: Map<string, number>;
}

interface AgentEvent {
  service: string;
  /** Bundle revision for `bundle` events; undefined for `changed` (never deduplicated). */
  revision: number | undefined;
  text: EventText;
  /** For `secret` events: the secret (deduplicated per service and secret). */
  secret?: string;
  /** A `removed` secret event. */
  removed?: boolean;
  /** A secret event queued while pending, already counted in `secretsSent` (written as is). */
  accounted?: boolean;
}

/** A secret's state as agents receive it (values decrypted once per state). */
export interface AgentSecretState {
  secret: string;
  type: SecretTypeV1;
  /** Store revision of this state. */
  revision: number;
  /** Reader service keys. */
  readers: readonly string[];
  /** Valid or pending versions, newest first; absent for `postgres`. */
  versions?: SecretVersionV1[];
}

/** Where secret events come from: set by the secrets plugin (`agentHub.secrets = …`). */
export interface AgentSecretSource {
  /** Keys of the secrets `service` may read now. */
  readableBy(service: string): Promise<readonly string[]>;
  /** The secret's state now; undefined when it is gone (deleted, undeclared). */
  state(secret: string): Promise<AgentSecretState | undefined>;
  /** Told after writes, off the write path (the audit of deliveries). */
  delivered?(delivery: SecretDelivery): void;
}

/** What one snapshot or fan-out delivered. */
export type SecretDelivery =
  | {
      kind: 'snapshot';
      agent: string;
      node: string;
      secrets: { service: string; secret: string; versions: number[] }[];
    }
  | {
      kind: 'fanout';
      secret: string;
      revision: number;
      versions: number[];
      services: string[];
      removedFrom: string[];
      agents: number;
    };

const pairKey = (service: string, secret: string) => `${service}\n${secret}`;

/** `event: secret` for one (service, state); `removed` when the service may not read it. */
export function agentSecretEvent(
  service: string,
  spiffeId: string,
  state: Pick<AgentSecretState, 'secret' | 'type' | 'revision' | 'versions'>,
  removed = false,
): Buffer {
  const data: AgentSecretEventV1 = {
    service,
    spiffeId,
    secret: state.secret,
    revision: state.revision,
    type: state.type,
    ...(removed ? { removed: true } : state.versions ? { versions: state.versions } : {}),
  };
  return Buffer.from(`event: secret\ndata: ${JSON.stringify(data)}\n\n`);
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

/** Timing of one secret's change written to the agent streams (`GET /v1/agent/watch/stats`). */
export interface SecretFanoutTiming {
  secret: string;
  /** Revision of the secret state written. */
  revision: number;
  /** Agent streams written to (one event per reader service each runs). */
  streams: number;
  /** From the revision reaching this hub to the secret's state read (decrypted once), ms. */
  loadMs: number;
  /** Encoding once per (service, SPIFFE ID) and writing to every stream, ms. */
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
  /** Secret events written (one per agent per service and secret state), for tests and metrics. */
  secretsPushed = 0;
  /** The last secret change fanned out: its state's load and its writes to every stream. */
  lastSecretFanout: SecretFanoutTiming | undefined;
  /** Set by the secrets plugin; without it agents receive bundles only. */
  secrets: AgentSecretSource | undefined;
  /** Watchers holding each secret (for some service): who gets `removed`. */
  readonly #secretHolders = new Map<string, Set<AgentWatcher>>();
  /** Watchers reading a secret snapshot (states read before a change may land after it). */
  readonly #snapshotting = new Map<AgentWatcher, number>();

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
    await this.#secretSnapshot(w, [...w.scope.keys()]);
  }

  /** Ends snapshot mode: writes what was queued, in order, each service's revisions rising. */
  goLive(w: AgentWatcher): void {
    const queued = w.pending ?? [];
    w.pending = null;
    for (const e of queued) {
      if (e.accounted) this.#write(w, e.text);
      else this.#send(w, e);
    }
  }

  remove(w: AgentWatcher): void {
    if (!this.#all.delete(w)) return;
    for (const k of w.secretsSent?.keys() ?? []) {
      const secret = k.slice(k.indexOf('\n') + 1);
      const set = this.#secretHolders.get(secret);
      set?.delete(w);
      if (set?.size === 0) this.#secretHolders.delete(secret);
    }
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
    const left: [string, string][] = [];
    for (const s of w.scope.keys()) {
      if (scope.get(s) === w.scope.get(s)) continue;
      this.#byService.get(s)?.delete(w);
      w.sent.delete(s);
      left.push([s, w.scope.get(s)!]);
    }
    w.scope = scope;
    // Secrets of a service that left the node (or changed identity) are withdrawn at once.
    for (const [service, spiffeId] of left) this.#withdrawService(w, service, spiffeId);
    this.#index(w, added);
    await Promise.all(added.map((s) => this.#snapshot(w, s)));
    await this.#secretSnapshot(w, added);
  }

  /**
   * Secrets changed at `revision`: each is read once (decrypted once) and its event encoded once
   * per reader service, then written to every agent running that service; agents holding it
   * for a service that is no longer a reader get `removed`.
   */
  publishSecrets(revision: number, secrets: readonly string[]): void {
    if (!this.secrets || this.#all.size === 0) return;
    for (const secret of secrets) void this.#pushSecret(secret, revision);
  }

  async #pushSecret(secret: string, revision: number): Promise<void> {
    const source = this.secrets;
    if (!source) return;
    const t0 = performance.now();
    let state: AgentSecretState | undefined;
    try {
      state = await source.state(secret);
    } catch {
      return; // KEK unavailable or store error: logged by the source; agents keep what they hold.
    }
    const t1 = performance.now();
    const readers = new Set(state?.readers ?? []);
    const services: string[] = [];
    let agents = 0;
    if (state) {
      for (const service of readers) {
        const set = this.#byService.get(service);
        if (!set || set.size === 0) continue;
        services.push(service);
        const bySpiffe = new Map<string, Buffer>();
        for (const w of set) {
          const spiffeId = w.scope.get(service)!;
          let text = bySpiffe.get(spiffeId);
          if (!text) {
            text = agentSecretEvent(service, spiffeId, state);
            bySpiffe.set(spiffeId, text);
          }
          this.#send(w, { service, secret, revision: state.revision, text });
          agents++;
        }
      }
      if (agents > 0) {
        this.lastSecretFanout = {
          secret,
          revision: state.revision,
          streams: agents,
          loadMs: t1 - t0,
          writeMs: performance.now() - t1,
        };
      }
    }
    const removedFrom = new Set<string>();
    // A watcher reading a snapshot may yet receive a state read before this change: a
    // tombstone at this revision makes its pairs drop anything older.
    for (const w of this.#snapshotting.keys()) {
      for (const service of w.scope.keys()) {
        const k = pairKey(service, secret);
        if (readers.has(service) || w.secretsSent?.has(k)) continue;
        w.secretsSent ??= new Map();
        w.secretsSent.set(k, -revision);
      }
    }
    for (const w of [...(this.#secretHolders.get(secret) ?? [])]) {
      for (const [service, spiffeId] of w.scope) {
        const held = w.secretsSent?.get(pairKey(service, secret));
        if (readers.has(service) || held === undefined || held < 0) continue;
        const gone = { secret, type: state?.type ?? 'static', revision, versions: undefined };
        this.#send(w, {
          service,
          secret,
          revision,
          removed: true,
          text: agentSecretEvent(service, spiffeId, gone, true),
        });
        removedFrom.add(service);
      }
    }
    if (agents > 0 || removedFrom.size > 0) {
      source.delivered?.({
        kind: 'fanout',
        secret,
        revision,
        versions: state?.versions?.map((v) => v.version) ?? [],
        services,
        removedFrom: [...removedFrom].sort(),
        agents,
      });
    }
  }

  /** The secrets `services` may read, as events queued (or written) to `w`. */
  async #secretSnapshot(w: AgentWatcher, services: readonly string[]): Promise<void> {
    const source = this.secrets;
    if (!source || services.length === 0) return;
    const delivered: { service: string; secret: string; versions: number[] }[] = [];
    this.#snapshotting.set(w, (this.#snapshotting.get(w) ?? 0) + 1);
    try {
      await this.#secretSnapshotOf(w, services, source, delivered);
    } finally {
      const n = (this.#snapshotting.get(w) ?? 1) - 1;
      if (n > 0) this.#snapshotting.set(w, n);
      else this.#snapshotting.delete(w);
    }
    if (delivered.length > 0) {
      source.delivered?.({ kind: 'snapshot', agent: w.agentId, node: w.node, secrets: delivered });
    }
  }

  async #secretSnapshotOf(
    w: AgentWatcher,
    services: readonly string[],
    source: AgentSecretSource,
    delivered: { service: string; secret: string; versions: number[] }[],
  ): Promise<void> {
    await Promise.all(
      services.map(async (service) => {
        let keys: readonly string[];
        try {
          keys = await source.readableBy(service);
        } catch {
          return;
        }
        for (const secret of keys) {
          const state = await source.state(secret).catch(() => undefined);
          const spiffeId = w.scope.get(service);
          if (!state || spiffeId === undefined || !state.readers.includes(service)) continue;
          this.#send(w, {
            service,
            secret,
            revision: state.revision,
            text: agentSecretEvent(service, spiffeId, state),
          });
          delivered.push({
            service,
            secret,
            versions: state.versions?.map((v) => v.version) ?? [],
          });
        }
      }),
    );
  }

  /** `removed` for every secret `w` holds for `service` (which left its scope). */
  #withdrawService(w: AgentWatcher, service: string, spiffeId: string): void {
    const prefix = `${service}\n`;
    for (const k of [...(w.secretsSent?.keys() ?? [])]) {
      const held = w.secretsSent!.get(k)!;
      if (!k.startsWith(prefix)) continue;
      const secret = k.slice(prefix.length);
      if (held < 0) {
        w.secretsSent?.delete(k);
        continue;
      }
      const revision = Math.max(this.#revision(), held + 1);
      const text = agentSecretEvent(service, spiffeId, { secret, type: 'static', revision }, true);
      this.#send(w, { service, secret, revision, removed: true, text });
      // Forgotten: should the service come back, its snapshot is sent whatever its revision.
      w.secretsSent?.delete(k);
    }
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
    // Secret events are counted when queued: a rescope or a withdrawal while the snapshot is
    // read must see what is queued, or it would be written after the withdrawal.
    if (!this.#all.has(w)) return; // closed while a snapshot was read: kept by no index
    if (w.pending && e.secret === undefined) {
      w.pending.push(e);
      return;
    }
    if (e.secret !== undefined) {
      if (!w.secretsSent) w.secretsSent = new Map();
      const sent = w.secretsSent;
      const k = pairKey(e.service, e.secret);
      // A negative entry is a withdrawn pair (`removed` written at that revision).
      const held = sent.get(k);
      if (held !== undefined && e.revision! <= Math.abs(held)) return;
      if (e.removed) {
        if (held === undefined || held < 0) return; // not held: nothing to withdraw
        sent.set(k, -e.revision!);
      } else {
        sent.set(k, e.revision!);
        const holders = this.#secretHolders.get(e.secret);
        if (holders) holders.add(w);
        else this.#secretHolders.set(e.secret, new Set([w]));
      }
      this.secretsPushed++;
      w.bundleBytes = Math.max(w.bundleBytes, e.text.length);
      if (w.pending) w.pending.push({ ...e, accounted: true });
      else this.#write(w, e.text);
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
