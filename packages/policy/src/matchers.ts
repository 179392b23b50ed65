import { compileGlob, type Glob, isGlob } from './glob.ts';
import { DEFAULT_NAMESPACE, serviceKey } from './namespace.ts';
import { compileRegex } from './regex.ts';
import { cachedQuery, type QueryParameters } from './request/query.ts';
import type { DecisionRequest, HeaderMatch, Permission, QueryMatch, StringMatch } from './types.ts';

/**
 * Compiled L7 and source matchers. Each is built once at compile time; on the hot path a matcher is
 * a few property reads, a Set lookup or one linear-time glob test (see glob.ts), and never
 * allocates.
 */

export type StringTest = (value: string) => boolean;

export function compileStringMatch(m: StringMatch): StringTest {
  if (m.exact !== undefined) {
    const exact = m.exact;
    return (v) => v === exact;
  }
  if (m.prefix !== undefined) {
    const prefix = m.prefix;
    return (v) => v.startsWith(prefix);
  }
  return compileGlob(m.glob ?? '').test;
}

export function describeStringMatch(m: StringMatch): string {
  if (m.exact !== undefined) return `= ${JSON.stringify(m.exact)}`;
  if (m.prefix !== undefined) return `prefix ${JSON.stringify(m.prefix)}`;
  return `glob ${JSON.stringify(m.glob)}`;
}

type ValueMatch = StringMatch & { regex?: string; ignoreCase?: boolean };

/**
 * The regex of a header or query matcher, as it runs: the whole value must match, as Envoy's
 * `safe_regex` does (an unanchored `admin` would also match `notadmin`), `(?i)` with
 * `ignoreCase`. The pattern is compiled alone first, so an unbalanced one cannot escape the
 * anchoring group, and so the message names the author's pattern. check.ts reports its failure.
 */
export function compileValueRegex(
  m: ValueMatch & { regex: string },
): ReturnType<typeof compileRegex> {
  const compiled = compileRegex(m.regex);
  if (!compiled.ok) return compiled;
  return compileRegex(`${m.ignoreCase === true ? '(?i)' : ''}^(?:${m.regex})$`);
}

/** `exact`, `prefix`, `glob` or `regex`; with `ignoreCase`, both sides lower-cased. */
function compileValueMatch(m: ValueMatch): StringTest {
  if (m.regex !== undefined) {
    const compiled = compileValueRegex(m as ValueMatch & { regex: string });
    // check.ts compiled the pattern already; a failure here is a bug, not a policy error.
    if (!compiled.ok) throw new TypeError(compiled.message);
    return compiled.regex.test;
  }
  if (m.ignoreCase !== true) return compileStringMatch(m);
  const test = compileStringMatch({
    ...(m.exact !== undefined ? { exact: m.exact.toLowerCase() } : {}),
    ...(m.prefix !== undefined ? { prefix: m.prefix.toLowerCase() } : {}),
    ...(m.glob !== undefined ? { glob: m.glob.toLowerCase() } : {}),
  });
  return (v) => test(v.toLowerCase());
}

function describeValueMatch(m: ValueMatch): string {
  const match = m.regex !== undefined ? `regex ${JSON.stringify(m.regex)}` : describeStringMatch(m);
  return `${match}${m.ignoreCase === true ? ' (ignoring case)' : ''}`;
}

/** A compiled header or query matcher. */
interface ValueTest {
  name: string;
  present: boolean | undefined;
  test: StringTest | undefined;
  text: string;
}

function compileValueTest(
  m: HeaderMatch | QueryMatch,
  name: string,
  what: 'header' | 'query',
): ValueTest {
  if (m.present !== undefined) {
    return {
      name,
      present: m.present,
      test: undefined,
      text: `${what} ${name} ${m.present ? 'present' : 'absent'}`,
    };
  }
  return {
    name,
    present: undefined,
    test: compileValueMatch(m),
    text: `${what} ${name} ${describeValueMatch(m)}`,
  };
}

/**
 * Whether a query matcher holds. A repeated name is read the way that is safe for the rule,
 * whichever value the application then reads (the first, the last, or all of them): an allow
 * needs every value to match, a deny any one.
 */
function queryHolds(q: ValueTest, params: QueryParameters['params'], deny: boolean): boolean {
  const values = params.get(q.name);
  if (q.present !== undefined) return q.present === (values !== undefined);
  if (values === undefined) return false;
  const test = q.test!;
  if (deny) {
    for (let i = 0; i < values.length; i++) if (test(values[i]!)) return true;
    return false;
  }
  for (let i = 0; i < values.length; i++) if (!test(values[i]!)) return false;
  return true;
}

/** One compiled permission: `match` for the hot path, `why` explains a miss (for `explain`). */
export interface PermissionMatcher {
  match(req: DecisionRequest | undefined): boolean;
  why(req: DecisionRequest | undefined): string;
}

/**
 * Compiles one permission of a rule; `deny` is the rule's action, which decides how a repeated
 * query parameter or an unreadable query is read (fail closed: an allow does not match, a deny
 * does).
 */
