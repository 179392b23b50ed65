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
