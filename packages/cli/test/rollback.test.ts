/**
 * `ward rollback` as real processes against a real control plane (SQLite): the diff first, then
 * without a terminal exit 1 asking for --yes (nothing written); --yes rolls back (text, and one
 * JSON document with -o json); per service; nothing to do; a bad --to is a usage error. On a
 * real terminal (a pty from util-linux `script`), it asks, and a change made while it asks makes
 * the rollback fail with 412 instead of undoing that change unseen.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { startServer } from '@ward/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirm, parseRevision } from '../src/commands/rollback.ts';

const ADMIN = 'cli-rollback-admin-token-0123456789';
const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const node = [process.execPath, '--conditions=ward-source', bin];

const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let server: Awaited<ReturnType<typeof startServer>>;
const dir = mkdtempSync(join(tmpdir(), 'ward-cli-rollback-'));

const env = () => ({ ...process.env, WARD_SERVER: server.url, WARD_TOKEN: ADMIN });

/** Runs `ward ...args` as a process with stdin a closed pipe (not a terminal). */
function ward(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(node[0]!, [...node.slice(1), ...args], {
      env: env(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.stdin.end();
    child.on('close', (code) => resolve({ code, out, err }));
  });
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

const doc = (kind: 'Service' | 'Intention', name: string, spec: object) => ({
  apiVersion: 'ward.dev/v1',
  kind,
  metadata: { name },
  spec,
});
const allow = (name: string, destination: string, sources: string[]) =>
  doc('Intention', name, { destination, rules: [{ sources, action: 'allow' }] });

async function apply(...docs: object[]): Promise<number> {
  const content = docs.map((d) => JSON.stringify(d)).join('\n---\n');
  const res = await api('POST', '/v1/apply', { files: [{ name: 'a.yaml', content }] });
  expect(res.status).toBe(200);
  return res.body.revision;
}

const revision = async (): Promise<number> =>
  (await api('GET', '/v1/history?limit=1')).body.items[0].revision;
const intentionOf = async (name: string) => (await api('GET', `/v1/intentions/${name}`)).body;

beforeAll(async () => {
  server = await startServer({ dataDir: dir, port: 0, adminToken: ADMIN, env: {} });
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ward rollback', () => {
  let first = 0;

  it('shows the diff and, without a terminal and --yes, exits 1 changing nothing', async () => {
    first = await apply(
      doc('Service', 'orders', {}),
      doc('Service', 'web', {}),
      allow('orders-in', 'orders', ['web']),
    );
    await apply(
      allow('orders-in', 'orders', ['web', 'orders']),
      allow('web-in', 'web', ['orders']),
    );
    const before = await revision();
    const r = await ward('rollback', '--to', String(first));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`rollback of all documents to revision ${first}`);
    expect(r.out).toContain('intention/orders-in would be updated');
    expect(r.out).toContain('- /spec/rules/0/sources/1: "orders"');
    expect(r.out).toContain('intention/web-in would be deleted');
    expect(r.err).toContain('pass --yes');
    expect(await revision()).toBe(before);
  });

  it('rolls back with --yes: the diff, then one new revision', async () => {
    const before = await revision();
    const r = await ward('rollback', '--to', String(first), '--yes');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('intention/web-in would be deleted');
    expect(r.out).toContain(
      `rolled back all documents to revision ${first}: 0 created, 1 updated, 1 deleted; now at revision ${before + 1}`,
    );
    expect((await intentionOf('orders-in')).document.spec.rules[0].sources).toEqual(['web']);
    expect((await api('GET', `/v1/history/${before + 1}`)).body.operation).toBe('rollback');
    const again = await ward('rollback', '--to', String(first));
    expect(again.code).toBe(0);
    expect(again.out).toContain('nothing to roll back');
  });

  it('rolls back one service with -o json as one JSON document', async () => {
    const to = await revision();
    await apply(allow('orders-in', 'orders', ['orders']), allow('web-in', 'web', ['orders']));
    const r = await ward(
      'rollback',
      '--to',
      String(to),
      '--service',
      'orders',
      '--yes',
      '-o',
      'json',
    );
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ dryRun: false, changed: true });
    expect(result.results.map((x: { name: string }) => x.name)).toEqual(['orders-in']);
    // web was out of scope: its new intention stays.
    expect((await intentionOf('web-in')).name).toBe('web-in');
  });

  it('prints stored text through the terminal escaping', async () => {
    const to = await revision();
    const hostile = 'ok\u202e\u001b]0;pwned\u0007';
    await apply(
      doc('Intention', 'orders-in', {
        destination: 'orders',
        rules: [{ sources: ['web'], action: 'allow', description: hostile }],
      }),
    );
    const r = await ward('rollback', '--to', String(to), '--service', 'orders');
    expect(r.code).toBe(1);
    expect(r.out).toContain('/spec/rules/0/description');
    expect(r.out).toContain('\\u202e');
    expect(r.out).not.toMatch(/[\u001b\u0007\u202e]/);
    expect((await ward('rollback', '--to', String(to), '--service', 'orders', '--yes')).code).toBe(
      0,
    );
  });

  it('refuses a bad --to as a usage error (exit 2), and a future one (exit 1)', async () => {
    expect((await ward('rollback', '--to', 'abc')).code).toBe(2);
    expect((await ward('rollback', '--to', '0')).code).toBe(2);
    expect((await ward('rollback')).code).toBe(2);
    const future = await ward('rollback', '--to', String((await revision()) + 10), '--yes');
    expect(future.code).toBe(1);
    expect(future.err).toContain('the store is at revision');
    expect(() => parseRevision('1e3')).toThrow(/revision number/);
    expect(parseRevision('42')).toBe(42);
  });

  it('agrees only to y or yes; the end of the input declines', async () => {
    const ask = async (input: string | null) => {
      const stream = new PassThrough();
      const answer = confirm('go? ', stream, new PassThrough());
      if (input === null) stream.end();
      else stream.write(input);
      return answer;
    };
    expect(await ask('y\n')).toBe(true);
    expect(await ask(' YES \n')).toBe(true);
    expect(await ask('n\n')).toBe(false);
    expect(await ask('yep\n')).toBe(false);
    expect(await ask(null)).toBe(false);
  });

  describe.skipIf(!hasScript)('on a terminal', () => {
    /** `ward ...args` on a pty; resolves the output once `waitFor` appears, then on exit. */
    function onTerminal(args: string[]): {
      child: ChildProcess;
      output: () => string;
      seen: (text: string) => Promise<void>;
      exit: Promise<number | null>;
    } {
      const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
      const child = spawn(
        'script',
        ['-qec', [...node, ...args].map(quote).join(' '), '/dev/null'],
        {
          env: env(),
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let out = '';
      const waiters: { text: string; resolve: () => void }[] = [];
      child.stdout!.on('data', (d) => {
        out += d;
        for (const w of waiters.splice(0)) {
          if (out.includes(w.text)) w.resolve();
          else waiters.push(w);
        }
      });
      return {
        child,
        output: () => out,
        seen: (text) =>
          new Promise((resolve) => {
            if (out.includes(text)) resolve();
            else waiters.push({ text, resolve });
          }),
        exit: new Promise((resolve) => child.on('close', resolve)),
      };
    }

    it('asks; "n" changes nothing', async () => {
      const to = await revision();
      await apply(allow('orders-in', 'orders', ['web', 'orders']));
      const before = await revision();
      const t = onTerminal(['rollback', '--to', String(to)]);
      await t.seen('[y/N]');
      expect(t.output()).toContain('intention/orders-in would be updated');
      t.child.stdin!.write('n\n');
      expect(await t.exit).toBe(1);
      expect(t.output()).toContain('rollback cancelled; nothing was changed');
      expect(await revision()).toBe(before);
    });

    it('fails with 412 when the documents change while it asks', async () => {
      const to = await revision();
      await apply(allow('orders-in', 'orders', ['orders']));
      const t = onTerminal(['rollback', '--to', String(to), '--service', 'orders']);
      await t.seen('[y/N]');
      // Someone else changes orders after the diff was shown...
      await apply(allow('orders-in', 'orders', ['web']));
      const changed = await revision();
      t.child.stdin!.write('y\n');
      expect(await t.exit).toBe(1);
      expect(t.output()).toContain('changed since revision');
      expect(t.output()).toContain('run ward rollback again');
      // ...and that change is not undone.
      expect(await revision()).toBe(changed);
      expect((await intentionOf('orders-in')).document.spec.rules[0].sources).toEqual(['web']);
    });

    it('asks; "y" rolls back', async () => {
      const to = await revision();
      await apply(allow('orders-in', 'orders', ['orders']));
      const before = await revision();
      const t = onTerminal(['rollback', '--to', String(to)]);
      await t.seen('[y/N]');
      t.child.stdin!.write('y\n');
      expect(await t.exit).toBe(0);
      expect(t.output()).toContain(`now at revision ${before + 1}`);
      expect((await intentionOf('orders-in')).document.spec.rules[0].sources).toEqual(['web']);
    });
  });
});
