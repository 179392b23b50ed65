/**
 * The append-only audit log. There is deliberately no update or delete function here, no route
 * that could reach one, and the database itself refuses UPDATE and DELETE (triggers).
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { Actor } from './store.ts';

export interface AuditEntry {
  id: number;
  at: string;
  actor: { id: string; name: string };
  action: string;
  target: string;
  revision: number | null;
  detail: Record<string, unknown>;
}

/** Appends one entry; call it inside the transaction of the change it records. */
export async function appendAudit(
  db: Kysely<Database>,
  actor: Actor,
  action: string,
  target: string,
  detail: Record<string, unknown> = {},
  revision: number | null = null,
): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      at: new Date().toISOString(),
      actor_id: actor.id,
      actor_name: actor.name,
      action,
      target,
      revision,
      detail: JSON.stringify({ scope: actor.scope, ...detail }),
    })
    .execute();
}

/** Newest first; `before` (an entry id) pages backwards. */
export async function listAudit(
  db: Kysely<Database>,
  opts: { limit: number; before?: number },
): Promise<AuditEntry[]> {
  let q = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(opts.limit);
  if (opts.before !== undefined) q = q.where('id', '<', opts.before);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at,
    actor: { id: r.actor_id, name: r.actor_name },
    action: r.action,
    target: r.target,
    revision: r.revision === null ? null : Number(r.revision),
    detail: JSON.parse(r.detail) as Record<string, unknown>,
  }));
}
