/**
 * Fan-out of revision events to server-sent-event streams. Per event the cost is one string
 * built once plus one `write` per interested watcher; watchers filtered to a service sit in a
 * per-service set, so an event on `orders` never visits the watchers of `payments`. One shared
 * heartbeat timer serves every connection (no per-connection timers).
 */
import type { ServerResponse } from 'node:http';
import type { WatchEventV1 } from '@ward/api-types';

/** A watcher whose socket buffers more than this is too slow: it is dropped and will resume. */
const MAX_BUFFERED = 1 << 20;
const HEARTBEAT = ': heartbeat\n\n';

export interface Watcher {
  res: ServerResponse;
  /** `?service=` filter, if any. */
  service?: string;
  /** Highest revision written to this watcher. */
  lastSent: number;
  /** Events queued while the watcher's backlog is being read; null once live. */
  pending: { revision: number; text: string }[] | null;
}

export function formatEvent(event: WatchEventV1): string {
  return `id: ${event.revision}\nevent: revision\ndata: ${JSON.stringify(event)}\n\n`;
}

export function eventConcerns(event: WatchEventV1, service: string | undefined): boolean {
  return service === undefined || event.services.includes('*') || event.services.includes(service);
}

export class WatchHub {
  readonly #unfiltered = new Set<Watcher>();
  readonly #byService = new Map<string, Set<Watcher>>();
  readonly #timer: NodeJS.Timeout;
  #count = 0;

  constructor(heartbeatMs: number) {
    this.#timer = setInterval(() => this.#heartbeat(), heartbeatMs);
    this.#timer.unref();
  }

  get size(): number {
    return this.#count;
  }

  add(w: Watcher): void {
    if (w.service === undefined) this.#unfiltered.add(w);
    else {
      const set = this.#byService.get(w.service);
      if (set) set.add(w);
      else this.#byService.set(w.service, new Set([w]));
    }
    this.#count++;
  }

  remove(w: Watcher): void {
    let removed: boolean;
    if (w.service === undefined) removed = this.#unfiltered.delete(w);
    else {
      const set = this.#byService.get(w.service);
      removed = set?.delete(w) ?? false;
      if (set && set.size === 0) this.#byService.delete(w.service);
    }
    if (removed) this.#count--;
  }

  publish(event: WatchEventV1): void {
    const text = formatEvent(event);
    const send = (w: Watcher) => this.send(w, event.revision, text);
    this.#unfiltered.forEach(send);
    if (event.services.includes('*')) {
      for (const set of this.#byService.values()) set.forEach(send);
    } else {
      for (const s of event.services) this.#byService.get(s)?.forEach(send);
    }
  }

  /** Writes one event to one watcher unless it already has it (or queues it during backlog). */
  send(w: Watcher, revision: number, text: string): void {
    if (w.pending) {
      w.pending.push({ revision, text });
      return;
    }
    if (revision <= w.lastSent) return;
    w.lastSent = revision;
    this.#write(w, text);
  }

  /** Ends backlog mode: flushes events that arrived meanwhile, in order, without duplicates. */
  goLive(w: Watcher): void {
    const queued = w.pending ?? [];
    w.pending = null;
    for (const e of queued) this.send(w, e.revision, e.text);
  }

  #write(w: Watcher, text: string): void {
    if (w.res.writableLength > MAX_BUFFERED) {
      w.res.destroy();
      this.remove(w);
      return;
    }
    w.res.write(text);
  }

  #heartbeat(): void {
    const beat = (w: Watcher) => {
      if (!w.pending) this.#write(w, HEARTBEAT);
    };
    this.#unfiltered.forEach(beat);
    for (const set of this.#byService.values()) set.forEach(beat);
  }

  /** Ends every stream (server shutdown). */
  close(): void {
    clearInterval(this.#timer);
    const end = (w: Watcher) => w.res.end();
    this.#unfiltered.forEach(end);
    for (const set of this.#byService.values()) set.forEach(end);
    this.#unfiltered.clear();
    this.#byService.clear();
    this.#count = 0;
  }
}
