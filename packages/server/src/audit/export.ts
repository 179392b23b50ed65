/**
 * Audit evidence for an auditor (SOC 2, HIPAA): who (actor id, name, scope), what (action,
 * target, details), when, the revision, and the hash-chain fields of every entry, under a header
 * that names the chain head and the verification verdict. Pure: shapes and CSV text only.
 *
 * Approvals: Ward records who *made* each change (the token that applied it). It has no separate
 * approval step, so no entry names an approver; review evidence lives where the change was
 * reviewed (the Git pull request whose merge ran `ward apply`). The header says so.
 */
import type { ChainEntry, ChainResult } from './chain.ts';

export interface AuditExportEntry {
  seq: number;
  id: number;
  at: string;
  actorId: string;
  actorName: string;
  /** The scope of the acting token (admin, team, system), as recorded at the time. */
  actorScope: string | null;
  action: string;
  target: string;
  revision: number | null;
  /** The detail JSON text exactly as stored and hashed (so the hash can be recomputed). */
  detail: string;
  prevHash: string;
  hash: string;
}

export interface AuditExport {
  format: 'ward-audit-export-v1';
  exportedAt: string;
  range: { since: string | null; until: string | null };
  /** The verdict over the WHOLE chain (not just the range), and its head: record the head. */
  chain: ChainResult;
  approvals: string;
  entries: AuditExportEntry[];
}

export const APPROVALS_NOTE =
  'Ward records the actor that made each change; it has no separate approval step, so no ' +
  'approver is recorded. Review evidence is in the change review (e.g. the pull request) that ' +
  'ran the apply.';

const CSV_COLUMNS = [
  'seq',
  'id',
  'at',
  'actor_id',
  'actor_name',
  'actor_scope',
  'action',
  'target',
  'revision',
  'detail',
  'prev_hash',
  'hash',
] as const;

/**
 * RFC 4180 field: quoted when it holds a comma, quote or line break. Values are kept exact (no
 * formula-injection prefix) so the hashes can be recomputed from the file: import it as text.
 */
function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * The export as CSV: `#` comment lines carrying the header (format, time, range, chain verdict
 * and head, the approvals note), then a column row and one row per entry.
 */
export function auditExportCsv(x: AuditExport): string {
  const c = x.chain;
  const lines = [
    `# ${x.format}`,
    `# exported_at: ${x.exportedAt}`,
    `# range: since=${x.range.since ?? '-'} until=${x.range.until ?? '-'}`,
    `# chain: ok=${c.ok} entries=${c.entries} head_seq=${c.headSeq} head=${c.head}`,
    ...(c.firstBreak
      ? [`# first_break: ${c.firstBreak.kind} at seq ${c.firstBreak.seq}: ${c.firstBreak.message}`]
      : []),
    `# approvals: ${x.approvals}`,
    CSV_COLUMNS.join(','),
  ];
  for (const e of x.entries) {
    const row = [
      String(e.seq),
      String(e.id),
      e.at,
      e.actorId,
      e.actorName,
      e.actorScope ?? '',
      e.action,
      e.target,
      e.revision === null ? '' : String(e.revision),
      e.detail,
      e.prevHash,
      e.hash,
    ];
    lines.push(row.map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The scope recorded in an entry's detail (appendAudit puts it there), or null. */
export function scopeOf(detail: string): string | null {
  try {
    const v = JSON.parse(detail) as { scope?: unknown };
    return typeof v?.scope === 'string' ? v.scope : null;
  } catch {
    return null;
  }
}

/** One chained entry as exported. */
export function exportEntry(e: ChainEntry): AuditExportEntry {
  return {
    seq: e.seq,
    id: e.id,
    at: e.at,
    actorId: e.actorId,
    actorName: e.actorName,
    actorScope: scopeOf(e.detail),
    action: e.action,
    target: e.target,
    revision: e.revision,
    detail: e.detail,
    prevHash: e.prevHash,
    hash: e.hash,
  };
}
