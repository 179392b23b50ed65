/** Revision history: who changed what, when. Read-only views over `revisions` and `changes`. */
import { namespaceOfKey, type PolicyDocument } from '@ward/policy';
import type { Kysely } from 'kysely';
import { diffJson, type FieldChange } from '../apply/diff.ts';
import type { Database } from './schema.ts';

export interface HistoryEntry {
  revision: number;
  at: string;
  actor: { id: string; name: string };
  operation: string;
  services: string[];
  changes: { kind: string; name: string; namespace: string; action: string; file?: string }[];
}

export interface HistoryChangeDetail {
  kind: string;
  name: string;
  namespace: string;
  action: string;
  file?: string;
  before: PolicyDocument | null;
  after: PolicyDocument | null;
  diff: FieldChange[];
}

export interface HistoryDetail extends Omit<HistoryEntry, 'changes'> {
  changes: HistoryChangeDetail[];
}

type RevisionRow = Database['revisions'];

function entryOf(r: RevisionRow): Omit<HistoryEntry, 'changes'> {
  return {
    revision: Number(r.revision),
    at: r.at,
    actor: { id: r.actor_id, name: r.actor_name },
    operation: r.operation,
    services: JSON.parse(r.services) as string[],
  };
}

/** Newest first; `before` pages backwards. */
export async function listHistory(
  db: Kysely<Database>,
  opts: { limit: number; before?: number },
): Promise<HistoryEntry[]> {
  let q = db.selectFrom('revisions').selectAll().orderBy('revision', 'desc').limit(opts.limit);
  if (opts.before !== undefined) q = q.where('revision', '<', opts.before);
  const revisions = await q.execute();
  if (revisions.length === 0) return [];
  const changes = await db
    .selectFrom('changes')
    .select(['revision', 'kind', 'name', 'action', 'file'])
    .where(
      'revision',
      'in',
      revisions.map((r) => r.revision),
    )
    .orderBy('revision')
    .orderBy('seq')
    .execute();
  const byRevision = new Map<number, HistoryEntry['changes']>();
  for (const c of changes) {
    const list = byRevision.get(Number(c.revision)) ?? [];
    list.push({
      kind: c.kind,
      name: c.name,
      namespace: namespaceOfKey(c.name),
      action: c.action,
      ...(c.file ? { file: c.file } : {}),
    });
    byRevision.set(Number(c.revision), list);
  }
  return revisions.map((r) => ({
    ...entryOf(r),
    changes: byRevision.get(Number(r.revision)) ?? [],
  }));
}

export async function getRevision(
  db: Kysely<Database>,
  revision: number,
): Promise<HistoryDetail | undefined> {
  const r = await db
    .selectFrom('revisions')
    .selectAll()
    .where('revision', '=', revision)
    .executeTakeFirst();
  if (!r) return undefined;
  const changes = await db
    .selectFrom('changes')
    .selectAll()
    .where('revision', '=', revision)
    .orderBy('seq')
    .execute();
  return {
    ...entryOf(r),
    changes: changes.map((c) => {
      const before = c.before ? (JSON.parse(c.before) as PolicyDocument) : null;
      const after = c.after ? (JSON.parse(c.after) as PolicyDocument) : null;
      return {
        kind: c.kind,
        name: c.name,
        namespace: namespaceOfKey(c.name),
        action: c.action,
        ...(c.file ? { file: c.file } : {}),
        before,
        after,
        diff: before && after ? diffJson(before, after) : [],
      };
    }),
  };
}
