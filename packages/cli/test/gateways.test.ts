/**
 * Gateway and Route documents from the command line (real processes, a real server on loopback):
 * `ward apply -f gateway.yaml` stores them, `ward get gateways|routes` lists them (text, and YAML
 * that re-applies unchanged), `ward delete route` removes one, and `ward policy check` reports an
 * edge problem at its line and column.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServer } from '@ward/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const run = promisify(execFile);
const ADMIN = 'cli-gateways-admin-token-0123456789';

const GATEWAY = `apiVersion: ward.dev/v1
kind: Service
metadata: { name: edge, namespace: shop }
spec:
  passport: { mint: true }
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: frontend, namespace: shop }
spec: {}
---
apiVersion: ward.dev/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  oidc:
    - issuer: http://127.0.0.1:9000
      audiences: [shop]
  apiKeys:
    - id: ci-bot
      sha256: 4b227777d4dd1fc61c6f884f48641d02b4d121d3fd328cb08b5531fcacdabf8a
      subject: ci-bot
  cors: { origins: ["https://shop.example.com"] }
---
apiVersion: ward.dev/v1
kind: Route
metadata: { name: products, namespace: shop }
spec:
  gateway: edge
  match: { pathPrefix: /api/ }
  upstream: { service: frontend, endpoints: ["http://127.0.0.1:8080"] }
---
apiVersion: ward.dev/v1
kind: Route
metadata: { name: health, namespace: shop }
spec:
  gateway: edge
  match: { path: /health }
  auth: none
  upstream: { service: frontend, endpoints: ["http://127.0.0.1:8080"] }
`;

describe('gateways and routes in the CLI (real processes)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-gateways-'));
  const ward = (...args: string[]) =>
    run(process.execPath, [bin, ...args], { env: { ...process.env, WARD_TOKEN: ADMIN } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  beforeAll(async () => {
    server = await startServer({ dataDir: join(dir, 'data'), port: 0, adminToken: ADMIN });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('apply stores them; get lists them; their YAML re-applies unchanged', async () => {
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, GATEWAY);
    const applied = await ward('apply', '-f', file, '--server', server.url);
    expect(applied.code).toBe(0);
    const gateways = await ward('get', 'gateways', '-n', 'shop', '--server', server.url);
    expect(gateways.code).toBe(0);
    expect(gateways.stdout).toMatch(/NAMESPACE\s+NAME\s+ISSUERS\s+API KEYS\s+CORS\s+REVISION/);
    expect(gateways.stdout).toMatch(/shop\s+edge\s+1\s+1\s+https:\/\/shop\.example\.com\s+\d+/);
    const routes = await ward(
      'get',
      'routes',
      '-n',
      'shop',
      '--gateway',
      'edge',
      '--server',
      server.url,
    );
    expect(routes.code).toBe(0);
    expect(routes.stdout).toMatch(/shop\s+health\s+edge\s+\/health\s+none\s+frontend/);
    expect(routes.stdout).toMatch(/shop\s+products\s+edge\s+\/api\/\*\s+required\s+frontend/);
    const yaml = await ward('get', 'routes', '-A', '-o', 'yaml', '--server', server.url);
    const again = join(dir, 'routes.yaml');
    writeFileSync(again, yaml.stdout);
    const reapplied = await ward('apply', '-f', again, '--server', server.url, '-o', 'json');
    expect(reapplied.code).toBe(0);
    expect(JSON.parse(reapplied.stdout).summary).toMatchObject({ unchanged: 2, updated: 0 });
    const one = await ward('get', 'gateway', 'shop/edge', '-o', 'json', '--server', server.url);
    expect(JSON.parse(one.stdout)).toMatchObject({ kind: 'Gateway', metadata: { name: 'edge' } });
  });

  it('delete removes a route', async () => {
    const r = await ward('delete', 'route', 'health', '-n', 'shop', '--server', server.url);
    expect(r.code).toBe(0);
    const routes = await ward('get', 'routes', '-n', 'shop', '--server', server.url);
    expect(routes.stdout).not.toContain('health');
  });

  it('policy check reports an edge problem at its line and column', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      GATEWAY.replace('audiences: [shop]', 'audiences: [shop]\n      algorithms: [HS256]'),
    );
    const r = await ward('policy', 'check', '-f', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'bad.yaml:19:20: error POLICY_ALGORITHM_INVALID /spec/oidc/0/algorithms/0',
    );
  });
});
