import { describe, expect, it } from 'vitest';
import {
  compile,
  durationMs,
  grantProblem,
  lintPolicy,
  loadPolicy,
  type PolicyDocument,
  policySchema,
  type SecretDocument,
  secretDocumentKey,
  secretOwnerKey,
  secretReaderKeys,
  secretSettings,
  tryCompile,
} from '../src/index.ts';

const secret = (
  spec: Partial<SecretDocument['spec']>,
  name = 'api-key',
  namespace = 'shop',
): SecretDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Secret',
  metadata: { name, ...(namespace ? { namespace } : {}) },
  spec: { owner: 'inventory', ...spec },
});

const codes = (docs: PolicyDocument[]) =>
  tryCompile(docs).diagnostics.map((d) => `${d.code} ${d.path}`);

describe('Secret keys and settings', () => {
  it('keys are canonical: the owner and readers resolve in the secret namespace', () => {
    const doc = secret({ readers: ['orders', 'shop/inventory', 'default/reports', 'orders'] });
    expect(secretDocumentKey(doc)).toBe('shop/api-key');
    expect(secretDocumentKey(secret({}, 'k', ''))).toBe('k');
    expect(secretDocumentKey(secret({}, 'k', 'default'))).toBe('k');
    expect(secretOwnerKey(doc)).toBe('shop/inventory');
    expect(secretOwnerKey(secret({ owner: 'default/billing' }))).toBe('billing');
    expect(secretOwnerKey(secret({ owner: 'billing' }, 'k', ''))).toBe('billing');
    expect(secretReaderKeys(doc)).toEqual(['reports', 'shop/inventory', 'shop/orders']);
    expect(secretReaderKeys(secret({}))).toEqual([]);
    expect(() => secretOwnerKey(secret({ owner: 'Not A Service' }))).toThrow(TypeError);
  });

  it('settings apply every default, durations in ms', () => {
    expect(secretSettings(secret({}))).toEqual({
      type: 'static',
      rotation: { everyMs: null, graceMs: 3_600_000, activationMs: 5_000 },
    });
    expect(secretSettings(secret({ type: 'random' }))).toEqual({
      type: 'random',
      random: { length: 32, alphabet: 'base64url' },
      rotation: { everyMs: null, graceMs: 3_600_000, activationMs: 5_000 },
    });
    expect(
      secretSettings(
        secret({
          type: 'random',
          random: { length: 64, alphabet: 'hex' },
          rotation: { every: '24h', grace: '0s', activation: '500ms' },
        }),
      ),
    ).toEqual({
      type: 'random',
      random: { length: 64, alphabet: 'hex' },
      rotation: { everyMs: 86_400_000, graceMs: 0, activationMs: 500 },
    });
    expect(secretSettings(secret({ type: 'keypair', rotation: { every: '7d' } }))).toEqual({
      type: 'keypair',
      keypair: { algorithm: 'ed25519' },
      rotation: { everyMs: 7 * 86_400_000, graceMs: 3_600_000, activationMs: 5_000 },
    });
    const pg = secretSettings(
      secret({
        type: 'postgres',
        postgres: { connection: 'pg-admin', grants: ['GRANT x TO {{name}}'] },
      }),
    );
    expect(pg).toEqual({
      type: 'postgres',
      rotation: { everyMs: null, graceMs: 3_600_000, activationMs: 5_000 },
      postgres: {
        connectionKey: 'shop/pg-admin',
        ttlMs: 3_600_000,
        maxTtlMs: 86_400_000,
        grants: ['GRANT x TO {{name}}'],
      },
    });
  });

  it('durations: digits and one unit', () => {
    expect(durationMs('500ms')).toBe(500);
    expect(durationMs('30s')).toBe(30_000);
    expect(durationMs('5m')).toBe(300_000);
    expect(durationMs('1h')).toBe(3_600_000);
    expect(durationMs('2d')).toBe(172_800_000);
    for (const bad of ['', '1', 'h', '1.5h', '-1s', '1H', '1h30m', ' 1h', '1w']) {
      expect(durationMs(bad), bad).toBeUndefined();
    }
  });

  it('grant templates: one statement, {{name}} and no other placeholder', () => {
    expect(grantProblem('GRANT SELECT ON ALL TABLES IN SCHEMA public TO {{name}}')).toBeUndefined();
    expect(grantProblem('GRANT r1 TO {{name}}\n')).toBeUndefined();
    for (const bad of [
      'GRANT x TO app',
      'GRANT x TO {{name}}; DROP ROLE admin',
      'GRANT x TO {{name}} {{role}}',
      'GRANT x TO {{ name }}',
      'GRANT x TO {{name}} }}',
      'GRANT x TO {{name}} {{',
      'GRANT x TO {{name}}\u0000',
    ]) {
      expect(grantProblem(bad), bad).toBeDefined();
    }
  });
});

