/**
 * The SPIFFE ID → service mapping of ext_authz: by convention only where asked. The agent knows
 * every local service's identity, so a convention-shaped ID of some other workload must not be
 * read as one of its services (it would widen an mTLS caller's scope, or pick a destination).
 */
import { Enforcer } from '@ward/sdk';
import { describe, expect, it } from 'vitest';
import { fixtureDecider } from '../../sdk/test/_policy-fixture.ts';
import { createExtAuthz } from '../src/index.ts';

const ordersId = 'spiffe://ward.test/orders-v2'; // orders' declared, non-conventional identity
const guessable = 'spiffe://ward.test/ns/default/sa/orders'; // what the convention reads as orders

function authz(byConvention: boolean | undefined) {
  const enforcer = new Enforcer({ decider: fixtureDecider(), service: 'orders' });
  return createExtAuthz({
    enforcerFor: (s) => (s === 'orders' ? enforcer : undefined),
    serviceForSpiffeId: (id) => (id === ordersId ? 'orders' : undefined),
    ...(byConvention === undefined ? {} : { byConvention }),
  });
}

describe('ext_authz service of a SPIFFE ID', () => {
  it('maps known identities either way', () => {
    expect(authz(false).serviceOf(ordersId)).toBe('orders');
    expect(authz(undefined).serviceOf(ordersId)).toBe('orders');
  });

  it('reads an unknown ID by convention only when allowed (the library default)', () => {
    expect(authz(undefined).serviceOf(guessable)).toBe('orders');
    expect(authz(false).serviceOf(guessable)).toBeUndefined();
  });
});
