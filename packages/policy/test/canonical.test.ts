import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CanonicalRequest, canonicalRequest, RequestTargetError } from '../src/index.ts';
import { requestVectors } from './request-vectors/vectors.ts';

/** The canonical form or the refusal code, in the shape of a vector's `expect`. */
function outcome(method: string, target: string, rules?: object): Record<string, unknown> {
  try {
    const c = canonicalRequest(method, target, rules);
    return { method: c.method, path: c.path, query: c.query, match: c.match };
  } catch (error) {
    if (!(error instanceof RequestTargetError)) throw error;
    return { error: error.code };
  }
}

describe('canonicalRequest conformance vectors', () => {
  const vectors = requestVectors();
  it('has vectors from every source', () => {
    expect(new Set(vectors.map((v) => v.from))).toEqual(
      new Set(['attack', 'rfc3986', 'whatwg', 'envoy', 'ward']),
    );
    expect(new Set(vectors.map((v) => v.name)).size).toBe(vectors.length);
  });
  for (const v of vectors) {
    it(`${v.from}: ${v.name} (${v.method} ${JSON.stringify(v.target)})`, () => {
      const e = v.expect;
      const want =
        e.error !== undefined
          ? { error: e.error }
          : {
              method: e.method ?? v.method.toUpperCase(),
              path: e.path,
              query: e.query,
              match: e.match ?? e.path,
            };
      expect(outcome(v.method, v.target, v.rules)).toEqual(want);
    });
  }
});

describe('canonicalRequest properties', () => {
  const rulesArb = fc.record(
    {
      caseSensitive: fc.boolean(),
      ignoreTrailingSlash: fc.boolean(),
      ignoreDuplicateSlashes: fc.boolean(),
      semicolonDelimiter: fc.boolean(),
      resolveDotSegments: fc.boolean(),
    },
    { requiredKeys: [] },
  );
  // Targets built from the characters that matter, so escapes and dot segments are frequent.
  const piece = fc.constantFrom(
    '/',
    '.',
    '..',
    '%2e',
    '%2E',
    '%2f',
    '%5C',
    '%00',
    '%41',
    '%61',
    '%c3%a9',
    '%e2%84%aa',
    '%',
    '%2',
    'a',
    'A',
    'admin',
    '?',
    '#',
    ';',
    '\\',
    ' ',
    '|',
    '~',
    '%25',
    '\u00e9',
    '\t',
  );
  const target = fc.oneof(
    fc.array(piece, { maxLength: 12 }).map((p) => `/${p.join('')}`),
    fc.webPath(),
    fc.string({ maxLength: 60 }),
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
  );

  it('returns a canonical request or throws a coded RequestTargetError, nothing else', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'head', 'POST', 'OPTIONS', 'G T'),
        target,
        rulesArb,
        (m, t, r) => {
          let c: CanonicalRequest;
          try {
            c = canonicalRequest(m, t, r);
          } catch (error) {
            expect(error).toBeInstanceOf(RequestTargetError);
            expect((error as RequestTargetError).code).toMatch(/^REQUEST_[A-Z0-9_]+$/);
            expect((error as RequestTargetError).message).not.toMatch(/\n/);
            return;
          }
          if (c.path === '*') return;
          // ASCII only, starts with one slash, no dot segments, no escapes of unreserved characters.
          expect(c.path).toMatch(/^\/[\x21-\x7e]*$/);
          if (r.ignoreDuplicateSlashes !== true) expect(c.path.startsWith('//')).toBe(false);
          expect(c.path.split('/').some((s) => s === '.' || s === '..')).toBe(false);
          expect(c.path).not.toMatch(/%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2D|2E|5F|7E)/i);
          expect(c.path).not.toMatch(/%[0-9A-F]?[a-f]/);
          expect(c.method).toBe(c.method.toUpperCase());
          expect(c.method).not.toBe('HEAD');
          // A fixed point: the canonical target canonicalises to itself.
          const again = canonicalRequest(c.method, c.target, r);
          expect([again.path, again.target, again.match]).toEqual([c.path, c.target, c.match]);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('resolves dot segments as the WHATWG URL parser does on plain paths', () => {
    const plain = fc
      .array(fc.constantFrom('a', 'b', '.', '..', '%2e', '%2E%2e', 'c.d', ''), {
        minLength: 1,
        maxLength: 8,
      })
      .map((s) => `/${s.join('/')}`);
    fc.assert(
      fc.property(plain, (t) => {
        // `new URL('//', base)` throws: no host. Ours refuses it too (below).
        const peer = URL.canParse(t, 'http://x')
          ? new URL(t, 'http://x').pathname.replace(/%2e/gi, '.')
          : '//';
        let ours: string;
        try {
          ours = canonicalRequest('GET', t).path;
        } catch (error) {
          // Only `//` is refused: WHATWG reads a leading `//a` as a host, and keeps a `//` made
          // by dot segments as `/.//…`.
          expect((error as RequestTargetError).code).toBe('REQUEST_TARGET_INVALID');
          expect(t.startsWith('//') || peer.startsWith('//') || peer.startsWith('/.//')).toBe(true);
          return;
        }
        expect(ours).toBe(peer);
      }),
      { numRuns: 2000 },
    );
  });

  it('returns the input string itself when it is already canonical (no copy on the hot path)', () => {
    const t = `/orders/${'42'}`;
    expect(canonicalRequest('GET', t).target).toBe(t);
    const q = '/orders/42?x=1';
    expect(canonicalRequest('GET', q).target).toBe(q);
  });

  it('names the offset of the offending character', () => {
    try {
      canonicalRequest('GET', '/orders/%2Fadmin');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'REQUEST_ENCODED_SLASH', index: 8 });
    }
  });
});
