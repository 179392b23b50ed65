/**
 * Turns every error into an `application/problem+json` body (ProblemV1). Fastify's own errors
 * (bad JSON, body too large, schema validation, wrong media type) get stable Ward codes and the
 * field at fault; anything unexpected becomes a 500 whose body says nothing about internals —
 * the stack trace goes to the server log only.
 */

import type { Socket } from 'node:net';
import type { ProblemFieldErrorV1, ProblemV1 } from '@ward/api-types';
import { PROBLEM_MEDIA_TYPE, problemBody } from '@ward/api-types';
import { CaError, caProblem } from '@ward/ca';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ServerError, type ServerErrorCode } from '../errors.ts';

function problemOf(error: ServerError, instance: string): ProblemV1 {
  return problemBody({
    status: error.status,
    code: error.code,
    title: error.title,
    detail: error.message,
    instance,
    errors: error.errors,
  });
}

interface AjvLikeError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Maps Ajv errors to fields: `body/spec/name`, `query.limit`, `params.name`. */
function validationErrors(error: FastifyError): ProblemFieldErrorV1[] {
  const context = (error as { validationContext?: string }).validationContext ?? 'body';
  const list = (error.validation ?? []) as AjvLikeError[];
  return list.map((v) => {
    let path = v.instancePath ?? '';
    if (v.keyword === 'required' && typeof v.params?.missingProperty === 'string') {
      path += `/${v.params.missingProperty}`;
    }
    if (v.keyword === 'additionalProperties' && typeof v.params?.additionalProperty === 'string') {
      path += `/${v.params.additionalProperty}`;
    }
    const field =
      context === 'body'
        ? path || '/'
        : `${context === 'querystring' ? 'query' : context}.${path.replace(/^\//, '').replaceAll('/', '.')}`;
    let message = v.message ?? 'is invalid';
    if (v.keyword === 'additionalProperties') message = 'is not a known field';
    if (v.keyword === 'enum' && Array.isArray(v.params?.allowedValues)) {
      message = `must be one of ${(v.params.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`;
    }
    return { field, message, code: 'API_VALIDATION' };
  });
}

/** Classifies any thrown value as a ServerError. */
export function toServerError(error: unknown): ServerError {
  if (error instanceof ServerError) return error;
  const e = error as FastifyError & { code?: string; statusCode?: number };
  if (e?.validation) {
    return new ServerError('API_VALIDATION', 'the request does not match the API schema', {
      errors: validationErrors(e),
    });
  }
  const map: Record<string, [ServerErrorCode, string]> = {
    FST_ERR_CTP_INVALID_JSON_BODY: ['API_MALFORMED_BODY', 'the body is not valid JSON'],
    FST_ERR_CTP_EMPTY_JSON_BODY: [
      'API_MALFORMED_BODY',
      'the body is empty but the content type is JSON',
    ],
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: [
      'API_MALFORMED_BODY',
      'Content-Length does not match the body',
    ],
    FST_ERR_CTP_BODY_TOO_LARGE: [
      'API_PAYLOAD_TOO_LARGE',
      'the body exceeds the size limit of this route',
    ],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: [
      'API_UNSUPPORTED_MEDIA_TYPE',
      'this route does not accept that content type',
    ],
  };
  const known = e?.code ? map[e.code] : undefined;
  if (known) {
    const field = known[0] === 'API_UNSUPPORTED_MEDIA_TYPE' ? 'headers.content-type' : 'body';
    // JSON.parse messages name the position of the syntax error and nothing internal.
    const message = e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' && e.message ? e.message : known[1];
    return new ServerError(known[0], known[1], { errors: [{ field, message }], cause: error });
  }
  const pgCode = (error as { code?: string })?.code;
  if (
    pgCode === '40001' ||
    pgCode === '23505' ||
    (pgCode === 'ERR_SQLITE_ERROR' && /UNIQUE|busy|locked/i.test(String((error as Error).message)))
  ) {
    return new ServerError(
      'STORE_CONFLICT',
      'a concurrent change conflicted with this one; retry',
      { cause: error },
    );
  }
  if (storeUnreachable(error)) {
    return new ServerError('STORE_UNREACHABLE', 'the store is unreachable; retry later', {
      cause: error,
      retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
    });
  }
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status === 404) return new ServerError('API_NOT_FOUND', 'not found', { cause: error });
  if (status >= 400 && status < 500) {
    return new ServerError('API_VALIDATION', e.message || 'bad request', { cause: error });
  }
  return new ServerError('API_INTERNAL', 'an internal error occurred; it has been logged', {
    cause: error,
  });
}

