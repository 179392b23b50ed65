/**
 * Keys at rest, against real control planes on SQLite: the bundle-signing key file and the
 * passport secrets are sealed with the seal key (a copy of the data directory without the key
 * reveals neither), plaintext ones from older versions are sealed at start, files are owner-only,
 * and a seal key kept next to the data is reported loudly.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { promisify } from 'node:util';
import { generateSealKey, parseSealKey } from '@ward/ca';
import { afterAll, describe, expect, it } from 'vitest';
import { SIGNING_KEY_PURPOSE } from '../src/bundles/signing-key.ts';
import { caPlugin } from '../src/index.ts';
import { openText } from '../src/keys/seal-key.ts';
import { cleanupDirs, http, intention, startTestServer, svc, tempDir, yamlOf } from './helpers.ts';

afterAll(() => cleanupDirs());

const mode = (file: string) => statSync(file).mode & 0o777;

/** Applies a small policy and returns the passport key the bundle of `orders` carries. */
async function passportKey(url: string): Promise<string> {
  // orders verifies passports, so its bundle carries its zone's key (an admin may declare it).
  const documents = [
    svc('orders', { passport: { verify: true } }),
    svc('checkout'),
    intention('i', 'orders', ['checkout']),
  ];
  const applied = await http(url, 'POST', '/v1/apply', {
    body: { files: [{ name: 'p.yaml', content: yamlOf(documents) }] },
  });
  expect(applied.status).toBe(200);
  const bundle = await http(url, 'GET', '/v1/bundles/orders');
  expect(bundle.status).toBe(200);
  return JSON.parse(bundle.body.payload).passportKeys[0].key as string;
}

/** Every byte the data directory holds (database, WAL, keys), to search for secrets. */
function dataBytes(dir: string): Buffer {
  return Buffer.concat(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name))),
  );
}

