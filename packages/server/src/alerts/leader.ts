/**
 * Which replica sends alerts (and runs other once-per-deployment work: scheduled secret rotation). On PostgreSQL the one holding a session-level advisory lock on a
 * connection of its own: the lock goes with the session, so a replica that dies or loses its
 * connection loses it, and another takes it at its next evaluation. On SQLite there is one
 * process, the leader.
 */
import pg from 'pg';

/**
 * The lock key: a hash of the role's name (`ward_alerts`, `ward_secrets`) and the schema's name,
 * so each role has its own leader, and deployments sharing one database in separate schemas (and
 * parallel tests) each have theirs.
 */
const LOCK_SQL =
  "SELECT pg_try_advisory_lock(hashtextextended($1 || ':' || current_schema(), 0)) AS ok";

export interface Leadership {
  isLeader(): Promise<boolean>;
  close(): Promise<void>;
}

export const soleLeader: Leadership = {
  isLeader: async () => true,
  close: async () => {},
};

export class AdvisoryLeader implements Leadership {
  readonly #url: string;
  readonly #role: string;
  #client: pg.Client | null = null;
  #held = false;
  #closed = false;

  /** `role` names the lock: one leader per role (default `ward_alerts`, the alerts sender). */
  constructor(url: string, role = 'ward_alerts') {
    this.#url = url;
    this.#role = role;
  }

  async isLeader(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#held && this.#client) return true;
    if (!this.#client) {
      const client = new pg.Client({ connectionString: this.#url });
      const lost = () => {
        if (this.#client !== client) return;
        this.#client = null;
        this.#held = false;
        client.end().catch(() => {});
      };
      client.on('error', lost);
      client.on('end', lost);
      await client.connect();
      this.#client = client;
    }
    const r = await this.#client.query<{ ok: boolean }>(LOCK_SQL, [this.#role]);
    this.#held = r.rows[0]?.ok === true;
    return this.#held;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#held = false;
    const c = this.#client;
    this.#client = null;
    await c?.end().catch(() => {});
  }
}
