/**
 * The document store: policy documents, the global revision, history and the bundle revision of
 * each service. Every write goes through `commit` inside one transaction, so a change set is
 * all-or-nothing and gets exactly one revision.
 */
import type { SealKey } from '@ward/ca';
import {
  canonicalServiceKey,
  documentKey,
  documentNamespace,
  type IntentionDocument,
  namespaceOfKey,
  type PolicyDocument,
  routeGatewayKey,
} from '@ward/policy';
import { type Kysely, sql, type Transaction } from 'kysely';
import { affectedServices } from '../bundles/affected.ts';
import type { Dialect } from './database.ts';
import type { Database } from './schema.ts';

/** Who acts: the identity of the token behind a request. */
export interface Actor {
  id: string;
  name: string;
  scope: string;
}

export type DocumentKind =
  | 'Service'
  | 'Intention'
  | 'AttributeSchema'
  | 'Gateway'
  | 'Route'
  | 'Secret';

/** Every stored kind, in the order they are enumerated (deletes, listings). */
export const DOCUMENT_KINDS: readonly DocumentKind[] = [
  'Service',
  'Intention',
  'AttributeSchema',
  'Gateway',
  'Route',
  'Secret',
];

/** A document as stored, with when and by whom it last changed. */
export interface StoredDocument {
  kind: DocumentKind;
  /** The document's KEY: `name` in the default namespace, `namespace/name` in any other. */
  name: string;
  /** The namespace it lives in. */
  namespace: string;
  document: PolicyDocument;
  createdRevision: number;
  updatedRevision: number;
  updatedAt: string;
  updatedBy: string;
}

/** One change of a change set, computed by `apply` or a CRUD route. */
export interface PlannedChange {
  kind: DocumentKind;
  name: string;
  action: 'created' | 'updated' | 'deleted';
  before: PolicyDocument | null;
  after: PolicyDocument | null;
  file?: string;
}

/** What a commit produced: its revision and the services whose bundle changed. */
export interface CommitResult {
  revision: number;
  services: string[];
}

/**
 * One entry of the revision log as the follower reads it. `secrets` (the keys of the secrets
 * whose declaration or value changed) is server-side only: PDP watch events carry
 * `{ revision, services }` and nothing else.
 */
export interface RevisionEvent {
  revision: number;
  services: string[];
  secrets: string[];
}

/** The keys of the `Secret` documents a change set touches (the revision's `secrets`). */
function secretKeysOf(changes: readonly PlannedChange[]): string[] {
  return [
    ...new Set(changes.filter((c) => (c.kind as string) === 'Secret').map((c) => c.name)),
  ].sort();
}

export type Trx = Transaction<Database>;

const CHUNK = 400;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

function toStored(row: Database['documents']): StoredDocument {
  return {
    kind: row.kind as DocumentKind,
    name: row.name,
    namespace: namespaceOfKey(row.name),
    document: JSON.parse(row.body) as PolicyDocument,
    createdRevision: Number(row.created_revision),
    updatedRevision: Number(row.updated_revision),
    updatedAt: row.updated_at,
    updatedBy: row.updated_by,
  };
}

/**
 * The KEY of an intention's destination (`spec.destination` is relative to the intention's
 * namespace): what the `destination` column holds, so a bundle reads its intentions by key.
 */
export function intentionDestination(doc: PolicyDocument | null | undefined): string | null {
  if (doc?.kind !== 'Intention') return null;
  const destination = doc.spec?.destination;
  if (typeof destination !== 'string') return null;
  return canonicalServiceKey(destination, documentNamespace(doc)) ?? null;
}

/**
 * The KEY of the service a document is attached to besides its own Service document: an
 * intention's destination, a Gateway's own key, a Route's gateway (these three are in that
 * service's bundle), a Secret's owner (in no bundle: it says who writes the secret). What the
 * `destination` column holds, so they are read by key; null for the rest (Services,
 * AttributeSchemas).
 */
