import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rejection } from '../src/middleware/context.ts';
import { Enforcer } from '../src/middleware/enforcer.ts';
import { fixtureDecider, passport } from './_policy-fixture.ts';

describe('Enforcer.check on untrusted input', () => {
  const enforcer = new Enforcer({
    decider: fixtureDecider(),
    service: 'orders',
    devIdentityHeader: 'x-ward-source',
    log: { record: () => {} },
  });
  const valid = passport({ sub: 'alice' });

  it('never throws, and answers only 200-context, 400 (no canonical form), 401 or 403, whatever the request', () => {
    const header = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.constantFrom('frontend', 'monitoring', 'spiffe://ward.test/ns/shop/sa/frontend', valid),
      fc.string({ maxLength: 40 }).map((s) => valid.slice(0, 20) + s + valid.slice(20)),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH', 'get', ''),
        fc.oneof(fc.webPath(), fc.string({ maxLength: 200 })),
        fc.dictionary(
          fc.constantFrom('x-ward-source', 'x-ward-passport', 'accept', 'x-other'),
          header,
        ),
        (method, url, headers) => {
          const outcome = enforcer.check(null, method, url, headers, undefined);
          if (outcome instanceof Rejection) {
            expect([400, 401, 403]).toContain(outcome.status);
            expect(outcome.problem.code).toMatch(
              outcome.status === 400 ? /^REQUEST_[A-Z0-9_]+$/ : /^(MIDDLEWARE|PASSPORT)_[A-Z_]+$/,
            );
            expect(typeof outcome.problem.reason).toBe('string');
          } else {
            expect(outcome.decision.allowed).toBe(true);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('admits only what the policy allows', () => {
    const ok = enforcer.check(null, 'GET', '/orders/1', { 'x-ward-source': 'frontend' }, undefined);
    expect(ok).not.toBeInstanceOf(Rejection);
    const no = enforcer.check(
      null,
      'GET',
      '/orders/1',
      { 'x-ward-source': 'monitoring' },
      undefined,
    );
    expect(no).toBeInstanceOf(Rejection);
    expect((no as Rejection).problem.rule).toBe('orders-access#0');
  });
});
