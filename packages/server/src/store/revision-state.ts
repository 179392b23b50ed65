/**
 * The documents as they stood at a past revision, rebuilt from the change history: the last
 * change of each document at or before the revision says what it was (`after`, or gone when
 * that change deleted it). The playground evaluates against it; nothing here writes.
 */
import type { PolicyDocument } from '@ward/policy';
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface DocumentAt {
  kind: string;
  name: string;
  document: PolicyDocument;
}

/** Every document alive at `revision`, sorted by kind and name. */
export async function documentsAt(db: Kysely<Database>, revision: number): Promise<DocumentAt[]> {
  // Only each document's last change at or before the revision: memory follows the number of
  // documents, not the length of the history.
  const last = db
    .selectFrom('changes')
    .select(['kind', 'name', (eb) => eb.fn.max('revision').as('rev')])
    .where('revision', '<=', revision)
    .groupBy(['kind', 'name'])
    .as('last');
  const rows = await db
    .selectFrom('changes as c')
    .innerJoin(last, (join) =>
      join
        .onRef('c.kind', '=', 'last.kind')
        .onRef('c.name', '=', 'last.name')
        .onRef('c.revision', '=', 'last.rev'),
    )
    .select(['c.kind', 'c.name', 'c.after'])
    .orderBy('c.seq')
    .execute();
  const state = new Map<string, DocumentAt | null>();
  for (const r of rows) {
    state.set(
      `${r.kind}/${r.name}`,
      r.after === null
        ? null
        : { kind: r.kind, name: r.name, document: JSON.parse(r.after) as PolicyDocument },
    );
  }
  return [...state.values()]
    .filter((d): d is DocumentAt => d !== null)
    .sort((a, b) => (a.kind === b.kind ? cmp(a.name, b.name) : cmp(a.kind, b.kind)));
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