describe('Secret checks', () => {
  it('compile carries Secrets but builds no decision from them', () => {
    const set = compile([
      secret({ readers: ['orders'], type: 'random', rotation: { every: '1h' } }),
      secret({ type: 'keypair', keypair: { algorithm: 'rsa-2048' } }, 'signing'),
    ]);
    expect(set.destinations()).toEqual([]);
    expect(set.services.size).toBe(0);
    expect(
      set.decide({ destination: 'shop/inventory', source: { service: 'shop/orders' } }),
    ).toMatchObject({ allowed: false });
  });

  it('per-type blocks only with their type; postgres needs its block', () => {
    expect(codes([secret({ type: 'random', keypair: {} })])).toEqual([
      'POLICY_SECRET_INVALID /spec/keypair',
    ]);
    expect(
      codes([secret({ type: 'keypair', postgres: { connection: 'a', grants: ['G {{name}}'] } })]),
    ).toEqual(['POLICY_SECRET_INVALID /spec/postgres']);
    expect(codes([secret({ type: 'postgres' })])).toEqual(['POLICY_SECRET_INVALID /spec/type']);
    expect(codes([secret({ type: 'static', rotation: { every: '1h' } })])).toEqual([
      'POLICY_SECRET_INVALID /spec/rotation/every',
    ]);
    expect(
      codes([
        secret({
          type: 'postgres',
          rotation: { every: '1h' },
          postgres: { connection: 'a', grants: ['G {{name}}'] },
        }),
      ]),
    ).toEqual(['POLICY_SECRET_INVALID /spec/rotation/every']);
  });

  it('bounds: durations, lengths, counts', () => {
    const ok = (spec: Partial<SecretDocument['spec']>) => expect(codes([secret(spec)])).toEqual([]);
    ok({ type: 'random', random: { length: 16 }, rotation: { every: '1m' } });
    ok({ type: 'random', random: { length: 4096 }, rotation: { grace: '30d', activation: '1h' } });
    ok({
      type: 'postgres',
      postgres: { connection: 'a', ttl: '1m', maxTtl: '1m', grants: ['G {{name}}'] },
    });
    ok({
      type: 'postgres',
      postgres: { connection: 'a', ttl: '24h', maxTtl: '30d', grants: ['G {{name}}'] },
    });
    expect(codes([secret({ type: 'random', random: { length: 15 } })])).toEqual([
      'POLICY_SCHEMA_INVALID /spec/random/length',
    ]);
    expect(codes([secret({ type: 'random', random: { length: 4097 } })])).toEqual([
      'POLICY_SCHEMA_INVALID /spec/random/length',
    ]);
    expect(codes([secret({ type: 'random', rotation: { every: '59s' } })])).toEqual([
      'POLICY_DURATION_INVALID /spec/rotation/every',
    ]);
    expect(codes([secret({ rotation: { grace: '1d', activation: '61m' } })])).toEqual([
      'POLICY_DURATION_INVALID /spec/rotation/activation',
    ]);
    expect(codes([secret({ rotation: { grace: '1 h' } })])).toEqual([
      'POLICY_SCHEMA_INVALID /spec/rotation/grace',
    ]);
    const pg = (postgres: object) =>
      codes([
        secret({
          type: 'postgres',
          postgres: { connection: 'a', grants: ['G {{name}}'], ...postgres },
        }),
      ]);
    expect(pg({ ttl: '59s' })).toEqual(['POLICY_DURATION_INVALID /spec/postgres/ttl']);
    expect(pg({ ttl: '25h', maxTtl: '30d' })).toEqual([
      'POLICY_DURATION_INVALID /spec/postgres/ttl',
    ]);
    expect(pg({ maxTtl: '31d' })).toEqual(['POLICY_DURATION_INVALID /spec/postgres/maxTtl']);
    // maxTtl defaults to 24h: a ttl above it is the ttl's problem; a maxTtl under the default ttl is maxTtl's.
    expect(pg({ maxTtl: '30m' })).toEqual(['POLICY_DURATION_INVALID /spec/postgres/maxTtl']);
    expect(pg({ grants: [] })).toEqual(['POLICY_SCHEMA_INVALID /spec/postgres/grants']);
    expect(pg({ grants: Array(33).fill('G {{name}}') })).toEqual([
      'POLICY_SCHEMA_INVALID /spec/postgres/grants',
    ]);
    expect(pg({ grants: [`G {{name}} ${'x'.repeat(990)}`] })).toEqual([
      'POLICY_SCHEMA_INVALID /spec/postgres/grants/0',
    ]);
    const many = Array.from({ length: 1001 }, (_, i) => `s${i}`);
    expect(codes([secret({ readers: many })])).toEqual(['POLICY_SCHEMA_INVALID /spec/readers']);
    expect(codes([secret({ readers: many.slice(0, 1000) })])).toEqual([]);
  });

  it('readers are unique named services; the owner is required', () => {
    expect(
      codes([secret({ readers: ['orders', 'shop/orders', '*', 'ns/*', 'a/b/c', 'Up'] })]),
    ).toEqual([
      'POLICY_DUPLICATE_NAME /spec/readers/1',
      'POLICY_SECRET_INVALID /spec/readers/2',
      'POLICY_SECRET_INVALID /spec/readers/3',
      'POLICY_SECRET_INVALID /spec/readers/4',
      'POLICY_SECRET_INVALID /spec/readers/5',
    ]);
    const { owner: _, ...noOwner } = secret({}).spec;
    expect(codes([{ ...secret({}), spec: noOwner as SecretDocument['spec'] }])).toEqual([
      'POLICY_SCHEMA_INVALID /spec',
    ]);
    expect(codes([secret({ owner: '*' })])).toEqual(['POLICY_SCHEMA_INVALID /spec/owner']);
  });

  it('a document with a value is refused, and the value is not echoed', () => {
    const loaded = loadPolicy([
      {
        file: 's.yaml',
        text: 'apiVersion: ward.dev/v1\nkind: Secret\nmetadata: { name: k }\nspec: { owner: a, value: hunter2-xyz }\n',
      },
    ]);
    expect(loaded.diagnostics.map((d) => `${d.code} ${d.path} ${d.line}:${d.col}`)).toEqual([
      'POLICY_SCHEMA_INVALID /spec/value 4:19',
    ]);
    expect(JSON.stringify(loaded.diagnostics)).not.toContain('hunter2-xyz');
  });

  it('the published schema knows the kind', () => {
    expect(policySchema.properties.kind.enum).toContain('Secret');
    expect(policySchema.definitions.Secret.properties.spec.required).toEqual(['owner']);
  });
});

