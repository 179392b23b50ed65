/**
 * The request of a decision input in canonical form: the one function `ward policy eval`, the
 * playground, `runPolicyTests`, the egress guard and the PDP's `decide()` put a hand-written
 * request through, so each splits path and query exactly as the SDK middleware does (it calls
 * `tryCanonicalRequest` on the raw target itself). A `path` given as `/orders?status=open#x` is
 * decided as the path `/orders` with the query `status=open`; the query is never part of the path
 * a rule matches.
 */
import { RequestTargetError } from '../errors.ts';
import type { Decision, DecisionInput, DecisionRequest } from '../types.ts';
import {
  canonicalMethod,
  isCanonicalPath,
  RequestProblem,
  tryCanonicalRequest,
} from './canonical.ts';

/**
 * `request` in canonical form, or the `RequestProblem` that refuses it. Returns `request` itself
 * when it is already canonical (the common case: one scan, no allocation).
 *
 * - `method` upper-cased (HEAD as GET), left out when absent;
 * - `path` split at `?` / `#` and normalised as `canonicalRequest` does (with `GET` when the
 *   method is absent); the query it carried becomes `query`;
 * - a fragment cut from `query` (`#` ends a query);
 * - a query both in `path` and in `query` is refused (`REQUEST_TARGET_INVALID`): which one would
 *   the service have seen?
 */
export function tryCanonicalDecisionRequest(
  request: DecisionRequest,
): DecisionRequest | RequestProblem {
  const { method, path } = request;
  const methodOk = method === undefined || COMMON.has(method) || method === canonicalOf(method);
  const given = request.query;
  const hash = given === undefined ? -1 : given.indexOf('#');
  if (methodOk && hash < 0 && (path === undefined || isCanonicalPath(path))) return request;
  if (path === undefined) {
    const only = tryCanonicalRequest(method ?? 'GET', '/');
    if (only instanceof RequestProblem) return only;
    const out: DecisionRequest = { ...request };
    if (method !== undefined) out.method = only.method;
    if (hash >= 0) out.query = given!.slice(0, hash);
    return out;
  }
  const canonical = tryCanonicalRequest(method ?? 'GET', path);
  if (canonical instanceof RequestProblem) return canonical;
  let query = hash < 0 ? given : given!.slice(0, hash);
  if (canonical.query !== undefined) {
    if (query !== undefined) {
      return new RequestProblem(
        'REQUEST_TARGET_INVALID',
        'the request has a query both in its path and in `query`',
      );
    }
    query = canonical.query;
  }
  const out: DecisionRequest = { ...request, path: canonical.path };
  if (method !== undefined) out.method = canonical.method;
  if (query !== undefined) out.query = query;
  return out;
}

/** `tryCanonicalDecisionRequest`, throwing `RequestTargetError` for a refused request. */
export function canonicalDecisionRequest(request: DecisionRequest): DecisionRequest {
  const result = tryCanonicalDecisionRequest(request);
  if (result instanceof RequestProblem) {
    throw new RequestTargetError(result.code, result.message, result.index);
  }
  return result;
}

/**
 * `input` with its request in canonical form (`input` itself when it already is). Throws
 * `RequestTargetError` for a request the middleware would answer with 400.
 */
export function canonicalDecisionInput<I extends Pick<DecisionInput, 'request'>>(input: I): I {
  const request = input.request;
  if (request === undefined) return input;
  const canonical = canonicalDecisionRequest(request);
  return canonical === request ? input : { ...input, request: canonical };
}

/**
 * The decision for a request the middleware would refuse with 400 (`RequestProblem`): no rule
 * can decide it, so it is denied with no rule, its code in the reason.
 */
export function refusedDecision(problem: RequestProblem): Decision {
  return {
    effect: 'deny',
    enforced: true,
    allowed: false,
    rule: null,
    reason: `denied: the request has no canonical form (${problem.code}: ${problem.message})`,
  };
}

/** Methods already canonical, checked without the token test (HEAD is not: it is decided as GET). */
const COMMON: ReadonlySet<unknown> = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

function canonicalOf(method: string): string | undefined {
  try {
    return canonicalMethod(method);
  } catch {
    return undefined;
  }
}
