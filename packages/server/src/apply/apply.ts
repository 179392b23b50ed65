/**
 * `apply`, like `kubectl apply`: a set of documents becomes the desired state of those documents.
 * Unchanged documents are `unchanged` (idempotent), `dryRun` returns the plan with a field-level
 * diff per update, and the whole set is validated against the store's resulting state before
 * anything is written: one bad document and nothing changes. The CRUD routes use the same path
 * with one document, so they get the same validation, authorization, history and audit.
 */
import type { ProblemFieldErrorV1 } from '@ward/api-types';
import {
  compile,
  type Diagnostic,
  documentKey,
  documentNamespace,
  namespaceOfKey,
  PolicyCompileError,
  type PolicyDocument,
  parseDocuments,
  RESERVED_LABEL_PREFIX,
  reservedLabels,
  type SourcedDocument,
} from '@ward/policy';
import { serviceByConvention } from '@ward/spiffe';
import { owns, type Principal } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import {
  type CommitResult,
  type DocumentKind,
  documentDestination,
  type PlannedChange,
  type Store,
  type StoredDocument,
  type Trx,
} from '../store/store.ts';
import { canonicalJson } from './canonical.ts';
import { diffJson, type FieldChange } from './diff.ts';
import { type Expectation, holds, mismatch, preconditionFailed } from './preconditions.ts';

export interface ApplyFile {
  name: string;
  content: string;
}

export type ApplyAction = 'created' | 'updated' | 'unchanged' | 'deleted';

export interface ApplyResultItem {
  kind: DocumentKind;
  /** The document's key (`name`, or `namespace/name` outside the default namespace). */
  name: string;
  namespace: string;
  action: ApplyAction;
  file?: string;
  line?: number;
  col?: number;
  /** For `updated`: the fields that change. */
  diff?: FieldChange[];
}

export interface ApplyResult {
  dryRun: boolean;
  /** The new revision, or the current one when nothing changed (or on a dry run). */
  revision: number;
  changed: boolean;
  results: ApplyResultItem[];
  summary: Record<ApplyAction, number>;
}

export interface ChangeRequest {
  upserts: SourcedDocument[];
  deletes: { kind: DocumentKind; name: string }[];
  dryRun: boolean;
  /** `apply`, `create` (refuses existing documents), `replace`, `delete`, `rollback`. */
  operation: 'apply' | 'create' | 'replace' | 'delete' | 'rollback';
  /** Expectations from conditional headers, by `Kind/name` (checked in the write transaction). */
  expected?: ReadonlyMap<string, readonly Expectation[]>;
  /** Write without checking the documents' `metadata.revision` (still strips it). */
  force?: boolean;
  /**
   * Plans (more of) the change set from what this very transaction reads (rollback: the state
   * at a past revision against the stored one), so nothing can change between plan and write.
   * Runs before authorization, so what it plans is authorized like any other change.
   */
  plan?: (trx: Trx, existing: ReadonlyMap<string, StoredDocument>) => Promise<PlannedSet>;
  /** Added to the audit entry's detail (rollback: `{ to, service }`). */
  auditDetail?: Record<string, unknown>;
}

/** What a `plan` adds to a change request. */
export interface PlannedSet {
  upserts: SourcedDocument[];
  deletes: { kind: DocumentKind; name: string }[];
}

/** Converts policy diagnostics to problem field errors. */
export function diagnosticErrors(diagnostics: readonly Diagnostic[]): ProblemFieldErrorV1[] {
  return diagnostics
    .filter((d) => d.severity === 'error')
    .map((d) => ({
      field: d.path || '/',
      message: d.message,
      file: d.file,
      line: d.line,
      col: d.col,
      code: d.code,
    }));
}

/** Parses uploaded files; throws API_DOCUMENT_INVALID with every diagnostic of every file. */
export function parseFiles(files: readonly ApplyFile[]): SourcedDocument[] {
  const documents: SourcedDocument[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const file of files) {
    const parsed = parseDocuments(file.content, file.name);
    documents.push(...parsed.documents);
    diagnostics.push(...parsed.diagnostics);
  }
  const errors = diagnosticErrors(diagnostics);
  if (errors.length > 0) {
    throw new ServerError(
      'API_DOCUMENT_INVALID',
      `${errors.length} problem(s) in the submitted documents; nothing was changed`,
      { errors },
    );
  }
  return documents;
}

function where(d: SourcedDocument): { file: string; line?: number; col?: number } {
  const p = d.positions?.get('/metadata/name') ?? d.positions?.get('');
  return { file: d.file, ...(p ? { line: p.line, col: p.col } : {}) };
}

