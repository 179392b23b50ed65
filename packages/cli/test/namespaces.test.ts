/**
 * The CLI's kubectl grammar for namespaces against a real control plane (SQLite): `-n NS` on
 * get/delete/history/rollback/propose, `-A` on lists, a NAMESPACE column, keys percent-encoded in
 * URLs by one helper, and `ward tokens create --namespace`. In-process through `main()`, the
 * function `bin.ts` calls.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '@ward/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySegment, resolveKey } from '../src/commands/_api.ts';
import { main } from '../src/main.ts';

const ADMIN = 'cli-namespaces-admin-token-0123456789';
let server: Awaited<ReturnType<typeof startServer>>;
const dir = mkdtempSync(join(tmpdir(), 'ward-cli-ns-'));

/** Runs `ward ...args` in-process with the server and token in the environment. */
async function ward(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  const saved = { server: process.env.WARD_SERVER, token: process.env.WARD_TOKEN };
  process.env.WARD_SERVER = server.url;
  process.env.WARD_TOKEN = ADMIN;
  process.stdout.write = ((chunk: unknown) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => {
    err += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'ward', ...args]);
    return { code, out, err };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
    process.exitCode = undefined;
    for (const [k, v] of [
      ['WARD_SERVER', saved.server],
      ['WARD_TOKEN', saved.token],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: checked field by field
  return { status: res.status, body: (await res.json()) as any };
}

const svc = (name: string, namespace?: string) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name, ...(namespace ? { namespace } : {}) },
  spec: {},
});
const intent = (name: string, namespace: string, destination: string, sources: string[]) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name, namespace },
  spec: { destination, rules: [{ sources, action: 'allow' }] },
});

let first = 0;

beforeAll(async () => {
  server = await startServer({ dataDir: dir, port: 0, adminToken: ADMIN, env: {} });
  const content = [
    svc('payments', 'team-a'),
    svc('payments', 'team-b'),
    svc('checkout', 'team-b'),
    svc('orders'),
    intent('payments-in', 'team-a', 'payments', ['team-b/checkout']),
  ]
    .map((d) => JSON.stringify(d))
    .join('\n---\n');
  const r = await api('POST', '/v1/apply', { files: [{ name: 'ns.yaml', content }] });
  expect(r.status).toBe(200);
  first = r.body.revision;
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('one key helper', () => {
  it('resolves NAME in -n, NS/NAME, default/NAME, and refuses what is not a key', () => {
    expect(resolveKey('payments', 'team-a')).toBe('team-a/payments');
    expect(resolveKey('team-a/payments', undefined)).toBe('team-a/payments');
    expect(resolveKey('team-a/payments', 'team-a')).toBe('team-a/payments');
    expect(resolveKey('payments', undefined)).toBe('payments');
    expect(resolveKey('default/payments', undefined)).toBe('payments');
    expect(resolveKey('payments', 'default')).toBe('payments');
    expect(() => resolveKey('team-a/payments', 'team-b')).toThrow(/namespace team-a/);
    expect(() => resolveKey('a/b/c', undefined)).toThrow(/namespace\/name/);
    expect(() => resolveKey('../x', undefined)).toThrow();
    expect(() => resolveKey('x', 'Team_A')).toThrow(/DNS label/);
    expect(keySegment('team-a/payments')).toBe('team-a%2Fpayments');
  });
});

describe('ward get / delete with namespaces', () => {
  it('gets one document by -n, or by namespace/name', async () => {
    const a = await ward('get', 'service', 'payments', '-n', 'team-a', '-o', 'json');
    expect(a.code, a.err).toBe(0);
    expect(JSON.parse(a.out).metadata).toMatchObject({ name: 'payments', namespace: 'team-a' });
    const b = await ward('get', 'service', 'team-b/payments', '-o', 'json');
    expect(JSON.parse(b.out).metadata).toMatchObject({ name: 'payments', namespace: 'team-b' });
    const d = await ward('get', 'service', 'orders', '-o', 'json');
    expect(JSON.parse(d.out).metadata.name).toBe('orders');
    const nope = await ward('get', 'service', 'payments');
    expect(nope.code).toBe(1);
    expect(nope.err).toMatch(/does not exist/);
  });

  it('lists the default namespace, -n another, -A every one, with a NAMESPACE column', async () => {
    const def = await ward('get', 'services');
    expect(def.code, def.err).toBe(0);
    const rows = def.out.trim().split('\n');
    expect(rows[0]).toMatch(/^NAMESPACE\s+NAME\s+SPIFFE ID/);
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'default orders',
    ]);
    const b = await ward('get', 'services', '-n', 'team-b');
    expect(
      b.out
        .trim()
        .split('\n')
        .slice(1)
        .map((r) => r.split(/\s+/).slice(0, 2).join(' ')),
    ).toEqual(['team-b checkout', 'team-b payments']);
    const all = await ward('get', 'services', '-A');
    expect(all.out).toMatch(/team-a\s+payments\s+\(default\)/);
    expect(all.out).toMatch(/team-b\s+payments\s+\(default\)/);
    const intentions = await ward('get', 'intentions', '-n', 'team-a');
    expect(intentions.out).toMatch(/^NAMESPACE\s+NAME\s+DESTINATION/);
    expect(intentions.out).toMatch(/team-a\s+payments-in\s+payments\s+enforce/);
    const onDest = await ward(
      'get',
      'intentions',
      '-A',
      '--destination',
      'team-a/payments',
      '-o',
      'json',
    );
    expect(JSON.parse(onDest.out)).toHaveLength(1);
  });

  it('refuses -A with -n or a NAME, and a bad namespace, with exit 2', async () => {
    expect((await ward('get', 'services', '-A', '-n', 'team-a')).code).toBe(2);
    expect((await ward('get', 'service', 'payments', '-A')).code).toBe(2);
    const bad = await ward('get', 'services', '-n', 'Team_A');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^ward: .*DNS label/);
    expect((await ward('get', 'service', 'team-a/payments', '-n', 'team-b')).code).toBe(2);
  });

  it('deletes by -n, and only in that namespace', async () => {
    const add = await api('POST', '/v1/services', svc('scratch', 'team-b'));
    expect(add.status).toBe(201);
    expect((await api('POST', '/v1/services', svc('scratch', 'team-a'))).status).toBe(201);
    const r = await ward('delete', 'service', 'scratch', '-n', 'team-b');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/service\/team-b\/scratch deleted/);
    expect((await api('GET', '/v1/services/team-b%2Fscratch')).status).toBe(404);
    expect((await api('GET', '/v1/services/team-a%2Fscratch')).status).toBe(200);
    expect((await ward('delete', 'service', 'scratch', '-n', 'team-b')).code).toBe(1);
  });
});

