/**
 * Steady load of the chaos tests, all in the test process: PDPs deciding at a steady rate, a
 * writer applying a change to the PDPs' policy continuously, and two writers racing on one
 * document with If-Match. Each records what a fault must not break.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pdp } from '@ward/sdk';
import { ADMIN_TOKEN } from '../../packages/sdk/test/_control-plane.ts';

/** How a request ended: an HTTP answer, or no answer (`sent` says whether it may have arrived). */
export type Outcome =
  | { answered: true; status: number; body: unknown; etag: string | null }
  | { answered: false; status: 0; error: string; sent: boolean };

// Errors meaning the request never reached a server: it cannot have taken effect.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL']);

/** One admin call with a timeout; never throws. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Outcome> {
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    return { answered: true, status: res.status, body, etag: res.headers.get('etag') };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    const code = cause?.code ?? (error as Error).name;
    return { answered: false, status: 0, error: code, sent: !NOT_SENT.has(code) };
  }
}

export const service = (name: string, labels: Record<string, string>) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name, labels },
  spec: {},
});

/** The `orders` intention: `web` always may call it, and so may the latest steady write's service. */
export const ordersIntention = (sources: string[]) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name: 'orders-callers' },
  spec: { destination: 'orders', mode: 'enforce', rules: [{ sources, action: 'allow' }] },
});

export const applyBody = (docs: object[]) => ({
  files: [{ name: 'chaos.yaml', content: docs.map((d) => JSON.stringify(d)).join('\n---\n') }],
});

/**
 * Decides `web → orders` on every PDP every few milliseconds. The policy always allows it, so any
 * other answer (no bundle yet, a stale-bundle denial, an evaluation error) is a decision outage.
 */
export class DecisionLoad {
  decisions = 0;
  readonly failures: { at: number; service: string; reason: string }[] = [];
  #timer: NodeJS.Timeout | null = null;

  readonly pdps: Pdp[];

  constructor(pdps: Pdp[]) {
    this.pdps = pdps;
  }

  start(): void {
    this.#timer = setInterval(() => {
      for (const pdp of this.pdps) {
        for (let i = 0; i < 20; i++) {
          const d = pdp.decide({ source: { service: 'web' } });
          this.decisions++;
          if (!d.allowed || d.rule === null) {
            this.failures.push({ at: Date.now(), service: pdp.service, reason: d.reason });
          }
        }
      }
    }, 5);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

/**
 * Applies, one after another and alternating between the replicas, a change that every PDP's
 * bundle sees: a new Service `chaos-N` (label `seq: N`) and the `orders` intention now allowing
 * `web` and `chaos-N`. Records which writes were acknowledged (200) and at which revision.
 */
/** How long the steady writer avoids a replica that did not answer. */
const AVOID_MS = 5_000;

export class SteadyWriter {
  readonly acked = new Map<number, { revision: number; via: string; at: number }>();
  readonly unexpected: { seq: number; via: string; status: number; body: unknown }[] = [];
  attempts = 0;
  #seq = 0;
  #running = false;
  readonly #avoidUntil = new Map<string, number>();
  #loop: Promise<void> | null = null;

  readonly replicas: () => string[];

  constructor(replicas: () => string[]) {
    this.replicas = replicas;
  }

  /** Highest revision acknowledged so far (0 before the first). */
  latest(): number {
    let max = 0;
    for (const { revision } of this.acked.values()) max = Math.max(max, revision);
    return max;
  }

