/** Error answers: RFC 9457 problem bodies with the gateway's codes, and the access log line. */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { problemBody } from '@ward/api-types';
import type { Logger } from 'pino';
import type { GatewayErrorCode } from '../errors.ts';

/** Writes a problem answer unless headers already went out (then the response is cut). */
export function sendProblem(
  res: ServerResponse,
  status: number,
  code: GatewayErrorCode,
  detail: string,
  headers: OutgoingHttpHeaders | undefined,
  extra?: Record<string, unknown>,
): void {
  if (res.writableEnded) return; // already answered (the request timed out meanwhile)
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ ...problemBody({ status, code, detail }), ...extra });
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** What the access log line says about a request (filled in as the pipeline goes). */
export interface AccessRecord {
  reqId: string;
  method: string;
  /** Canonical path, query reduced to its parameter names. */
  path: string;
  route?: string;
  subject?: string;
  upstream?: string;
  code?: GatewayErrorCode;
  rule?: string;
  dryRunDenied?: boolean;
}

/**
 * The path for the log: query values dropped (they carry tokens, e-mail addresses, …), at most
 * 512 characters. pino JSON-encodes every string, so CR/LF cannot forge lines.
 */
export function loggedPath(path: string, query: string | undefined): string {
  const p = path.length > 512 ? `${path.slice(0, 512)}…` : path;
  if (query === undefined || query === '') return p;
  const names = query
    .slice(0, 2048)
    .split('&')
    .slice(0, 32)
    .map((pair) => `${pair.split('=', 1)[0]!.slice(0, 64)}=`);
  return `${p}?${names.join('&')}`;
}

export function logAccess(
  logger: Logger,
  record: AccessRecord,
  status: number,
  startedAt: number,
  aborted: boolean,
): void {
  logger.info(
    {
      ...record,
      status,
      durationMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
      ...(aborted ? { aborted: true } : {}),
    },
    'request',
  );
}
