/**
 * The secrets store: versions sealed under the KEK ring, each write one transaction with its
 * revision (`services: []`, `secrets: [key]`, so every replica's follower pushes it to agents)
 * and its audit entry. Values never leave this module except through {@link SecretStore.read}
 * and {@link SecretStore.deliverable}; audit entries, revisions and errors carry versions only.
 */
import {
  currentVersion,
  isValid,
  type KekRing,
  openValue,
  planNewVersion,
  rewrapValue,
  type SealedValueV1,
  SecretsError,
  sealValue,
  secretContext,
} from '@ward/secrets';
import type { Kysely } from 'kysely';
import { ServerError } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { Actor, DocumentKind, Store } from '../store/store.ts';
import { declarationOf, type SecretDeclaration } from './declaration.ts';
import type { SecretsDatabase } from './tables.ts';

/** Versions whose values are kept; older ones are destroyed (metadata stays). */
export const KEPT_VERSIONS = 10;
/** The document kind (joins the store's DocumentKind with @ward/policy's Secret). */
export const SECRET_KIND: DocumentKind = 'Secret';

/** One version's row, times as epoch ms. */
export interface VersionRecord {
  secret: string;
  version: number;
  sealed: string;
  kek: string;
  createdAt: number;
  createdBy: string;
  notBefore: number;
  notAfter: number | null;
  source: 'put' | 'rotate' | 'rollback';
  destroyed: boolean;
}

/** What a value write answers. */
export interface SecretWrite {
  secret: string;
  version: number;
  notBefore: number;
  revision: number;
}

/** A decrypted version. */
export interface SecretValue {
  secret: string;
  version: number;
  data: Record<string, string>;
  notBefore: number;
  notAfter: number | null;
}

type Db = Kysely<SecretsDatabase>;

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toRecord(r: SecretsDatabase['secret_versions']): VersionRecord {
  return {
    secret: r.secret,
    version: Number(r.version),
    sealed: r.sealed,
    kek: r.kek_id,
    createdAt: Number(r.created_at),
    createdBy: r.created_by,
    notBefore: Number(r.not_before),
    notAfter: num(r.not_after),
    source: r.source as VersionRecord['source'],
    destroyed: Number(r.destroyed) === 1,
  };
}

/** Maps the crypto core's refusals to the API's: a KEK the ring lacks or that does not fit. */
export function kekProblem(error: unknown, secret: string): unknown {
  if (error instanceof SecretsError) {
    if (error.code === 'SECRETS_UNKNOWN_KEK' || error.code === 'SECRETS_DECRYPT_FAILED') {
      return new ServerError(
        'SECRET_KEK_UNAVAILABLE',
        `secret ${secret}: ${error.message}; configure the KEK it was written under (WARD_SECRETS_KEK, docs/operations.md)`,
      );
    }
    if (error.code === 'SECRETS_BAD_VALUE') {
      return new ServerError('SECRET_VALUE_INVALID', error.message, {
        errors: [
          { field: `/${(error.field ?? 'data').replaceAll('.', '/')}`, message: error.message },
        ],
      });
    }
  }
  return error;
}

export interface SecretStoreOptions {
  store: Store;
  ring: KekRing;
  now?: () => number;
  /** Called after each committed write (publishes the revision: `ctx.changed`). */
  changed: () => Promise<void>;
}

export class SecretStore {
  readonly #store: Store;
  readonly #db: Db;
  readonly ring: KekRing;
  readonly now: () => number;
  readonly #changed: () => Promise<void>;

  constructor(options: SecretStoreOptions) {
    this.#store = options.store;
    this.#db = options.store.db as unknown as Db;
    this.ring = options.ring;
    this.now = options.now ?? Date.now;
    this.#changed = options.changed;
  }

  /** The declaration of `key` (its `Secret` document), or undefined. */
  async declaration(key: string, db: Db = this.#db): Promise<SecretDeclaration | undefined> {
    const row = await db
      .selectFrom('documents')
      .select('body')
      .where('kind', '=', SECRET_KIND)
      .where('name', '=', key)
      .executeTakeFirst();
    return row ? declarationOf(JSON.parse(row.body)) : undefined;
  }

  /** Every declaration, by key, with the revision of its document. */
  async declarations(): Promise<{ decl: SecretDeclaration; revision: number }[]> {
    const rows = await this.#db
      .selectFrom('documents')
      .select(['body', 'updated_revision'])
      .where('kind', '=', SECRET_KIND)
      .orderBy('name')
      .execute();
    const out: { decl: SecretDeclaration; revision: number }[] = [];
    for (const r of rows) {
      const decl = declarationOf(JSON.parse(r.body));
      if (decl) out.push({ decl, revision: Number(r.updated_revision) });
    }
    return out;
  }

  /** Keys that have versions (declared or not). */
  async keysWithVersions(): Promise<string[]> {
    const rows = await this.#db.selectFrom('secret_versions').select('secret').distinct().execute();
    return rows.map((r) => r.secret).sort();
  }

