import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TEMPLATE_LENGTH } from '../src/decision-log/path-template.ts';
import { pathTemplate } from '../src/index.ts';

describe('pathTemplate', () => {
  it.each([
    ['/orders/42', '/orders/{id}'],
    ['/orders/42/items/7?x=1', '/orders/{id}/items/{id}'],
    ['/users/8f14e45f-ceea-467a-9575-0c0a1e8e3b5d', '/users/{id}'],
    ['/blobs/0123456789abcdef0123', '/blobs/{id}'],
    ['/keys/sk_live_51HqLyjWDarjtT1zdp7dc', '/keys/{id}'],
    ['/by-mail/alice@example.com', '/by-mail/{id}'],
    ['/invoices/inv-2024-000123', '/invoices/{id}'],
    ['/api/v1/health', '/api/v1/health'],
    ['/orders#frag', '/orders'],
    ['', '/'],
    ['/', '/'],
    ['relative/7', '/relative/{id}'],
  ])('%s → %s', (path, template) => {
    expect(pathTemplate(path)).toBe(template);
  });

  it('never carries a query string, a numeric segment or an over-long label, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 3000 }), (path) => {
        const t = pathTemplate(path);
        expect(t.startsWith('/')).toBe(true);
        expect(t.length).toBeLessThanOrEqual(MAX_TEMPLATE_LENGTH);
        expect(t).not.toContain('?');
        for (const segment of t.split('/')) expect(segment).not.toMatch(/^\d+$/);
      }),
      { numRuns: 2000 },
    );
  });

  it('collapses any number, UUID or hex id placed in a path', () => {
    const id = fc.oneof(fc.nat().map(String), fc.uuid(), fc.stringMatching(/^[0-9a-f]{12,40}$/));
    fc.assert(
      fc.property(
        fc.constantFrom('orders', 'users', 'a'),
        id,
        fc.string(),
        (base, value, query) => {
          expect(pathTemplate(`/${base}/${value}?${query}`)).toBe(`/${base}/{id}`);
        },
      ),
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(
        fc
          .array(
            fc.oneof(
              fc.constantFrom('orders', 'v1', '', 'a-b'),
              fc.nat().map(String),
              fc.uuid(),
              fc.string(),
            ),
            {
              maxLength: 40,
            },
          )
          .map((segments) => `/${segments.join('/')}`),
        (path) => {
          const once = pathTemplate(path);
          expect(pathTemplate(once)).toBe(once);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('isoTime', () => {
  it('equals Date#toISOString for any time', async () => {
    const { isoTime } = await import('../src/decision-log/entry.ts');
    fc.assert(
      fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
        expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 2000 },
    );
    for (const ms of [0, 999, 1000, 1_700_000_000_001, 1_700_000_000_010, 1_700_000_000_100]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });
});

describe('foldRecords', () => {
  it('folds exactly the entries equal but for the time, and loses none', async () => {
    const { foldRecords, toRecordV1 } = await import('../src/decision-log/entry.ts');
    const rules = [null, { policy: 'p', index: 0, action: 'deny', mode: 'dry-run' } as const];
    const entry = fc.record({
      time: fc.integer({ min: 0, max: 1e13 }),
      source: fc.constantFrom('a', 'b'),
      destination: fc.constant('orders'),
      method: fc.constantFrom('GET', 'POST'),
      path: fc.constantFrom('/x/1', '/x/2', '/y', '/x/:id'),
      routed: fc.boolean(),
      effect: fc.constantFrom('allow' as const, 'deny' as const),
      enforced: fc.boolean(),
      rule: fc.constantFrom(...rules),
      revision: fc.constantFrom(1, 2),
      subject: fc.constantFrom(undefined, 'alice', 'al\u0000ice'),
      kid: fc.constantFrom(undefined, 'k1'),
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 60 }), (entries) => {
        const folded = foldRecords(entries);
        expect(folded.reduce((n, r) => n + (r.count ?? 1), 0)).toBe(entries.length);
        const strip = (r: Record<string, unknown>) => {
          const { time: _t, lastTime: _l, count: _c, ...rest } = r;
          return JSON.stringify(rest);
        };
        const expected = new Map<string, number>();
        for (const e of entries) {
          const k = strip({ ...toRecordV1(e) });
          expected.set(k, (expected.get(k) ?? 0) + 1);
        }
        expect(new Map(folded.map((r) => [strip({ ...r }), r.count ?? 1]))).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