/** Seconds a client waits before retrying a replica whose store does not answer. */
export const STORE_RETRY_AFTER_SECONDS = 2;

// Socket errors, PostgreSQL "admin shutdown / crash shutdown / cannot connect now" (57P0x),
// "query cancelled" (57014: statement_timeout, a lock held elsewhere or a stalled server),
// sessions the server ended for sitting idle (25P03 idle_in_transaction_session_timeout: this
// replica stalled mid-write and its write was rolled back; 57P05 idle_session_timeout) and
// connection exceptions (class 08): the store is down, cut off or stuck, not this request at fault.
const UNREACHABLE_CODES = new Set([
  '25P03',
  '57P05',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01',
  '57P02',
  '57P03',
  '57014',
]);
// node-postgres reports a dropped connection and a pool connect timeout with messages, no code.
const UNREACHABLE_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/;

/** True when `error` says the store cannot be reached (so the answer is 503, not 500). */
export function storeUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) {
    return true;
  }
  if (error instanceof ServerError) return error.code === 'STORE_UNREACHABLE';
  const message = (error as { message?: unknown })?.message;
  return typeof message === 'string' && UNREACHABLE_MESSAGE.test(message);
}

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  error: ServerError,
): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', error.retryAfterSeconds);
  return sendBody(reply, error.status, problemOf(error, instanceOf(request)));
}

function instanceOf(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? request.url;
}

/** The one place a problem body leaves the control plane: as text, so no serializer adds to it. */
function sendBody(reply: FastifyReply, status: number, body: ProblemV1): FastifyReply {
  return reply
    .code(status)
    .header('content-type', PROBLEM_MEDIA_TYPE)
    .header('cache-control', 'no-store')
    .send(JSON.stringify(body));
}

/**
 * Fastify error handler of the whole app (plugins included): log what is ours to fix, answer
 * with a problem body. CA errors keep their own codes and statuses.
 */
export function errorHandler(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (error instanceof CaError) {
    const p = caProblem(error, instanceOf(request));
    if (p.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendBody(reply, p.status, p.body);
  }
  const problem = toServerError(error);
  if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
  // The store failed this request: check at once whether the replica still follows the log
  // (a catch-up that fails the same way marks it stale and ends its watch streams), rather
  // than wait for the next safety poll while PDPs stay on a replica that cannot serve them.
  if (problem.code === 'STORE_UNREACHABLE') void request.server.ward?.follower.catchUp();
  request.server.ward?.metrics.storeError(problem.code);
  if (problem.code === 'API_UNAUTHENTICATED')
    reply.header('www-authenticate', 'Bearer realm="ward"');
  return sendProblem(reply, request, problem);
}

/**
 * Answers what never became a Fastify request (an unparsable request line, headers past the
 * limit, a request that took too long) with the same problem body, written on the raw socket
 * (Fastify's default writes `{error, message, statusCode}`).
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ServerErrorCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'API_REQUEST_TIMEOUT'
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? 'API_HEADERS_TOO_LARGE'
        : 'API_MALFORMED_REQUEST';
  const problem = new ServerError(code, CLIENT_ERROR_DETAIL[code] ?? 'malformed HTTP request');
  const text = JSON.stringify(
    problemBody({
      status: problem.status,
      code,
      title: problem.title,
      detail: problem.message,
    }),
  );
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: ${PROBLEM_MEDIA_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(text)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy();
}

const CLIENT_ERROR_DETAIL: Partial<Record<ServerErrorCode, string>> = {
  API_REQUEST_TIMEOUT: 'the request was not received in time',
  API_HEADERS_TOO_LARGE: 'the request headers exceed the size limit',
  API_MALFORMED_REQUEST: 'the request is not valid HTTP',
};

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(
    reply,
    request,
    new ServerError('API_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`, {
      errors: [{ field: 'path', message: 'no such route' }],
    }),
  );
}
