/**
 * The append-only, hash-chained audit log. There is deliberately no update or delete function
 * here, no route that could reach one, and the database itself refuses UPDATE and DELETE
 * (triggers). Someone who can drop the triggers can still rewrite rows, so every entry also
 * commits to the previous one (src/audit/chain.ts): `verifyAuditChain` detects an edited,
 * deleted or reordered entry, and an operator-recorded head detects a rewritten or removed tail.
 */
import type { AuditEntryV1 as AuditEntry } from '@ward/api-types';
import { type Kysely, type Selectable, sql } from 'kysely';
import {
  type ChainEntry,
  type ChainResult,
  ChainVerifier,
  entryHash,
  GENESIS_HASH,
} from '../audit/chain.ts';
import type { AuditTable, Database } from './schema.ts';
import type { Actor } from './store.ts';

/**
 * Appends one entry; call it inside the transaction of the change it records. The chain head
 * lives in the `ward_state` row: the UPDATE … RETURNING below takes that row's lock on
 * PostgreSQL, so appends from every replica run one after another and the chain stays linear
 * (the same row `Store.transaction(…, true)` locks, so there is one lock and no lock-order
 * deadlock). On SQLite the single writer already serialises them.
 */
export async function appendAudit(
  db: Kysely<Database>,
  actor: Actor,
  action: string,
  target: string,
  detail: Record<string, unknown> = {},
  revision: number | null = null,
): Promise<void> {
  const { rows } = await sql<{ audit_seq: number; audit_head: string }>`
    UPDATE ward_state SET audit_seq = audit_seq + 1 WHERE id = 1
    RETURNING audit_seq, audit_head`.execute(db);
  const head = rows[0];
  if (!head) throw new Error('ward_state row missing');
  const fields = {
    seq: Number(head.audit_seq),
    prevHash: head.audit_head,
    at: new Date().toISOString(),
    actorId: actor.id,
    actorName: actor.name,
    action,
    target,
    revision,
    detail: JSON.stringify({ scope: actor.scope, ...detail }),
  };
  const hash = entryHash(fields);
  await db
    .insertInto('audit_log')
    .values({
      seq: fields.seq,
      prev_hash: fields.prevHash,
      hash,
      at: fields.at,
      actor_id: fields.actorId,
      actor_name: fields.actorName,
      action,
      target,
      revision,
      detail: fields.detail,
    })
    .execute();
  await db.updateTable('ward_state').set({ audit_head: hash }).where('id', '=', 1).execute();
}

type AuditRow = Selectable<AuditTable>;

/** Detail text as an object; a row edited into something unparsable is shown, not thrown. */
function parseDetail(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  return { unparsable: text };
}

function toEntry(r: AuditRow): AuditEntry {
  return {
    id: Number(r.id),
    seq: Number(r.seq),
    at: r.at,
    actor: { id: r.actor_id, name: r.actor_name },
    action: r.action,
    target: r.target,
    revision: r.revision === null ? null : Number(r.revision),
    detail: parseDetail(r.detail),
    prevHash: r.prev_hash ?? '',
    hash: r.hash ?? '',
  };
}

function toChainEntry(r: AuditRow): ChainEntry {
  return {
    id: Number(r.id),
    seq: Number(r.seq),
    prevHash: r.prev_hash ?? '',
    hash: r.hash ?? '',
    at: r.at,
    actorId: r.actor_id,
    actorName: r.actor_name,
    action: r.action,
    target: r.target,
    revision: r.revision === null ? null : Number(r.revision),
    detail: r.detail,
  };
}

/** Newest first; `before` (an entry id) pages backwards. */
export async function listAudit(
  db: Kysely<Database>,
  opts: { limit: number; before?: number },
): Promise<AuditEntry[]> {
  let q = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(opts.limit);
  if (opts.before !== undefined) q = q.where('id', '<', opts.before);
  const rows = await q.execute();
  return rows.map((r) => toEntry(r as AuditRow));
}

const PAGE = 1000;

/** Every chained row in `seq` order (then row id, so a duplicated seq shows), a page at a time. */
async function* chainRows(db: Kysely<Database>): AsyncGenerator<AuditRow> {
  let last: { seq: number; id: number } | undefined;
  for (;;) {
    let q = db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', 'is not', null)
      .orderBy('seq')
      .orderBy('id')
      .limit(PAGE);
    if (last) {
      const { seq, id } = last;
      q = q.where((eb) =>
        eb.or([eb('seq', '>', seq), eb.and([eb('seq', '=', seq), eb('id', '>', id)])]),
      );
    }
    const rows = (await q.execute()) as AuditRow[];
    yield* rows;
    if (rows.length < PAGE) return;
    const r = rows[rows.length - 1]!;
    last = { seq: Number(r.seq), id: Number(r.id) };
  }
}

/**
 * Walks the whole chain from the store and reports the first break. `anchor`: a head hash the
 * operator recorded earlier, which must still be in the chain. `onEntry` sees every chained row
 * in order, valid or not (an export shows the evidence either way, with the verdict).
 */
export async function verifyAuditChain(
  db: Kysely<Database>,
  opts: { anchor?: string; onEntry?: (e: ChainEntry) => void } = {},
): Promise<ChainResult> {
  const v = new ChainVerifier(opts.anchor);
  for await (const row of chainRows(db)) {
    const entry = toChainEntry(row);
    if (v.ok) v.push(entry);
    if (opts.onEntry) opts.onEntry(entry);
    else if (!v.ok) break;
  }
  const state = await db
    .selectFrom('ward_state')
    .select(['audit_seq', 'audit_head'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
  const { n } = await db
    .selectFrom('audit_log')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return v.result({ seq: Number(state.audit_seq), hash: state.audit_head }, Number(n));
}

export { GENESIS_HASH };
