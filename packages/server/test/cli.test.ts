/**
 * The real `ward` CLI against a real `ward server` process: start (-o json first line), apply
 * (dry run, errors with file:line:col, exit 1), get, history, tokens, audit verify/export;
 * SIGTERM exits cleanly.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCa } from './_svids.ts';
import { cleanupDirs, intention, svc, tempDir, yamlOf } from './helpers.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'cli', 'src', 'bin.ts');

let proc: ChildProcess;
let info: { url: string; publicKey: string; keyId: string; adminToken?: string };
let dataDir: string;

async function ward(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, WARD_SERVER: info.url, WARD_TOKEN: info.adminToken!, ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dataDir = tempDir();
  const env = { ...process.env };
  delete env.WARD_ADMIN_TOKEN;
  proc = spawn(
    process.execPath,
    [
      BIN,
      'server',
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      '-o',
      'json',
      '--trust-domain',
      'cli.test',
    ],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  info = JSON.parse(first);
});

afterAll(async () => {
  if (proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  cleanupDirs();
});

describe('ward CLI against ward server', () => {
  it('prints URL, public key and a generated admin token once', () => {
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(info.adminToken).toMatch(/^ward_/);
    // Zero config: the seal key was generated next to the data, and the start says so.
    expect((info as { warnings?: string[] }).warnings?.join('\n')).toMatch(
      /seal key .* is inside the data directory/,
    );
  });

  it('applies a directory (dry run first), gets and shows history', async () => {
    const dir = join(dataDir, 'policies');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'services.yaml'), yamlOf([svc('web'), svc('orders')]));
    writeFileSync(
      join(dir, 'sub', 'orders.json'),
      JSON.stringify(intention('orders', 'orders', ['web'])),
    );
    let r = await ward(['apply', '-f', dir, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('intention/orders would be created');
    expect(r.stdout).toContain('nothing was changed');
    r = await ward(['apply', '-f', dir]);
    expect(r.stdout).toMatch(/applied: 3 created.*revision 1/);
    r = await ward(['apply', '-f', dir]);
    expect(r.stdout).toContain('nothing to change');
    writeFileSync(
      join(dir, 'sub', 'orders.json'),
      JSON.stringify(intention('orders', 'orders', ['web'], 'deny')),
    );
    r = await ward(['apply', '-f', dir, '--dry-run']);
    expect(r.stdout).toContain('~ /spec/rules/0/action: "allow" -> "deny"');

    r = await ward(['get', 'intentions']);
    expect(r.stdout).toMatch(/orders\s+orders\s+enforce\s+1\s+1/);
    r = await ward(['get', 'services', '-o', 'yaml']);
    expect(r.stdout).toContain('kind: Service');
    r = await ward(['get', 'services', 'web', '-o', 'json']);
    // The revision it was read at travels with it, so an edited copy applies only over it.
    expect(JSON.parse(r.stdout)).toEqual({ ...svc('web'), metadata: { name: 'web', revision: 1 } });
    r = await ward(['history']);
    expect(r.stdout).toMatch(/1\s+\S+\s+first-admin\s+apply\s+3 created/);
    r = await ward(['history', '1']);
    expect(r.stdout).toContain('service/web created');
  });

  it('takes --server as HOST:PORT and -f - from stdin, and refuses a junk --server with exit 2', async () => {
    const hostPort = info.url.replace(/^http:\/\//, '');
    const r = await ward(['get', 'services', '--server', hostPort, '-o', 'json']);
    expect(r.code).toBe(0);
    expect(
      JSON.parse(r.stdout).map((d: { metadata: { name: string } }) => d.metadata.name),
    ).toContain('web');
    // The same documents again, piped: nothing to change, and named as stdin.
    const piped = spawnSync(
      process.execPath,
      [BIN, 'apply', '-f', '-', '--dry-run', '-o', 'json'],
      {
        input: yamlOf([svc('web')]),
        encoding: 'utf8',
        env: { ...process.env, WARD_SERVER: hostPort, WARD_TOKEN: info.adminToken! },
      },
    );
    expect(piped.stderr).toBe('');
    expect(piped.status).toBe(0);
    expect(JSON.parse(piped.stdout).results).toEqual([
      expect.objectContaining({ name: 'web', action: 'unchanged', file: '<stdin>' }),
    ]);
    for (const junk of ['not a url', 'ftp://127.0.0.1:1', 'http://user:pw@127.0.0.1:1']) {
      const bad = await ward(['get', 'services', '--server', junk]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(
        /^ward: --server "[^\n]*": .*expected a URL like http:\/\/127\.0\.0\.1:8181 or HOST:PORT\n$/,
      );
    }
    const env = await ward(['get', 'services'], { WARD_SERVER: 'a b' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('WARD_SERVER "a b"');
  });

  it('get, edit, apply refuses to overwrite a change made in between; --force overwrites', async () => {
    const base = join(dataDir, 'occ-base.yaml');
    writeFileSync(base, yamlOf([svc('occ')]));
    expect((await ward(['apply', '-f', base])).code).toBe(0);
    // Two operators read the same document.
    const alice = join(dataDir, 'occ-alice.yaml');
    const bob = join(dataDir, 'occ-bob.yaml');
    const read = await ward(['get', 'service', 'occ', '-o', 'yaml']);
    expect(read.code).toBe(0);
    const at = Number(/revision: (\d+)/.exec(read.stdout)?.[1]);
    expect(at).toBeGreaterThan(0);
    writeFileSync(alice, read.stdout.replace('spec: {}', 'spec:\n  owner: alice'));
    writeFileSync(bob, read.stdout.replace('spec: {}', 'spec:\n  owner: bob'));
    expect(read.stdout).toContain('spec: {}');
    // Alice applies first and wins.
    const first = await ward(['apply', '-f', alice]);
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain('service/occ updated');
    const now = Number(/revision (\d+)/.exec(first.stdout)?.[1]);
    // Bob's apply (and its dry run) is refused, naming the document and both revisions.
    for (const args of [['--dry-run'], []]) {
      const second = await ward(['apply', '-f', bob, ...args]);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('API_PRECONDITION_FAILED');
      expect(second.stderr).toContain(
        `Service occ: expected revision ${at}, but it is at revision ${now}`,
      );
      expect(second.stderr).toContain(`${bob}:`);
      expect(second.stderr).not.toMatch(/\n\s+at /);
    }
    let owner = JSON.parse((await ward(['get', 'service', 'occ', '-o', 'json'])).stdout);
    expect(owner.spec.owner).toBe('alice');
    // --force applies Bob's copy anyway; the revision in the file is not stored.
    const forced = await ward(['apply', '-f', bob, '--force']);
    expect(forced.code).toBe(0);
    owner = JSON.parse((await ward(['get', 'service', 'occ', '-o', 'json'])).stdout);
    expect(owner.spec.owner).toBe('bob');
    expect(owner.metadata.revision).toBeGreaterThan(now);
    // Re-reading and applying the fresh copy works without --force.
    const fresh = join(dataDir, 'occ-fresh.yaml');
    writeFileSync(fresh, (await ward(['get', 'service', 'occ', '-o', 'yaml'])).stdout);
    expect((await ward(['apply', '-f', fresh])).stdout).toContain('nothing to change');
  });

  it('prints document errors with file:line:col and exits 1, changing nothing', async () => {
    const file = join(dataDir, 'bad.yaml');
    writeFileSync(
      file,
      'apiVersion: ward.dev/v1\nkind: Intention\nmetadata: {name: bad}\nspec:\n  destination: orders\n  rules:\n    - sources: [web]\n      action: maybe\n',
    );
    const r = await ward(['apply', '-f', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:8:15`);
    expect(r.stderr).toContain('API_DOCUMENT_INVALID');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect((await ward(['get', 'intentions', 'bad'])).code).toBe(1);
  });

  it('creates tokens; a team token is refused outside its services; bad tokens fail clearly', async () => {
    let r = await ward([
      'tokens',
      'create',
      '--name',
      'team-web',
      '--scope',
      'team',
      '--service',
      'web',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    const team = JSON.parse(r.stdout).token as string;
    const file = join(dataDir, 'orders-change.yaml');
    writeFileSync(file, yamlOf([intention('orders', 'orders', ['*'])]));
    r = await ward(['apply', '-f', file], { WARD_TOKEN: team });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does not own service "orders"');
    r = await ward(['tokens', 'list']);
    expect(r.stdout).toContain('team-web');
    r = await ward(['tokens', 'create', '--name', 'otel', '--scope', 'collector', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ scope: 'collector', services: [] });
    r = await ward(['get', 'services'], { WARD_TOKEN: 'ward_nope' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('API_UNAUTHENTICATED');
    r = await ward(['get', 'services'], { WARD_SERVER: 'http://127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach the control plane');
  });

  it('binds a pdp token to the one --service given', async () => {
    let r = await ward(['tokens', 'create', '--name', 'orders-pdp', '--scope', 'pdp']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('exactly one --service');
    r = await ward([
      'tokens',
      'create',
      '--name',
      'orders-pdp',
      '--scope',
      'pdp',
      '--service',
      'orders',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('created pdp token');
    expect(r.stdout).toContain('for orders');
  });

  it('rotates and lists passport keys per trust zone', async () => {
    let r = await ward(['passport', 'rotate', '--zone', 'partners', '--alg', 'EdDSA']);
    expect(r.code).toBe(0);
    const kid = /key (pk_[A-Za-z0-9_-]+)/.exec(r.stdout)?.[1];
    expect(r.stdout).toMatch(/^zone partners: new EdDSA key pk_/);
    r = await ward(['passport', 'keys', '--zone', 'partners']);
    expect(r.stdout).toMatch(new RegExp(`partners\\s+${kid}\\s+EdDSA\\s+active`));
    expect(r.stdout).not.toMatch(/\bdefault\b/);
    r = await ward(['passport', 'keys']);
    expect(r.stdout).toMatch(/default\s+pk_\S+\s+HS256\s+active/);
    r = await ward(['passport', 'rotate', '--alg', 'RSA']);
    expect(r.code).toBe(2);
  });

  it('escapes terminal control characters a team put in its Service in every output', async () => {
    const admin = {
      authorization: `Bearer ${info.adminToken}`,
      'content-type': 'application/json',
    };
    const created = await fetch(`${info.url}/v1/tokens`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'team-evil', scope: 'team', services: ['evil'] }),
    });
    const teamToken = ((await created.json()) as { token: string }).token;
    // An OSC 8 hyperlink, a screen clear, a C1 CSI and a right-to-left override.
    const owner =
      'ops\u001b]8;;https://evil.example/\u0007click\u001b]8;;\u0007\u001b[2J\u009b31m\u202egnp.exe';
    const file = join(dataDir, 'evil.yaml');
    writeFileSync(file, yamlOf([svc('evil', { owner })]));
    const applied = await ward(['apply', '-f', file], { WARD_TOKEN: teamToken });
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);

    const unsafe = /[\u001b\u0007\u009b\u202e]/;
    const outputs = [
      await ward(['get', 'services']),
      await ward(['get', 'service', 'evil', '-o', 'yaml']),
      await ward(['get', 'service', 'evil', '-o', 'json']),
      await ward(['history']),
      await ward(['get', 'service', 'no\u001b[2Jsuch']), // the name comes back in the error
    ];
    for (const out of outputs) {
      expect(out.stdout + out.stderr).not.toMatch(unsafe);
    }
    expect(outputs[0]!.stdout).toContain('\\u001b[2J'); // visible, escaped
    expect(outputs[4]!.code).not.toBe(0);
    // JSON stays valid and means exactly what the team wrote.
    expect(JSON.parse(outputs[2]!.stdout).spec.owner).toBe(owner);
  });

  it('verifies the chain, exports evidence with the head, and exits 1 once it is tampered with', async () => {
    const ok = await ward(['audit', 'verify']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /^ok: \d+ audit entries, chain intact\nhead: [0-9a-f]{64} \(entry \d+\)\n$/,
    );
    const json = JSON.parse((await ward(['audit', 'verify', '-o', 'json'])).stdout);
    expect(json).toMatchObject({ ok: true, head: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await ward(['audit', 'verify', '-o', 'yaml'])).stdout).toContain(`head: ${json.head}`);
    expect((await ward(['audit', 'verify', '--head', json.head])).code).toBe(0);

    const csv = await ward(['audit', 'export', '-o', 'csv', '--since', '1h']);
    expect(csv.code).toBe(0);
    expect(csv.stdout).toContain(`# chain: ok=true entries=${json.entries}`);
    expect(csv.stdout).toContain('seq,id,at,actor_id,actor_name,actor_scope,action,target');
    expect(csv.stderr).toContain(`audit chain head: ${json.head}`);
    const x = JSON.parse((await ward(['audit', 'export'])).stdout);
    expect(x.entries).toHaveLength(json.entries);
    expect(x.approvals).toMatch(/no approver is recorded/);

    const bad = await ward(['audit', 'verify', '--head', 'nothex']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--head must be a 64-digit hex SHA-256');
    const unknown = await ward(['audit', 'verify', '--head', 'ab'.repeat(32)]);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(/^BROKEN: anchor-not-found/);

    // An insider edits the database file directly, past the append-only triggers.
    const db = new DatabaseSync(join(dataDir, 'ward.db'), { timeout: 5000 });
    db.exec('DROP TRIGGER audit_log_no_update');
    db.exec("UPDATE audit_log SET actor_name = 'nobody' WHERE seq = 1");
    db.close();
    const broken = await ward(['audit', 'verify']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/^BROKEN: hash-mismatch at entry 1: /);
    const exp = await ward(['audit', 'export', '-o', 'json']);
    expect(exp.code).toBe(1);
    expect(JSON.parse(exp.stdout).chain.firstBreak).toMatchObject({ kind: 'hash-mismatch' });
    expect(exp.stderr).toContain('chain BROKEN');
  });

  it('a restart prints no admin token (only its hash is stored) and SIGTERM exits cleanly', async () => {
    proc.kill('SIGTERM');
    const code = await new Promise((r) => proc.once('exit', r));
    expect(code).toBe(0);
    const again = spawn(
      process.execPath,
      [BIN, 'server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '-o', 'json'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const first = await new Promise<string>((resolve) =>
      createInterface({ input: again.stdout! }).once('line', resolve),
    );
    again.kill('SIGTERM');
    expect(await new Promise((r) => again.once('exit', r))).toBe(0);
    const line = JSON.parse(first);
    expect(line.publicKey).toBe(info.publicKey);
    expect(line.adminToken).toBeUndefined();
  });
});

describe('ward server --tls-cert --tls-key --client-ca', () => {
  it('serves HTTPS and takes client SVIDs of the given CA', async () => {
    const ca = await testCa('cli.test');
    const dir = tempDir();
    const serving = await ca.issue('spiffe://cli.test/ward/control-plane', {
      dnsNames: ['localhost'],
    });
    const files = { cert: serving.cert, key: serving.key, ca: ca.bundle };
    for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, name), pem);
    const args = ['--tls-cert', join(dir, 'cert'), '--tls-key', join(dir, 'key')];
    const tls = spawn(
      process.execPath,
      [
        BIN,
        'server',
        '--data-dir',
        dir,
        '--listen',
        '127.0.0.1:0',
        '-o',
        'json',
        '--trust-domain',
      ].concat(['cli.test', ...args, '--client-ca', join(dir, 'ca')]),
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      const line = JSON.parse(
        await new Promise<string>((resolve) =>
          createInterface({ input: tls.stdout! }).once('line', resolve),
        ),
      ) as { url: string };
      expect(line.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const ghost = await ca.issue('spiffe://cli.test/ns/default/sa/ghost');
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsGet(
          `${line.url}/v1/revision`,
          { ca: ca.bundle, servername: 'localhost', cert: ghost.cert, key: ghost.key },
          (r) => {
            let body = '';
            r.on('data', (c) => {
              body += c;
            });
            r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
      });
      // The certificate was verified against --client-ca and its SPIFFE ID looked up.
      expect(res.status).toBe(401);
      expect(res.body).toContain(
        'spiffe://cli.test/ns/default/sa/ghost is the identity of no service',
      );
    } finally {
      tls.kill('SIGTERM');
      await new Promise((r) => tls.once('exit', r));
    }
    const half = await run(process.execPath, [
      BIN,
      'server',
      '--tls-cert',
      join(dir, 'cert'),
    ]).catch((e: { code: number; stderr: string }) => e);
    expect((half as { code: number }).code).toBe(2);
    expect((half as { stderr: string }).stderr).toContain('--tls-cert and --tls-key go together');
  });
});
