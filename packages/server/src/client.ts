/**
 * A small HTTP client for the control-plane API (used by the `ward` CLI). Imported as
 * `@ward/server/client`: it loads none of the server (no Fastify, no database drivers), so CLI
 * commands start fast.
 */
import type { ProblemV1 } from '@ward/api-types';

/** Ward's default control-plane address (the server listens on port 8181 by default). */
export const DEFAULT_SERVER = 'http://127.0.0.1:8181';

export interface ClientOptions {
  server: string;
  token?: string;
}

/** The server answered with a problem body, or could not be reached (`status` 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly problem?: ProblemV1;

  constructor(status: number, message: string, problem?: ProblemV1) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    if (problem) this.problem = problem;
  }
}

/** A problem body as lines a person can act on (`file:line:col: field: message`). */
export function formatProblem(problem: ProblemV1): string {
  const lines = [`${problem.title} (${problem.code}): ${problem.detail ?? ''}`.trimEnd()];
  for (const e of problem.errors ?? []) {
    const where = e.file ? `${e.file}${e.line ? `:${e.line}:${e.col ?? 1}` : ''}: ` : '';
    const field = e.field && e.field !== '/' ? `${e.field}: ` : '';
    lines.push(
      `  ${where}${field}${e.message}${e.code && e.code !== problem.code ? ` [${e.code}]` : ''}`,
    );
  }
  return lines.join('\n');
}

/** Sends one request; returns the parsed JSON body, throws ApiError on any failure. */
export async function apiRequest<T>(
  opts: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const url = new URL(path, opts.server.endsWith('/') ? opts.server : `${opts.server}/`);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new ApiError(
      0,
      `cannot reach the control plane at ${opts.server}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    );
  }
  const text = await res.text();
  if (!res.ok) {
    let problem: ProblemV1 | undefined;
    try {
      const parsed = JSON.parse(text) as ProblemV1;
      if (parsed && typeof parsed.code === 'string') problem = parsed;
    } catch {
      // not a problem body (a proxy's error page, say): report the status
    }
    throw new ApiError(
      res.status,
      problem ? formatProblem(problem) : `HTTP ${res.status} from ${url.pathname}`,
      problem,
    );
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export type { AuditEntryV1 as AuditEntry } from '@ward/api-types';
// Type-only re-exports: erased at run time, so they load nothing of the server.
export type { ApplyResult, ApplyResultItem } from './apply/apply.ts';
export type { FieldChange } from './apply/diff.ts';
export type { BreakKind, ChainBreak, ChainResult } from './audit/chain.ts';
export type { AuditExport, AuditExportEntry } from './audit/export.ts';
// Pure (no imports at run time): the CLI writes the same CSV as GET /v1/audit/export?format=csv.
export { auditExportCsv } from './audit/export.ts';
export type { TokenInfo } from './auth/tokens.ts';
export type { HistoryChangeDetail, HistoryDetail, HistoryEntry } from './store/history.ts';
export type { StoredDocument } from './store/store.ts';
