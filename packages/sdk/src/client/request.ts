/**
 * A call as the caller describes it, validated and put in the form every attempt reuses: header
 * names lower-cased, the passport in its header, retry eligibility decided once.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { PassportClaims } from '@ward/policy';
import type { Dispatcher } from 'undici';
import { PASSPORT_HEADER } from '../middleware/enforcer.ts';

/** What `client.request()` takes. */
export interface ClientRequest {
  /** Default `GET`. */
  method?: string;
  /** Path with its query string, starting with `/`. */
  path: string;
  headers?: Readonly<Record<string, string>>;
  /** A stream is sent once and never retried. */
  body?: string | Uint8Array | Readable | null;
  /** The passport to forward (header `x-ward-passport`); its claims go to the egress check. */
  passport?: { token: string; claims: PassportClaims };
  /** The caller's W3C `traceparent`: the call joins that trace; absent, it starts a new one. */
  traceparent?: string;
  /** The caller's `tracestate`, forwarded when its trace is joined. */
  tracestate?: string;
  signal?: AbortSignal;
  /** Overrides the method-based default (GET, HEAD, OPTIONS, PUT and DELETE are idempotent). */
  idempotent?: boolean;
  /** Overrides the destination's `deadlineMs` for this call (e.g. what is left of yours). */
  deadlineMs?: number;
}

/** What `client.request()` resolves with. */
export interface ClientResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** undici's body: `text()`, `json()`, or a stream. Consume or `dump()` it to free the connection. */
  body: Dispatcher.ResponseData['body'];
  /** The origin of the endpoint that answered. */
  endpoint: string;
  /** Attempts made, this one included. */
  attempts: number;
}

/** A validated call. */
export interface PreparedRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-case names; the passport header included, trace headers not (added per attempt). */
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array | Readable | null;
  readonly claims: PassportClaims | undefined;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  readonly signal: AbortSignal | undefined;
  /** May be retried: idempotent and no stream body. */
  readonly retryable: boolean;
  readonly deadlineMs: number | undefined;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/;

export function prepareRequest(request: ClientRequest): PreparedRequest {
  if (request === null || typeof request !== 'object') {
    throw new TypeError('request must be an object');
  }
  const method = request.method === undefined ? 'GET' : request.method;
  if (typeof method !== 'string' || !TOKEN.test(method)) {
    throw new TypeError('request.method must be an HTTP method');
  }
  const upper = method.toUpperCase();
  const { path } = request;
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > 16_384) {
    throw new TypeError('request.path must be a path starting with / (at most 16 KiB)');
  }
  const headers: Record<string, string> = {};
  if (request.headers !== undefined) {
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value !== 'string') throw new TypeError(`header ${name} must be a string`);
      headers[name.toLowerCase()] = value;
    }
  }
  // The trace headers are the client's to write (a new span per attempt), and the passport
  // header must come with its claims, or the egress check would decide without them.
  const traceparent = request.traceparent ?? headers.traceparent;
  const tracestate = request.tracestate ?? headers.tracestate;
  delete headers.traceparent;
  delete headers.tracestate;
  if (Object.hasOwn(headers, PASSPORT_HEADER)) {
    throw new TypeError(
      `pass the passport as request.passport, not as the ${PASSPORT_HEADER} header`,
    );
  }
  const { passport } = request;
  if (passport !== undefined) {
    if (typeof passport?.token !== 'string' || passport.token === '' || !passport.claims) {
      throw new TypeError('request.passport must be { token, claims }');
    }
    headers[PASSPORT_HEADER] = passport.token;
  }
  const body = request.body ?? null;
  const streamed = body instanceof Readable;
  if (body !== null && !streamed && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new TypeError('request.body must be a string, a Buffer or a Readable');
  }
  if (request.idempotent !== undefined && typeof request.idempotent !== 'boolean') {
    throw new TypeError('request.idempotent must be a boolean');
  }
  const deadlineMs = request.deadlineMs;
  if (deadlineMs !== undefined && !(Number.isInteger(deadlineMs) && deadlineMs > 0)) {
    throw new TypeError('request.deadlineMs must be a positive integer');
  }
  return {
    method: upper,
    path,
    headers,
    body,
    claims: passport?.claims,
    traceparent,
    tracestate,
    signal: request.signal,
    retryable: (request.idempotent ?? IDEMPOTENT.has(upper)) && !streamed,
    deadlineMs,
  };
}
