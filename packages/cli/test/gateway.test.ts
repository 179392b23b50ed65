import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { BundleV1 } from '@ward/api-types';
import { exportPublicKey, generateBundleSigningKey, signBundle } from '@ward/bundle';
import { afterEach, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const servers: Server[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  }
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A control-plane stand-in serving one signed bundle of `shop/edge` (Gateway + Route inside). */
async function bundleServer(upstream: string) {
  const { privateKey, publicKey } = generateBundleSigningKey();
  const bundle: BundleV1 = {
    apiVersion: 'ward.dev/v1',
    kind: 'Bundle',
    service: 'shop/edge',
    revision: 1,
    issuedAt: new Date().toISOString(),
    trustDomain: 'test.local',
    documents: [
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Service',
        metadata: { name: 'edge', namespace: 'shop' },
        spec: {},
      },
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Intention',
        metadata: { name: 'edge-open', namespace: 'shop' },
        spec: { destination: 'edge', rules: [{ sources: ['*'], action: 'allow' }] },
      },
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Gateway',
        metadata: { name: 'edge', namespace: 'shop' },
        spec: {},
      },
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Route',
        metadata: { name: 'a', namespace: 'shop' },
        spec: {
          gateway: 'edge',
          match: { path: '/a' },
          auth: 'none',
          upstream: { service: 'up', endpoints: [upstream] },
        },
      },
    ] as unknown as BundleV1['documents'],
    passportKeys: [],
  };
  const body = JSON.stringify(signBundle(bundle, privateKey));
  const url = await listen(
    createServer((req, res) => {
      if (String(req.url).startsWith('/v1/bundles/')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else if (String(req.url).startsWith('/v1/watch')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': connected\n\n');
      } else {
        res.writeHead(404).end();
      }
    }),
  );
  return { url, publicKey: exportPublicKey(publicKey) };
}

describe('ward gateway', () => {
  it('serves the routes of its bundle, prints its URL with -o json, and stops on SIGTERM', async () => {
    const upstream = await listen(createServer((req, res) => res.end(`upstream saw ${req.url}`)));
    const cp = await bundleServer(upstream);
    const child = spawn(
      process.execPath,
      [
        bin,
        'gateway',
        '--service',
        'shop/edge',
        '--listen',
        '127.0.0.1:0',
        '--server',
        cp.url,
        '--token',
        'pdp-token',
        '--public-key',
        cp.publicKey,
        '-o',
        'json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`ward gateway exited with ${code}`)));
    });
    const { url, service } = JSON.parse(line) as { url: string; service: string };
    expect(service).toBe('shop/edge');
    // The configuration arrives with the first bundle: 503 until then.
    let res = await fetch(`${url}/a`);
    for (let i = 0; i < 400 && res.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 25));
      res = await fetch(`${url}/a`);
    }
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('upstream saw /a');
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('is a usage error (exit 2) without a bundle key, a control plane or a valid service key', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [bin, 'gateway', ...args], {
        encoding: 'utf8',
        env: { ...process.env, WARD_SERVER: '', WARD_TOKEN: '', WARD_BUNDLE_PUBLIC_KEY: '' },
      });
    const noKey = run('--service', 'shop/edge', '--server', 'http://127.0.0.1:9', '--token', 't');
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toMatch(/^ward: --public-key/);
    expect(run('--service', 'shop/edge', '--public-key', 'k').status).toBe(2);
    const badKey = run(
      '--service',
      'Shop/Edge!',
      '--public-key',
      'k',
      '--server',
      'x:1',
      '--token',
      't',
    );
    expect(badKey.status).toBe(2);
    expect(badKey.stderr).toContain('--service');
    const base = ['--service', 'shop/edge', '--public-key', 'k', '--server', 'x:1', '--token', 't'];
    const noCert = run(
      ...base,
      '--tls-cert',
      '/nonexistent/edge.crt',
      '--tls-key',
      '/nonexistent/k',
    );
    expect(noCert.status).toBe(2);
    expect(noCert.stderr).toMatch(/^ward: --tls-cert: cannot read \/nonexistent\/edge\.crt/);
    const zero = run(...base, '--max-connections', '0');
    expect(zero.status).toBe(2);
    expect(zero.stderr).toContain('--max-connections must be a positive integer');
  });

  it('--redis: waits for the store before serving, and warns when it is not reachable', async () => {
    const upstream = await listen(createServer((_req, res) => res.end('ok')));
    const cp = await bundleServer(upstream);
    const closed = await listen(createServer()); // a port that speaks no Redis: never ready
    const child = spawn(
      process.execPath,
      [
        bin,
        'gateway',
        '--service',
        'shop/edge',
        '--listen',
        '127.0.0.1:0',
        '--server',
        cp.url,
        '--token',
        'pdp-token',
        '--public-key',
        cp.publicKey,
        '--redis',
        closed.replace('http://', 'redis://'),
        '-o',
        'json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) =>
        reject(new Error(`ward gateway exited with ${code}: ${stderr}`)),
      );
    });
    expect(JSON.parse(line)).toMatchObject({ service: 'shop/edge' });
    expect(stderr).toContain('rate-limit store not reachable yet');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);
});
