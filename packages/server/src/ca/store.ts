/** The CA's `CaStore` over the control plane's SQL store (SQLite or PostgreSQL via Kysely). */
import type {
  AgentRecord,
  AuthorityStateV1,
  CaStore,
  JoinTokenRecord,
  RegistrationEntry,
} from '@ward/ca';
import type { Kysely } from 'kysely';
import type { CaDatabase } from './tables.ts';

export class SqlCaStore implements CaStore {
  readonly #db: Kysely<CaDatabase>;
  readonly #trustDomain: string;

  /** The store of the CA of `trustDomain` (registration entries and agents are shared). */
  constructor(db: Kysely<CaDatabase>, trustDomain: string) {
    this.#db = db;
    this.#trustDomain = trustDomain;
  }

  async loadAuthority(): Promise<{ version: number; state: AuthorityStateV1 } | undefined> {
    const row = await this.#db
      .selectFrom('ca_authority')
      .selectAll()
      .where('trust_domain', '=', this.#trustDomain)
      .executeTakeFirst();
    return row
      ? { version: Number(row.version), state: JSON.parse(row.state) as AuthorityStateV1 }
      : undefined;
  }

  async saveAuthority(state: AuthorityStateV1, expectedVersion: number): Promise<boolean> {
    const text = JSON.stringify(state);
    if (expectedVersion === 0) {
      const r = await this.#db
        .insertInto('ca_authority')
        .values({ trust_domain: this.#trustDomain, version: 1, state: text })
        .onConflict((oc) => oc.column('trust_domain').doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
    }
    const r = await this.#db
      .updateTable('ca_authority')
      .set({ state: text, version: expectedVersion + 1 })
      .where('trust_domain', '=', this.#trustDomain)
      .where('version', '=', expectedVersion)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async insertJoinToken(record: JoinTokenRecord): Promise<void> {
    await this.#db
      .insertInto('ca_join_tokens')
      .values({
        hash: record.hash,
        node: record.node,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
      })
      .execute();
  }

  async consumeJoinToken(hash: string, now: number): Promise<JoinTokenRecord | undefined> {
    // DELETE … RETURNING is atomic on both SQLite (≥ 3.35) and PostgreSQL: of two agents racing
    // with the same token, exactly one gets the row.
    const row = await this.#db
      .deleteFrom('ca_join_tokens')
      .where('hash', '=', hash)
      .returningAll()
      .executeTakeFirst();
    // Expired tokens of any hash are swept on the way.
    await this.#db.deleteFrom('ca_join_tokens').where('expires_at', '<=', now).execute();
    if (!row || Number(row.expires_at) <= now) return undefined;
    return {
      hash: row.hash,
      node: row.node,
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
    };
  }

  async insertEntry(entry: RegistrationEntry): Promise<void> {
    await this.#db
      .insertInto('ca_entries')
      .values({
        id: entry.id,
        node: entry.node,
        spiffe_id: entry.spiffeId,
        body: JSON.stringify(entry),
        created_at: entry.createdAt,
      })
      .execute();
  }

  async getEntry(id: string): Promise<RegistrationEntry | undefined> {
    const row = await this.#db
      .selectFrom('ca_entries')
      .select('body')
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? (JSON.parse(row.body) as RegistrationEntry) : undefined;
  }

  async listEntries(filter?: { node?: string }): Promise<RegistrationEntry[]> {
    let q = this.#db.selectFrom('ca_entries').select('body').orderBy('created_at').orderBy('id');
    if (filter?.node !== undefined) q = q.where('node', '=', filter.node);
    return (await q.execute()).map((r) => JSON.parse(r.body) as RegistrationEntry);
  }

  async deleteEntry(id: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('ca_entries').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  async upsertAgent(agent: AgentRecord): Promise<void> {
    const row = {
      spiffe_id: agent.spiffeId,
      node: agent.node,
      attested_by: agent.attestedBy,
      serial: agent.serial,
      expires_at: agent.expiresAt,
      last_seen: agent.lastSeen,
    };
    await this.#db
      .insertInto('ca_agents')
      .values(row)
      .onConflict((oc) =>
        oc.column('spiffe_id').doUpdateSet({
          node: row.node,
          attested_by: row.attested_by,
          serial: row.serial,
          expires_at: row.expires_at,
          last_seen: row.last_seen,
        }),
      )
      .execute();
  }

  async getAgent(spiffeId: string): Promise<AgentRecord | undefined> {
    const r = await this.#db
      .selectFrom('ca_agents')
      .selectAll()
      .where('spiffe_id', '=', spiffeId)
      .executeTakeFirst();
    return r
      ? {
          spiffeId: r.spiffe_id,
          node: r.node,
          attestedBy: r.attested_by,
          serial: r.serial,
          expiresAt: Number(r.expires_at),
          lastSeen: Number(r.last_seen),
        }
      : undefined;
  }

  async deleteAgent(spiffeId: string): Promise<boolean> {
    const r = await this.#db
      .deleteFrom('ca_agents')
      .where('spiffe_id', '=', spiffeId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  async listAgentIds(): Promise<string[]> {
    const rows = await this.#db.selectFrom('ca_agents').select('spiffe_id').execute();
    return rows.map((r) => r.spiffe_id);
  }
}
