/**
 * `ward graph get` against a real control plane (real processes): the graph applied as
 * Service documents comes back as the JSON report, its text summary, DOT and Mermaid (the same
 * writers as the server's `format=`), a bad window is the server's validation error (exit 1),
 * and a bad `-o` a usage error (exit 2).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ingestPlugin, startServer } from '@ward/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const run = promisify(execFile);
const ADMIN = 'cli-graph-admin-token-0123456789';

const SERVICES = `
apiVersion: ward.dev/v1
kind: Service
metadata: { name: orders }
spec:
  owner: team-checkout
  dependencies: [{ service: mailer, kind: startup }]
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: mailer }
spec:
  dependencies: [{ service: orders, kind: startup }]
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: frontend }
spec:
  dependencies: [{ service: orders, kind: runtime }]
`;

describe('ward graph get (real processes)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-graph-get-'));
  const ward = (...args: string[]) =>
    run(process.execPath, [bin, ...args], {
      env: { ...process.env, WARD_TOKEN: ADMIN },
    });

  beforeAll(async () => {
    server = await startServer({
      dataDir: dir,
      port: 0,
      adminToken: ADMIN,
      plugins: [ingestPlugin()],
    });
    const file = join(dir, 'services.yaml');
    writeFileSync(file, SERVICES);
    await ward('apply', '-f', file, '--server', server.url);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the report as JSON, text, DOT and Mermaid', async () => {
    const json = JSON.parse(
      (await ward('graph', 'get', '--server', server.url, '-o', 'json')).stdout,
    );
    expect(json.version).toBe('ward.dev/graph/v1');
    expect(json.graph.edges).toHaveLength(3);
    expect(json.analysis.components).toEqual([['mailer', 'orders']]);
    const text = (await ward('graph', 'get', '--server', server.url)).stdout;
    expect(text).toMatch(/cycle/i);
    expect(text).toContain('orders');
    const dot = (await ward('graph', 'get', '--server', server.url, '-o', 'dot')).stdout;
    expect(dot).toMatch(/^digraph/);
    expect(dot).toContain('"frontend" -> "orders"');
    // The same text the server writes for format=dot.
    const served = await fetch(`${server.url}/v1/graph?format=dot`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(dot).toBe(await served.text());
    const mermaid = (await ward('graph', 'get', '--server', server.url, '-o', 'mermaid')).stdout;
    expect(mermaid).toMatch(/^(flowchart|graph)/m);
    const yaml = (await ward('graph', 'get', '--server', server.url, '-o', 'yaml')).stdout;
    expect(yaml).toContain('version: ward.dev/graph/v1');
  });

  it('fails with the server’s reason on a bad window, and exits 2 on a bad format', async () => {
    const bad = await ward('graph', 'get', '--server', server.url, '--since', 'yesterday').catch(
      (e) => e as { code: number; stderr: string },
    );
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr).toMatch(/^ward: [\s\S]*query\.since/);
    const usage = await ward('graph', 'get', '--server', server.url, '-o', 'sarif').catch(
      (e) => e as { code: number },
    );
    expect(usage).toMatchObject({ code: 2 });
  });

  it("-n NS: the namespace's services, the edges into and out of them, analysed again", async () => {
    const file = join(dir, 'shop.yaml');
    writeFileSync(
      file,
      'apiVersion: ward.dev/v1\nkind: Service\nmetadata: { name: web, namespace: shop }\nspec:\n  dependencies: [{ service: default/frontend, kind: runtime }]\n',
    );
    await ward('apply', '-f', file, '--server', server.url);
    const shop = JSON.parse(
      (await ward('graph', 'get', '--server', server.url, '-n', 'shop', '-o', 'json')).stdout,
    );
    expect(shop.graph.services.map((s: { name: string }) => s.name)).toEqual([
      'frontend',
      'shop/web',
    ]);
    expect(shop.graph.edges.map((e: { from: string; to: string }) => `${e.from}>${e.to}`)).toEqual([
      'shop/web>frontend',
    ]);
    // The cycle of the default namespace is not this namespace's.
    expect(shop.analysis.components).toEqual([]);
    const all = JSON.parse(
      (await ward('graph', 'get', '--server', server.url, '-o', 'json')).stdout,
    );
    expect(all.graph.services).toHaveLength(4);
    const bad = await ward('graph', 'get', '--server', server.url, '-n', 'Shop!').catch(
      (e) => e as { code: number; stderr: string },
    );
    expect(bad).toMatchObject({ code: 2 });
  });
});
