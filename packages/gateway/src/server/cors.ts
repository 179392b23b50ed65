/**
 * CORS (Fetch standard): preflights answered by the gateway, response headers for allowed
 * origins. Without a `cors` section the gateway sends no CORS headers and refuses preflights.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { CompiledCors } from '../config/compile.ts';

const EXPOSED =
  'x-request-id, ratelimit, ratelimit-policy, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after';

export function isPreflight(method: string | undefined, headers: IncomingHttpHeaders): boolean {
  return (
    method === 'OPTIONS' &&
    headers.origin !== undefined &&
    headers['access-control-request-method'] !== undefined
  );
}

function originAllowed(cors: CompiledCors, origin: string): boolean {
  return cors.anyOrigin || cors.origins.has(origin.toLowerCase());
}

/** The answer to a preflight: 204 with its headers, or undefined to refuse it (403). */
export function preflightHeaders(
  cors: CompiledCors | undefined,
  headers: IncomingHttpHeaders,
): OutgoingHttpHeaders | undefined {
  if (cors === undefined) return undefined;
  const origin = headers.origin as string;
  const method = String(headers['access-control-request-method']).toUpperCase();
  if (!originAllowed(cors, origin) || !cors.methods.has(method)) return undefined;
  const requested = headers['access-control-request-headers'];
  if (typeof requested === 'string' && requested.trim() !== '') {
    for (const h of requested.slice(0, 4096).split(',')) {
      if (!cors.headers.has(h.trim().toLowerCase())) return undefined;
    }
  }
  return {
    ...originHeaders(cors, origin),
    'access-control-allow-methods': cors.allowMethods,
    ...(cors.allowHeaders === '' ? {} : { 'access-control-allow-headers': cors.allowHeaders }),
    'access-control-max-age': String(cors.maxAgeSec),
  };
}

function originHeaders(cors: CompiledCors, origin: string): OutgoingHttpHeaders {
  // A specific origin is echoed (never a caller's other value), with Vary so caches keep apart.
  return cors.anyOrigin
    ? { 'access-control-allow-origin': '*' }
    : {
        'access-control-allow-origin': origin,
        vary: 'Origin',
        ...(cors.credentials ? { 'access-control-allow-credentials': 'true' } : {}),
      };
}

/** CORS headers of an actual response, or undefined when the origin gets none. */
export function responseCorsHeaders(
  cors: CompiledCors | undefined,
  headers: IncomingHttpHeaders,
): OutgoingHttpHeaders | undefined {
  const origin = headers.origin;
  if (cors === undefined || typeof origin !== 'string' || !originAllowed(cors, origin)) {
    return undefined;
  }
  return { ...originHeaders(cors, origin), 'access-control-expose-headers': EXPOSED };
}
