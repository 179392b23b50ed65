/**
 * The agent parses every event of its control-plane stream before it holds a bundle: whatever
 * JSON arrives, `parseBundleEvent` returns a reason or a well-formed held bundle, never throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBundleEvent } from '../src/index.ts';

const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);

describe('parseBundleEvent (untrusted stream data)', () => {
  it('never throws; anything it accepts is well-formed', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (data) => {
        const out = parseBundleEvent(data);
        if (typeof out === 'string') return;
        expect(typeof out.service).toBe('string');
        expect(out.spiffeId.startsWith('spiffe://')).toBe(true);
        expect(Number.isSafeInteger(out.revision)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts a well-formed event and reads the revision from the payload', () => {
    fc.assert(
      fc.property(name, fc.nat(), fc.string(), (service, revision, extra) => {
        const bundle = {
          payload: JSON.stringify({ service, revision, extra }),
          signature: 's',
          keyId: 'k',
          hash: 'h',
        };
        const out = parseBundleEvent({
          service,
          spiffeId: `spiffe://td/ns/x/sa/${service}`,
          bundle,
        });
        expect(out).toMatchObject({ service, revision, bundle });
      }),
    );
  });

  it('takes the revision sent beside the bundle without parsing the payload, checked the same', () => {
    fc.assert(
      fc.property(name, fc.nat(), fc.string(), (service, revision, payload) => {
        const bundle = { payload, signature: 's', keyId: 'k', hash: 'h' };
        const event = { service, spiffeId: `spiffe://td/ns/x/sa/${service}`, bundle };
        expect(parseBundleEvent({ ...event, revision })).toMatchObject({ revision, bundle });
      }),
    );
    const bundle = { payload: '{"revision":1}', signature: 's', keyId: 'k', hash: 'h' };
    const ok = { service: 'orders', spiffeId: 'spiffe://td/x', bundle };
    for (const bad of [-1, 1.5, '7', null, 2 ** 53]) {
      expect(parseBundleEvent({ ...ok, revision: bad })).toBe('revision: not a revision');
    }
  });

  it('names what is wrong', () => {
    const bundle = { payload: '{"revision":1}', signature: 's', keyId: 'k', hash: 'h' };
    const ok = { service: 'orders', spiffeId: 'spiffe://td/x', bundle };
    expect(parseBundleEvent(null)).toBe('not an object');
    expect(parseBundleEvent({ ...ok, service: 'Orders!' })).toMatch(/^service:/);
    // A key: `team-a/orders` is one; the default namespace written out is not canonical, and a
    // control plane always sends keys canonical.
    expect(parseBundleEvent({ ...ok, service: 'team-a/orders' })).toMatchObject({
      service: 'team-a/orders',
    });
    for (const bad of ['default/orders', 'team-a/', 'a/b/c', 'Team-A/orders']) {
      expect(parseBundleEvent({ ...ok, service: bad }), bad).toMatch(/^service:/);
    }
    expect(parseBundleEvent({ ...ok, spiffeId: 'http://x' })).toMatch(/^spiffeId:/);
    expect(parseBundleEvent({ ...ok, bundle: { ...bundle, hash: 1 } })).toMatch(/^bundle:/);
    expect(parseBundleEvent({ ...ok, bundle: { ...bundle, payload: '{' } })).toMatch(/not JSON/);
    expect(parseBundleEvent({ ...ok, bundle: { ...bundle, payload: '{"revision":-1}' } })).toMatch(
      /revision/,
    );
  });
});
