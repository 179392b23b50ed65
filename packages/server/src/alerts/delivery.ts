/**
 * Delivery of alerts: generic webhooks (a JSON POST, signed with HMAC-SHA256 when a secret is
 * configured) and Alertmanager's API v2 (`POST <url>/api/v2/alerts`). Each receiver has a
 * bounded queue and one sender: a receiver that is down or slow delays only itself, costs at
 * most `maxQueue` batches of memory (the oldest are dropped and counted), and each attempt is
 * cut at `timeoutMs`. Failures are retried with exponential backoff; 4xx answers (but 408 and
 * 429) are not, since the same body would be refused again.
 */
import { createHmac } from 'node:crypto';
import type { AlertMessage, AlertReceiver } from './engine.ts';

/** Header carrying `sha256=<hex HMAC-SHA256 of the body>` on webhook requests. */
export const SIGNATURE_HEADER = 'x-ward-signature';

export interface DeliveryOptions {
  /** Per attempt. Default 5000 ms. */
  timeoutMs: number;
  /** Attempts per batch (first included). Default 4. */
  attempts: number;
  /** First retry delay, doubled per attempt. Default 1000 ms. */
  backoffMs: number;
  /** Batches waiting per receiver at most. Default 100. */
  maxQueue: number;
  log: (message: string) => void;
}

export const DEFAULT_DELIVERY: Omit<DeliveryOptions, 'log'> = {
  timeoutMs: 5000,
  attempts: 4,
  backoffMs: 1000,
  maxQueue: 100,
};

export function signature(secret: string | Buffer, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Alertmanager API v2 postable alerts. */
export function alertmanagerBody(messages: readonly AlertMessage[]): string {
  return JSON.stringify(
    messages.map((m) => ({
      labels: m.labels,
      annotations: m.annotations,
      startsAt: m.startsAt,
      ...(m.endsAt ? { endsAt: m.endsAt } : {}),
      generatorURL: m.generatorURL,
    })),
  );
}

/** The webhook body: Alertmanager's own webhook shape, so existing receivers can read it. */
export function webhookBody(messages: readonly AlertMessage[]): string {
  return JSON.stringify({
    version: '4',
    receiver: 'ward',
    status: messages.some((m) => m.status === 'firing') ? 'firing' : 'resolved',
    alerts: messages.map((m) => ({
      status: m.status,
      labels: m.labels,
      annotations: m.annotations,
      startsAt: m.startsAt,
      endsAt: m.endsAt ?? '0001-01-01T00:00:00Z',
      generatorURL: m.generatorURL,
      fingerprint: m.key,
    })),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** One HTTP receiver: a queue of bodies and one sender draining it. */
export class HttpReceiver implements AlertReceiver {
  readonly name: string;
  readonly #url: string;
  readonly #format: (m: readonly AlertMessage[]) => string;
  readonly #secret: string | Buffer | undefined;
  #auth: string | undefined;
  readonly #o: DeliveryOptions;
  readonly #queue: string[] = [];
  #draining: Promise<void> | null = null;
  #closed = false;
  /** Batches dropped (queue full, or every attempt failed). */
  dropped = 0;
  /** Batches delivered. */
  delivered = 0;

  constructor(
    kind: 'webhook' | 'alertmanager',
    url: string,
    options: DeliveryOptions,
    secret?: string | Buffer,
  ) {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new TypeError(`alert receiver URL must be http(s): ${url}`);
    this.name = `${kind} ${u.origin}`;
    // fetch refuses URLs with credentials: they travel as basic auth instead (never logged).
    if (u.username || u.password) {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      this.#auth = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      u.username = '';
      u.password = '';
    }
    this.#url =
      kind === 'alertmanager' ? `${u.toString().replace(/\/+$/, '')}/api/v2/alerts` : u.toString();
    this.#format = kind === 'alertmanager' ? alertmanagerBody : webhookBody;
    this.#secret = secret;
    this.#o = options;
  }

  deliver(messages: readonly AlertMessage[]): void {
    if (this.#closed || messages.length === 0) return;
    if (this.#queue.length >= this.#o.maxQueue) {
      this.#queue.shift();
      this.dropped++;
      this.#o.log(`${this.name}: queue full, oldest alert batch dropped`);
    }
    this.#queue.push(this.#format(messages));
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = null;
    });
  }

  /** Waits until the queue is empty (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
  }

  async #drain(): Promise<void> {
    for (let body = this.#queue.shift(); body !== undefined; body = this.#queue.shift()) {
      if (await this.#send(body)) this.delivered++;
      else this.dropped++;
    }
  }

  async #send(body: string): Promise<boolean> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'ward-alerts',
    };
    if (this.#secret !== undefined) headers[SIGNATURE_HEADER] = signature(this.#secret, body);
    if (this.#auth !== undefined) headers.authorization = this.#auth;
    for (let i = 0; i < this.#o.attempts && !this.#closed; i++) {
      if (i > 0) await sleep(this.#o.backoffMs * 2 ** (i - 1));
      try {
        const res = await fetch(this.#url, {
          method: 'POST',
          headers,
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(this.#o.timeoutMs),
        });
        await res.body?.cancel().catch(() => {});
        if (res.ok) return true;
        this.#o.log(`${this.name}: answered ${res.status}`);
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
          return false;
      } catch (error) {
        this.#o.log(`${this.name}: ${(error as Error).message}`);
      }
    }
    return false;
  }
}
