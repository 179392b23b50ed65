import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isSpiffeId,
  isWorkloadSpiffeId,
  parseSpiffeId,
  parseTrustDomain,
  SpiffeError,
  spiffeIdProblem,
  trustDomainOf,
} from '../src/index.ts';
import { vectors } from './vectors.ts';

const short = (s: string) => (s.length > 60 ? `${s.slice(0, 60)}…(${s.length})` : s);

describe('conformance vectors', () => {
  it.each(vectors.validIds.map(short))('accepts %s', (_label) => {
    // it.each shortens the label; find the full vector again.
    const id = vectors.validIds.find((v) => short(v) === _label)!;
    expect(spiffeIdProblem(id)).toBeUndefined();
    const p = parseSpiffeId(id);
    expect(`spiffe://${p.trustDomain}${p.path}`).toBe(id);
    expect(trustDomainOf(id)).toBe(p.trustDomain);
  });

  it.each(vectors.invalidIds.map(short))('refuses %j', (_label) => {
    const id = vectors.invalidIds.find((v) => short(v) === _label)!;
    expect(isSpiffeId(id)).toBe(false);
    expect(() => parseSpiffeId(id, 'spec.spiffeId')).toThrow(
      expect.objectContaining({ code: 'SPIFFE_ID_INVALID', field: 'spec.spiffeId' }),
    );
  });

  it('validates trust domains alone', () => {
    for (const td of vectors.validTrustDomains) expect(parseTrustDomain(td)).toBe(td);
    for (const td of vectors.invalidTrustDomains) {
      expect(() => parseTrustDomain(td)).toThrow(
        expect.objectContaining({ code: 'SPIFFE_TRUST_DOMAIN_INVALID' }),
      );
    }
  });

  it('validates SPIFFE ID patterns: `*` only in path segments', () => {
    for (const p of vectors.validPatterns) expect(spiffeIdProblem(p, true)).toBeUndefined();
    for (const p of vectors.invalidPatterns) expect(spiffeIdProblem(p, true)).toBeDefined();
  });

  it('says what is wrong and where', () => {
    expect(spiffeIdProblem('spiffe://example.org:8443/a')).toBe(
      'a port (":") is not allowed (at offset 20)',
    );
    expect(spiffeIdProblem('spiffe://u@example.org')).toMatch(/user info/);
    expect(spiffeIdProblem('spiffe://Example.org')).toMatch(/lower-case/);
    expect(spiffeIdProblem('spiffe://example.org/a?b')).toMatch(/query/);
    expect(spiffeIdProblem('spiffe://example.org/a#b')).toMatch(/fragment/);
    expect(spiffeIdProblem('spiffe://example.org/a//b')).toBe(
      'the path has an empty segment (at offset 23)',
    );
    expect(spiffeIdProblem('spiffe://example.org/a/')).toBe('the path ends with "/"');
    expect(spiffeIdProblem('spiffe://example.org/a/../b')).toMatch(/"\.\." segment/);
    expect(spiffeIdProblem(`spiffe://${'a'.repeat(256)}`)).toMatch(/longer than 255 bytes/);
    expect(spiffeIdProblem(42)).toBe('must be a string');
  });

  it('tells a workload ID (with a path) from a trust domain ID', () => {
    expect(isWorkloadSpiffeId('spiffe://example.org/a')).toBe(true);
    expect(isWorkloadSpiffeId('spiffe://example.org')).toBe(false);
    expect(isWorkloadSpiffeId('spiffe://example.org/')).toBe(false);
  });
});

const tdArb = fc.stringMatching(/^[a-z0-9._-]{1,40}$/);
const segmentArb = fc
  .stringMatching(/^[A-Za-z0-9._-]{1,16}$/)
  .filter((s) => s !== '.' && s !== '..');
const idArb = fc
  .tuple(tdArb, fc.array(segmentArb, { maxLength: 8 }))
  .map(([td, segs]) => `spiffe://${td}${segs.map((s) => `/${s}`).join('')}`);

describe('properties', () => {
  it('accepts and round-trips every well-formed ID', () => {
    fc.assert(
      fc.property(idArb, (id) => {
        const p = parseSpiffeId(id);
        expect(`spiffe://${p.trustDomain}${p.path}`).toBe(id);
      }),
    );
  });

  it('agrees with an independent reading of the spec on arbitrary strings', () => {
    // A second, regex-based statement of §2 and §2.3 as the oracle.
    const oracle = (s: string): boolean =>
      new TextEncoder().encode(s).length <= 2048 &&
      /^spiffe:\/\/([a-z0-9._-]{1,255})((?:\/[A-Za-z0-9._-]+)*)$/.test(s) &&
      !s
        .slice(9)
        .split('/')
        .slice(1)
        .some((x) => x === '.' || x === '..');
    const noisy = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }).map((s) => `spiffe://${s}`),
      idArb.chain((id) =>
        fc
          .tuple(
            fc.nat(id.length),
            fc.constantFrom('/', '.', ':', '@', '?', '#', '%', 'A', 'é', ''),
          )
          .map(([at, c]) => id.slice(0, at) + c + id.slice(at)),
      ),
      idArb.map((id) => id + '/x'.repeat(1020)),
    );
    fc.assert(
      fc.property(noisy, (s) => {
        expect(isSpiffeId(s)).toBe(oracle(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('throws only SpiffeError on anything', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        try {
          parseSpiffeId(v);
          parseTrustDomain(v);
        } catch (e) {
          expect(e).toBeInstanceOf(SpiffeError);
        }
      }),
    );
  });

  it('a pattern check accepts every valid ID (an ID is a pattern that matches itself)', () => {
    fc.assert(
      fc.property(idArb, (id) => {
        expect(spiffeIdProblem(id, true)).toBeUndefined();
      }),
    );
  });
});
