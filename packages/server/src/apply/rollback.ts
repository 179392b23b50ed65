/**
 * Rollback: the change set that returns the stored documents (all of them, or one service's
 * Service, the Intentions whose destination it is and, for a gateway, its Gateway and Routes) to their state at a past revision, applied
 * as one ordinary apply: same authorization, compile check, history, bundles and audit (action
 * `documents.rollback`). The plan is computed inside the apply's write transaction, from what it
 * reads, so the revision it writes is exactly the state it planned against; a caller that showed
 * a diff first passes the revision it showed, and the rollback is refused (412) if anything in its
 * scope changed since, rather than undoing a change nobody reviewed.
 */
import type { ProblemFieldErrorV1 } from '@ward/api-types';
import type { PolicyDocument, SourcedDocument } from '@ward/policy';
import { owns, type Principal } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';
import { MIGRATE_NAMESPACES_OPERATION } from '../store/migrate-namespaces.ts';
import { documentsAt } from '../store/revision-state.ts';
import { documentDestination, type Store, type StoredDocument, type Trx } from '../store/store.ts';
import { type ApplyResult, applyChanges, type PlannedSet } from './apply.ts';
import { canonicalJson } from './canonical.ts';
import { preconditionFailed } from './preconditions.ts';

export interface RollbackRequest {
  /** The revision whose state is restored. */
  to: number;
  /** Only this service's Service document, the Intentions on it, its Gateway, Routes, Secrets. */
  service?: string;
  dryRun: boolean;
  /**
   * The store revision the caller planned against (its dry run): refused with 412 when a
   * document in scope changed since. `field` names where it came from, for the 412 body.
   */
  expected?: { revision: number; field: string };
}

interface Doc {
  kind: string;
  name: string;
  document: PolicyDocument;
}

const keyOf = (kind: string, name: string) => `${kind}/${name}`;

/** Whether a document belongs to the rollback's scope (everything without a service). */
function inScope(d: Doc, service: string | undefined): boolean {
  if (service === undefined) return true;
  if (d.kind === 'Service') return d.name === service;
  // The KEY it is attached to (an intention's destination resolved in its namespace, a
  // Gateway's own key, a Route's gateway, a Secret's owner), as `service` is.
  return documentDestination(d.document) === service;
}

/** One document in scope as it stands in a past state and now (undefined: absent there). */
interface Difference {
  past: Doc | undefined;
  now: StoredDocument | undefined;
}

/**
 * The documents in scope in either state that differ between the past state (`past`) and the
 * stored one: Services first, then the rest, each by name (a stable, readable order). A document
 * counts wherever its destination was in the other state.
 */
function differences(
  then: readonly Doc[],
  now: ReadonlyMap<string, StoredDocument>,
  service: string | undefined,
): Difference[] {
  const past = new Map(then.map((d) => [keyOf(d.kind, d.name), d]));
  const keys = new Set<string>();
  for (const d of [...then, ...now.values()]) {
    if (inScope(d, service)) keys.add(keyOf(d.kind, d.name));
  }
  const rank = (key: string) => (key.startsWith('Service/') ? 0 : 1);
  const out: Difference[] = [];
  for (const key of [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))) {
    const d = { past: past.get(key), now: now.get(key) };
    if (d.past && d.now && canonicalJson(d.past.document) === canonicalJson(d.now.document)) {
      continue;
    }
    out.push(d);
  }
  return out;
}

/**
 * Team tokens roll back one service they own: a rollback of everything would touch (and, in
 * its refusal, name) documents of other teams. What the plan then touches is authorized by
 * `applyChanges` like any apply (an intention moved to another team's service is refused).
 */
function authorizeScope(principal: Principal, service: string | undefined): void {
  if (principal.scope === 'admin') return;
  if (service === undefined || !owns(principal, service)) {
    throw new ServerError(
      'API_FORBIDDEN',
      service === undefined
        ? `token "${principal.name}" may roll back only a service it owns: pass service`
        : `token "${principal.name}" does not own service "${service}"`,
      { errors: [{ field: '/service', message: 'must be a service this token owns' }] },
    );
  }
}

