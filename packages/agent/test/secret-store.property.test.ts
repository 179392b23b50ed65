/**
 * The agent parses every `secret` event of its control-plane stream before it holds a value:
 * whatever JSON arrives, `parseSecretEvent` returns a reason or a well-formed held secret, never
 * throws; and the store keeps, per (service, secret), only rising revisions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSecretEvent, SecretStore } from '../src/index.ts';

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const fieldName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,10}$/);
const version = fc.record({
  version: fc.integer({ min: 1, max: 1000 }),
  data: fc.dictionary(fieldName, fc.string(), { minKeys: 1, maxKeys: 5 }),
  notBefore: fc.nat(),
  notAfter: fc.option(fc.nat(), { nil: null }),
});
const ok = {
  service: 'orders',
  spiffeId: 'spiffe://td/ns/default/sa/orders',
  secret: 'api-key',
  revision: 3,
  type: 'static',
  versions: [{ version: 1, data: { value: 's3cr3t' }, notBefore: 1, notAfter: null }],
};

describe('parseSecretEvent (untrusted stream data)', () => {
  it('never throws; anything it accepts is well-formed', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.jsonValue().map((versions) => ({ ...ok, versions })),
        ),
        (data) => {
          const out = parseSecretEvent(data);
          if (typeof out === 'string') return;
          expect(out.spiffeId.startsWith('spiffe://')).toBe(true);
          expect(Number.isSafeInteger(out.revision)).toBe(true);
          for (const v of out.versions ?? []) {
            expect(Object.values(v.data).every((x) => typeof x === 'string')).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('accepts well-formed events as they are', () => {
    fc.assert(
      fc.property(
        label,
        label,
        fc.nat(),
        fc.uniqueArray(version, { selector: (v) => v.version, maxLength: 5 }),
        (service, secret, revision, versions) => {
          const event = {
            service,
            spiffeId: `spiffe://td/ns/default/sa/${service}`,
            secret: `shop/${secret}`,
            revision,
            type: 'random',
            versions,
          };
          expect(parseSecretEvent(event)).toEqual(event);
        },
      ),
    );
  });

  it('names what is wrong, never the value', () => {
    const v = ok.versions[0]!;
    const cases: [unknown, RegExp][] = [
      [null, /^not an object/],
      [{ ...ok, service: 'default/orders' }, /^service:/],
      [{ ...ok, spiffeId: 'https://x' }, /^spiffeId:/],
      [{ ...ok, secret: 'Api_Key' }, /^secret:/],
      [{ ...ok, revision: -1 }, /^revision:/],
      [{ ...ok, type: 'vault' }, /^type:/],
      [{ ...ok, removed: false }, /^removed:/],
      [{ ...ok, versions: undefined }, /^versions:/],
      [{ ...ok, type: 'postgres' }, /postgres/],
      [{ ...ok, versions: [v, v] }, /repeated/],
      [{ ...ok, versions: [{ ...v, version: 0 }] }, /version/],
      [{ ...ok, versions: [{ ...v, notAfter: 'soon' }] }, /notAfter/],
      [{ ...ok, versions: [{ ...v, data: { value: 7 } }] }, /data\.value must be a string/],
      [
        { ...ok, versions: [{ ...v, data: { 'bad name': 's3cr3t' } }] },
        /field #1: its name must match/,
      ],
      [{ ...ok, versions: [{ ...v, data: { value: 'x'.repeat(70_000) } }] }, /larger than/],
      [
        {
          ...ok,
          versions: [
            {
              ...v,
              data: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, 's3cr3t'])),
            },
          ],
        },
        /more than 64 fields/,
      ],
      [
        { ...ok, versions: Array.from({ length: 33 }, (_, i) => ({ ...v, version: i + 1 })) },
        /more than 32/,
      ],
    ];
    for (const [data, reason] of cases) {
      const out = parseSecretEvent(data);
      expect(out, JSON.stringify(data).slice(0, 80)).toMatch(reason);
      expect(out).not.toContain('s3cr3t');
    }
    // A removal and a postgres secret carry no versions.
    expect(parseSecretEvent({ ...ok, versions: undefined, removed: true })).toMatchObject({
      removed: true,
    });
    expect(parseSecretEvent({ ...ok, type: 'postgres', versions: undefined })).not.toHaveProperty(
      'versions',
    );
  });

  it('keeps a field named __proto__ as a field', () => {
    const data = JSON.parse('{"__proto__":"s","value":"v"}') as Record<string, string>;
    const out = parseSecretEvent({ ...ok, versions: [{ ...ok.versions[0], data }] });
    if (typeof out === 'string') throw new Error(out);
    const held = out.versions![0]!.data;
    expect(Object.getPrototypeOf(held)).toBe(Object.prototype);
    expect(Object.keys(held)).toEqual(['__proto__', 'value']);
  });
});

describe('SecretStore', () => {
  const event = (revision: number, extra: object = {}) => {
    const e = parseSecretEvent({ ...ok, revision, ...extra });
    if (typeof e === 'string') throw new Error(e);
    return e;
  };

  it('keeps per (service, secret) the highest revision, whatever the arrival order', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 30 }), (revisions) => {
        const store = new SecretStore();
        const emitted: number[] = [];
        store.on('secret', () => emitted.push(store.get('orders', 'api-key')!.revision));
        for (const r of revisions) store.accept(event(r));
        expect(store.get('orders', 'api-key')!.revision).toBe(Math.max(...revisions));
        // Each emission is a strictly higher revision than the one before.
        expect(emitted).toEqual([...new Set(emitted)].sort((a, b) => a - b));
      }),
    );
  });

  it('drops on removal; a service that joins again gets the secret at its own older revision', () => {
    const store = new SecretStore();
    const seen: string[] = [];
    store.on('secret', (service: string, secret: string) => seen.push(`${service}:${secret}`));
    store.accept(event(5));
    store.accept(event(6, { removed: true, versions: undefined }));
    expect(store.get('orders', 'api-key')).toBeUndefined();
    // The stream is ordered: after a removal, the next event is the snapshot of a rejoin, whose
    // revision is the secret's own (5), not the removal's (6).
    expect(store.accept(event(5))).toBe(true);
    expect(store.get('orders', 'api-key')!.revision).toBe(5);
    expect(store.accept(event(4))).toBe(false);
    expect(seen).toEqual(['orders:api-key', 'orders:api-key', 'orders:api-key']);
  });

  it('forgets a service', () => {
    const store = new SecretStore();
    store.accept(event(1));
    store.accept(event(1, { secret: 'other' }));
    store.accept(event(1, { service: 'billing', spiffeId: 'spiffe://td/ns/default/sa/billing' }));
    const seen: string[] = [];
    store.on('secret', (_s: string, secret: string) => seen.push(secret));
    store.forgetService('orders');
    expect(seen.sort()).toEqual(['api-key', 'other']);
    expect(store.services()).toEqual(new Set(['billing']));
    expect(store.size).toBe(1);
  });
});
