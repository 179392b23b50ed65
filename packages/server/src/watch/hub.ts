/**
 * Fan-out of revision events to server-sent-event streams. Per event the cost is one string
 * built once plus one `write` per interested watcher; watchers filtered to a service sit in a
 * per-service set, so an event on `orders` never visits the watchers of `payments`. One shared
 * heartbeat timer serves every connection (no per-connection timers).
 *
 * Watchers of one service that asked for pushed bundles (`ward-watch-include: bundle`) sit in a
 * separate per-service set: for them an event becomes that service's built bundle (one cached
 * build, one pre-encoded buffer) instead of a `revision` event they would answer with a GET.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { WatchEventV1 } from '@ward/api-types';
import type { BuiltBundle } from '../bundles/builder.ts';
import { bundleEvent } from './bundle-event.ts';

/**
 * A watcher whose socket buffers more than this (in user space, beyond what the kernel took) is
 * too slow: it is reset and will resume. Bounds the memory one watcher can pin in this process.
 */
export const MAX_BUFFERED = 1 << 20;

/** A pre-formatted event: a string, or bytes encoded once for many sockets. */
export type EventText = string | Buffer;

export interface Watcher {
  res: ServerResponse;
  /** `?service=` filter, if any. */
  service?: string;
  /** Receives `bundle` events for `service` instead of `revision` events (needs `service`). */
  push?: boolean;
  /**
   * Highest revision written to this watcher: an event's revision, or for a `bundle` event the
   * bundle's revision. Both count in global revisions, so one watermark orders both.
   */
  lastSent: number;
  /** Events queued while the watcher's backlog is being read; null once live. */
  pending: { revision: number; text: EventText }[] | null;
  /** Size of the last bundle written: a slow socket may hold one bundle beyond the limit. */
  bundleBytes?: number;
  /** Id of the credential the stream was opened with (a token id, or a client SPIFFE ID). */
  heldBy?: string;
}

/** Where pushed bundles come from: the per-service bundle cache (single-flight builds). */
export interface BundleSource {
  get(service: string): Promise<BuiltBundle | undefined>;
}

export function formatEvent(event: WatchEventV1): string {
  // Exactly the wire fields: the revision log's server-side `secrets` never reaches a PDP.
  const data = JSON.stringify({ revision: event.revision, services: event.services });
  return `id: ${event.revision}\nevent: revision\ndata: ${data}\n\n`;
}

export function eventConcerns(event: WatchEventV1, service: string | undefined): boolean {
  return service === undefined || event.services.includes('*') || event.services.includes(service);
}

/**
 * Drops a slow watcher's connection with a TCP reset. A graceful close (FIN) would queue behind
 * the megabytes the kernel still holds for a peer whose receive window is closed: the socket sits
 * in FIN-WAIT-1 with its send buffer (up to `tcp_wmem` max, ~4 MiB) for minutes, and a few
 * hundred such clients push the whole machine into TCP memory pressure. A reset frees it at once.
 * Over TLS the reset goes to the TCP socket beneath (the TLS socket's handle is not TCP).
 */
export function resetConnection(res: ServerResponse): void {
  const socket = res.socket;
  const tcp =
    socket instanceof TLSSocket ? (socket as unknown as { _parent?: Socket })._parent : socket;
  try {
    tcp?.resetAndDestroy();
  } catch {
    // Not a TCP handle (a TLS socket over another stream): fall back to a plain destroy.
  }
  res.destroy();
}

/**
 * Writes `text` to a watcher's stream, or, when more than `MAX_BUFFERED` (plus `allowance`, the
 * bytes of a bundle event it was sent) already waits unread, resets the connection and returns
 * false: the caller forgets the watcher. Shared by the per-service and the agent hubs.
 */
export function writeOrReset(res: ServerResponse, text: EventText, allowance: number): boolean {
  if (res.writableLength > MAX_BUFFERED + allowance) {
    resetConnection(res);
    return false;
  }
  res.write(text);
  return true;
}

/**
 * Other streams held by a credential (the live tail of denials): attached to the hub so that
 * every path that ends a revoked token's watch streams (this replica, NOTIFY, the sweep) ends
 * them too.
 */
export interface HeldStreams {
  holders(): Iterable<string>;
  closeHeldBy(id: string): number;
}

export class WatchHub {
  readonly #attached = new Set<HeldStreams>();
  readonly #unfiltered = new Set<Watcher>();
  readonly #byService = new Map<string, Set<Watcher>>();
  /** Watchers that receive pushed bundles, by service. */
  readonly #pushByService = new Map<string, Set<Watcher>>();
  readonly #bundles: BundleSource | undefined;
  readonly #timer: NodeJS.Timeout;
  #count = 0;
  /** Watchers reset for reading too slowly, for metrics. */
  slowDropped = 0;
  /** Bundle events written (one per watcher per pushed bundle), for tests and metrics. */
  bundlesPushed = 0;

  readonly #revision: (() => number) | undefined;
  /** Interval between heartbeats; announced to clients so they can time out a silent stream. */
  readonly heartbeatMs: number;

  /**
   * Without `bundles`, push requests are ignored and every watcher gets `revision` events.
   * With `revision`, heartbeats read `: heartbeat <revision>` (this replica's current revision,
   * so a client can tell a replica that lags another); SSE clients ignore comments either way.
   */
  constructor(heartbeatMs: number, bundles?: BundleSource, revision?: () => number) {
    this.#bundles = bundles;
    this.#revision = revision;
    this.heartbeatMs = heartbeatMs;
    this.#timer = setInterval(() => this.#heartbeat(), heartbeatMs);
    this.#timer.unref();
  }

