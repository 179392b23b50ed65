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

/**
 * Puts the gateway's CORS headers on an upstream answer's headers (`out`, changed in place). The
 * gateway owns CORS: every upstream `access-control-*` header is dropped, whether or not the
 * gateway adds its own, so an upstream cannot widen what the gateway's config allows. `Vary` is
 * the upstream's (caches need its tokens) with `Origin` appended when the gateway's needs it.
 */
export function withGatewayCors(
  out: OutgoingHttpHeaders,
  cors: OutgoingHttpHeaders | undefined,
): void {
  for (const name of Object.keys(out)) {
    if (name.startsWith('access-control-')) delete out[name];
  }
  if (cors === undefined) return;
  const upstreamVary = out.vary;
  Object.assign(out, cors);
  if (upstreamVary !== undefined && cors.vary !== undefined) {
    out.vary = mergeVary(upstreamVary, String(cors.vary));
  } else if (upstreamVary !== undefined) {
    out.vary = upstreamVary;
  }
}

/** `vary` with `token` appended unless already listed (case-insensitively) or `*`. */
export function mergeVary(vary: string | number | readonly string[], token: string): string {
  const text = (Array.isArray(vary) ? vary.join(', ') : String(vary)).slice(0, 4096);
  const tokens = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const lower = token.toLowerCase();
  if (tokens.some((t) => t === '*' || t.toLowerCase() === lower)) return tokens.join(', ');
  tokens.push(token);
  return tokens.join(', ');
}
