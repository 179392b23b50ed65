/**
 * `ward propose` against a real control plane (real processes): YAML ready for `ward apply -f`,
 * JSON and text, `--out DIR` (one file per destination, never overwriting), terminal escapes in
 * what it prints.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateSealKey, parseSealKey } from '@ward/ca';
import { ingestPlugin, startServer } from '@ward/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const run = promisify(execFile);
const ADMIN = 'cli-propose-admin-token-0123456789';

describe('ward propose (real processes)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-propose-'));
  const env = () => ({ ...process.env, WARD_SERVER: server.url, WARD_TOKEN: ADMIN });
  const ward = (...args: string[]) => run(process.execPath, [bin, ...args], { env: env() });
  const fails = async (...args: string[]) => {
    try {
      await ward(...args);
    } catch (e) {
      return e as { code: number; stderr: string };
    }
    throw new Error(`ward ${args.join(' ')} succeeded`);
  };
  const api = async (path: string, token: string, body: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ token: string }>;
  };

  beforeAll(async () => {
    server = await startServer({
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: ADMIN,
      sealKey: parseSealKey(generateSealKey()),
      env: {},
      plugins: [ingestPlugin()],
    });
    const svc = (name: string, owner?: string) =>
      JSON.stringify({
        apiVersion: 'ward.dev/v1',
        kind: 'Service',
        metadata: { name },
        spec: owner ? { owner } : {},
      });
    await api('/v1/apply', ADMIN, {
      files: [
        {
          name: 'x.yaml',
          content: [svc('orders', 'team-\u001b[31mred'), svc('monitoring')].join('\n---\n'),
        },
      ],
    });
    const pdp = (await api('/v1/tokens', ADMIN, { name: 'p', scope: 'pdp', services: ['orders'] }))
      .token;
    const record = (method: string, path: string) => ({
      time: new Date().toISOString(),
      source: 'monitoring',
      destination: 'orders',
      method,
      path,
      effect: 'deny',
      enforced: true,
      rule: 'default',
      revision: 0,
    });
    await api('/v1/decision-logs', pdp, {
      records: [record('GET', '/metrics'), record('GET', '/orders/42'), record('GET', '/orders/7')],
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints YAML, JSON and a table', async () => {
    const yaml = await ward('propose', '--since', '1h');
    const docs = parseAllDocuments(yaml.stdout).map((d) => d.toJS());
    expect(docs).toHaveLength(1);
    expect(docs[0].spec).toEqual({
      destination: 'orders',
      mode: 'dry-run',
      rules: [
        {
          sources: ['monitoring'],
          action: 'allow',
          permissions: [
            { http: { methods: ['GET'], paths: [{ exact: '/metrics' }, { glob: '/orders/*' }] } },
          ],
          description: expect.stringMatching(/^proposed from traffic: 3 calls from /),
        },
      ],
    });
    // The owner came from a Service document: its ESC never reaches the terminal raw (YAML
    // escapes it in the label, the comment drops it).
    expect(yaml.stdout).not.toContain('\u001b');
    expect(yaml.stdout).toContain('owner: "team-\\e[31mred"');
    expect(docs[0].metadata.labels.owner).toBe('team-\u001b[31mred');

    const json = JSON.parse((await ward('propose', '-o', 'json')).stdout);
    expect(json.proposals[0].document.metadata.name).toBe('orders-proposed');

    const text = (await ward('propose', '-o', 'text', '--destination', 'orders')).stdout;
    expect(text).toMatch(/orders\s+orders-proposed\s+team-\\u001b\[31mred\s+monitoring\s+1\s+3/);
  });

  it('writes one file per destination with --out, never overwriting; the file applies', async () => {
    const out = join(dir, 'proposed');
    mkdirSync(out);
    const first = await ward('propose', '--out', out);
    expect(first.stdout).toContain(`wrote ${join(out, 'orders-proposed.yaml')}`);
    expect(readdirSync(out)).toEqual(['orders-proposed.yaml']);
    const again = await fails('propose', '--out', out);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists \(not overwritten\)/);
    const missing = await fails('propose', '--out', join(dir, 'nope'));
    expect(missing.code).toBe(1);

    expect(readFileSync(join(out, 'orders-proposed.yaml'), 'utf8')).toContain(
      '# monitoring: 3 calls',
    );
    await ward('apply', '-f', join(out, 'orders-proposed.yaml'));
    const none = await ward('propose');
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/nothing to propose/);
  });

  it('refuses a bad window (exit 1, the field named)', async () => {
    const bad = await fails('propose', '--since', 'soon');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/since/);
  });

  it('--out writes nothing when one of its files exists', async () => {
    const svc = (name: string) =>
      JSON.stringify({ apiVersion: 'ward.dev/v1', kind: 'Service', metadata: { name }, spec: {} });
    await api('/v1/apply', ADMIN, {
      files: [{ name: 'y.yaml', content: [svc('billing'), svc('stock')].join('\n---\n') }],
    });
    for (const destination of ['billing', 'stock']) {
      const pdp = (
        await api('/v1/tokens', ADMIN, {
          name: `p-${destination}`,
          scope: 'pdp',
          services: [destination],
        })
      ).token;
      await api('/v1/decision-logs', pdp, {
        records: [
          {
            time: new Date().toISOString(),
            source: 'monitoring',
            destination,
            method: 'GET',
            path: '/metrics',
            effect: 'deny',
            enforced: true,
            rule: 'default',
            revision: 0,
          },
        ],
      });
    }
    const out = join(dir, 'partial');
    mkdirSync(out);
    writeFileSync(join(out, 'stock-proposed.yaml'), 'mine\n');
    const refused = await fails('propose', '--out', out);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/stock-proposed\.yaml: it exists \(not overwritten\)/);
    // Not half a result: billing's file is not written either, and the existing one is intact.
    expect(readdirSync(out)).toEqual(['stock-proposed.yaml']);
    expect(readFileSync(join(out, 'stock-proposed.yaml'), 'utf8')).toBe('mine\n');
  });
});