  /** Whether this hub can push bundles (the watch route asks before honouring the header). */
  get pushesBundles(): boolean {
    return this.#bundles !== undefined;
  }

  #setOf(w: Watcher): Set<Watcher> | undefined {
    if (w.service === undefined) return this.#unfiltered;
    return (w.push ? this.#pushByService : this.#byService).get(w.service);
  }

  *#all(): Iterable<Watcher> {
    yield* this.#unfiltered;
    for (const set of this.#byService.values()) yield* set;
    for (const set of this.#pushByService.values()) yield* set;
  }

  get size(): number {
    return this.#count;
  }

  add(w: Watcher): void {
    if (w.push && (w.service === undefined || !this.#bundles)) w.push = false;
    if (w.service === undefined) this.#unfiltered.add(w);
    else {
      const map = w.push ? this.#pushByService : this.#byService;
      const set = map.get(w.service);
      if (set) set.add(w);
      else map.set(w.service, new Set([w]));
    }
    this.#count++;
  }

  remove(w: Watcher): void {
    const set = this.#setOf(w);
    const removed = set?.delete(w) ?? false;
    if (w.service !== undefined && set && set.size === 0) {
      (w.push ? this.#pushByService : this.#byService).delete(w.service);
    }
    if (removed) this.#count--;
  }

  publish(event: WatchEventV1): void {
    const text = formatEvent(event);
    const send = (w: Watcher) => this.send(w, event.revision, text);
    this.#unfiltered.forEach(send);
    const all = event.services.includes('*');
    if (all) {
      for (const set of this.#byService.values()) set.forEach(send);
    } else {
      for (const s of event.services) this.#byService.get(s)?.forEach(send);
    }
    if (this.#pushByService.size === 0) return;
    const pushed = all ? [...this.#pushByService.keys()] : event.services;
    for (const s of pushed) {
      if (this.#pushByService.has(s)) void this.#push(s, event, text);
    }
  }

  /**
   * Sends `service`'s bundle to its push watchers. Builds resolve in any order; the per-watcher
   * watermark drops a bundle not newer than one already sent, so each watcher sees strictly
   * rising revisions. A `*` event that left this bundle unchanged yields the same (cached) build
   * and is skipped the same way. When the bundle cannot be built (store error, service gone) the
   * watchers get the plain `revision` event instead: they fetch and meet the same answer a GET
   * gives, exactly as without push.
   */
  async #push(service: string, event: WatchEventV1, fallback: string): Promise<void> {
    let built: BuiltBundle | undefined;
    try {
      built = await this.#bundles?.get(service);
    } catch {
      built = undefined;
    }
    const set = this.#pushByService.get(service);
    if (!set) return;
    if (!built) {
      for (const w of set) this.send(w, event.revision, fallback);
      return;
    }
    this.sendBundle(set, built);
  }

  /** Writes (or queues) one built bundle to watchers of its service. */
  sendBundle(watchers: Iterable<Watcher>, built: BuiltBundle): void {
    const text = bundleEvent(built);
    for (const w of watchers) this.send(w, built.revision, text);
  }

  /** Writes one event to one watcher unless it already has it (or queues it during backlog). */
  send(w: Watcher, revision: number, text: EventText): void {
    if (w.pending) {
      w.pending.push({ revision, text });
      return;
    }
    if (revision <= w.lastSent) return;
    w.lastSent = revision;
    if (typeof text !== 'string') {
      this.bundlesPushed++;
      w.bundleBytes = text.length;
    }
    this.#write(w, text);
  }

  /** Ends backlog mode: flushes events that arrived meanwhile, in order, without duplicates. */
  goLive(w: Watcher): void {
    const queued = w.pending ?? [];
    w.pending = null;
    for (const e of queued) this.send(w, e.revision, e.text);
  }

  #write(w: Watcher, text: EventText): void {
    if (writeOrReset(w.res, text, w.bundleBytes ?? 0)) return;
    this.remove(w);
    this.slowDropped++;
  }

  #heartbeat(): void {
    // Deleting from a Set or Map while iterating it is safe, so a dropped watcher is fine here.
    const text = this.#revision ? `: heartbeat ${this.#revision()}\n\n` : ': heartbeat\n\n';
    for (const w of this.#all()) if (!w.pending) this.#write(w, text);
  }

  /**
   * Ends every stream opened with credential `id` (a revoked token). The client sees its stream
   * end; reconnecting with the same credential is refused. Returns how many were ended.
   */
  closeHeldBy(id: string): number {
    let ended = this.closeWhere((w) => w.heldBy === id);
    for (const a of this.#attached) ended += a.closeHeldBy(id);
    return ended;
  }

  /** Ends `streams` of a revoked credential along with the hub's own; returns a detach. */
  attach(streams: HeldStreams): () => void {
    this.#attached.add(streams);
    return () => this.#attached.delete(streams);
  }

  /** Ends every stream `pred` picks; returns how many. */
  closeWhere(pred: (w: Watcher) => boolean): number {
    let ended = 0;
    for (const w of this.#all()) {
      if (!pred(w)) continue;
      this.remove(w);
      w.res.end();
      ended++;
    }
    return ended;
  }

  /** Distinct credential ids behind the open streams (to re-check them for revocation). */
  holders(): Set<string> {
    const ids = new Set<string>();
    for (const w of this.#all()) if (w.heldBy !== undefined) ids.add(w.heldBy);
    for (const a of this.#attached) for (const id of a.holders()) ids.add(id);
    return ids;
  }

  /** Ends every stream (server shutdown). */
  close(): void {
    clearInterval(this.#timer);
    for (const w of this.#all()) w.res.end();
    this.#unfiltered.clear();
    this.#byService.clear();
    this.#pushByService.clear();
    this.#count = 0;
  }
}
