import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { RequestErrorCode, RouterRules } from '../../src/index.ts';

/** One conformance vector of `canonical.yaml` (see the comment at its top). */
export interface RequestVector {
  from: 'attack' | 'rfc3986' | 'whatwg' | 'envoy' | 'ward';
  name: string;
  method: string;
  target: string;
  rules?: RouterRules;
  /** False when the target cannot be written on an HTTP/1.1 request line. */
  wire?: boolean;
  expect:
    | { method?: string; path: string; query?: string; match?: string; error?: undefined }
    | { error: RequestErrorCode };
}

/** The vectors, shared by the policy unit tests and the SDK's real-server tests. */
export function requestVectors(): RequestVector[] {
  const text = readFileSync(join(import.meta.dirname, 'canonical.yaml'), 'utf8');
  return (parse(text) as { cases: RequestVector[] }).cases;
}

/** One `split` vector of `query.yaml`: a hand-written request and its canonical form. */
export interface SplitVector {
  name: string;
  request: { method?: string; path?: string; query?: string };
  expect: { method?: string; path?: string; query?: string; error?: RequestErrorCode };
}

/** One `parse` vector of `query.yaml`: a raw query and its parameters. */
export interface ParseVector {
  name: string;
  query: string;
  params: [string, string[]][];
  /** Escapes that are not UTF-8: `problem` is set and the matchers fail closed. */
  notUtf8?: true;
}

/** The query vectors (see the comment at the top of `query.yaml`). */
export function queryVectors(): { split: SplitVector[]; parse: ParseVector[] } {
  const text = readFileSync(join(import.meta.dirname, 'query.yaml'), 'utf8');
  return parse(text) as { split: SplitVector[]; parse: ParseVector[] };
}
