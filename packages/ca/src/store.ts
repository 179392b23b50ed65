import type { AuthorityStateV1 } from './authority.ts';
import type { RegistrationEntry } from './entries.ts';

/** A stored join token (the token itself is never stored, only its SHA-256). */
export interface JoinTokenRecord {
  hash: string;
  node: string;
  createdAt: number;
  expiresAt: number;
}

/** What the control plane knows about an attested agent. */
export interface AgentRecord {
  spiffeId: string;
  node: string;
  /** `join_token` or `k8s_psat`. */
  attestedBy: string;
  serial: string;
  expiresAt: number;
  lastSeen: number;
}

/**
 * Persistence the CA needs. The control plane implements it over its SQL store; tests and
 * single-process tools use {@link MemoryCaStore}. Every method must be safe under concurrent
 * use by several replicas sharing the store.
 */
export interface CaStore {
  /** The authority document and its version (a counter bumped by every save). */
  loadAuthority(): Promise<{ version: number; state: AuthorityStateV1 } | undefined>;
  /**
   * Saves `state` only when the stored version is still `expectedVersion` (0 = nothing stored),
   * so two replicas rotating at once cannot overwrite each other. Returns false on conflict.
   */
  saveAuthority(state: AuthorityStateV1, expectedVersion: number): Promise<boolean>;
  insertJoinToken(record: JoinTokenRecord): Promise<void>;
  /**
   * Atomically consumes the token with `hash` when it exists and has not expired at `now`, and
   * returns it; a second call with the same hash returns undefined.
   */
  consumeJoinToken(hash: string, now: number): Promise<JoinTokenRecord | undefined>;
  insertEntry(entry: RegistrationEntry): Promise<void>;
  getEntry(id: string): Promise<RegistrationEntry | undefined>;
  /** All entries, or only those of one node. */
  listEntries(filter?: { node?: string }): Promise<RegistrationEntry[]>;
  deleteEntry(id: string): Promise<boolean>;
  upsertAgent(agent: AgentRecord): Promise<void>;
  getAgent(spiffeId: string): Promise<AgentRecord | undefined>;
  /** Forgets an attested agent (revocation); false when there was none. */
  deleteAgent(spiffeId: string): Promise<boolean>;
  /** SPIFFE IDs of every attested agent (one query, for sweeps over open agent streams). */
  listAgentIds(): Promise<string[]>;
}

/** An in-memory {@link CaStore} for tests and single-process use. */
export class MemoryCaStore implements CaStore {
  #authority: { version: number; state: AuthorityStateV1 } | undefined;
  readonly #tokens = new Map<string, JoinTokenRecord>();
  readonly #entries = new Map<string, RegistrationEntry>();
  readonly #agents = new Map<string, AgentRecord>();

  async loadAuthority() {
    return this.#authority;
  }
  async saveAuthority(state: AuthorityStateV1, expectedVersion: number) {
    if ((this.#authority?.version ?? 0) !== expectedVersion) return false;
    this.#authority = { version: expectedVersion + 1, state };
    return true;
  }
  async insertJoinToken(record: JoinTokenRecord) {
    this.#tokens.set(record.hash, { ...record });
  }
  async consumeJoinToken(hash: string, now: number) {
    const record = this.#tokens.get(hash);
    this.#tokens.delete(hash);
    return record && record.expiresAt > now ? record : undefined;
  }
  async insertEntry(entry: RegistrationEntry) {
    this.#entries.set(entry.id, entry);
  }
  async getEntry(id: string) {
    return this.#entries.get(id);
  }
  async listEntries(filter?: { node?: string }) {
    const all = [...this.#entries.values()];
    return filter?.node === undefined ? all : all.filter((e) => e.node === filter.node);
  }
  async deleteEntry(id: string) {
    return this.#entries.delete(id);
  }
  async upsertAgent(agent: AgentRecord) {
    this.#agents.set(agent.spiffeId, { ...agent });
  }
  async getAgent(spiffeId: string) {
    return this.#agents.get(spiffeId);
  }
  async deleteAgent(spiffeId: string) {
    return this.#agents.delete(spiffeId);
  }
  async listAgentIds() {
    return [...this.#agents.keys()];
  }
}
