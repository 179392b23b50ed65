import { compileGlob, type Glob, isGlob } from './glob.ts';
import type { DecisionRequest, HeaderMatch, Permission, StringMatch } from './types.ts';

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

interface HeaderTest {
  name: string;
  present: boolean | undefined;
  test: StringTest | undefined;
  text: string;
}

function compileHeader(h: HeaderMatch): HeaderTest {
  const name = h.name.toLowerCase();
  if (h.present !== undefined) {
    return {
      name,
      present: h.present,
      test: undefined,
      text: `header ${name} ${h.present ? 'present' : 'absent'}`,
    };
  }
  return {
    name,
    present: undefined,
    test: compileStringMatch(h),
    text: `header ${name} ${describeStringMatch(h)}`,
  };
}

/** One compiled permission: `match` for the hot path, `why` explains a miss (for `explain`). */
export interface PermissionMatcher {
  match(req: DecisionRequest | undefined): boolean;
  why(req: DecisionRequest | undefined): string;
}

export function compilePermission(p: Permission): PermissionMatcher {
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
  const headers = http.headers?.map(compileHeader);
  const headerOk = (h: HeaderTest, req: DecisionRequest): boolean => {
    const value = req.headers?.[h.name];
    if (h.present !== undefined) return h.present === (value !== undefined);
    return value !== undefined && h.test!(value);
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
    return true;
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

export function compileSource(text: string): SourceMatcher {
  if (text === '*') return { kind: 'any', text };
  const spiffe = text.startsWith('spiffe://');
  if (isGlob(text)) return { kind: 'glob', text, re: compileGlob(text), spiffe };
  return spiffe ? { kind: 'spiffe', text } : { kind: 'name', text };
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