function keyOf(kind: string, name: string): string {
  return `${kind}/${name}`;
}

/**
 * The KEY of the service a document is attached to: an intention's destination (resolved in the
 * intention's namespace), a Gateway's own key, a Route's gateway, a Secret's owner. Owning it is
 * owning the document.
 */
function destinationOf(doc: PolicyDocument | undefined): string | undefined {
  return documentDestination(doc) ?? undefined;
}

/** The field that names what a document is attached to, for an API_NOT_OWNER error. */
const OWNER_FIELD: Record<DocumentKind, string> = {
  Service: '/metadata/name',
  Intention: '/spec/destination',
  AttributeSchema: '/kind',
  Gateway: '/metadata/name',
  Route: '/spec/gateway',
  Secret: '/spec/owner',
};

/**
 * The convention SPIFFE ID (`spiffe://<td>/ns/<ns>/sa/<name>`) a Service document newly sets in
 * `spec.spiffeId`, with the service key it names; undefined when it sets none, keeps the stored
 * one (a migrated document keeps the ID it always had) or uses another form.
 */
function claimedIdentity(
  before: PolicyDocument | undefined,
  after: PolicyDocument | undefined,
): { spiffeId: string; key: string } | undefined {
  const id = after?.kind === 'Service' ? after.spec?.spiffeId : undefined;
  if (typeof id !== 'string') return undefined;
  if (before?.kind === 'Service' && before.spec?.spiffeId === id) return undefined;
  const key = serviceByConvention(id);
  return key === undefined ? undefined : { spiffeId: id, key };
}

/** Whether a Service keeps its `spec.passport` (a delete keeps nothing, but grants nothing). */
function samePassport(before: PolicyDocument | undefined, after: PolicyDocument | undefined) {
  if (after === undefined) return true;
  const of = (d: PolicyDocument | undefined) => {
    const p = d?.kind === 'Service' ? d.spec?.passport : undefined;
    return p === undefined ? 'null' : JSON.stringify(p, Object.keys(p).sort());
  };
  return of(before) === of(after);
}

/**
 * Team tokens may change only the Service documents they own (`owns`: the key, or its whole
 * namespace; never `spec.passport`), the intentions whose destination (before and after the
 * change) is one of their services, the Gateway of a service they own (same key), the Routes
 * of such a gateway (`<namespace>/<spec.gateway>`, before and after) and the Secrets whose
 * `spec.owner` is one of their services (before and after: a team can neither take over another
 * team's secret nor give its own away). The attached service must be in the document's own
 * namespace for a team (an admin may do otherwise). An intention lives in its destination's namespace, so owning
 * the destination's key is owning the intention; one that names another namespace's destination
 * is refused here too (before the compile's POLICY_NAMESPACE_MISMATCH), so a team can neither
 * write nor probe another namespace through it.
 */
function authorize(
  principal: Principal,
  request: ChangeRequest,
  existing: ReadonlyMap<string, StoredDocument>,
): void {
  if (principal.scope === 'admin') return;
  const refused: ProblemFieldErrorV1[] = [];
  const check = (kind: DocumentKind, name: string, doc: PolicyDocument | undefined, at: object) => {
    if (kind === 'AttributeSchema') {
      // A schema decides what every team's conditions may read (and whether they compile): a
      // team could otherwise break other teams' applies or widen what they trust.
      refused.push({
        field: '/kind',
        message: `AttributeSchema ${name}: only an admin token may apply or delete attribute schemas`,
        code: 'API_NOT_OWNER',
        ...at,
      });
      return;
    }
    const before = existing.get(keyOf(kind, name))?.document;
    // An intention's destination must be in the intention's own namespace (its key's).
    const inPlace = (s: string | undefined) =>
      s === undefined || namespaceOfKey(s) === namespaceOfKey(name);
    const owned = (s: string | undefined) => s === undefined || owns(principal, s);
    const ok =
      kind === 'Service'
        ? owns(principal, name)
        : owned(destinationOf(doc)) &&
          owned(destinationOf(before)) &&
          inPlace(destinationOf(doc)) &&
          (destinationOf(doc) ?? destinationOf(before)) !== undefined;
    if (ok && kind === 'Service' && !samePassport(before, doc)) {
      // A team could otherwise give its own service the zone's signing key (`mint`) or another
      // zone's keys (`zone`): passport trust is the platform's call.
      refused.push({
        field: '/spec/passport',
        message: `Service ${name}: only an admin token may set or change spec.passport`,
        code: 'API_ADMIN_ONLY_FIELD',
        ...at,
      });
    }
    const claimed = ok && kind === 'Service' ? claimedIdentity(before, doc) : undefined;
    if (claimed !== undefined && !owns(principal, claimed.key)) {
      // A team could otherwise give its service the identity of another namespace's workload
      // (`spiffe://<td>/ns/team-a/sa/payments`): that workload's SVID would then speak for the
      // team's service, and the real owner could no longer declare its own (duplicate ID).
      refused.push({
        field: '/spec/spiffeId',
        message: `Service ${name}: ${claimed.spiffeId} is the identity of service "${claimed.key}" by convention, which token "${principal.name}" does not own`,
        code: 'API_NOT_OWNER',
        ...at,
      });
    }
    if (!ok) {
      const target = kind === 'Service' ? name : (destinationOf(doc) ?? destinationOf(before));
      refused.push({
        field: OWNER_FIELD[kind],
        message: `${kind} ${name}: token "${principal.name}" does not own service "${target}"`,
        code: 'API_NOT_OWNER',
        ...at,
      });
    }
  };
  for (const d of request.upserts) {
    check(d.document.kind, documentKey(d.document), d.document, where(d));
  }
  for (const d of request.deletes) check(d.kind, d.name, undefined, {});
  for (const d of request.upserts) refused.push(...reservedLabelChanges(d, existing));
  if (refused.length > 0) {
    throw new ServerError(
      'API_FORBIDDEN',
      'this token may not change some of these documents; nothing was changed',
      {
        errors: refused,
      },
    );
  }
}

