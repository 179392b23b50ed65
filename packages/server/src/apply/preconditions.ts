/**
 * Optimistic concurrency: what a writer expects of a document's stored revision, read from
 * `If-Match` / `If-None-Match` (RFC 9110 §13.1) or from a document's `metadata.revision`, and the
 * check `applyChanges` runs inside its write transaction, so nothing can change between the check
 * and the write. A document's entity tag is `"r<updatedRevision>"`: the global revision of the
 * last change to that document, strong because the revision names exactly one stored body.
 */
import type { ProblemFieldErrorV1 } from '@ward/api-types';
import { ServerError } from '../errors.ts';

/** What a writer expects of one document before its change is allowed. */
export type Precondition =
  /** `If-Match: *`: the document must exist. */
  | { type: 'exists' }
  /** `If-None-Match: *` or `metadata.revision: 0`: the document must not exist. */
  | { type: 'absent' }
  /** `If-Match: "r5", …` or `metadata.revision: 5`: it must be at one of these revisions. */
  | { type: 'at'; revisions: readonly number[] }
  /** `If-None-Match: "r5", …` on a write: it must not be at any of these revisions. */
  | { type: 'not-at'; revisions: readonly number[] };

/** One expectation with where it came from, for the 412 body. */
export interface Expectation {
  precondition: Precondition;
  /** `headers.if-match`, `headers.if-none-match` or `/metadata/revision`. */
  field: string;
  file?: string;
  line?: number;
  col?: number;
}

/** The strong entity tag of a document last changed at `revision`. */
export function etagOf(revision: number): string {
  return `"r${revision}"`;
}

/** Parsed `If-Match` / `If-None-Match`: `*`, or the listed tags (weak ones flagged). */
export type EntityTagList = '*' | { tag: string; weak: boolean }[];

// An entity-tag: optional W/, then a quoted string of etagc (no DQUOTE, no controls).
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;
const MAX_TAGS = 64;

/**
 * Parses a conditional header. Throws API_VALIDATION naming the header for anything that is not
 * `*` or a comma-separated list of entity tags (a client that sends garbage must learn it, not
 * have its write go through or fail for a reason it cannot see).
 */
export function parseEntityTags(header: string, name: string): EntityTagList {
  const value = header.trim();
  if (value === '*') return '*';
  const parts = value.split(',').map((p) => p.trim());
  const bad = (message: string) =>
    new ServerError('API_VALIDATION', `bad ${name} header: ${message}`, {
      errors: [{ field: `headers.${name}`, message }],
    });
  if (parts.length > MAX_TAGS) throw bad(`at most ${MAX_TAGS} entity tags`);
  const tags: { tag: string; weak: boolean }[] = [];
  for (const part of parts) {
    if (part === '') continue; // RFC 9110 list syntax allows empty elements
    const m = ENTITY_TAG.exec(part);
    if (!m) throw bad(`expected * or entity tags like "r12", got ${JSON.stringify(part)}`);
    tags.push({ tag: `"${m[2]}"`, weak: m[1] !== undefined });
  }
  if (tags.length === 0) throw bad('expected * or at least one entity tag');
  return tags;
}

/** The revision an entity tag of ours names, or undefined for a tag we never issued. */
function revisionOfTag(tag: string): number | undefined {
  const m = /^"r(0|[1-9][0-9]{0,9})"$/.exec(tag);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n <= 2147483647 ? n : undefined;
}

/**
 * The expectations of a write's `If-Match` / `If-None-Match` headers (none when it sent neither). `If-Match` uses the strong comparison (a weak tag never matches), `If-None-Match` the
 * weak one. A tag we never issued names no revision and so never matches.
 */
export function headerExpectations(headers: {
  'if-match'?: string | string[];
  'if-none-match'?: string | string[];
}): Expectation[] {
  const out: Expectation[] = [];
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : v);
  const ifMatch = one(headers['if-match']);
  if (ifMatch !== undefined) {
    const tags = parseEntityTags(ifMatch, 'if-match');
    out.push({
      field: 'headers.if-match',
      precondition:
        tags === '*'
          ? { type: 'exists' }
          : { type: 'at', revisions: revisionsOf(tags.filter((t) => !t.weak)) },
    });
  }
  const ifNoneMatch = one(headers['if-none-match']);
  if (ifNoneMatch !== undefined) {
    const tags = parseEntityTags(ifNoneMatch, 'if-none-match');
    out.push({
      field: 'headers.if-none-match',
      precondition:
        tags === '*' ? { type: 'absent' } : { type: 'not-at', revisions: revisionsOf(tags) },
    });
  }
  return out;
}

function revisionsOf(tags: readonly { tag: string }[]): number[] {
  return tags.map((t) => revisionOfTag(t.tag)).filter((r): r is number => r !== undefined);
}

/** Whether `If-None-Match` on a read matches the document's tag (the weak comparison), i.e. 304. */
export function notModified(header: string | string[] | undefined, revision: number): boolean {
  if (header === undefined) return false;
  const tags = parseEntityTags(Array.isArray(header) ? header.join(',') : header, 'if-none-match');
  return tags === '*' || tags.some((t) => t.tag === etagOf(revision));
}

/** Whether a document at `current` (undefined: absent) meets the precondition. */
export function holds(p: Precondition, current: number | undefined): boolean {
  switch (p.type) {
    case 'exists':
      return current !== undefined;
    case 'absent':
      return current === undefined;
    case 'at':
      return current !== undefined && p.revisions.includes(current);
    case 'not-at':
      return current === undefined || !p.revisions.includes(current);
  }
}

function describe(p: Precondition): string {
  switch (p.type) {
    case 'exists':
      return 'it to exist';
    case 'absent':
      return 'it not to exist';
    case 'at':
      return p.revisions.length === 0
        ? 'an entity tag this server never issued'
        : `revision ${p.revisions.join(' or ')}`;
    case 'not-at':
      return `any revision but ${p.revisions.join(' or ')}`;
  }
}

/** The 412 field error of one failed expectation: names the document and both revisions. */
export function mismatch(
  kind: string,
  name: string,
  e: Expectation,
  current: number | undefined,
): ProblemFieldErrorV1 {
  const now = current === undefined ? 'it does not exist' : `it is at revision ${current}`;
  return {
    field: e.field,
    message: `${kind} ${name}: expected ${describe(e.precondition)}, but ${now} (someone changed it since you read it; read it again, or force the write)`,
    code: 'API_PRECONDITION_FAILED',
    ...(e.file !== undefined ? { file: e.file } : {}),
    ...(e.line !== undefined ? { line: e.line, col: e.col } : {}),
  };
}

/** Throws one 412 listing every failed expectation; nothing was written. */
export function preconditionFailed(errors: ProblemFieldErrorV1[]): never {
  const first = errors[0]?.message ?? '';
  throw new ServerError(
    'API_PRECONDITION_FAILED',
    errors.length === 1
      ? `${first}; nothing was changed`
      : `${errors.length} documents changed since they were read; nothing was changed`,
    { errors },
  );
}
