import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CaError, isSpiffeId, parseSelector, parseSpiffeId, verifyCsr } from '../src/index.ts';

const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
const td = fc.stringMatching(/^[a-z0-9._-]{1,20}$/);

describe('untrusted-input parsers', () => {
  it('parseSpiffeId accepts every well-formed ID and round-trips it', () => {
    fc.assert(
      fc.property(td, fc.array(segment, { maxLength: 6 }), (t, segs) => {
        const id = `spiffe://${t}${segs.map((s) => `/${s}`).join('')}`;
        const p = parseSpiffeId(id);
        expect(p.trustDomain).toBe(t);
        expect(`spiffe://${p.trustDomain}${p.path}`).toBe(id);
      }),
    );
  });

  it('parseSpiffeId and parseSelector throw only coded errors on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `spiffe://${s}`),
          fc.string().map((s) => `unix:${s}`),
          fc.anything(),
        ),
        (v) => {
          for (const fn of [parseSpiffeId, parseSelector]) {
            try {
              fn(v);
            } catch (e) {
              expect(e).toBeInstanceOf(CaError);
            }
          }
          expect(typeof isSpiffeId(v)).toBe('boolean');
        },
      ),
    );
  });

  it('verifyCsr rejects arbitrary bytes with a coded error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        await expect(
          verifyCsr(Buffer.from(bytes).toString('base64') || 'A'),
        ).rejects.toBeInstanceOf(CaError);
      }),
      { numRuns: 50 },
    );
  });
});