/** 400 for a revision after the current one, 404 for one the history does not hold. */
async function checkTarget(trx: Trx, to: number, current: number): Promise<void> {
  if (to > current) {
    throw new ServerError(
      'API_VALIDATION',
      `cannot roll back to revision ${to}: the store is at revision ${current}`,
      { errors: [{ field: '/to', message: `must be at most ${current}` }] },
    );
  }
  const row = await trx
    .selectFrom('revisions')
    .select('revision')
    .where('revision', '=', to)
    .executeTakeFirst();
  if (!row) throw new ServerError('API_NOT_FOUND', `revision ${to} does not exist`);
  // Documents from before the namespace migration mean something else now (their
  // `metadata.namespace` would place them): restoring one would create another document.
  const migration = await trx
    .selectFrom('revisions')
    .select('revision')
    .where('operation', '=', MIGRATE_NAMESPACES_OPERATION)
    .executeTakeFirst();
  if (migration && to < Number(migration.revision)) {
    throw new ServerError(
      'API_CONFLICT',
      `cannot roll back to revision ${to}: revision ${migration.revision} rewrote the documents for namespaces (migrate-namespaces), and older documents no longer mean what they meant`,
      {
        errors: [
          {
            field: '/to',
            message: `must be at least ${migration.revision}`,
            code: 'API_ROLLBACK_BEFORE_MIGRATION',
          },
        ],
      },
    );
  }
}

/**
 * 412 unless every document in scope is as it was at the expected revision: the change set the
 * caller reviewed is then the one written.
 */
async function checkExpected(
  trx: Trx,
  expected: NonNullable<RollbackRequest['expected']>,
  current: number,
  now: ReadonlyMap<string, StoredDocument>,
  service: string | undefined,
): Promise<void> {
  if (expected.revision > current) {
    preconditionFailed([
      {
        field: expected.field,
        message: `expected revision ${expected.revision}, but the store is at revision ${current}`,
        code: 'API_PRECONDITION_FAILED',
      },
    ]);
  }
  if (expected.revision === current) return;
  const then = await documentsAt(trx, expected.revision);
  const failed = differences(then, now, service).map((d): ProblemFieldErrorV1 => {
    // Every difference is present in one state at least: that one names the document.
    const { kind, name } = d.now ?? d.past!;
    const state = d.now ? `it is at revision ${d.now.updatedRevision}` : 'it was deleted';
    return {
      field: expected.field,
      message: `${kind} ${name}: changed since revision ${expected.revision} (${state}); review the rollback again`,
      code: 'API_PRECONDITION_FAILED',
    };
  });
  if (failed.length > 0) preconditionFailed(failed);
}

/**
 * The change set from `now` to the state at `to`, within the scope: every document in scope at
 * either revision goes back to what it was at `to` (created, updated — whatever its destination
 * was then — or deleted).
 */
export function rollbackPlan(
  then: readonly Doc[],
  now: ReadonlyMap<string, StoredDocument>,
  service: string | undefined,
  to: number,
): PlannedSet {
  const upserts: SourcedDocument[] = [];
  const deletes: PlannedSet['deletes'] = [];
  for (const d of differences(then, now, service)) {
    if (d.past) {
      upserts.push({
        document: structuredClone(d.past.document),
        file: `<revision ${to}>`,
        index: upserts.length,
      });
    } else if (d.now) {
      deletes.push({ kind: d.now.kind, name: d.now.name });
    }
  }
  return { upserts, deletes };
}

/** Plans and (unless dry run) applies a rollback; answered like an apply. */
export async function rollback(
  store: Store,
  principal: Principal,
  request: RollbackRequest,
): Promise<ApplyResult & { commit?: { revision: number; services: string[] } }> {
  authorizeScope(principal, request.service);
  return applyChanges(store, principal, {
    upserts: [],
    deletes: [],
    dryRun: request.dryRun,
    operation: 'rollback',
    auditDetail: { to: request.to, service: request.service ?? null },
    plan: async (trx, existing) => {
      const { revision: current } = await store.revision(trx);
      await checkTarget(trx, request.to, current);
      if (request.expected) {
        await checkExpected(trx, request.expected, current, existing, request.service);
      }
      const then = await documentsAt(trx, request.to);
      return rollbackPlan(then, existing, request.service, request.to);
    },
  });
}
