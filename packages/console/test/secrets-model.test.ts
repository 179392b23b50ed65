/**
 * The Secrets view's model: a key from the URL (anyone's text) becomes one encoded path segment
 * of `/v1/secrets/…` or nothing; times and actions are shown as the API states them.
 */
import type { SecretSummaryV1, SecretVersionInfoV1 } from '@ward/api-types/console';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Me } from '../web/src/api.ts';
import {
  dueIn,
  isGenerated,
  mayManage,
  mayRollBackTo,
  secretHref,
  secretKeyFromUrl,
  secretPath,
  stamp,
} from '../web/src/secrets/model.ts';

const summary = (over: Partial<SecretSummaryV1> = {}): SecretSummaryV1 => ({
  secret: 'shop/api-key',
  owner: 'shop/inventory',
  type: 'random',
  readers: ['shop/orders'],
  currentVersion: 1,
  versionCount: 1,
  updatedAt: '2025-01-02T03:04:05.000Z',
  rotation: { every: null, grace: '1h', activation: '5s' },
  nextRotationAt: null,
  activeLeases: 0,
  ...over,
});
const version = (n: number, state: SecretVersionInfoV1['state']): SecretVersionInfoV1 => ({
  version: n,
  createdAt: '2025-01-02T03:04:05.000Z',
  createdBy: 'admin',
  notBefore: '2025-01-02T03:04:05.000Z',
  notAfter: null,
  state,
  source: 'put',
  kek: 'seal',
});
const me = (over: Partial<Me>): Me => ({
  name: 't',
  scope: 'team',
  services: [],
  via: 'token',
  ...over,
});

describe('secret keys from the URL', () => {
  it('yields a key whose API path is one segment under /v1/secrets, or nothing', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.constantFrom('..', '.', 'a/../b', 'shop/x?y', 'a%2Fb')),
        (text) => {
          const key = secretKeyFromUrl(text);
          if (key === null) return;
          const url = new URL(secretPath(key, '/rotate'), 'http://cp.test');
          expect(url.pathname).toBe(`/v1/secrets/${encodeURIComponent(key)}/rotate`);
          expect(url.pathname.split('/')).toHaveLength(5);
          expect(url.search).toBe('');
          expect(decodeURIComponent(url.pathname.split('/')[3]!)).toBe(key);
          expect(secretKeyFromUrl(key)).toBe(key);
        },
      ),
    );
  });

  it('reads the keys it writes into links', () => {
    for (const key of ['api-key', 'shop/api-key']) {
      const params = new URLSearchParams(secretHref(key).split('?')[1]);
      expect(secretKeyFromUrl(params.get('secret')!)).toBe(key);
    }
    expect(secretKeyFromUrl('default/api-key')).toBe('api-key');
    expect(secretKeyFromUrl('..')).toBeNull();
    expect(secretKeyFromUrl('Shop/Key')).toBeNull();
  });
});

describe('what is shown and offered', () => {
  it('shows times in UTC and rotations as due or to come', () => {
    expect(stamp('2025-01-02T03:04:05.000Z')).toBe('2025-01-02 03:04:05 UTC');
    expect(stamp(null)).toBe('–');
    const now = Date.parse('2025-01-02T00:00:00.000Z');
    expect(dueIn('2025-01-02T01:02:00.000Z', now)).toBe('in 1h 02m');
    expect(dueIn('2025-01-01T00:00:00.000Z', now)).toBe('due');
  });

  it('offers actions to owners only, rotation to generated secrets only', () => {
    expect(mayManage(me({ scope: 'admin' }), summary())).toBe(true);
    expect(mayManage(me({ services: ['shop/inventory'] }), summary())).toBe(true);
    expect(mayManage(me({ namespaces: ['shop'] }), summary())).toBe(true);
    expect(mayManage(me({ services: ['shop/orders'] }), summary())).toBe(false);
    expect(mayManage(me({ scope: 'admin' }), summary({ owner: null }))).toBe(false);
    expect(isGenerated(summary({ type: 'keypair' }))).toBe(true);
    expect(isGenerated(summary({ type: 'static' }))).toBe(false);
    expect(isGenerated(summary({ type: 'postgres' }))).toBe(false);
  });

  it('offers a rollback to every kept version but the newest', () => {
    const vs = [
      version(1, 'destroyed'),
      version(2, 'expired'),
      version(3, 'current'),
      version(4, 'pending'),
    ];
    expect(vs.filter((v) => mayRollBackTo(v, vs)).map((v) => v.version)).toEqual([2, 3]);
  });
});
