/**
 * `ward logs` against a real control plane (real processes): recent denials, `-f` following the
 * live tail, kind filter, JSON lines; the SSE reader under arbitrary chunking and junk; terminal
 * escapes in what it prints.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateSealKey, parseSealKey } from '@ward/ca';
import { SseParser } from '@ward/sdk';
import { ingestPlugin, startServer } from '@ward/server';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatLine, MAX_EVENT } from '../src/commands/logs.ts';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const run = promisify(execFile);
const ADMIN = 'cli-logs-admin-token-0123456789';

describe('ward logs (real processes)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let pdp = '';
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-logs-'));
  const env = () => ({ ...process.env, WARD_SERVER: server.url, WARD_TOKEN: ADMIN });
  const ward = (...args: string[]) => run(process.execPath, [bin, ...args], { env: env() });
  const api = async (method: string, path: string, token: string, body: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ token: string }>;
  };
  const deny = (path: string, enforced = true) =>
    api('POST', '/v1/decision-logs', pdp, {
      records: [
        {
          time: new Date().toISOString(),
          source: 'monitoring',
          destination: 'orders',
          method: 'GET',
          path,
          effect: 'deny',
          enforced,
          rule: 'default',
          revision: 0,
        },
      ],
    });

  beforeAll(async () => {
    server = await startServer({
      dataDir: dir,
      port: 0,
      adminToken: ADMIN,
      sealKey: parseSealKey(generateSealKey()),
      env: {},
      plugins: [ingestPlugin()],
    });
    const doc = {
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name: 'orders' },
      spec: {},
    };
    await api('POST', '/v1/apply', ADMIN, {
      files: [{ name: 'x.yaml', content: JSON.stringify(doc) }],
    });
    pdp = (
      await api('POST', '/v1/tokens', ADMIN, { name: 'pdp', scope: 'pdp', services: ['orders'] })
    ).token;
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints recent denials as text and JSON lines, filtered by kind', async () => {
    await deny('/recent/enforced');
    await deny('/recent/dry-run', false);
    const text = (await ward('logs')).stdout;
    expect(text).toMatch(/DENY {3} {2}monitoring -> orders {2}GET \/recent\/enforced {2}default/);
    expect(text).toContain('DRY-RUN');
    const json = (
      await ward('logs', '-o', 'json', '--kind', 'dry-run-deny', '--service', 'orders')
    ).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(json).toEqual([
      expect.objectContaining({ path: '/recent/dry-run', dryRun: true, allowed: false }),
    ]);
    await expect(ward('logs', '--kind', 'allow')).rejects.toMatchObject({ code: 2 });
    // ward server's alert flags are checked before anything starts.
    for (const bad of [
      ['--alertmanager', 'ftp://am'],
      ['--alert-webhook', 'not a url'],
      ['--alert-interval', '5x'],
      ['--alert-spike-factor', '0.5'],
    ])
      await expect(ward('server', '--data-dir', dir, ...bad)).rejects.toMatchObject({ code: 2 });
  });

  it('-f follows the live tail', async () => {
    const child = spawn(
      process.execPath,
      [bin, 'logs', '-f', '-o', 'json', '--since', '1s', '--limit', '1'],
      {
        env: env(),
      },
    );
    // Awaited below: the tail's connection is gone before afterAll closes the server.
    const exited = new Promise((r) => child.once('exit', r));
    try {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c;
      });
      const live = () => out.split('\n').filter((l) => l.includes('/live/'));
      // Recent denials show at most one (--limit 1): three lines mean the tail delivered. Until
      // the stream is open a denial may land before it, so denials are posted until they show.
      for (let n = 0; live().length < 3; n++) {
        await deny(`/live/${n}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const line = live()[2]!;
      expect(JSON.parse(line)).toMatchObject({ source: 'monitoring', destination: 'orders' });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

describe('ward logs pure parts', () => {
  it('escapes terminal controls and bidi overrides in text output', () => {
    const line = formatLine(
      {
        at: '2026-01-01T00:00:00.000Z',
        source: 'evil\u001b]0;pwned\u0007',
        destination: 'orders\u202e',
        path: '/x\r/y',
        allowed: false,
        dryRun: false,
        rule: 'default',
      },
      'text',
    );
    expect(line).not.toMatch(/[\u001b\u0007\u202e\r]/);
    expect(line).toContain('\\u001b');
  });

  const event = fc.record({
    id: fc.stringMatching(/^[0-9]{1,5}$/),
    event: fc.constantFrom('decision', 'dropped'),
    data: fc.string({ maxLength: 200 }).filter((s) => !/[\r\n]/.test(s)),
  });

  it('reads the same events however the stream is chunked', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 10 }), fc.array(fc.nat(50)), (events, cuts) => {
        const text = `: hi\n\n${events.map((e) => `id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`).join(': heartbeat\n\n')}`;
        const p = new SseParser({ maxLineLength: MAX_EVENT, maxEventSize: MAX_EVENT });
        const got = [];
        let at = 0;
        for (const c of cuts) {
          got.push(...p.feed(text.slice(at, at + c)));
          at += c;
        }
        got.push(...p.feed(text.slice(at)));
        expect(got).toEqual(events);
      }),
    );
  });

  it('never throws on junk shorter than its line limit, and refuses an endless line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), (junk) => {
        new SseParser({ maxLineLength: MAX_EVENT, maxEventSize: MAX_EVENT }).feed(junk);
      }),
    );
    const parser = () => new SseParser({ maxLineLength: MAX_EVENT, maxEventSize: MAX_EVENT });
    expect(() => parser().feed('x'.repeat(MAX_EVENT + 1))).toThrow(/longer than/);
    // Nor does an event that never ends grow without bound, however short its lines.
    const endless = parser();
    expect(() => {
      for (let i = 0; i < 2 * MAX_EVENT; i += 1024) endless.feed(`data: ${'x'.repeat(1016)}\n`);
    }).toThrow(/larger than/);
  });
});
