/**
 * The real `ward server --vulns-osv` process and the real `ward vulns --server` CLI: the CLI
 * takes the service's exposure from the control plane's GET /v1/graph and prints the same
 * exposure (and findings) as `--graph` with the same Service documents as files, and as the
 * server's own POST /v1/vulns/scan; `--graph` with `--server` is a usage error (exit 2).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, cleanupDirs, http, tempDir, yamlOf } from './helpers.ts';
import { applyDocs } from './ingest-fixture.ts';
import { FEATHERS, FEATHERS_FILE, ORDERS_EXPOSURE, OSV, SHOP } from './vulns-fixture.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'cli', 'src', 'bin.ts');

let proc: ChildProcess;
let url: string;
let dir: string;

async function ward(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.WARD_SERVER;
  delete env.WARD_TOKEN;
  try {
    const r = await run(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dir = tempDir();
  proc = spawn(
    process.execPath,
    [BIN, 'server', '--data-dir', dir, '--listen', '127.0.0.1:0', '-o', 'json', '--vulns-osv', OSV],
    { env: { ...process.env, WARD_ADMIN_TOKEN: ADMIN }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  url = JSON.parse(first).url;
  await applyDocs(url, SHOP);
  writeFileSync(join(dir, 'shop.yaml'), yamlOf(SHOP));
});

afterAll(async () => {
  if (proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  cleanupDirs();
});

describe('ward vulns --server against ward server --vulns-osv', () => {
  it('prints the same exposure and findings as --graph and as the API', async () => {
    const common = [
      'vulns',
      '-f',
      FEATHERS_FILE,
      '--osv',
      OSV,
      '--service',
      'orders',
      '-o',
      'json',
    ];
    const remote = await ward([...common, '--server', url, '--token', ADMIN]);
    expect(remote.stderr).toBe('');
    expect(remote.code).toBe(0);
    const local = await ward([...common, '--graph', `ward:${join(dir, 'shop.yaml')}`]);
    expect(local.code, local.stderr).toBe(0);
    const a = JSON.parse(remote.stdout);
    const b = JSON.parse(local.stdout);
    expect(a.findings.length).toBeGreaterThan(0);
    for (const f of a.findings) expect(f.exposure).toEqual(ORDERS_EXPOSURE);
    expect(a).toEqual(b);
    const api = await http(url, 'POST', '/v1/vulns/scan', {
      body: { service: 'orders', lockfiles: [{ name: 'package-lock.json', content: FEATHERS }] },
    });
    expect(api.status, api.text).toBe(200);
    const { scan, ...report } = api.body;
    expect(scan.exposure).toEqual(ORDERS_EXPOSURE);
    expect(report).toEqual(a);
  });

  it('refuses --graph with --server, and --server without --service (exit 2)', async () => {
    const both = await ward([
      'vulns',
      '-f',
      FEATHERS_FILE,
      '--osv',
      OSV,
      '--service',
      'orders',
      '--graph',
      join(dir, 'shop.yaml'),
      '--server',
      url,
      '--token',
      ADMIN,
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--graph and --server/);
    const noService = await ward(['vulns', '-f', FEATHERS_FILE, '--osv', OSV, '--server', url]);
    expect(noService.code).toBe(2);
    expect(noService.stderr).toMatch(/--server needs --service/);
  });

  it('names a service the control plane does not know (exit 2)', async () => {
    const r = await ward([
      'vulns',
      '-f',
      FEATHERS_FILE,
      '--osv',
      OSV,
      '--service',
      'nowhere',
      '--server',
      url,
      '--token',
      ADMIN,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nowhere: no such service in the graph of http/);
  });
});