  /** Longest time between acknowledgements in [from, to] (the ends count as acknowledgements). */
  longestGap(from: number, to: number): number {
    const times = [
      from,
      ...[...this.acked.values()].map((w) => w.at).filter((t) => t > from && t < to),
      to,
    ];
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    return gap;
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        const seq = ++this.#seq;
        // Like a real client, a replica that just failed to answer is avoided for a while, so a
        // frozen replica does not take every other write's timeout.
        const all = this.replicas();
        const now = Date.now();
        const healthy = all.filter((p) => (this.#avoidUntil.get(p) ?? 0) <= now);
        const planes = healthy.length > 0 ? healthy : all;
        const via = planes[seq % planes.length]!;
        const name = `chaos-${seq}`;
        this.attempts++;
        const res = await call(via, 'POST', '/v1/apply', {
          body: applyBody([service(name, { seq: String(seq) }), ordersIntention(['web', name])]),
        });
        if (res.answered && res.status === 200) {
          const { revision } = res.body as { revision: number };
          this.acked.set(seq, { revision, via, at: Date.now() });
        } else if (!res.answered) {
          this.#avoidUntil.set(via, Date.now() + AVOID_MS);
        } else if (res.status !== 503) {
          // The issue demands 503 while the store is unreachable: anything else is a finding.
          this.unexpected.push({ seq, via, status: res.status, body: res.body });
        }
        await sleep(40);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

/** Per round of the race: what each writer read and how its conditional write ended. */
interface RaceRound {
  round: number;
  reads: (string | null)[];
  writes: Outcome[];
}

/**
 * Two writers on one document (`Service counter`, label `count`), each preferring its own
 * replica: every round both read (ETag + count), then both write count+1 with `If-Match`. A
 * round where both writes were acknowledged although both read the same ETag is a lost update.
 */
export class CounterRace {
  readonly rounds: RaceRound[] = [];
  acknowledged = 0;
  refused = 0;
  /** Writes with no answer that may have reached the server: they may or may not have landed. */
  ambiguous = 0;
  readonly unexpected: Outcome[] = [];
  #running = false;
  #loop: Promise<void> | null = null;

  readonly replicas: () => string[];
  readonly name: string;

  constructor(replicas: () => string[], name = 'counter') {
    this.replicas = replicas;
    this.name = name;
  }

  /** Creates the document at count 0. */
  async init(): Promise<void> {
    const res = await call(this.replicas()[0]!, 'PUT', `/v1/services/${this.name}`, {
      body: service(this.name, { count: '0' }),
    });
    if (res.status !== 200) throw new Error(`counter init answered ${res.status}`);
  }

  /** Reads through `preferred`, else the other replica: the ETag and the count. */
  async #read(preferred: number): Promise<{ etag: string; count: number; via: string } | null> {
    const planes = this.replicas();
    for (const via of [
      planes[preferred % planes.length]!,
      planes[(preferred + 1) % planes.length]!,
    ]) {
      const res = await call(via, 'GET', `/v1/services/${this.name}`, { timeoutMs: 1000 });
      if (res.answered && res.status === 200 && res.etag) {
        const doc = res.body as { document: { metadata: { labels: Record<string, string> } } };
        return { etag: res.etag, count: Number(doc.document.metadata.labels.count), via };
      }
    }
    return null;
  }

  async #write(read: { etag: string; count: number; via: string }, who: string): Promise<Outcome> {
    const res = await call(read.via, 'PUT', `/v1/services/${this.name}`, {
      body: service(this.name, { count: String(read.count + 1), by: who }),
      headers: { 'if-match': read.etag },
    });
    if (res.status === 200) this.acknowledged++;
    else if (res.status === 412) this.refused++;
    else if (!res.answered && res.sent) this.ambiguous++;
    else if (res.answered && res.status !== 503) this.unexpected.push(res);
    return res;
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      for (let round = 1; this.#running; round++) {
        const reads = await Promise.all([this.#read(0), this.#read(1)]);
        const writes = await Promise.all(
          reads.map((r, i) =>
            r
              ? this.#write(r, `w${i}-${round}`)
              : Promise.resolve<Outcome>({
                  answered: false,
                  status: 0,
                  error: 'no read',
                  sent: false,
                }),
          ),
        );
        this.rounds.push({ round, reads: reads.map((r) => r?.etag ?? null), writes });
        await sleep(20);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /** Rounds in which both writers read the same ETag and both were acknowledged. */
  silentLosses(): RaceRound[] {
    return this.rounds.filter(
      (r) =>
        r.reads[0] !== null && r.reads[0] === r.reads[1] && r.writes.every((w) => w.status === 200),
    );
  }

  /** Rounds where both read the same ETag and both wrote (the races that test something). */
  contested(): number {
    return this.rounds.filter(
      (r) =>
        r.reads[0] !== null && r.reads[0] === r.reads[1] && r.writes.every((w) => w.status !== 0),
    ).length;
  }

  /** The count now, through `via`. */
  async count(via: string): Promise<number> {
    const res = await call(via, 'GET', `/v1/services/${this.name}`);
    if (!res.answered || res.status !== 200) throw new Error(`counter read answered ${res.status}`);
    return Number(
      (res.body as { document: { metadata: { labels: Record<string, string> } } }).document.metadata
        .labels.count,
    );
  }
}
