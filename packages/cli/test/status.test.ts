/**
 * `ward status` against a real control plane (fleet plugin, SQLite) whose clock the test moves:
 * the istioctl-like table, -o json, exit 0 when every member is SYNCED and 1 (a finding) when one
 * is LOST, exit 2 on a bad --kind; and a real process, to see the exit code reach the shell.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_PROOF_HEADER, createCsr, generateKeyPair, signAgentProof } from '@ward/ca';
import { caPlugin, fleetPlugin, startServer } from '@ward/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ago, expiresIn } from '../src/commands/status.ts';
import { main } from '../src/main.ts';

const ADMIN = 'cli-status-admin-token-0123456789';
const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
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
  }
}

describe('ward status', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-status-'));
  let offset = 0;

  beforeAll(async () => {
    server = await startServer({
      dataDir: dir,
      port: 0,
      adminToken: ADMIN,
      plugins: [fleetPlugin({ now: () => Date.now() + offset })],
    });
    const call = async (path: string, body: unknown, token = ADMIN) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const doc = {
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name: 'orders' },
      spec: {},
    };
    expect(
      (await call('/v1/apply', { files: [{ name: 'a.yaml', content: JSON.stringify(doc) }] }))
        .status,
    ).toBe(200);
    const tok = (await (
      await call('/v1/tokens', { name: 'p', scope: 'pdp', services: ['orders'] })
    ).json()) as { token: string };
    const r = await call(
      '/v1/status/pdp',
      {
        instance: 'pdp-a',
        service: 'orders',
        revision: 1,
        bundleAt: null,
        connected: true,
        version: '0.1.0',
        startedAt: new Date().toISOString(),
        label: 'host/1',
        decisions: { allowed: 0, denied: 0, dryRunDenied: 0 },
      },
      tok.token,
    );
    expect(r.status).toBe(204);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const conn = () => ['--server', server.url, '--token', ADMIN];

  it('prints the fleet as a table, and as JSON; exit 0 when all are SYNCED', async () => {
    const text = await run('status', ...conn());
    expect(text.code).toBe(0);
    const [head, row] = text.out.trim().split('\n');
    expect(head).toMatch(
      /^NAME\s+KIND\s+SERVICE\/NODE\s+REVISION\s+DESIRED\s+STATE\s+LAST CONTACT$/,
    );
    expect(row).toMatch(/^pdp-a \(host\/1\)\s+pdp\s+orders\s+1\s+1\s+SYNCED\s+\d+s ago$/);
    const json = await run('status', ...conn(), '-o', 'json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out).items).toEqual([
      expect.objectContaining({ instance: 'pdp-a', state: 'SYNCED', desiredRevision: 1 }),
    ]);
    const agents = await run('status', ...conn(), '--kind', 'agent');
    expect(agents.out).toContain('no PDP or agent has reported yet');
  });

  it('exits 1 when a member is LOST, 2 on a bad --kind', async () => {
    offset = 4 * 30_000;
    const lost = await run('status', ...conn(), '-o', 'yaml');
    expect(lost.code).toBe(1);
    expect(lost.out).toContain('state: LOST');
    // Not spawnSync: the server answering the child runs in this very process.
    const shell = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, [bin, 'status', ...conn()], (_e, stdout) =>
        resolve({ code: child.exitCode, stdout }),
      );
    });
    expect(shell.code).toBe(1);
    expect(shell.stdout).toContain('LOST');
    expect((await run('status', ...conn(), '--kind', 'proxy')).code).toBe(2);
    offset = 0;
  });

  it('says how long ago in a unit that fits', () => {
    expect([ago(5_000), ago(300_000), ago(3 * 3_600_000), ago(5 * 86_400_000)]).toEqual([
      '5s ago',
      '5m ago',
      '3h ago',
      '5d ago',
    ]);
  });
});

describe('ward status --identity', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-identity-'));
  const notAfter = new Date(Date.now() + 3_600_000).toISOString();

  beforeAll(async () => {
    server = await startServer({
      dataDir: dir,
      port: 0,
      adminToken: ADMIN,
      trustDomain: 'ward.local',
      plugins: [caPlugin(), fleetPlugin()],
    });
    const post = async (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const admin = { authorization: `Bearer ${ADMIN}` };
    const services = ['orders', 'payments'].map((name) =>
      JSON.stringify({
        apiVersion: 'ward.dev/v1',
        kind: 'Service',
        metadata: { name, namespace: 'shop' },
        spec: {},
      }),
    );
    const applied = await post(
      '/v1/apply',
      { files: [{ name: 'services.yaml', content: services.join('\n---\n') }] },
      admin,
    );
    expect(applied.status).toBe(200);
    for (const [name, node] of [
      ['orders', 'n1'],
      ['payments', 'n2'],
    ]) {
      const entry = await post(
        '/v1/ca/entries',
        { spiffeId: `spiffe://ward.local/ns/shop/sa/${name}`, node, selectors: ['unix:uid:1000'] },
        admin,
      );
      expect(entry.status).toBe(201);
    }
    // A real agent of node n1 (join token, attested key) reports the SVID it holds for orders.
    const jt = (await (await post('/v1/ca/join-tokens', { node: 'n1' }, admin)).json()) as {
      token: string;
    };
    const keys = await generateKeyPair();
    const att = (await (
      await post('/v1/agent/attest', { joinToken: jt.token, csr: await createCsr(keys) })
    ).json()) as { chain: string[]; spiffeId: string };
    const report = await post(
      '/v1/status/agent',
      {
        node: 'n1',
        version: '0.1.0',
        workloads: [
          { spiffeId: 'spiffe://ward.local/ns/shop/sa/orders', serial: 'ab12', notAfter },
        ],
        bundles: [],
      },
      {
        [AGENT_PROOF_HEADER]: await signAgentProof({
          privateKey: keys.privateKey,
          chainPem: att.chain,
          spiffeId: att.spiffeId,
          method: 'POST',
          path: '/v1/status/agent',
        }),
      },
    );
    expect(report.status).toBe(204);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const conn = () => ['--server', server.url, '--token', ADMIN];

  it('lists the workloads with their SVID expiry, and the trust bundle', async () => {
    const text = await run('status', '--identity', ...conn());
    expect(text.code).toBe(0);
    const lines = text.out.split('\n');
    expect(lines[0]).toMatch(/^SPIFFE ID\s+SERVICE\s+NODE\s+SVID SERIAL\s+EXPIRES IN$/);
    expect(text.out).toMatch(
      // The services live in namespace shop: their keys are shop/orders and shop/payments.
      /spiffe:\/\/ward\.local\/ns\/shop\/sa\/orders\s+shop\/orders\s+n1\s+ab12\s+(59m|1h 00m)/,
    );
    expect(text.out).toMatch(/sa\/payments\s+shop\/payments\s+n2\s+-\s+not reported/);
    expect(text.out).toContain('trust domain ward.local');
    expect(text.out).toMatch(/Ward root CA.*\s+active\s+/);
    expect(text.out).toContain('root rotation: idle');

    const json = await run(
      'status',
      '--identity',
      '--service',
      'shop/orders',
      ...conn(),
      '-o',
      'json',
    );
    expect(json.code).toBe(0);
    const answer = JSON.parse(json.out);
    expect(answer.workloads).toEqual([
      expect.objectContaining({ service: 'shop/orders', serial: 'ab12', notAfter }),
    ]);
    expect(answer.trustBundle.roots).toEqual([expect.objectContaining({ state: 'active' })]);
  });

  it('--kind does not go with --identity (exit 2)', async () => {
    expect((await run('status', '--identity', '--kind', 'pdp', ...conn())).code).toBe(2);
  });

  it('says how long an SVID has left in a unit that fits', () => {
    expect([
      expiresIn(null),
      expiresIn(-1),
      expiresIn(125_000),
      expiresIn(2 * 3_600_000 + 5 * 60_000),
    ]).toEqual(['not reported', 'expired', '2m 05s', '2h 05m']);
  });
});
