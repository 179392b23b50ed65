import { readFileSync } from 'node:fs';

/** The conformance vectors of `vectors.json`, with `{c*n}` expanded to `c` repeated `n` times. */
export interface SpiffeVectors {
  validIds: string[];
  invalidIds: string[];
  validTrustDomains: string[];
  invalidTrustDomains: string[];
  validPatterns: string[];
  invalidPatterns: string[];
}

const expand = (s: string): string =>
  s.replace(/\{(.)\*(\d+)\}/g, (_m, c: string, n: string) => c.repeat(Number(n)));

const raw = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8')) as Record<
  string,
  unknown
>;

export const vectors: SpiffeVectors = Object.fromEntries(
  Object.entries(raw)
    .filter(([k]) => !k.startsWith('$'))
    .map(([k, v]) => [k, (v as string[]).map(expand)]),
) as unknown as SpiffeVectors;
