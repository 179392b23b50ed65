/**
 * `ward secret …` against a real `ward server` child process (SQLite, the secrets plugin as the
 * server command registers it). The server's stdout and stderr (its pino log) are captured: no
 * secret value may appear there, whatever was put, read, rotated or refused.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const node = [process.execPath, '--conditions=ward-source', bin];
const ADMIN = 'cli-secret-admin-token-0123456789';

const VALUE1 = `first-${randomBytes(9).toString('hex')}`;
const VALUE2 = `second-${randomBytes(9).toString('hex')}`;
const REFUSED = `refused-${randomBytes(9).toString('hex')}`;

describe('ward secret (real server process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-secret-'));
  let child: ChildProcess;
  let exited: Promise<unknown>;
  let url = '';
  let serverOut = '';
  const revealed: string[] = [];

  const ward = (args: string[], input?: string) => {
    const r = spawnSync(node[0]!, [...node.slice(1), ...args], {
      encoding: 'utf8',
      env: { ...process.env, WARD_SERVER: url, WARD_TOKEN: ADMIN, NO_COLOR: '1' },
      ...(input === undefined ? {} : { input }),
      timeout: 30_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, body: text ? JSON.parse(text) : null };
  };
  const readers = async (name: string) =>
    (await api('GET', `/v1/secretpolicies/${name}`)).body.document.spec.readers as string[];

  beforeAll(async () => {
    child = spawn(
      node[0]!,
      [
        ...node.slice(1),
        'server',
        '--listen',
        '127.0.0.1:0',
        '--data-dir',
        join(dir, 'data'),
        '--trust-domain',
        'cli.test',
        '-o',
        'json',
      ],
      { env: { ...process.env, WARD_ADMIN_TOKEN: ADMIN }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    exited = new Promise((r) => child.once('exit', r));
    child.stdout!.on('data', (d) => (serverOut += d));
    child.stderr!.on('data', (d) => (serverOut += d));
    const until = Date.now() + 30_000;
    while (!url) {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(serverOut);
      if (m) url = m[1]!;
      else if (Date.now() > until || child.exitCode !== null)
        throw new Error(`ward server did not start:\n${serverOut}`);
      else await new Promise((r) => setTimeout(r, 50));
    }
    const svc = (name: string) => ({
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name },
      spec: {},
    });
    const secret = (name: string, spec: object) => ({
      apiVersion: 'ward.dev/v1',
      kind: 'Secret',
      metadata: { name },
      spec,
    });
    const docs = [
      svc('orders'),
      svc('inventory'),
      svc('billing'),
      // A new version stays pending for an hour: `--reveal` shows version 1 however slow the run.
      secret('api-key', {
        owner: 'inventory',
        readers: ['orders'],
        rotation: { activation: '1h' },
      }),
      secret('session-token', { owner: 'inventory', readers: ['orders'], type: 'random' }),
    ];
    const r = await api('POST', '/v1/apply', {
      files: [{ name: 'p.yaml', content: docs.map((d) => JSON.stringify(d)).join('\n---\n') }],
    });
    expect(r.status, r.text).toBe(200);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('put, list, get, reveal, versions, rotate, rollback, grant and delete', async () => {
    // From stdin (a trailing newline is not part of the value).
    const p1 = ward(['secret', 'put', 'api-key', '--from-stdin'], `${VALUE1}\n`);
    expect(p1, p1.stderr).toMatchObject({ code: 0 });
    expect(p1.stdout).toMatch(/^secret api-key: version 1 stored/);
    // From a file.
    const file = join(dir, 'value.txt');
    writeFileSync(file, VALUE2, { mode: 0o600 });
    const p2 = ward(['secret', 'put', 'api-key', '--from-file', `value=${file}`]);
    expect(p2, p2.stderr).toMatchObject({ code: 0 });
    expect(p2.stdout).toMatch(/^secret api-key: version 2 stored/);

    const list = ward(['secret', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/api-key\s+inventory\s+static\s+orders\s+1\s+2/);
    expect(list.stdout).toContain('session-token');
    const listed = JSON.parse(ward(['secret', 'list', '-o', 'json']).stdout) as {
      secret: string;
      versionCount: number;
    }[];
    expect(listed.find((s) => s.secret === 'api-key')).toMatchObject({ versionCount: 2 });

    // Metadata only by default; the value with --reveal (version 2 is pending for an hour).
    const get = ward(['secret', 'get', 'api-key']);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toMatch(/\n1\s+current\s+put/);
    expect(get.stdout).toMatch(/\n2\s+pending\s+put/);
    const shown = ward(['secret', 'get', 'api-key', '--reveal']);
    expect(shown, shown.stderr).toMatchObject({ code: 0, stdout: `${VALUE1}\n` });
    const shown2 = ward(['secret', 'get', 'api-key', '--reveal', '--version', '2']);
    expect(shown2, shown2.stderr).toMatchObject({ code: 0, stdout: `${VALUE2}\n` });
    revealed.push(shown.stdout, shown2.stdout);

    const versions = ward(['secret', 'versions', 'api-key']);
    expect(versions.code, versions.stderr).toBe(0);
    expect(versions.stdout).toMatch(/^VERSION\s+STATE/);
    expect(versions.stdout).toMatch(/\n2\s+pending/);

    // A static secret is not generated: refused with a clear error, exit 1.
    const rotStatic = ward(['secret', 'rotate', 'api-key']);
    expect(rotStatic.code).toBe(1);
    expect(rotStatic.stderr).toMatch(/^ward: .*(generated|static)/i);
    const rot = ward(['secret', 'rotate', 'session-token']);
    expect(rot, rot.stderr).toMatchObject({ code: 0 });
    expect(rot.stdout).toMatch(/^secret session-token: rotated to version 1/);
    const token = ward(['secret', 'get', 'session-token', '--reveal']);
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout.trim().length).toBeGreaterThanOrEqual(32);
    revealed.push(token.stdout.trim());

    const back = ward(['secret', 'rollback', 'api-key', '--to-version', '1']);
    expect(back, back.stderr).toMatchObject({ code: 0 });
    expect(back.stdout).toMatch(/^secret api-key: version 3 has the value of version 1/);
    const v3 = ward(['secret', 'get', 'api-key', '--reveal', '--version', '3']);
    expect(v3.stdout).toBe(`${VALUE1}\n`);

    const granted = ward(['secret', 'grant', 'api-key', 'billing']);
    expect(granted.code, granted.stderr).toBe(0);
    expect(await readers('api-key')).toEqual(['billing', 'orders']);
    const revoked = ward(['secret', 'grant', 'api-key', 'orders', '--revoke']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await readers('api-key')).toEqual(['billing']);

    // Default output never carries a value.
    for (const out of [p1, p2, list, get, versions, rotStatic, rot, back, granted, revoked]) {
      for (const v of [VALUE1, VALUE2, token.stdout.trim()]) {
        expect(out.stdout + out.stderr).not.toContain(v);
      }
    }

    const del = ward(['secret', 'delete', 'api-key']);
    expect(del, del.stderr).toMatchObject({ code: 0 });
    expect(del.stdout).toMatch(/^secret api-key: every version destroyed/);
    const gone = ward(['secret', 'get', 'api-key', '--reveal']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).not.toContain(VALUE1);
  });

  it('usage errors exit 2', () => {
    for (const args of [
      ['secret', 'put', 'api-key'],
      ['secret', 'put', 'api-key', '--from-literal', 'no-equals-sign'],
      ['secret', 'put', 'api-key', '--from-literal', 'value=a', '--from-literal', 'value=b'],
      ['secret', 'rollback', 'api-key', '--to-version', 'x'],
      ['secret', 'rollback', 'api-key'],
      ['secret', 'get', 'api-key', '--version', '1'],
      ['secret', 'get', 'api-key', '--reveal', '--version', '0'],
      ['secret', 'grant', 'api-key'],
      ['secret', 'frobnicate'],
    ]) {
      const r = ward(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
    }
  });

  it("keeps every value out of the server's log", async () => {
    // A refused write (a bad field name, an undeclared secret) and a read of a missing version.
    const bad = await api('PUT', '/v1/secrets/session-token', {
      data: { 'not a field!': REFUSED },
    });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.text).not.toContain(REFUSED);
    const undeclared = await api('PUT', '/v1/secrets/nobody-declared-this', {
      data: { value: REFUSED },
    });
    expect(undeclared.status).toBe(404);
    expect(undeclared.text).not.toContain(REFUSED);
    const tooBig = await api('PUT', '/v1/secrets/session-token', {
      data: { value: `${REFUSED}${'x'.repeat(70_000)}` },
    });
    expect(tooBig.status).toBeGreaterThanOrEqual(400);
    expect(tooBig.text).not.toContain(REFUSED);
    // A body that is not JSON, and a value that is not a string.
    const broken = await fetch(`${url}/v1/secrets/session-token`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: `{"data":{"value":"${REFUSED}"`,
    });
    expect(broken.status).toBe(400);
    expect(await broken.text()).not.toContain(REFUSED);
    const typed = await api('PUT', '/v1/secrets/session-token', {
      data: { value: [REFUSED] },
    });
    expect(typed.status).toBe(400);
    expect(typed.text).not.toContain(REFUSED);
    // The log was captured (the server's pino lines), and holds no value.
    await new Promise((r) => setTimeout(r, 200));
    expect(serverOut).toContain('"level":');
    for (const v of [VALUE1, VALUE2, REFUSED, ...revealed.map((r) => r.trim())]) {
      expect(v.length).toBeGreaterThan(8);
      expect(serverOut).not.toContain(v);
    }
  });
});