export function compilePermission(p: Permission, deny = false): PermissionMatcher {
  if (p.grpc) {
    const service = p.grpc.service;
    const methods = p.grpc.methods ? new Set(p.grpc.methods) : undefined;
    const match = (req: DecisionRequest | undefined): boolean => {
      const g = req?.grpc;
      if (g === undefined) return false;
      if (service !== '*' && g.service !== service) return false;
      return methods === undefined || methods.has(g.method);
    };
    return {
      match,
      why(req) {
        if (!req?.grpc) return 'not a gRPC request';
        if (match(req)) return `gRPC ${req.grpc.service}/${req.grpc.method} matches`;
        return `gRPC ${req.grpc.service}/${req.grpc.method} is not ${service}/${methods ? `{${[...methods].join(',')}}` : '*'}`;
      },
    };
  }
  const http = p.http ?? {};
  const methods = http.methods ? new Set(http.methods) : undefined;
  const paths = http.paths?.map(compileStringMatch);
  const pathText = http.paths?.map(describeStringMatch).join(' or ');
  const headers = http.headers?.map((h) => compileValueTest(h, h.name.toLowerCase(), 'header'));
  const query = http.query?.map((q) => compileValueTest(q, q.name, 'query'));
  const headerOk = (h: ValueTest, req: DecisionRequest): boolean => {
    const value = req.headers?.[h.name];
    if (h.present !== undefined) return h.present === (value !== undefined);
    return value !== undefined && h.test!(value);
  };
  const queryOk = (req: DecisionRequest): boolean => {
    const parsed = cachedQuery(req.query);
    if (parsed.problem !== undefined) return deny;
    for (let i = 0; i < query!.length; i++)
      if (!queryHolds(query![i]!, parsed.params, deny)) return false;
    return true;
  };
  const match = (req: DecisionRequest | undefined): boolean => {
    if (req === undefined) return false;
    if (methods !== undefined && (req.method === undefined || !methods.has(req.method))) {
      return false;
    }
    if (paths !== undefined) {
      const path = req.path;
      if (path === undefined) return false;
      let any = false;
      for (let i = 0; i < paths.length; i++) {
        if (paths[i]!(path)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    if (headers !== undefined) {
      for (let i = 0; i < headers.length; i++) if (!headerOk(headers[i]!, req)) return false;
    }
    return query === undefined || queryOk(req);
  };
  return {
    match,
    why(req) {
      if (req === undefined) return 'no request attributes (L4 decision)';
      if (methods !== undefined && (req.method === undefined || !methods.has(req.method))) {
        return `method ${req.method ?? '(none)'} not in ${[...methods].join(',')}`;
      }
      if (paths !== undefined && (req.path === undefined || !paths.some((t) => t(req.path!)))) {
        return `path ${req.path ?? '(none)'} does not match ${pathText}`;
      }
      const failed = headers?.find((h) => !headerOk(h, req));
      if (failed) return `${failed.text} does not hold`;
      if (query !== undefined) {
        const parsed = cachedQuery(req.query);
        if (parsed.problem !== undefined) {
          return `the query was not read (${parsed.problem}): fail closed, so this ${deny ? 'deny matches' : 'allow does not match'}`;
        }
        const q = query.find((t) => !queryHolds(t, parsed.params, deny));
        if (q) {
          const n = parsed.params.get(q.name)?.length ?? 0;
          const repeated =
            n > 1 && q.test !== undefined && !deny
              ? ` (${n} values; an allow needs every one to match)`
              : '';
          return `${q.text} does not hold${repeated}`;
        }
      }
      return 'HTTP request matches';
    },
  };
}

/** How one rule source is matched against a caller. */
export type SourceMatcher =
  | { kind: 'any'; text: string }
  | { kind: 'name'; text: string }
  | { kind: 'spiffe'; text: string }
  | { kind: 'glob'; text: string; re: Glob; spiffe: boolean };

/**
 * A rule source resolved in its intention's namespace: `any` (`*`), a SPIFFE ID (or pattern over
 * SPIFFE IDs), or a service key (or pattern over keys). The one resolution of sources: the engine
 * compiles it below, and the control plane uses it to find which Service documents a bundle needs.
 */
export type ResolvedSource =
  | { kind: 'any' }
  | { kind: 'spiffe'; text: string; glob: boolean }
  | { kind: 'key'; text: string; glob: boolean };

/**
 * Resolves a (valid) rule source written in a document of `namespace`. Service names resolve to
 * keys, so matching compares keys: `orders` in namespace `shop` is `shop/orders`; `ns/*` is a
 * one-segment glob over the keys of namespace `ns` (for the default namespace, whose keys have no
 * `/`, that is `*` as a glob, not the "any caller" token). In a name, `**` means what `*` means:
 * names have no `/`, and a `**` must not reach into other namespaces.
 */
export function resolveSource(text: string, namespace: string = DEFAULT_NAMESPACE): ResolvedSource {
  if (text === '*') return { kind: 'any' };
  if (text.startsWith('spiffe://')) return { kind: 'spiffe', text, glob: isGlob(text) };
  const slash = text.indexOf('/');
  const ns = slash < 0 ? namespace : text.slice(0, slash);
  const name = slash < 0 ? text : text.slice(slash + 1);
  const glob = isGlob(name);
  return { kind: 'key', text: serviceKey(ns, glob ? name.replace(/\*\*/g, '*') : name), glob };
}

/** Compiles a (valid) rule source written in a document of `namespace` (see `resolveSource`). */
export function compileSource(text: string, namespace: string = DEFAULT_NAMESPACE): SourceMatcher {
  const r = resolveSource(text, namespace);
  if (r.kind === 'any') return { kind: 'any', text };
  if (r.glob)
    return { kind: 'glob', text: r.text, re: compileGlob(r.text), spiffe: r.kind === 'spiffe' };
  return r.kind === 'spiffe' ? { kind: 'spiffe', text: r.text } : { kind: 'name', text: r.text };
}

/** True when `m` matches a caller with this (resolved) service name and SPIFFE ID. */
export function sourceMatches(
  m: SourceMatcher,
  service: string | undefined,
  spiffeId: string | undefined,
): boolean {
  switch (m.kind) {
    case 'any':
      return true;
    case 'name':
      return service === m.text;
    case 'spiffe':
      return spiffeId === m.text;
    case 'glob': {
      const v = m.spiffe ? spiffeId : service;
      return v !== undefined && m.re.test(v);
    }
  }
}