/**
 * Reserved labels (`ward.dev/…`) authorize: rules trust them because only an admin sets them. A
 * team's Service document that leaves them all out keeps the stored ones (so a team's own files
 * need not repeat what the platform set); one that names any must carry exactly the stored set.
 * Returns an `API_RESERVED_LABEL` error per label that would change; may fill in `d`'s labels.
 */
function reservedLabelChanges(
  d: SourcedDocument,
  existing: ReadonlyMap<string, StoredDocument>,
): ProblemFieldErrorV1[] {
  const doc = d.document;
  if (doc.kind !== 'Service') return [];
  const name = documentKey(doc);
  const stored = existing.get(keyOf('Service', name))?.document;
  const before = new Map(reservedLabels(stored?.metadata.labels));
  const after = new Map(reservedLabels(doc.metadata.labels));
  if (after.size === 0 && before.size > 0) {
    doc.metadata.labels = { ...doc.metadata.labels, ...Object.fromEntries(before) };
    return [];
  }
  const errors: ProblemFieldErrorV1[] = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    if (before.get(key) === after.get(key)) continue;
    const field = `/metadata/labels/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    const p = d.positions?.get(field) ?? d.positions?.get('/metadata/labels');
    const was = before.has(key) ? JSON.stringify(before.get(key)) : 'unset';
    errors.push({
      field,
      message: `Service ${name}: label "${key}" is reserved (${RESERVED_LABEL_PREFIX}…) and only an admin token may set, change or remove it (stored: ${was})`,
      code: 'API_RESERVED_LABEL',
      file: d.file,
      ...(p ? { line: p.line, col: p.col } : {}),
    });
  }
  return errors;
}

/**
 * Every expectation of a change set, by `Kind/name`: the request's (headers) and each document's
 * `metadata.revision`, which is removed from the document here: it says what the writer read,
 * it is not part of the desired state.
 */
function expectationsOf(request: ChangeRequest): Map<string, Expectation[]> {
  const out = new Map<string, Expectation[]>();
  const add = (key: string, e: Expectation) => out.set(key, [...(out.get(key) ?? []), e]);
  for (const [key, list] of request.expected ?? []) for (const e of list) add(key, e);
  for (const d of request.upserts) {
    const { revision, ...metadata } = d.document.metadata;
    if (revision === undefined) continue;
    d.document.metadata = metadata;
    if (request.force) continue;
    const p = d.positions?.get('/metadata/revision');
    add(keyOf(d.document.kind, documentKey(d.document)), {
      field: '/metadata/revision',
      precondition: revision === 0 ? { type: 'absent' } : { type: 'at', revisions: [revision] },
      file: d.file,
      ...(p ? { line: p.line, col: p.col } : {}),
    });
  }
  return out;
}

/** Refuses the whole change set with 412 when any document is not where its writer expects. */
function checkExpectations(
  expected: ReadonlyMap<string, readonly Expectation[]>,
  existing: ReadonlyMap<string, StoredDocument>,
): void {
  const failed: ProblemFieldErrorV1[] = [];
  for (const [key, list] of expected) {
    const [kind, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
    const current = existing.get(key)?.updatedRevision;
    for (const e of list) {
      if (!holds(e.precondition, current)) failed.push(mismatch(kind, name, e, current));
    }
  }
  if (failed.length > 0) preconditionFailed(failed);
}

/**
 * Validates, plans and (unless dry run) commits a change set in one transaction. The
 * expectations are checked on what this transaction reads, after the write lock: no other
 * write can come between the check and this one.
 */
export async function applyChanges(
  store: Store,
  principal: Principal,
  given: ChangeRequest,
): Promise<ApplyResult & { commit?: CommitResult }> {
  const expected = expectationsOf(given);
  // A planned dry run (rollback) locks too: the revision it answers is what the caller later
  // sends as its precondition, so the plan it shows must be the state at exactly that revision.
  const lock = !given.dryRun || given.plan !== undefined;
  return store.transaction(async (trx) => {
    const stored = await store.listDocuments({}, trx);
    const existing = new Map(stored.map((d) => [keyOf(d.kind, d.name), d]));
    let request = given;
    if (given.plan) {
      const planned = await given.plan(trx, existing);
      request = {
        ...given,
        upserts: [...given.upserts, ...planned.upserts],
        deletes: [...given.deletes, ...planned.deletes],
      };
    }
    authorize(principal, request, existing);
    checkExpectations(expected, existing);

    const results: ApplyResultItem[] = [];
    const changes: PlannedChange[] = [];
    const replaced = new Set<string>();
    for (const d of request.upserts) {
      const doc = d.document;
      const name = documentKey(doc);
      const key = keyOf(doc.kind, name);
      const before = existing.get(key);
      replaced.add(key);
      const at = where(d);
      if (before && request.operation === 'create') {
        throw new ServerError('API_CONFLICT', `${doc.kind} ${name} already exists`, {
          errors: [
            { field: '/metadata/name', message: 'already exists; use PUT to replace it', ...at },
          ],
        });
      }
      let action: ApplyAction = 'created';
      let diff: FieldChange[] | undefined;
      if (before) {
        if (canonicalJson(before.document) === canonicalJson(doc)) action = 'unchanged';
        else {
          action = 'updated';
          diff = diffJson(before.document, doc);
        }
      }
      results.push({
        kind: doc.kind,
        name,
        namespace: documentNamespace(doc),
        action,
        ...at,
        ...(diff ? { diff } : {}),
      });
      if (action !== 'unchanged') {
        changes.push({
          kind: doc.kind,
          name,
          action,
          before: before?.document ?? null,
          after: doc,
          file: d.file,
        });
      }
    }
    for (const d of request.deletes) {
      const key = keyOf(d.kind, d.name);
      const before = existing.get(key);
      if (!before) throw new ServerError('API_NOT_FOUND', `${d.kind} ${d.name} does not exist`);
      replaced.add(key);
      results.push({
        kind: d.kind,
        name: d.name,
        namespace: namespaceOfKey(d.name),
        action: 'deleted',
      });
      changes.push({
        kind: d.kind,
        name: d.name,
        action: 'deleted',
        before: before.document,
        after: null,
      });
    }

    // The resulting state must compile as a whole (references, duplicates, CEL types).
    const merged: SourcedDocument[] = [
      ...stored
        .filter((d) => !replaced.has(keyOf(d.kind, d.name)))
        .map((d, index) => ({ document: d.document, file: `<stored ${d.kind} ${d.name}>`, index })),
      ...request.upserts,
    ];
    try {
      compile(merged, { trustDomain: store.trustDomain });
    } catch (error) {
      if (!(error instanceof PolicyCompileError)) throw error;
      throw new ServerError(
        'API_DOCUMENT_INVALID',
        'the documents do not compile with the stored policy; nothing was changed',
        { errors: diagnosticErrors(error.diagnostics) },
      );
    }

    const summary: Record<ApplyAction, number> = {
      created: 0,
      updated: 0,
      unchanged: 0,
      deleted: 0,
    };
    for (const r of results) summary[r.action]++;
    const { revision } = await store.revision(trx);
    if (request.dryRun || changes.length === 0) {
      return { dryRun: request.dryRun, revision, changed: false, results, summary };
    }
    const commit = await store.commit(trx, changes, principal, request.operation);
    await appendAudit(
      trx,
      principal,
      `documents.${request.operation}`,
      changes.length === 1
        ? keyOf(changes[0]!.kind, changes[0]!.name)
        : `${changes.length} documents`,
      {
        summary,
        changes: changes.map((c) => ({ kind: c.kind, name: c.name, action: c.action })),
        services: commit.services,
        ...request.auditDetail,
      },
      commit.revision,
    );
    return { dryRun: false, revision: commit.revision, changed: true, results, summary, commit };
  }, lock);
}
