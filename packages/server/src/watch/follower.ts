/**
 * Follows the store's revision log and turns each new revision into cache invalidation plus a
 * watch event. Local commits call `catchUp()` directly; on PostgreSQL a LISTEN connection on
 * channel `ward_revision` calls it when another replica commits, and a slow safety poll covers
 * notifications lost while that connection was down. Reading the log (rather than trusting
 * notification payloads) means events are published once each, in revision order, gap-free.
 */
import pg from 'pg';
import { REVOKED_CHANNEL } from '../auth/revocation.ts';
import type { RevisionEvent, Store } from '../store/store.ts';

export interface FollowerOptions {
  store: Store;
  /** Called for each new revision, in order (`secrets` is server-side only). */
  onRevision: (event: RevisionEvent) => void;
  /** A token was revoked on another replica (PostgreSQL `NOTIFY ward_token_revoked`). */
  onRevoked?: (tokenId: string) => void;
  /** PostgreSQL URL: enables LISTEN/NOTIFY. */
  postgresUrl?: string;
  pollMs?: number;
  log?: (message: string) => void;
  /**
   * Called when the replica starts or stops being able to follow the log: false when the store
   * fails a read, the LISTEN connection is lost, or a catch-up hangs for two poll intervals;
   * true again once LISTEN is back and a catch-up has completed (the replica is current).
   */
  onHealth?: (healthy: boolean) => void;
}

const CHANNEL = 'ward_revision';

export class RevisionFollower {
  readonly #opts: FollowerOptions;
  #last = 0;
  #running: Promise<void> | null = null;
  #again = false;
  #closed = false;
  #client: pg.Client | null = null;
  #poll: NodeJS.Timeout | null = null;
  #retry: NodeJS.Timeout | null = null;
  #healthy = true;
  #runningSince = 0;

  constructor(opts: FollowerOptions) {
    this.#opts = opts;
  }

  get revision(): number {
    return this.#last;
  }

  /** Whether this replica follows the revision log now (watches are served only then). */
  get healthy(): boolean {
    return this.#healthy;
  }

  #setHealthy(healthy: boolean, why?: string): void {
    if (this.#healthy === healthy || this.#closed) return;
    this.#healthy = healthy;
    this.#opts.log?.(
      healthy ? 'revision follower: caught up' : `revision follower: stale (${why})`,
    );
    this.#opts.onHealth?.(healthy);
  }

  /** Poll tick: a catch-up that has not finished in two intervals means the store hangs. */
  #tick(pollMs: number): void {
    if (this.#running && Date.now() - this.#runningSince > 2 * pollMs) {
      this.#setHealthy(false, 'the store does not answer');
    }
    void this.catchUp();
  }

  async start(): Promise<void> {
    this.#last = (await this.#opts.store.revision()).revision;
    if (this.#opts.postgresUrl) {
      await this.#listen();
      const pollMs = this.#opts.pollMs ?? 5000;
      this.#poll = setInterval(() => this.#tick(pollMs), pollMs);
      this.#poll.unref();
    }
  }

  /** Publishes every revision newer than the last one seen. Calls coalesce while one runs. */
  catchUp(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#runningSince = Date.now();
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          for (;;) {
            const batch = await this.#opts.store.revisionsAfter(this.#last, 500);
            for (const r of batch) {
              this.#last = r.revision;
              this.#opts.onRevision(r);
            }
            if (batch.length < 500) break;
          }
        } while (this.#again && !this.#closed);
        // Current only with a live feed: without LISTEN, other replicas' commits go unseen.
        if (!this.#opts.postgresUrl || this.#client) this.#setHealthy(true);
      } catch (error) {
        this.#opts.log?.(`revision follower: ${(error as Error).message}`);
        // SQLite has one replica and no poll to recover with: a failed read there stays local.
        if (this.#opts.postgresUrl) this.#setHealthy(false, (error as Error).message);
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#opts.postgresUrl });
    client.on('notification', (msg) => {
      if (msg.channel === CHANNEL) void this.catchUp();
      else if (msg.channel === REVOKED_CHANNEL && msg.payload) this.#opts.onRevoked?.(msg.payload);
    });
    client.on('error', (error) => {
      this.#opts.log?.(`LISTEN connection lost: ${error.message}`);
      this.#lost(client);
    });
    client.on('end', () => this.#lost(client));
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    await client.query(`LISTEN ${REVOKED_CHANNEL}`);
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = null;
    client.end().catch(() => {});
    this.#setHealthy(false, 'LISTEN connection lost');
    this.#scheduleListen();
  }

  #scheduleListen(): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(async () => {
      this.#retry = null;
      try {
        await this.#listen();
        await this.catchUp();
      } catch (error) {
        this.#opts.log?.(`LISTEN reconnect failed: ${(error as Error).message}`);
        this.#scheduleListen();
      }
    }, 1000);
    this.#retry.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    if (this.#retry) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
    await this.#running;
  }
}
