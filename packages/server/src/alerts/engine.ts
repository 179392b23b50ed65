/**
 * The alerts engine: every interval it asks each source what is firing, keeps the firing alerts
 * by name and key, and hands the receivers an alert when it starts, again every repeat interval
 * while it fires (Alertmanager forgets an alert it has not heard of for its resolve timeout), and
 * once more with `endsAt` when it resolves.
 *
 * Every replica evaluates (so each answers `GET /v1/alerts`), but only the leader sends: a
 * replica that is not the leader marks nothing as sent, so when it takes over it sends what
 * fires at once. A source that fails keeps its alerts as they were: an outage of the store must
 * not read as "everything resolved".
 */
import type { AlertInstance, AlertSource } from './types.ts';

/** An alert as the receivers get it (Alertmanager's postable alert, plus Ward's name and key). */
export interface AlertMessage {
  name: AlertInstance['name'];
  key: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: { summary: string; description?: string };
  startsAt: string;
  /** Set when resolved. */
  endsAt?: string;
  generatorURL: string;
}

/** Where messages go (a webhook, Alertmanager); must not throw, and should queue and return. */
export interface AlertReceiver {
  readonly name: string;
  deliver(messages: readonly AlertMessage[]): void;
}

export interface FiringAlert {
  instance: AlertInstance;
  startsAt: string;
  /** When this replica last sent it (0: never). */
  sentAt: number;
}

export interface EngineOptions {
  sources: readonly AlertSource[];
  receivers: readonly AlertReceiver[];
  /** Whether this replica sends (PostgreSQL: holds the advisory lock; SQLite: always). */
  isLeader: () => Promise<boolean>;
  /** Firing alerts are sent again this often. Default 5 min. */
  repeatMs: number;
  /** Link from an alert back to the console (its `generatorURL`). */
  generatorURL: string;
  /** A source that has not answered in this long counts as failed. */
  evaluateTimeoutMs: number;
  now: () => number;
  log: (message: string) => void;
}

export function alertId(a: { name: string; key: string }): string {
  return `${a.name}\u0000${a.key}`;
}

export class AlertEngine {
  readonly #o: EngineOptions;
  readonly #sources: AlertSource[];
  readonly #firing = new Map<string, FiringAlert>();
  /** Which source reported each alert (a failing source keeps its own). */
  readonly #by = new Map<string, AlertSource>();
  #running: Promise<void> | null = null;
  /** Evaluations completed (for tests). */
  evaluations = 0;

  constructor(options: EngineOptions) {
    this.#o = options;
    this.#sources = [...options.sources];
  }

  addSource(source: AlertSource): void {
    this.#sources.push(source);
  }

  /** What fires now, by name then key. */
  firing(): FiringAlert[] {
    return [...this.#firing.values()].sort((a, b) =>
      alertId(a.instance) < alertId(b.instance) ? -1 : 1,
    );
  }

  /** Resolves when no evaluation runs. */
  async idle(): Promise<void> {
    await this.#running;
  }

  /** One evaluation (calls coalesce while one runs). */
  tick(): Promise<void> {
    this.#running ??= this.#evaluate().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #evaluate(): Promise<void> {
    const now = this.#o.now();
    const iso = new Date(now).toISOString();
    const seen = new Set<string>();
    const failed = new Set<AlertSource>();
    for (const source of this.#sources) {
      let list: AlertInstance[];
      let timer: NodeJS.Timeout | undefined;
      try {
        // A source that hangs must not stop the others, nor every later evaluation.
        list = await Promise.race([
          source.evaluate(now),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer in ${this.#o.evaluateTimeoutMs} ms`)),
              this.#o.evaluateTimeoutMs,
            );
          }),
        ]);
      } catch (error) {
        failed.add(source);
        this.#o.log(`alert source ${source.name} failed: ${(error as Error).message}`);
        continue;
      } finally {
        clearTimeout(timer);
      }
      for (const a of list) {
        const id = alertId(a);
        seen.add(id);
        this.#by.set(id, source);
        const old = this.#firing.get(id);
        if (old) old.instance = a;
        else this.#firing.set(id, { instance: a, startsAt: a.startsAt ?? iso, sentAt: 0 });
      }
    }
    const resolved: AlertMessage[] = [];
    for (const [id, f] of this.#firing) {
      if (seen.has(id) || failed.has(this.#by.get(id)!)) continue;
      this.#firing.delete(id);
      this.#by.delete(id);
      // Only a resolution of something this replica announced is worth sending.
      if (f.sentAt > 0) resolved.push(this.#message(f, iso));
    }
    this.evaluations++;
    let leader = false;
    try {
      leader = await this.#o.isLeader();
    } catch (error) {
      this.#o.log(`alert leadership: ${(error as Error).message}`);
    }
    if (!leader) {
      // Not sending: forget what was sent, so a later takeover announces everything firing.
      for (const f of this.#firing.values()) f.sentAt = 0;
      return;
    }
    const due: AlertMessage[] = [...resolved];
    for (const f of this.#firing.values()) {
      if (f.sentAt === 0 || now - f.sentAt >= this.#o.repeatMs) {
        f.sentAt = now;
        due.push(this.#message(f));
      }
    }
    if (due.length === 0) return;
    for (const r of this.#o.receivers) r.deliver(due);
  }

  #message(f: FiringAlert, endsAt?: string): AlertMessage {
    const a = f.instance;
    return {
      name: a.name,
      key: a.key,
      status: endsAt ? 'resolved' : 'firing',
      labels: { ...a.labels, alertname: a.name, severity: a.severity },
      annotations: {
        summary: a.summary,
        ...(a.description !== undefined ? { description: a.description } : {}),
      },
      startsAt: f.startsAt,
      ...(endsAt ? { endsAt } : {}),
      generatorURL: this.#o.generatorURL,
    };
  }
}
