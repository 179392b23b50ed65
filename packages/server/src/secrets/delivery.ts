/**
 * What the agent hub reads secrets through: which secrets a service may read (an index rebuilt
 * after any revision that names a secret), and each secret's state for agents, decrypted once
 * and kept until it changes or one of its versions expires. Deliveries are audited off the
 * write path.
 */
import { isValid } from '@ward/secrets';
import { appendAudit } from '../store/audit.ts';
import type { Store } from '../store/store.ts';
import type { AgentSecretSource, AgentSecretState, SecretDelivery } from '../watch/agent-hub.ts';
import type { SecretStore } from './store.ts';

export class SecretDeliverySource implements AgentSecretSource {
  readonly #secrets: SecretStore;
  readonly #store: Store;
  readonly #log: (message: string) => void;
  readonly #onDelivered: ((d: SecretDelivery) => void) | undefined;
  /** Deliveries waiting for their audit entries. */
  readonly #audit: SecretDelivery[] = [];
  #flushing: Promise<void> | undefined;
  #index: Promise<Map<string, string[]>> | undefined;
  readonly #states = new Map<
    string,
    { state: Promise<AgentSecretState | undefined>; until: number }
  >();

  constructor(options: {
    secrets: SecretStore;
    store: Store;
    log: (message: string) => void;
    onDelivered?: (d: SecretDelivery) => void;
  }) {
    this.#secrets = options.secrets;
    this.#store = options.store;
    this.#log = options.log;
    this.#onDelivered = options.onDelivered;
  }

  /** A revision named these secrets: their cached states and the reader index are stale. */
  invalidate(secrets: readonly string[]): void {
    if (secrets.length === 0) return;
    this.#index = undefined;
    for (const s of secrets) this.#states.delete(s);
  }

  async readableBy(service: string): Promise<readonly string[]> {
    if (!this.#index) {
      const index = (async () => {
        const map = new Map<string, string[]>();
        for (const { decl } of await this.#secrets.declarations()) {
          for (const r of decl.readers) {
            const list = map.get(r);
            if (list) list.push(decl.key);
            else map.set(r, [decl.key]);
          }
        }
        return map;
      })();
      this.#index = index;
      index.catch(() => {
        if (this.#index === index) this.#index = undefined;
      });
    }
    return (await this.#index).get(service) ?? [];
  }

  state(secret: string): Promise<AgentSecretState | undefined> {
    const now = this.#secrets.now();
    const cached = this.#states.get(secret);
    if (cached && now < cached.until) return cached.state;
    const entry = { state: this.#load(secret), until: Number.POSITIVE_INFINITY };
    this.#states.set(secret, entry);
    entry.state.then(
      (s) => {
        // Kept until the first version in it expires (then it is read again).
        for (const v of s?.versions ?? [])
          if (v.notAfter !== null) entry.until = Math.min(entry.until, v.notAfter);
      },
      (error) => {
        if (this.#states.get(secret) === entry) this.#states.delete(secret);
        this.#log(`secret ${secret} not delivered: ${(error as Error).message}`);
      },
    );
    return entry.state;
  }

  async #load(secret: string): Promise<AgentSecretState | undefined> {
    // The revision first: a write landing in between yields a newer revision later, never an
    // older revision carrying newer versions.
    const revision = await this.#secrets.stateRevision(secret);
    const decl = await this.#secrets.declaration(secret);
    if (!decl) return undefined;
    if (decl.type === 'postgres') {
      return { secret, type: decl.type, revision, readers: decl.readers };
    }
    const now = this.#secrets.now();
    const values = (await this.#secrets.deliverable(secret)).filter((v) => isValid(v, now));
    if (values.length === 0) return undefined;
    return {
      secret,
      type: decl.type,
      revision,
      readers: decl.readers,
      versions: values.map((v) => ({
        version: v.version,
        data: v.data,
        notBefore: v.notBefore,
        notAfter: v.notAfter,
      })),
    };
  }

  delivered(d: SecretDelivery): void {
    this.#onDelivered?.(d);
    this.#audit.push(d);
    this.#flushSoon();
  }

  /** Waits until every delivery reported so far is in the audit log (tests, shutdown). */
  async flushed(): Promise<void> {
    while (this.#audit.length > 0 || this.#flushing) {
      this.#flushSoon();
      await this.#flushing;
    }
  }

  /**
   * Audit entries are written off the delivery path, in batches: one transaction per up to
   * {@link AUDIT_BATCH} deliveries, each still its own entry naming its agent. A reconnect storm
   * of 10,000 agents then costs ~20 commits instead of 10,000, and does not queue the secret
   * writes behind it.
   */
  #flushSoon(): void {
    if (this.#flushing || this.#audit.length === 0) return;
    this.#flushing = (async () => {
      try {
        while (this.#audit.length > 0) {
          const batch = this.#audit.splice(0, AUDIT_BATCH);
          await this.#store
            .transaction(async (trx) => {
              for (const d of batch) await auditDelivery(trx, d);
            })
            .catch((error) => this.#log(`secret delivery audit: ${(error as Error).message}`));
        }
      } finally {
        this.#flushing = undefined;
      }
    })();
  }
}

/** Deliveries per audit transaction. */
const AUDIT_BATCH = 500;

function auditDelivery(trx: Parameters<typeof appendAudit>[0], d: SecretDelivery) {
  return d.kind === 'snapshot'
    ? appendAudit(
        trx,
        { id: d.agent, name: `agent:${d.node}`, scope: 'agent' },
        'secret.deliver',
        d.node,
        { via: 'snapshot', agent: d.agent, node: d.node, secrets: d.secrets },
      )
    : appendAudit(
        trx,
        { id: 'system', name: 'system', scope: 'admin' },
        'secret.deliver',
        d.secret,
        {
          via: 'fanout',
          versions: d.versions,
          services: d.services,
          removedFrom: d.removedFrom,
          agents: d.agents,
        },
        d.revision,
      );
}