  /** Versions of `key`, oldest first. */
  async versions(key: string, db: Db = this.#db): Promise<VersionRecord[]> {
    const rows = await db
      .selectFrom('secret_versions')
      .selectAll()
      .where('secret', '=', key)
      .orderBy('version')
      .execute();
    return rows.map(toRecord);
  }

  /**
   * The store revision of `key`'s current state: its document's or its last value write's,
   * whichever is newer (0 when it has neither).
   */
  async stateRevision(key: string): Promise<number> {
    const [doc, values] = await Promise.all([
      this.#db
        .selectFrom('documents')
        .select('updated_revision')
        .where('kind', '=', SECRET_KIND)
        .where('name', '=', key)
        .executeTakeFirst(),
      this.#db
        .selectFrom('secret_revisions')
        .select('revision')
        .where('secret', '=', key)
        .executeTakeFirst(),
    ]);
    return Math.max(Number(doc?.updated_revision ?? 0), Number(values?.revision ?? 0));
  }

  async #open(r: VersionRecord): Promise<Record<string, string>> {
    try {
      return await openValue(
        JSON.parse(r.sealed) as SealedValueV1,
        secretContext(r.secret, r.version),
        this.ring,
      );
    } catch (error) {
      throw kekProblem(error, r.secret);
    }
  }

  /** Writes a new version of `key` with the value `make` returns (it sees the versions). */
  async #write(
    key: string,
    actor: Actor,
    kind: { source: VersionRecord['source']; operation: string; audit: string },
    decl: SecretDeclaration,
    make: (
      versions: VersionRecord[],
      trx: Db,
    ) => Promise<{ data: Record<string, string>; detail?: Record<string, unknown> }>,
  ): Promise<SecretWrite> {
    const result = await this.#store.transaction(async (trx) => {
      const db = trx as unknown as Db;
      const versions = await this.versions(key, db);
      const now = this.now();
      const { data, detail } = await make(versions, db);
      const plan = planNewVersion(versions, now, {
        activationMs: decl.rotation.activationMs,
        graceMs: decl.rotation.graceMs,
      });
      const version = plan.next.version;
      let sealed: SealedValueV1;
      try {
        sealed = await sealValue(data, secretContext(key, version), this.ring);
      } catch (error) {
        throw kekProblem(error, key);
      }
      await db
        .insertInto('secret_versions')
        .values({
          secret: key,
          version,
          sealed: JSON.stringify(sealed),
          kek_id: sealed.kek,
          created_at: now,
          created_by: actor.name,
          not_before: plan.next.notBefore,
          not_after: null,
          source: kind.source,
          destroyed: 0,
        })
        .execute();
      for (const s of plan.superseded) {
        await db
          .updateTable('secret_versions')
          .set({ not_after: s.notAfter })
          .where('secret', '=', key)
          .where('version', '=', s.version)
          .execute();
      }
      // Retention: the newest KEPT_VERSIONS keep their values.
      await db
        .updateTable('secret_versions')
        .set({ sealed: '', destroyed: 1 })
        .where('secret', '=', key)
        .where('version', '<=', version - KEPT_VERSIONS)
        .where('destroyed', '=', 0)
        .execute();
      const revision = await this.#bump(db, key, actor, kind.operation);
      await appendAudit(trx, actor, kind.audit, key, { version, ...detail }, revision);
      return { secret: key, version, notBefore: plan.next.notBefore, revision };
    }, true);
    await this.#changed();
    return result;
  }

  /** One revision naming `key`, and `key`'s value revision. */
  async #bump(db: Db, key: string, actor: Actor, operation: string): Promise<number> {
    const trx = db as unknown as Parameters<Store['bumpRevision']>[0];
    const revision = await this.#store.bumpRevision(trx);
    await this.#store.recordRevision(
      trx,
      revision,
      new Date().toISOString(),
      actor,
      operation,
      [],
      [key],
    );
    await db
      .insertInto('secret_revisions')
      .values({ secret: key, revision })
      .onConflict((oc) => oc.column('secret').doUpdateSet({ revision }))
      .execute();
    return revision;
  }

  /** Writes `data` (checked by the caller) as the new version. */
  put(
    key: string,
    data: Record<string, string>,
    actor: Actor,
    decl: SecretDeclaration,
  ): Promise<SecretWrite> {
    return this.#write(
      key,
      actor,
      { source: 'put', operation: 'secret.put', audit: 'secret.write' },
      decl,
      async () => ({
        data,
      }),
    );
  }

  /** Writes a generated value (`generate` runs inside the transaction). */
  rotate(
    key: string,
    actor: Actor,
    decl: SecretDeclaration,
    generate: () => Record<string, string>,
    detail: Record<string, unknown> = {},
  ): Promise<SecretWrite> {
    return this.#write(
      key,
      actor,
      { source: 'rotate', operation: 'secret.rotate', audit: 'secret.rotate' },
      decl,
      async () => ({ data: generate(), detail }),
    );
  }

  /** A new version holding version `from`'s value. */
  rollback(key: string, from: number, actor: Actor, decl: SecretDeclaration): Promise<SecretWrite> {
    return this.#write(
      key,
      actor,
      { source: 'rollback', operation: 'secret.rollback', audit: 'secret.rollback' },
      decl,
      async (versions) => {
        const v = versions.find((x) => x.version === from);
        if (!v || v.destroyed) {
          throw new ServerError(
            'SECRET_VERSION_NOT_FOUND',
            `secret ${key} has no version ${from} to roll back to`,
            {
              errors: [{ field: '/version', message: v ? 'destroyed' : 'no such version' }],
            },
          );
        }
        return { data: await this.#open(v), detail: { from } };
      },
    );
  }

  /** Destroys every version (values gone, metadata kept) and ends their validity now. */
  async destroy(key: string, actor: Actor): Promise<{ revision: number; destroyed: number }> {
    const out = await this.#store.transaction(async (trx) => {
      const db = trx as unknown as Db;
      const now = this.now();
      const versions = await this.versions(key, db);
      if (versions.length === 0) {
        throw new ServerError('SECRET_NOT_FOUND', `secret ${key} has no versions`);
      }
      await db
        .updateTable('secret_versions')
        .set({ sealed: '', destroyed: 1 })
        .where('secret', '=', key)
        .execute();
      await db
        .updateTable('secret_versions')
        .set({ not_after: now })
        .where('secret', '=', key)
        .where((eb) => eb.or([eb('not_after', 'is', null), eb('not_after', '>', now)]))
        .execute();
      const revision = await this.#bump(db, key, actor, 'secret.delete');
      const destroyed = versions.filter((v) => !v.destroyed).length;
      await appendAudit(trx, actor, 'secret.delete', key, { versions: destroyed }, revision);
      return { revision, destroyed };
    }, true);
    await this.#changed();
    return out;
  }

  /**
   * The value of `version`, or of the current version. SECRET_VERSION_NOT_FOUND when there is
   * no such (live) version; SECRET_KEK_UNAVAILABLE when it does not decrypt.
   */
  async read(key: string, version?: number): Promise<SecretValue> {
    const versions = await this.versions(key);
    const now = this.now();
    const live = versions.filter((v) => !v.destroyed);
    const v =
      version === undefined ? currentVersion(live, now) : live.find((x) => x.version === version);
    if (!v) {
      throw new ServerError(
        'SECRET_VERSION_NOT_FOUND',
        version === undefined
          ? `secret ${key} has no current version`
          : `secret ${key} has no version ${version} (or it was destroyed)`,
        {
          errors: [
            {
              field: version === undefined ? 'params.secret' : 'query.version',
              message: 'no such version',
            },
          ],
        },
      );
    }
    return {
      secret: key,
      version: v.version,
      data: await this.#open(v),
      notBefore: v.notBefore,
      notAfter: v.notAfter,
    };
  }

  /** The versions valid now or pending, decrypted, newest first (what agents receive). */
  async deliverable(key: string): Promise<SecretValue[]> {
    const now = this.now();
    const live = (await this.versions(key)).filter((v) => !v.destroyed && isValid(v, now));
    const out: SecretValue[] = [];
    for (const v of live.reverse()) {
      out.push({
        secret: key,
        version: v.version,
        data: await this.#open(v),
        notBefore: v.notBefore,
        notAfter: v.notAfter,
      });
    }
    return out;
  }

  /**
   * Re-wraps every live data key not under the current KEK, `batch` rows per transaction;
   * reads go on meanwhile (older KEKs stay in the ring until this is done). A row whose data key
   * the ring cannot unwrap stops it with SECRET_KEK_UNAVAILABLE.
   */
  async rewrap(actor: Actor, batch = 100): Promise<{ rewrapped: number; kek: string }> {
    const current = this.ring.current.id;
    let rewrapped = 0;
    for (;;) {
      const rows = (
        await this.#db
          .selectFrom('secret_versions')
          .selectAll()
          .where('destroyed', '=', 0)
          .where('kek_id', '!=', current)
          .orderBy('secret')
          .orderBy('version')
          .limit(batch)
          .execute()
      ).map(toRecord);
      if (rows.length === 0) break;
      const updates: { r: VersionRecord; sealed: SealedValueV1 }[] = [];
      for (const r of rows) {
        try {
          const sealed = await rewrapValue(
            JSON.parse(r.sealed) as SealedValueV1,
            secretContext(r.secret, r.version),
            this.ring,
          );
          updates.push({ r, sealed });
        } catch (error) {
          throw kekProblem(error, r.secret);
        }
      }
      await this.#store.transaction(async (trx) => {
        const db = trx as unknown as Db;
        for (const { r, sealed } of updates) {
          // Only the row as read: a concurrent destroy wins.
          const done = await db
            .updateTable('secret_versions')
            .set({ sealed: JSON.stringify(sealed), kek_id: sealed.kek })
            .where('secret', '=', r.secret)
            .where('version', '=', r.version)
            .where('sealed', '=', r.sealed)
            .executeTakeFirst();
          rewrapped += Number(done.numUpdatedRows);
        }
      });
    }
    await this.#store.transaction((trx) =>
      appendAudit(trx, actor, 'secret.rewrap', '*', { rewrapped, kek: current }),
    );
    return { rewrapped, kek: current };
  }
}
