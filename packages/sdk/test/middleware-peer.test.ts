import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSpiffeId, spiffeIdOfSubjectAltName } from '../src/index.ts';
import { serviceByConvention } from '../src/middleware/peer.ts';

describe('SPIFFE ID from a subjectaltname', () => {
  it.each([
    ['URI:spiffe://ward.test/ns/default/sa/orders', 'spiffe://ward.test/ns/default/sa/orders'],
    ['DNS:orders.local, URI:spiffe://td/x, IP Address:127.0.0.1', 'spiffe://td/x'],
    // Exactly one URI SAN, per the X.509-SVID specification.
    ['URI:spiffe://td/a, URI:spiffe://td/b', undefined],
    ['URI:spiffe://td/a, URI:"spiffe://td/b,c"', undefined],
    ['URI:https://td/a', undefined],
    ['URI:spiffe://TD/a', undefined],
    ['URI:spiffe://td/a/../b', undefined],
    ['URI:spiffe://td/a/', undefined],
    ['URI:spiffe://td/a?x=1', undefined],
    ['DNS:only.example', undefined],
    ['', undefined],
  ])('%s → %s', (san, id) => {
    expect(spiffeIdOfSubjectAltName(san)).toBe(id);
  });

  it('never throws and only ever returns a well-formed SPIFFE ID that occurs in the input', () => {
    const part = fc.oneof(
      fc.string(),
      fc.constantFrom('URI:spiffe://td/ns/a/sa/b', 'DNS:x', 'URI:"a,b"', ', ', 'URI:', '"', '\\'),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 8 }), (parts) => {
        const san = parts.join('');
        const id = spiffeIdOfSubjectAltName(san);
        if (id !== undefined) {
          expect(isSpiffeId(id)).toBe(true);
          expect(san).toContain(`URI:${id}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('maps the default convention to a service name', () => {
    expect(serviceByConvention('spiffe://td/ns/shop/sa/orders')).toBe('shop/orders');
    expect(serviceByConvention('spiffe://td/ns/default/sa/orders')).toBe('orders');
    expect(serviceByConvention('spiffe://td/orders')).toBeUndefined();
    expect(serviceByConvention('spiffe://td/ns/shop/sa/orders/extra')).toBeUndefined();
  });
});