describe('keys at rest', () => {
  it('zero-config start: owner-only files, sealed keys, and a loud warning about the seal key next to the data', async () => {
    const dataDir = join(tempDir(), 'data');
    const server = await startTestServer({ dataDir, sealKey: undefined });
    try {
      const sealFile = join(dataDir, 'seal.key');
      expect(server.sealKeySource).toBe(sealFile);
      expect(server.warnings.join('\n')).toMatch(
        /seal key .*seal\.key is inside the data directory/,
      );
      expect(server.warnings.join('\n')).toMatch(/copy of that directory/);
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(sealFile)).toBe(0o600);
      expect(mode(server.signingKeyFile)).toBe(0o600);
      for (const f of ['ward.db', 'ward.db-wal', 'ward.db-shm']) {
        expect(mode(join(dataDir, f)), f).toBe(0o600);
      }

      const signing = readFileSync(server.signingKeyFile, 'utf8');
      expect(signing).not.toContain('PRIVATE KEY');
      expect(signing).toMatch(/^v1\./);

      const key = await passportKey(server.url);
      const bytes = dataBytes(dataDir);
      expect(bytes.includes(Buffer.from(key))).toBe(false);
      expect(bytes.includes(Buffer.from(key, 'base64url'))).toBe(false);
    } finally {
      await server.close();
    }
  });

  it('seals a plaintext signing key and passport secret of an older version at start, keeping both keys', async () => {
    const dataDir = tempDir();
    const sealKey = parseSealKey(generateSealKey());
    const a = await startTestServer({ dataDir, sealKey });
    const key = await passportKey(a.url);
    await a.close();

    // What an older version left: the PEM in clear, the secret in clear.
    const pem = openText(
      sealKey,
      readFileSync(a.signingKeyFile, 'utf8').trim(),
      SIGNING_KEY_PURPOSE,
      'k',
    );
    writeFileSync(a.signingKeyFile, pem);
    const db = new DatabaseSync(join(dataDir, 'ward.db'));
    db.prepare("UPDATE passport_keys SET secret = ? WHERE status = 'active'").run(key);
    db.close();
    expect(dataBytes(dataDir).includes(Buffer.from(key))).toBe(true);

    const b = await startTestServer({ dataDir, sealKey });
    try {
      expect(b.publicKey).toBe(a.publicKey); // the same signing key, now sealed
      expect(readFileSync(b.signingKeyFile, 'utf8')).not.toContain('PRIVATE KEY');
      expect(mode(b.signingKeyFile)).toBe(0o600);
      const bundle = await http(b.url, 'GET', '/v1/bundles/orders');
      expect(JSON.parse(bundle.body.payload).passportKeys[0].key).toBe(key);
      const check = new DatabaseSync(join(dataDir, 'ward.db'));
      const rows = check.prepare('SELECT secret FROM passport_keys').all() as { secret: string }[];
      check.close();
      for (const r of rows) expect(r.secret).toMatch(/^v1\./);
      expect(JSON.stringify(rows)).not.toContain(key);
    } finally {
      await b.close();
    }
  });

  it('takes WARD_SEAL_KEY (or WARD_CA_KEY) or a key file kept elsewhere without a warning, and refuses the wrong key', async () => {
    const dataDir = tempDir();
    const env = { WARD_SEAL_KEY: generateSealKey() };
    const a = await startTestServer({ dataDir, sealKey: undefined, env });
    expect(a.sealKeySource).toBe('env:WARD_SEAL_KEY');
    expect(a.warnings).toEqual([]);
    expect(readdirSync(dataDir)).not.toContain('seal.key');
    await a.close();

    const alias = await startTestServer({
      dataDir,
      sealKey: undefined,
      env: { WARD_CA_KEY: env.WARD_SEAL_KEY },
    });
    expect(alias.sealKeySource).toBe('env:WARD_CA_KEY');
    await alias.close();

    const keyFile = join(tempDir(), 'ward-seal.key');
    writeFileSync(keyFile, `${env.WARD_SEAL_KEY}\n`, { mode: 0o600 });
    const fromFile = await startTestServer({ dataDir, sealKey: undefined, sealKeyFile: keyFile });
    expect(fromFile.sealKeySource).toBe(keyFile);
    expect(fromFile.warnings).toEqual([]);
    await fromFile.close();

    await expect(
      startTestServer({ dataDir, sealKey: undefined, env: { WARD_SEAL_KEY: generateSealKey() } }),
    ).rejects.toMatchObject({ code: 'SERVER_UNSEAL_FAILED' });
    await expect(
      startTestServer({ dataDir, sealKey: undefined, sealKeyFile: join(dataDir, 'missing.key') }),
    ).rejects.toMatchObject({ code: 'SERVER_SEAL_KEY_INVALID' });
    await expect(
      startTestServer({ dataDir, sealKey: undefined, env: { WARD_SEAL_KEY: 'short' } }),
    ).rejects.toMatchObject({ code: 'SERVER_SEAL_KEY_INVALID' });
  });

  it('ward server reseal moves every sealed key to a new seal key; the keys themselves stay the same', async () => {
    const dataDir = tempDir();
    const a = await startTestServer({ dataDir, sealKey: undefined, plugins: [caPlugin()] });
    const key = await passportKey(a.url);
    const trust = (await http(a.url, 'GET', '/v1/trust-bundle', { token: null })).text;
    await a.close();
    const oldKey = readFileSync(join(dataDir, 'seal.key'), 'utf8');

    const newFile = join(tempDir(), 'new-seal.key');
    writeFileSync(newFile, `${generateSealKey()}\n`, { mode: 0o600 });
    const bin = join(import.meta.dirname, '..', '..', 'cli', 'src', 'bin.ts');
    const args = [bin, 'server', 'reseal', '--data-dir', dataDir, '--new-seal-key-file', newFile];
    const env = { ...process.env, WARD_SEAL_KEY: '', WARD_CA_KEY: '' };
    const run = promisify(execFile);
    const first = await run(process.execPath, args, { env });
    expect(first.stdout).toMatch(
      /resealed the bundle-signing key, 1 passport key\(s\) and 1 CA state/,
    );
    // The default key file now holds the new key; the old key opens nothing any more.
    expect(readFileSync(join(dataDir, 'seal.key'), 'utf8')).toBe(readFileSync(newFile, 'utf8'));
    await expect(
      startTestServer({ dataDir, sealKey: parseSealKey(oldKey), plugins: [caPlugin()] }),
    ).rejects.toMatchObject({ code: 'SERVER_UNSEAL_FAILED' });
    // Run again (as after an interruption): nothing breaks.
    await run(process.execPath, args, { env });

    const b = await startTestServer({ dataDir, sealKey: undefined, plugins: [caPlugin()] });
    try {
      expect(b.publicKey).toBe(a.publicKey);
      const bundle = await http(b.url, 'GET', '/v1/bundles/orders');
      expect(JSON.parse(bundle.body.payload).passportKeys[0].key).toBe(key);
      expect((await http(b.url, 'GET', '/v1/trust-bundle', { token: null })).text).toBe(trust);
    } finally {
      await b.close();
    }
  });
});
