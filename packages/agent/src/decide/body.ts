/**
 * The request bodies of the local decision API, read as untrusted input: every field checked
 * for type and size, unknown members refused (a typo must not silently change a decision), and
 * every refusal a 400 naming the field as a JSON pointer. Pure: no I/O, never throws.
 */
import type { DecideRequestV1 } from '@ward/api-types';
import { isSpiffeId } from '@ward/sdk';
import { canonicalServiceKey } from '@ward/spiffe';

/** Largest body of `POST /v1/decide`, bytes. */
export const MAX_DECIDE_BODY = 64 * 1024;
/** Largest body of `POST /v1/decide/batch`, bytes. */
export const MAX_BATCH_BODY = 4 * 1024 * 1024;
/** Inputs per batch at most. */
export const MAX_BATCH_INPUTS = 1000;

const MAX_TEXT = 8192;
const MAX_HEADERS = 100;
/** An HTTP method: an RFC 9110 token. */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

/** A refused body: the field (JSON pointer) and why. */
export class BodyProblem {
  readonly field: string;
  readonly message: string;
  constructor(field: string, message: string) {
    this.field = field;
    this.message = message;
  }
}

/** A checked input: the service key canonical, header names lower-case. */
export interface DecideInput extends DecideRequestV1 {
  source: { spiffeId?: string; service?: string };
  request: DecideRequestV1['request'] & { headers: Record<string, string> };
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `text` as JSON, or a problem naming the body. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return new BodyProblem('/', 'the body is not JSON');
  }
}

function only(o: Json, at: string, allowed: readonly string[]): BodyProblem | undefined {
  for (const k in o) {
    if (!allowed.includes(k)) return new BodyProblem(`${at}/${k}`, 'is not a known member');
  }
  return undefined;
}

function text(v: unknown, at: string, max = MAX_TEXT): string | BodyProblem {
  if (typeof v !== 'string') return new BodyProblem(at, 'must be a string');
  if (v.length > max) return new BodyProblem(at, `is longer than ${max} characters`);
  return v;
}

/** One input of `POST /v1/decide` (or of a batch, at `at`). */
export function parseDecideInput(v: unknown, at = ''): DecideInput | BodyProblem {
  if (!isObject(v)) return new BodyProblem(at || '/', 'must be an object');
  const extra = only(v, at, ['destination', 'source', 'request', 'passport', 'route']);
  if (extra) return extra;
  if (v.destination === undefined) return new BodyProblem(`${at}/destination`, 'is required');
  const destination =
    typeof v.destination === 'string' && v.destination.length <= 300
      ? canonicalServiceKey(v.destination)
      : undefined;
  if (destination === undefined) {
    return new BodyProblem(`${at}/destination`, 'must be a service name or namespace/name');
  }
  const source = parseSource(v.source, `${at}/source`);
  if (source instanceof BodyProblem) return source;
  const request = parseRequest(v.request, `${at}/request`);
  if (request instanceof BodyProblem) return request;
  const input: DecideInput = { destination, source, request };
  if (v.passport !== undefined) {
    const passport = text(v.passport, `${at}/passport`);
    if (passport instanceof BodyProblem) return passport;
    if (request.headers['x-ward-passport'] !== undefined) {
      return new BodyProblem(`${at}/passport`, 'is also in request.headers: give it once');
    }
    input.passport = passport;
  }
  if (v.route !== undefined) {
    const route = text(v.route, `${at}/route`, 1024);
    if (route instanceof BodyProblem) return route;
    input.route = route;
  }
  return input;
}

function parseSource(v: unknown, at: string): DecideInput['source'] | BodyProblem {
  if (v === undefined) return {};
  if (!isObject(v)) return new BodyProblem(at, 'must be an object');
  const extra = only(v, at, ['spiffeId', 'service']);
  if (extra) return extra;
  if (v.spiffeId !== undefined) {
    if (typeof v.spiffeId !== 'string' || v.spiffeId.length > 2048 || !isSpiffeId(v.spiffeId)) {
      return new BodyProblem(`${at}/spiffeId`, 'must be a SPIFFE ID (spiffe://domain/path)');
    }
    if (v.service !== undefined) {
      return new BodyProblem(`${at}/service`, 'give spiffeId or service, not both');
    }
    return { spiffeId: v.spiffeId };
  }
  if (v.service !== undefined) {
    const service =
      typeof v.service === 'string' && v.service.length <= 300
        ? canonicalServiceKey(v.service)
        : undefined;
    if (service === undefined) {
      return new BodyProblem(`${at}/service`, 'must be a service name or namespace/name');
    }
    return { service };
  }
  return {};
}

function parseRequest(v: unknown, at: string): DecideInput['request'] | BodyProblem {
  if (v === undefined) return new BodyProblem(at, 'is required');
  if (!isObject(v)) return new BodyProblem(at, 'must be an object');
  const extra = only(v, at, ['method', 'path', 'query', 'headers']);
  if (extra) return extra;
  if (typeof v.method !== 'string' || !METHOD.test(v.method)) {
    return new BodyProblem(
      `${at}/method`,
      'must be an HTTP method (a token of 1 to 32 characters)',
    );
  }
  const path = text(v.path, `${at}/path`);
  if (path instanceof BodyProblem) return path;
  if (path === '') return new BodyProblem(`${at}/path`, 'must not be empty');
  const request: DecideInput['request'] = { method: v.method, path, headers: {} };
  if (v.query !== undefined) {
    const query = text(v.query, `${at}/query`);
    if (query instanceof BodyProblem) return query;
    if (path.includes('?')) {
      return new BodyProblem(`${at}/query`, 'the path has a query already: give it once');
    }
    request.query = query;
  }
  if (v.headers !== undefined) {
    const headers = parseHeaders(v.headers, `${at}/headers`);
    if (headers instanceof BodyProblem) return headers;
    request.headers = headers;
  }
  return request;
}

function parseHeaders(v: unknown, at: string): Record<string, string> | BodyProblem {
  if (!isObject(v)) return new BodyProblem(at, 'must be an object of header names to strings');
  // No prototype: a header named `__proto__` or `constructor` is a header like any other.
  const headers: Record<string, string> = Object.create(null);
  let n = 0;
  for (const name in v) {
    if (++n > MAX_HEADERS) return new BodyProblem(at, `has more than ${MAX_HEADERS} headers`);
    const field = `${at}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (!HEADER_NAME.test(name)) return new BodyProblem(field, 'is not a header name');
    const value = text(v[name], field);
    if (value instanceof BodyProblem) return value;
    const key = name.toLowerCase();
    if (headers[key] !== undefined) return new BodyProblem(field, 'is given twice');
    headers[key] = value;
  }
  return headers;
}

/** The inputs of `POST /v1/decide/batch`. */
export function parseDecideBatch(v: unknown): DecideInput[] | BodyProblem {
  if (!isObject(v)) return new BodyProblem('/', 'must be an object');
  const extra = only(v, '', ['inputs']);
  if (extra) return extra;
  if (!Array.isArray(v.inputs)) return new BodyProblem('/inputs', 'must be an array');
  if (v.inputs.length > MAX_BATCH_INPUTS) {
    return new BodyProblem('/inputs', `has more than ${MAX_BATCH_INPUTS} inputs`);
  }
  const inputs: DecideInput[] = [];
  for (let i = 0; i < v.inputs.length; i++) {
    const input = parseDecideInput(v.inputs[i], `/inputs/${i}`);
    if (input instanceof BodyProblem) return input;
    inputs.push(input);
  }
  return inputs;
}
