/**
 * Service keys in the SDK: the PDP's and the middleware's own service is a key (`team-a/payments`;
 * `default/x` is `x`), a dev-header caller is read as a key, and a peer SVID of another namespace
 * is that namespace's service — never the default namespace's, nor the destination's namespace's.
 */
import { compile, type PolicyDocument } from '@ward/policy';
import { describe, expect, it } from 'vitest';
import { Rejection } from '../src/middleware/context.ts';
import { createEgressGuard } from '../src/middleware/egress.ts';
import { Enforcer } from '../src/middleware/enforcer.ts';
import { EgressDeniedError } from '../src/middleware/errors.ts';
import { resolvePdpOptions } from '../src/pdp/options.ts';
import { signingKey } from './_pdp-fixture.ts';

const TD = 'ns.test';
const docs: PolicyDocument[] = [
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'ledger', namespace: 'team-a' },
    spec: {
      destination: 'ledger',
      rules: [{ sources: ['payments'], action: 'allow' }],
    },
  },
];
const policy = compile(
  docs.map((document, index) => ({ document, file: 'p.yaml', index })),
  { trustDomain: TD },
);

describe('PDP options: the service is a key', () => {
  const base = { controlPlanes: 'http://127.0.0.1:1', publicKey: signingKey().publicKey };

  it('keeps a key, canonicalises the default namespace written out', () => {
    expect(resolvePdpOptions({ ...base, service: 'team-a/payments' }).service).toBe(
      'team-a/payments',
    );
    expect(resolvePdpOptions({ ...base, service: 'default/payments' }).service).toBe('payments');
    expect(resolvePdpOptions({ ...base, service: 'payments' }).service).toBe('payments');
  });

  it('refuses what is no service key', () => {
    for (const bad of ['', 'Payments', 'team-a/', '/payments', 'a/b/c', 'team_a/payments', 'x.y']) {
      expect(() => resolvePdpOptions({ ...base, service: bad }), bad).toThrow(
        /service must be a service key/,
      );
    }
  });
});

describe('middleware: keys on both ends', () => {
  const enforcer = (peer?: string) =>
    new Enforcer({
      decider: policy,
      service: 'team-a/ledger',
      devIdentityHeader: 'x-ward-source',
      ...(peer ? { peerIdentity: () => peer } : {}),
    });

  it("its own service is the key, canonical ('default/x' is 'x')", () => {
    expect(new Enforcer({ decider: policy, service: 'default/ledger' }).service).toBe('ledger');
    expect(new Enforcer({ decider: policy, service: 'team-a/ledger' }).service).toBe(
      'team-a/ledger',
    );
    for (const bad of ['', 'Ledger', 'a/b/c', 'team-a/']) {
      expect(() => new Enforcer({ decider: policy, service: bad }), bad).toThrow(TypeError);
    }
  });

  it('an SVID of team-b/payments is team-b/payments, refused where team-a/payments is allowed', () => {
    const socket = {} as never;
    const ours = enforcer(`spiffe://${TD}/ns/team-a/sa/payments`).check(
      socket,
      'POST',
      '/entries',
      {},
      undefined,
    );
    expect(ours).not.toBeInstanceOf(Rejection);
    expect((ours as { source: { service?: string } }).source.service).toBe('team-a/payments');
    for (const [peer, key] of [
      [`spiffe://${TD}/ns/team-b/sa/payments`, 'team-b/payments'],
      [`spiffe://${TD}/ns/default/sa/payments`, 'payments'],
    ] as const) {
      const r = enforcer(peer).check({} as never, 'POST', '/entries', {}, undefined);
      expect(r, peer).toBeInstanceOf(Rejection);
      expect((r as Rejection).problem.detail).toContain(`${key} → team-a/ledger`);
    }
  });

  it('reads a dev-header caller as a key', () => {
    const e = enforcer();
    const as = (caller: string) =>
      e.check(null, 'POST', '/entries', { 'x-ward-source': caller }, undefined);
    expect(as('team-a/payments')).not.toBeInstanceOf(Rejection);
    // A bare name is the default namespace's service, not the destination namespace's.
    expect(as('payments')).toBeInstanceOf(Rejection);
    expect(as('default/payments')).toBeInstanceOf(Rejection);
    expect(as('team-b/payments')).toBeInstanceOf(Rejection);
    for (const bad of ['Team-A/payments', 'team-a/payments/x', 'team-a/']) {
      const r = as(bad);
      expect(r, bad).toBeInstanceOf(Rejection);
      expect((r as Rejection).status, bad).toBe(401);
      expect((r as Rejection).problem.code).toBe('MIDDLEWARE_BAD_IDENTITY');
    }
  });
});

describe('egress guard: keys on both ends', () => {
  it('calls as its key, to a key', () => {
    const ours = createEgressGuard({ decider: policy, self: 'team-a/payments' });
    expect(ours.check('team-a/ledger', { method: 'POST', path: '/entries' }).allowed).toBe(true);
    // team-b's payments (or the default one) asking team-a's ledger is refused before sending.
    for (const self of ['team-b/payments', 'payments', 'default/payments']) {
      const guard = createEgressGuard({ decider: policy, self });
      expect(() => guard.check('team-a/ledger', { method: 'POST', path: '/entries' })).toThrow(
        EgressDeniedError,
      );
    }
    // `ledger` is the default namespace's ledger, which no rule admits anyone to.
    expect(() => ours.check('ledger', { method: 'POST', path: '/entries' })).toThrow(
      EgressDeniedError,
    );
    expect(() => ours.check('Team-A/ledger', {})).toThrow(TypeError);
    expect(() => createEgressGuard({ decider: policy, self: 'a/b/c' })).toThrow(TypeError);
  });
});
