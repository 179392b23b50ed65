/**
 * Carries the live tail between replicas sharing PostgreSQL: the replica that ingests a denial
 * sends it with `NOTIFY ward_decision`, every replica LISTENs and publishes what others sent
 * (its own it has published already). Only events the sender's tail admitted travel, so a flood
 * costs the database at most the tail-wide rate. A notification payload is limited to 8000
 * bytes: events are packed into payloads under `MAX_PAYLOAD`, long texts cut to `MAX_FIELD`.
 *
 * The tail is best-effort by design (the raw denials table is the record): notifications lost
 * while a LISTEN connection is down are not replayed; the connection is re-opened after 1 s.
 */
import { randomBytes } from 'node:crypto';
import type { LiveDecisionV1 as LiveDecision } from '@ward/api-types';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { DecisionTail } from './tail.ts';

export const DECISION_CHANNEL = 'ward_decision';
const MAX_PAYLOAD = 7000;
const MAX_FIELD = 1024;

function cut(e: LiveDecision): LiveDecision {
  const c = (t: string | undefined) =>
    t !== undefined && t.length > MAX_FIELD ? `${t.slice(0, MAX_FIELD)}…` : t;
  const out: LiveDecision = { ...e, source: c(e.source)!, rule: c(e.rule)! };
  if (e.path !== undefined) out.path = c(e.path)!;
  return out;
}

/**
 * Packs events into payloads `origin\n[json,…]`, each under MAX_PAYLOAD bytes. An event still
 * too large after `cut` (control characters escape to six bytes each) is left out: it would
 * make `pg_notify` refuse the whole payload, its neighbours (other services' events) with it.
 */
export function pack(origin: string, events: readonly LiveDecision[]): string[] {
  const out: string[] = [];
  let items: string[] = [];
  let size = origin.length + 3;
  for (const e of events) {
    const text = JSON.stringify(cut(e));
    const bytes = Buffer.byteLength(text) + 1;
    if (origin.length + 3 + bytes > MAX_PAYLOAD) continue;
    if (items.length > 0 && size + bytes > MAX_PAYLOAD) {
      out.push(`${origin}\n[${items.join(',')}]`);
      items = [];
      size = origin.length + 3;
    }
    items.push(text);
    size += bytes;
  }
  if (items.length > 0) out.push(`${origin}\n[${items.join(',')}]`);
  return out;
}

export class DecisionRelay {
  readonly #origin = randomBytes(6).toString('hex');
  readonly #url: string;
  // biome-ignore lint/suspicious/noExplicitAny: any Kysely database; only raw SQL is sent
  readonly #db: Kysely<any>;
  readonly #tail: DecisionTail;
  readonly #log: (m: string) => void;
  #client: pg.Client | null = null;
  #retry: NodeJS.Timeout | null = null;
  #closed = false;

  // biome-ignore lint/suspicious/noExplicitAny: see #db
  constructor(url: string, db: Kysely<any>, tail: DecisionTail, log: (m: string) => void) {
    this.#url = url;
    this.#db = db;
    this.#tail = tail;
    this.#log = log;
  }

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#url });
    client.on('notification', (msg) => {
      if (msg.channel !== DECISION_CHANNEL || !msg.payload) return;
      const nl = msg.payload.indexOf('\n');
      if (nl < 0 || msg.payload.slice(0, nl) === this.#origin) return;
      try {
        const events: unknown = JSON.parse(msg.payload.slice(nl + 1));
        // Only replicas write this channel; a payload that is not a list is skipped (publishing
        // it would throw half-way or turn the `published` count into NaN).
        if (Array.isArray(events)) this.#tail.publish(events as LiveDecision[]);
      } catch {
        // A payload that does not parse is skipped likewise.
      }
    });
    const lost = () => {
      if (this.#client !== client) return;
      this.#client = null;
      client.end().catch(() => {});
      this.#schedule();
    };
    client.on('error', (e) => {
      this.#log(`decision tail LISTEN lost: ${e.message}`);
      lost();
    });
    client.on('end', lost);
    await client.connect();
    await client.query(`LISTEN ${DECISION_CHANNEL}`);
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
  }

  #schedule(): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.start().catch((e) => {
        this.#log(`decision tail LISTEN reconnect failed: ${(e as Error).message}`);
        this.#schedule();
      });
    }, 1000);
    this.#retry.unref();
  }

  /** Sends events this replica admitted to the others (errors are logged, not thrown). */
  send(events: readonly LiveDecision[]): void {
    for (const payload of pack(this.#origin, events)) {
      sql`SELECT pg_notify(${DECISION_CHANNEL}, ${payload})`
        .execute(this.#db)
        .catch((e) => this.#log(`decision tail NOTIFY failed: ${(e as Error).message}`));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    const c = this.#client;
    this.#client = null;
    await c?.end().catch(() => {});
  }
}