export function documentDestination(doc: PolicyDocument | null | undefined): string | null {
  if (doc?.kind === 'Gateway') return documentKey(doc);
  if (doc?.kind === 'Route') {
    return typeof doc.spec?.gateway === 'string' ? routeGatewayKey(doc) : null;
  }
  if (doc?.kind === 'Secret') {
    // Called on documents not yet validated (authorization runs before the compile).
    const owner = doc.spec?.owner;
    return typeof owner === 'string'
      ? (canonicalServiceKey(owner, documentNamespace(doc)) ?? null)
      : null;
  }
  return intentionDestination(doc);
}

export class Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  readonly trustDomain: string;

  /** Seals the secrets the store keeps (passport keys); every replica must hold the same one. */
  readonly sealKey: SealKey;

  constructor(db: Kysely<Database>, dialect: Dialect, trustDomain: string, sealKey: SealKey) {
    this.db = db;
    this.dialect = dialect;
    this.trustDomain = trustDomain;
    this.sealKey = sealKey;
  }

  /**
   * Runs `fn` in a transaction. With `lock`, it first locks the state row so concurrent writers
   * (on any replica sharing a PostgreSQL store) run one after another and see each other's
   * commits: revisions are then assigned in commit order, which is what watchers rely on. SQLite
   * needs no lock: Kysely runs its one connection's transactions one at a time.
   */
  async transaction<T>(fn: (trx: Trx) => Promise<T>, lock = false): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      if (lock && this.dialect === 'postgres') {
        await sql`SELECT revision FROM ward_state WHERE id = 1 FOR UPDATE`.execute(trx);
      }
      return fn(trx);
    });
  }

  async revision(
    db: Kysely<Database> = this.db,
  ): Promise<{ revision: number; keysRevision: number }> {
    const row = await db
      .selectFrom('ward_state')
      .select(['revision', 'keys_revision'])
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    return { revision: Number(row.revision), keysRevision: Number(row.keys_revision) };
  }

  async getDocument(
    kind: DocumentKind,
    name: string,
    db: Kysely<Database> = this.db,
  ): Promise<StoredDocument | undefined> {
    const row = await db
      .selectFrom('documents')
      .selectAll()
      .where('kind', '=', kind)
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toStored(row) : undefined;
  }

  /**
   * Stored documents by kind, then key. `destination` (a key) keeps the intentions on that
   * service; `namespace` the documents of that namespace (their keys are `namespace/…`, or have
   * no `/` for the default namespace).
   */
  async listDocuments(
    filter: { kind?: DocumentKind; destination?: string; namespace?: string } = {},
    db: Kysely<Database> = this.db,
  ): Promise<StoredDocument[]> {
    let q = db.selectFrom('documents').selectAll();
    if (filter.kind) q = q.where('kind', '=', filter.kind);
    if (filter.destination !== undefined) q = q.where('destination', '=', filter.destination);
    const rows = await q.orderBy('kind').orderBy('name').execute();
    const docs = rows.map(toStored);
    const ns = filter.namespace;
    return ns === undefined ? docs : docs.filter((d) => namespaceOfKey(d.name) === ns);
  }

  /**
   * Writes a change set and everything that follows from it, in the caller's transaction: one
   * new revision, the documents, their history, the bundle revision of every touched service,
   * and (on PostgreSQL) a NOTIFY that other replicas receive only if the transaction commits.
   */
  async commit(
    trx: Trx,
    changes: readonly PlannedChange[],
    actor: Actor,
    operation: string,
  ): Promise<CommitResult> {
    const revision = await this.bumpRevision(trx);
    const at = new Date().toISOString();
    const upserts = changes.filter((c) => c.after !== null);
    for (const part of chunks(upserts)) {
      await trx
        .insertInto('documents')
        .values(
          part.map((c) => ({
            kind: c.kind,
            name: c.name,
            destination: documentDestination(c.after),
            body: JSON.stringify(c.after),
            created_revision: revision,
            updated_revision: revision,
            updated_at: at,
            updated_by: actor.name,
          })),
        )
        .onConflict((oc) =>
          oc.columns(['kind', 'name']).doUpdateSet((eb) => ({
            destination: eb.ref('excluded.destination'),
            body: eb.ref('excluded.body'),
            updated_revision: eb.ref('excluded.updated_revision'),
            updated_at: eb.ref('excluded.updated_at'),
            updated_by: eb.ref('excluded.updated_by'),
          })),
        )
        .execute();
    }
    for (const kind of DOCUMENT_KINDS) {
      const names = changes.filter((c) => c.after === null && c.kind === kind).map((c) => c.name);
      for (const part of chunks(names)) {
        await trx
          .deleteFrom('documents')
          .where('kind', '=', kind)
          .where('name', 'in', part)
          .execute();
      }
    }
    const rows = changes.map((c, seq) => ({
      revision,
      seq,
      kind: c.kind,
      name: c.name,
      action: c.action,
      before: c.before ? JSON.stringify(c.before) : null,
      after: c.after ? JSON.stringify(c.after) : null,
      file: c.file ?? null,
    }));
    for (const part of chunks(rows)) await trx.insertInto('changes').values(part).execute();

    const needsIntentions = changes.some((c) => c.kind === 'Service');
    const intentions = needsIntentions
      ? (await this.listDocuments({ kind: 'Intention' }, trx)).map(
          (d) => d.document as IntentionDocument,
        )
      : [];
    const services = [...affectedServices(changes, intentions, this.trustDomain)].sort();
    await this.markServices(trx, services, revision);
    await this.recordRevision(trx, revision, at, actor, operation, services, secretKeysOf(changes));
    return { revision, services };
  }

  /** Allocates the next global revision (the row lock serialises writers on PostgreSQL). */
  async bumpRevision(trx: Trx, keys = false): Promise<number> {
    const row = await trx
      .updateTable('ward_state')
      .set((eb) =>
        keys
          ? { revision: eb('revision', '+', 1), keys_revision: eb('revision', '+', 1) }
          : { revision: eb('revision', '+', 1) },
      )
      .where('id', '=', 1)
      .returning('revision')
      .executeTakeFirstOrThrow();
    return Number(row.revision);
  }

  async markServices(trx: Trx, services: readonly string[], revision: number): Promise<void> {
    for (const part of chunks(services.filter((s) => s !== '*'))) {
      await trx
        .insertInto('service_revisions')
        .values(part.map((service) => ({ service, revision })))
        .onConflict((oc) =>
          oc.column('service').doUpdateSet((eb) => ({ revision: eb.ref('excluded.revision') })),
        )
        .execute();
    }
  }

  async recordRevision(
    trx: Trx,
    revision: number,
    at: string,
    actor: Actor,
    operation: string,
    services: readonly string[],
    secrets: readonly string[] = [],
  ): Promise<void> {
    await trx
      .insertInto('revisions')
      .values({
        revision,
        at,
        actor_id: actor.id,
        actor_name: actor.name,
        operation,
        services: JSON.stringify(services),
        secrets: JSON.stringify(secrets),
      })
      .execute();
    if (this.dialect === 'postgres') {
      // Delivered to listeners only when (and if) this transaction commits.
      await sql`SELECT pg_notify('ward_revision', ${JSON.stringify({ revision })})`.execute(trx);
    }
  }

  /** Bundle revision of one service, or undefined when it never had a bundle. */
  async serviceRevision(
    service: string,
    db: Kysely<Database> = this.db,
  ): Promise<number | undefined> {
    const row = await db
      .selectFrom('service_revisions')
      .select('revision')
      .where('service', '=', service)
      .executeTakeFirst();
    return row ? Number(row.revision) : undefined;
  }

  /** Revisions after `since`, oldest first, at most `limit` (for watch resumption). */
  async revisionsAfter(since: number, limit: number): Promise<RevisionEvent[]> {
    const rows = await this.db
      .selectFrom('revisions')
      .select(['revision', 'services', 'secrets'])
      .where('revision', '>', since)
      .orderBy('revision')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      revision: Number(r.revision),
      services: JSON.parse(r.services) as string[],
      secrets: JSON.parse(r.secrets) as string[],
    }));
  }
}
