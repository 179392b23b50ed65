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
  const rows = await db
    .selectFrom('changes')
    .select(['revision', 'seq', 'kind', 'name', 'after'])
    .where('revision', '<=', revision)
    .orderBy('revision')
    .orderBy('seq')
    .execute();
  const state = new Map<string, DocumentAt | null>();
  for (const r of rows) {
    const key = `${r.kind}/${r.name}`;
    state.set(
      key,
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
