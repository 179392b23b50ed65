import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateSealKey } from '@ward/ca';
import { workloadIdentity } from '@ward/sdk';
import { caPlugin, startServer } from '@ward/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const run = promisify(execFile);
const ADMIN = 'cli-ca-admin-token-0123456789';

describe('ward ca / ward agent (real processes)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-ca-'));
  const ward = (...args: string[]) =>
    run(process.execPath, [bin, ...args], {
      env: { ...process.env, WARD_SERVER: server.url, WARD_TOKEN: ADMIN },
    });

  beforeAll(async () => {
    server = await startServer({
      dataDir: dir,
      port: 0,
      adminToken: ADMIN,
      trustDomain: 'cli.test',
      plugins: [caPlugin({ env: { WARD_CA_KEY: generateSealKey() } })],
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a join token and an entry, runs an agent that serves the entry, and stops on SIGTERM', async () => {
    const jt = JSON.parse(
      (await ward('ca', 'join-token', 'create', '--node', 'box-1', '-o', 'json')).stdout,
    );
    expect(jt.spiffeId).toBe('spiffe://cli.test/ward/agent/box-1');
    const created = await ward(
      'ca',
      'entry',
      'create',
      '--spiffe-id',
      'spiffe://cli.test/app',
      '--node',
      'box-1',
      '--selector',
      `unix:uid:${process.getuid!()}`,
      '--selector',
      `unix:path:${realpathSync(process.execPath)}`,
      '--ttl',
      '600',
    );
    expect(created.stdout).toMatch(/^created entry .*: spiffe:\/\/cli.test\/app on box-1/);
    expect((await ward('ca', 'entry', 'list')).stdout).toContain('spiffe://cli.test/app');
    const bad = await ward(
      'ca',
      'entry',
      'create',
      '--spiffe-id',
      'spiffe://cli.test/x',
      '--node',
      'box-1',
      '--selector',
      'unix:uid:x',
    ).catch((e) => e as { code: number; stderr: string });
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr).toMatch(/^ward: .*selectors\[0\]/);
    expect((await ward('ca', 'bundle')).stdout).toContain('-----BEGIN CERTIFICATE-----');
    // By service key: the conventional ID in the key's own namespace.
    const keyed = await ward(
      'ca',
      'entry',
      'create',
      '--service',
      'team-a/payments',
      '--node',
      'box-2',
      '--selector',
      'unix:uid:4242',
    );
    expect(keyed.stdout).toMatch(/: spiffe:\/\/cli.test\/ns\/team-a\/sa\/payments on box-2/);
    for (const args of [
      ['--service', 'Team-A/payments'],
      ['--service', 'payments', '--spiffe-id', 'spiffe://cli.test/ns/default/sa/payments'],
      [],
    ]) {
      const refused = await ward(
        'ca',
        'entry',
        'create',
        ...args,
        '--node',
        'box-2',
        '--selector',
        'unix:uid:4242',
      ).catch((e) => e as { code: number; stderr: string });
      expect(refused, args.join(' ')).toMatchObject({ code: args.length === 2 ? 1 : 2 });
    }

    const socket = join(dir, 'agent.sock');
    const agent = spawn(
      process.execPath,
      [bin, 'agent', '--join-token', jt.token, '--control-plane', server.url, '--socket', socket],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    agent.stderr.on('data', (d) => (stderr += d));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (!stderr.includes('Workload API on')) return;
          clearInterval(t);
          resolve();
        }, 50);
        agent.once('exit', (code) => reject(new Error(`agent exited ${code}: ${stderr}`)));
      });
      const identity = await workloadIdentity({ socketPath: socket });
      expect(identity.spiffeId).toBe('spiffe://cli.test/app');
      identity.close();
    } finally {
      agent.kill('SIGTERM');
    }
    const code = await new Promise((r) =>
      agent.exitCode !== null ? r(agent.exitCode) : agent.once('exit', r),
    );
    expect(code).toBe(0);
    // The used token cannot start a second agent: a clear one-line error, no stack trace.
    const again = await run(process.execPath, [
      bin,
      'agent',
      '--join-token',
      jt.token,
      '--control-plane',
      server.url,
      '--socket',
      `${socket}2`,
    ]).catch((e) => e as { code: number; stderr: string });
    expect(again).toMatchObject({ code: 1 });
    expect((again as { stderr: string }).stderr).toMatch(
      /^ward: attestation failed: .*CA_JOIN_TOKEN_INVALID/,
    );
    expect((again as { stderr: string }).stderr).not.toMatch(/\n\s+at /);
  });

  it('checks the wire options before attesting: usage errors exit 2, a bad address map names file and key', async () => {
    const { writeFileSync } = await import('node:fs');
    const map = join(dir, 'map.json');
    writeFileSync(map, JSON.stringify({ '10.96.0.7:5432': 'orders-db', 'orders:80': 'x' }));
    const agent = (...extra: string[]) =>
      run(process.execPath, [
        bin,
        'agent',
        '--join-token',
        'unused',
        '--control-plane',
        server.url,
        '--socket',
        join(dir, 'wire.sock'),
        ...extra,
      ]).catch((e) => e as { code: number; stderr: string });
    const interval = await agent('--wire-interval', '0');
    expect(interval).toMatchObject({ code: 2 });
    expect((interval as { stderr: string }).stderr).toMatch(/--wire-interval must be/);
    expect(await agent('--wire-address-map', map)).toMatchObject({ code: 2 });
    const bad = await agent('--wire-interval', '10', '--wire-address-map', map);
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr).toMatch(
      /^ward: .*map\.json: key "orders:80": expected an IP address/,
    );
    expect((bad as { stderr: string }).stderr).not.toMatch(/\n\s+at /);
  });
});
