import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compile,
  type Decision,
  type DecisionInput,
  type IntentionDocument,
  PolicyCompileError,
  type PolicyDocument,
  type ServiceDocument,
} from '../src/index.ts';

type ArbType<A> = A extends fc.Arbitrary<infer T> ? T : never;

const svc = (
  name: string,
  extra: Partial<ServiceDocument['spec']> = {},
  labels?: Record<string, string>,
): ServiceDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name, ...(labels ? { labels } : {}) },
  spec: extra,
});
const intention = (
  name: string,
  destination: string,
  rules: IntentionDocument['spec']['rules'],
  mode?: 'enforce' | 'dry-run',
): IntentionDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name },
  spec: { destination, ...(mode ? { mode } : {}), rules },
});

describe('decide', () => {
  const set = compile([
    svc('a', {}, { team: 'x' }),
    svc('b'),
    intention('to-b', 'b', [
      { sources: ['a'], action: 'allow', description: 'a calls b' },
      {
        sources: ['*'],
        action: 'deny',
        when: 'passport.present && passport.attrs.blocked == true',
      },
    ]),
  ]);

  it('returns frozen, preallocated decisions', () => {
    const one = set.decide({ destination: 'b', source: { service: 'a' } });
    const two = set.decide({
      destination: 'b',
      source: { spiffeId: 'spiffe://ward.local/ns/default/sa/a' },
    });
    expect(one).toBe(two);
    expect(Object.isFrozen(one)).toBe(true);
    expect(Object.isFrozen(one.rule)).toBe(true);
    expect(one).toEqual({
      effect: 'allow',
      enforced: true,
      allowed: true,
      rule: { policy: 'to-b', index: 0, action: 'allow', mode: 'enforce' },
      reason: 'allowed by rule to-b#0: a calls b',
    });
  });

  it('fails closed on CEL runtime errors, and explain says so', () => {
    const input: DecisionInput = {
      destination: 'b',
      source: { service: 'a' },
      passport: { sub: 's', attrs: {}, iat: 1, exp: 2, iss: 'a', kid: 'k' },
    };
    expect(set.decide(input).rule).toEqual({
      policy: 'to-b',
      index: 1,
      action: 'deny',
      mode: 'enforce',
    });
    const ex = set.explain(input);
    expect(ex.decision).toBe(set.decide(input));
    expect(ex.considered.map((c) => c.matched)).toEqual([true, true]);
    expect(ex.considered[1]!.detail).toMatch(
      /failed to evaluate .*No such key: blocked.*fail closed, so this deny matches/,
    );
    const ok = { ...input, passport: { ...input.passport!, attrs: { blocked: false } } };
    expect(set.decide(ok).effect).toBe('allow');
  });

  it('lists services, destinations and rules', () => {
    expect(set.services.get('a')).toMatchObject({
      namespace: 'default',
      spiffeId: 'spiffe://ward.local/ns/default/sa/a',
      labels: { team: 'x' },
    });
    expect(set.serviceBySpiffeId('spiffe://ward.local/ns/default/sa/b')?.name).toBe('b');
    expect(set.destinations()).toEqual(['b']);
    expect(
      set.rules('b').map((r) => `${r.ref.policy}#${r.ref.index} ${r.sources.join(',')}`),
    ).toEqual(['to-b#0 a', 'to-b#1 *']);
    expect(set.decide({ destination: 'zzz', source: { service: 'a' } }).reason).toMatch(
      /no intention names this destination/,
    );
  });

  it('uses the trust domain option and env', () => {
    const s = compile(
      [
        svc('a'),
        intention('i', 'b', [
          {
            sources: ['spiffe://shop.example/ns/default/sa/a'],
            action: 'allow',
            when: 'env.stage == "prod"',
          },
        ]),
      ],
      {
        trustDomain: 'shop.example',
        env: { stage: 'prod' },
      },
    );
    expect(s.decide({ destination: 'b', source: { service: 'a' } }).effect).toBe('allow');
    expect(() => compile([], { trustDomain: 'Bad Domain' })).toThrow(TypeError);
  });

  it('throws a coded error carrying every diagnostic', () => {
    try {
      compile([
        intention('i', 'b', [
          { sources: ['a'], action: 'allow', when: 'x' },
          { sources: ['bad name'], action: 'allow' },
        ]),
      ]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PolicyCompileError);
      const e = error as PolicyCompileError;
      expect(e.code).toBe('POLICY_COMPILE_FAILED');
      expect(e.diagnostics.map((d) => d.code)).toEqual([
        'POLICY_CEL_TYPE',
        'POLICY_SOURCE_INVALID',
      ]);
      expect(e.message).toMatch(
        /^policy does not compile: <input>:1:1: error POLICY_CEL_TYPE \/spec\/rules\/0\/when: .* \(and 1 more\)$/,
      );
    }
  });

  it('validates plain documents (from a bundle) against the schema', () => {
    const bad = {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'i' },
      spec: { destination: 'b', rules: [] },
    };
    expect(() => compile([bad as unknown as PolicyDocument])).toThrow(
      /POLICY_SCHEMA_INVALID \/spec\/rules/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The index must never change an answer: decide() agrees with a direct reading of the semantics.

const NAMES = ['s0', 's1', 's2', 's3', 'x9'];
const DECLARED = ['s0', 's1', 's2', 's3'];
const id = (n: string) => `spiffe://ward.local/ns/default/sa/${n}`;
const sourceArb = fc.oneof(
  fc.constantFrom(...NAMES),
  fc.constantFrom(...NAMES).map(id),
  fc.constantFrom(
    '*',
    's*',
    'x*',
    'spiffe://ward.local/ns/default/**',
    'spiffe://ward.local/ns/*/sa/s1',
  ),
);
const ruleArb = fc.record({
  sources: fc.array(sourceArb, { minLength: 1, maxLength: 3 }),
  action: fc.constantFrom('allow' as const, 'deny' as const),
  l7: fc.constantFrom(undefined, 'GET', 'POST'),
  cel: fc.constantFrom(undefined, 'request.path == "/p"', 'passport.attrs.x == 1'),
});
const intentionArb = fc.record({
  dest: fc.constantFrom('d0', 'd1'),
  mode: fc.constantFrom('enforce' as const, 'dry-run' as const),
  rules: fc.array(ruleArb, { minLength: 1, maxLength: 4 }),
});
const inputArb = fc.record({
  dest: fc.constantFrom('d0', 'd1', 'd2'),
  service: fc.constantFrom(undefined, ...NAMES),
  spiffe: fc.constantFrom(undefined, ...NAMES.map(id)),
  method: fc.constantFrom(undefined, 'GET', 'POST'),
  path: fc.constantFrom('/p', '/q'),
});

type Gen = ArbType<typeof intentionArb>;

function reference(
  intentions: Gen[],
  input: ArbType<typeof inputArb>,
): { effect: string; rule: string; allowed: boolean; enforced: boolean } {
  let service = input.service;
  let spiffe = input.spiffe;
  if (spiffe && !service && DECLARED.some((n) => id(n) === spiffe))
    service = spiffe.slice(spiffe.lastIndexOf('/') + 1);
  if (service && !spiffe && DECLARED.includes(service)) spiffe = id(service);
  const glob = (p: string, v: string | undefined) =>
    v !== undefined &&
    new RegExp(
      `^${p.replaceAll('.', '\\.').replaceAll('**', '\u0000').replaceAll('*', '[^/]*').replaceAll('\u0000', '.*')}$`,
    ).test(v);
  const srcMatch = (s: string) =>
    s === '*' ||
    (s.includes('*')
      ? glob(s, s.startsWith('spiffe://') ? spiffe : service)
      : s.startsWith('spiffe://')
        ? s === spiffe
        : s === service);
  const rules = intentions
    .map((it, i) => ({ ...it, name: `i${i}` }))
    .filter((it) => it.dest === input.dest)
    .flatMap((it) =>
      it.rules.map((r, index) => ({ ...r, id: `${it.name}#${index}`, dry: it.mode === 'dry-run' })),
    );
  const matches = (r: (typeof rules)[number]) => {
    if (!r.sources.some(srcMatch)) return false;
    if (r.l7 && r.l7 !== input.method) return false;
    if (r.cel === 'request.path == "/p"') return input.path === '/p';
    if (r.cel) return r.action === 'deny'; // passport absent: runtime error, fail closed
    return true;
  };
  const evaluate = (rs: typeof rules) =>
    rs.find((r) => r.action === 'deny' && matches(r)) ??
    rs.find((r) => r.action === 'allow' && matches(r));
  const full = evaluate(rules);
  const softApply = rules.length > 0 && rules.every((r) => r.dry);
  const enforcedRule = evaluate(rules.filter((r) => !r.dry));
  const enforcedEffect = enforcedRule ? enforcedRule.action : softApply ? 'allow' : 'deny';
  const fullEffect = full ? full.action : 'deny';
  if (!full) return { effect: 'deny', rule: 'default', allowed: softApply, enforced: !softApply };
  if (!full.dry)
    return { effect: fullEffect, rule: full.id, allowed: fullEffect === 'allow', enforced: true };
  if (!softApply && fullEffect === enforcedEffect) {
    return {
      effect: fullEffect,
      rule: enforcedRule ? enforcedRule.id : 'default',
      allowed: enforcedEffect === 'allow',
      enforced: true,
    };
  }
  return {
    effect: fullEffect,
    rule: full.id,
    allowed: enforcedEffect === 'allow',
    enforced: false,
  };
}

describe('decide agrees with the reference semantics', () => {
  it('for random policies and inputs', () => {
    fc.assert(
      fc.property(
        fc.array(intentionArb, { minLength: 1, maxLength: 4 }),
        fc.array(inputArb, { minLength: 1, maxLength: 10 }),
        (gens, inputs) => {
          // Names sort in generation order (i0 < i1 < …), matching the engine's evaluation order.
          const docs: PolicyDocument[] = [
            ...DECLARED.map((n) => svc(n)),
            ...gens.map((g, i) =>
              intention(
                `i${i}`,
                g.dest,
                g.rules.map((r) => ({
                  sources: r.sources,
                  action: r.action,
                  ...(r.l7 ? { permissions: [{ http: { methods: [r.l7] } }] } : {}),
                  ...(r.cel ? { when: r.cel } : {}),
                })),
                g.mode,
              ),
            ),
          ];
          const set = compile(docs);
          for (const inp of inputs) {
            const input: DecisionInput = {
              destination: inp.dest,
              source: {
                ...(inp.service ? { service: inp.service } : {}),
                ...(inp.spiffe ? { spiffeId: inp.spiffe } : {}),
              },
              request: { ...(inp.method ? { method: inp.method } : {}), path: inp.path },
            };
            const d: Decision = set.decide(input);
            const want = reference(gens, inp);
            const got = {
              effect: d.effect,
              rule: d.rule ? `${d.rule.policy}#${d.rule.index}` : 'default',
              allowed: d.allowed,
              enforced: d.enforced,
            };
            expect(got, JSON.stringify({ input, gens })).toEqual(want);
            expect(set.explain(input).decision).toBe(d);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('conditions on the method and caller only (remembered per input)', () => {
  it('give each distinct method and caller its own result, in any order', () => {
    const set = compile([
      svc('a'),
      svc('b'),
      svc('d'),
      intention('d-access', 'd', [
        { sources: ['*'], action: 'allow', when: 'request.method != "DELETE"' },
        {
          sources: ['*'],
          action: 'allow',
          when: 'source.service == "b" && request.method == "DELETE"',
        },
      ]),
    ]);
    const call = (service: string, method: string) =>
      set.decide({
        destination: 'd',
        source: { service },
        request: { method, path: '/', headers: {} },
        time: 0,
      }).allowed;
    for (let round = 0; round < 3; round++) {
      expect(call('a', 'GET')).toBe(true);
      expect(call('a', 'DELETE')).toBe(false);
      expect(call('b', 'DELETE')).toBe(true);
      expect(call('a', 'DELETE')).toBe(false);
      expect(call('b', 'GET')).toBe(true);
    }
  });
  it('are not remembered when they also read anything else (time, headers, passport)', () => {
    const set = compile([
      svc('a'),
      svc('d'),
      intention('d-window', 'd', [
        {
          sources: ['*'],
          action: 'allow',
          when: 'request.method == "GET" && time < timestamp("2030-01-01T00:00:00Z")',
        },
        {
          sources: ['*'],
          action: 'allow',
          when: 'request.method == "POST" && "x-ok" in request.headers && request.headers["x-ok"] == "yes"',
        },
      ]),
    ]);
    const call = (method: string, time: number, headers: Record<string, string> = {}) =>
      set.decide({
        destination: 'd',
        source: { service: 'a' },
        request: { method, path: '/', headers },
        time,
      }).allowed;
    const before = Date.parse('2029-06-01T00:00:00Z');
    const after = Date.parse('2031-06-01T00:00:00Z');
    for (let round = 0; round < 3; round++) {
      expect(call('GET', before)).toBe(true);
      expect(call('GET', after)).toBe(false);
      expect(call('POST', before, { 'x-ok': 'yes' })).toBe(true);
      expect(call('POST', before, { 'x-ok': 'no' })).toBe(false);
    }
  });
});