describe('Secret lint', () => {
  const service = (name: string): PolicyDocument => ({
    apiVersion: 'ward.dev/v1',
    kind: 'Service',
    metadata: { name, namespace: 'shop' },
    spec: {},
  });

  it('warns about an undeclared owner or reader only when Services are declared', () => {
    const doc = secret({ owner: 'ghost', readers: ['orders', 'default/nobody'] });
    expect(lintPolicy([doc])).toEqual([]);
    expect(
      lintPolicy([service('orders'), doc]).map((w) => `${w.code} ${w.path} ${w.message}`),
    ).toEqual([
      'LINT_UNKNOWN_SERVICE /spec/owner owner "shop/ghost" is not a declared Service',
      'LINT_UNKNOWN_SERVICE /spec/readers/1 reader "nobody" is not a declared Service',
    ]);
  });

  it('warns about a connection that is a non-static Secret of the set', () => {
    const pg = secret(
      { type: 'postgres', postgres: { connection: 'admin-url', grants: ['G {{name}}'] } },
      'db',
    );
    expect(lintPolicy([pg, secret({}, 'admin-url')])).toEqual([]);
    expect(lintPolicy([pg])).toEqual([]); // not in the set: nothing to say
    expect(
      lintPolicy([pg, secret({ type: 'random' }, 'admin-url')]).map((w) => `${w.code} ${w.path}`),
    ).toEqual(['LINT_SECRET_CONNECTION /spec/postgres/connection']);
  });
});