describe('ward history / rollback / tokens with namespaces', () => {
  it('history --service -n lists the revisions that changed that service', async () => {
    await api('PUT', '/v1/services/team-b%2Fpayments', {
      ...svc('payments', 'team-b'),
      spec: { owner: 'b' },
    });
    const r = await ward('history', '--service', 'payments', '-n', 'team-b', '-o', 'json');
    expect(r.code, r.err).toBe(0);
    const items = JSON.parse(r.out) as { changes: { name: string }[] }[];
    expect(items.length).toBe(2);
    for (const e of items) expect(e.changes.map((c) => c.name)).toContain('team-b/payments');
    const a = await ward('history', '--service', 'team-a/payments', '-o', 'json');
    // Its Service document, then the intention on it: one revision (the first apply).
    expect(JSON.parse(a.out).map((e: { revision: number }) => e.revision)).toEqual([first]);
    const ns = await ward('history', '-n', 'team-a', '-o', 'json');
    for (const e of JSON.parse(ns.out) as { changes: { namespace: string }[] }[]) {
      expect(e.changes.some((c) => c.namespace === 'team-a')).toBe(true);
    }
  });

  it('rollback --service NAME -n NS rolls back that key only', async () => {
    const r = await ward(
      'rollback',
      '--to',
      String(first),
      '--service',
      'payments',
      '-n',
      'team-b',
      '--yes',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/rollback of service team-b\/payments/);
    expect((await api('GET', '/v1/services/team-b%2Fpayments')).body.document.spec).toEqual({});
    expect((await ward('rollback', '--to', String(first), '-n', 'team-b', '--yes')).code).toBe(2);
  });

  it('tokens create --namespace makes a team token owning namespaces; list shows them', async () => {
    const r = await ward(
      'tokens',
      'create',
      '--name',
      'b-team',
      '--scope',
      'team',
      '--namespace',
      'team-b',
      '--namespace',
      'team-c',
      '--service',
      'default/orders',
      '-o',
      'json',
    );
    expect(r.code, r.err).toBe(0);
    const made = JSON.parse(r.out);
    expect(made).toMatchObject({ services: ['orders'], namespaces: ['team-b', 'team-c'] });
    const list = await ward('tokens', 'list');
    expect(list.out).toMatch(/SERVICES\s+NAMESPACES/);
    expect(list.out).toMatch(/b-team\s+team\s+orders\s+team-b,team-c/);
    const pdp = await ward(
      'tokens',
      'create',
      '--name',
      'p',
      '--scope',
      'pdp',
      '--service',
      'x',
      '--namespace',
      'team-b',
    );
    expect(pdp.code).toBe(2);
    // A bare --service beside --namespace would silently mean the default namespace's service.
    const ambiguous = await ward(
      'tokens',
      'create',
      '--name',
      'amb',
      '--scope',
      'team',
      '--service',
      'payments',
      '--namespace',
      'team-a',
    );
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.err).toContain('ambiguous');
    expect((await ward('tokens', 'list')).out).not.toMatch(/^amb\s/m);
    // The team token writes in team-b through the CLI's percent-encoded URL, not in team-a.
    const asTeam = async (method: string, path: string, body: unknown) =>
      (
        await fetch(`${server.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${made.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).status;
    expect(await asTeam('PUT', '/v1/services/team-b%2Fnew', svc('new', 'team-b'))).toBe(200);
    expect(await asTeam('PUT', '/v1/services/team-a%2Fnew', svc('new', 'team-a'))).toBe(403);
  });
});
