/** Revision history: who changed what, when. Read-only views over `revisions` and `changes`. */
import { namespaceOfKey, type PolicyDocument } from '@ward/policy';
import type { Kysely } from 'kysely';
import { diffJson, type FieldChange } from '../apply/diff.ts';
import type { Database } from './schema.ts';
import { documentDestination } from './store.ts';

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

/** Newest first; `before` pages backwards; `service` / `namespace` keep matching revisions. */
export async function listHistory(
  db: Kysely<Database>,
  opts: { limit: number; before?: number; service?: string; namespace?: string },
): Promise<HistoryEntry[]> {
  if (opts.service === undefined && opts.namespace === undefined) return historyPage(db, opts);
  // Filtered: read pages of revisions (with the documents a change touched) until `limit` match.
  const out: HistoryEntry[] = [];
  let before = opts.before;
  for (;;) {
    const page = await historyPage(db, { limit: FILTER_PAGE, before }, true);
    for (const e of page) {
      if (matches(e, opts)) out.push(stripDocuments(e));
      if (out.length === opts.limit) return out;
    }
    if (page.length < FILTER_PAGE) return out;
    before = page[page.length - 1]!.revision;
  }
}

const FILTER_PAGE = 200;

type Detailed = Omit<HistoryEntry, 'changes'> & {
  changes: (HistoryEntry['changes'][number] & { destinations?: string[] })[];
};

/**
 * Whether a revision changed `service` (its Service, an intention on it, a Secret it owns, or,
 * for a gateway, its Gateway or one of its Routes) / `namespace`.
 */
function matches(e: Detailed, opts: { service?: string; namespace?: string }): boolean {
  return e.changes.some(
    (c) =>
      (opts.namespace === undefined || c.namespace === opts.namespace) &&
      (opts.service === undefined ||
        (c.kind === 'Service' && c.name === opts.service) ||
        (c.destinations ?? []).includes(opts.service)),
  );
}

function stripDocuments(e: Detailed): HistoryEntry {
  return { ...e, changes: e.changes.map(({ destinations: _, ...c }) => c) };
}

async function historyPage(
  db: Kysely<Database>,
  opts: { limit: number; before?: number | undefined },
  withDestinations = false,
): Promise<Detailed[]> {
  let q = db.selectFrom('revisions').selectAll().orderBy('revision', 'desc').limit(opts.limit);
  if (opts.before !== undefined) q = q.where('revision', '<', opts.before);
  const revisions = await q.execute();
  if (revisions.length === 0) return [];
  const changes = await db
    .selectFrom('changes')
    .select(['revision', 'kind', 'name', 'action', 'file', 'before', 'after'])
    .where(
      'revision',
      'in',
      revisions.map((r) => r.revision),
    )
    .orderBy('revision')
    .orderBy('seq')
    .execute();
  const byRevision = new Map<number, Detailed['changes']>();
  for (const c of changes) {
    const list = byRevision.get(Number(c.revision)) ?? [];
    const destinations =
      withDestinations && c.kind !== 'Service'
        ? [c.before, c.after].flatMap((b) => {
            const d = b ? documentDestination(JSON.parse(b) as PolicyDocument) : null;
            return d === null ? [] : [d];
          })
        : undefined;
    list.push({
      kind: c.kind,
      name: c.name,
      namespace: namespaceOfKey(c.name),
      action: c.action,
      ...(c.file ? { file: c.file } : {}),
      ...(destinations ? { destinations } : {}),
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
