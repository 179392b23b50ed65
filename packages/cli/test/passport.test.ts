import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');

function ward(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('ward passport (real CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-passport-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const plain = join(dir, 'key.txt');
  writeFileSync(plain, `${randomBytes(32).toString('base64url')}\n`);
  const list = join(dir, 'keys.json');
  writeFileSync(
    list,
    JSON.stringify([
      { kid: 'cur', alg: 'HS256', key: randomBytes(32).toString('base64url') },
      { kid: 'prev', alg: 'HS256', key: randomBytes(32).toString('base64url') },
    ]),
  );

  it('mints and verifies with a plain key file', () => {
    const mint = ward(
      'passport',
      'mint',
      '--key-file',
      plain,
      '--kid',
      'k1',
      '--sub',
      'alice',
      '--attr',
      'tenant=acme',
      '--attr',
      'roles=["admin"]',
      '--ttl',
      '5m',
    );
    expect(mint.err).toBe('');
    expect(mint.code).toBe(0);
    const token = mint.out.trim();
    expect(token).toMatch(/^v1\.k1\./);
    const verify = ward('passport', 'verify', token, '--key-file', plain);
    expect(verify.code).toBe(0);
    const claims = JSON.parse(verify.out);
    expect(claims).toMatchObject({
      sub: 'alice',
      iss: 'ward-cli',
      kid: 'k1',
      attrs: { tenant: 'acme', roles: ['admin'] },
    });
    expect(claims.exp - claims.iat).toBe(300);

    const tampered = token.replace('.', '.x');
    const bad = ward('passport', 'verify', tampered, '--key-file', plain, '--kid', 'k1');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^ward: PASSPORT_/);
    expect(bad.err).not.toMatch(/\n\s+at /);
  });

  it('uses a JSON key list, picking keys by id', () => {
    const token = ward(
      'passport',
      'mint',
      '--key-file',
      list,
      '--kid',
      'prev',
      '--sub',
      'bob',
    ).out.trim();
    expect(token).toMatch(/^v1\.prev\./);
    expect(ward('passport', 'verify', token, '--key-file', list).code).toBe(0);
    const wrong = ward('passport', 'verify', token, '--key-file', plain, '--kid', 'prev');
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('PASSPORT_BAD_SIGNATURE');
  });

  it('reports bad keys and usage clearly', () => {
    const short = join(dir, 'short.txt');
    writeFileSync(short, 'c2hvcnQ');
    const r = ward('passport', 'mint', '--key-file', short, '--kid', 'k', '--sub', 'a');
    expect(r.code).toBe(1);
    expect(r.err).toContain('PASSPORT_INVALID_KEY');
    expect(ward('passport', 'mint', '--key-file', plain, '--sub', 'a').code).toBe(2);
    expect(
      ward('passport', 'mint', '--key-file', plain, '--kid', 'k', '--sub', 'a', '--ttl', 'soon')
        .code,
    ).toBe(2);
  });

  it('Ed25519: keygen, mint with the private key, verify with the public key alone', () => {
    const pair = join(dir, 'ed.json');
    const gen = ward('passport', 'keygen', '--alg', 'EdDSA', '--kid', 'e1');
    expect(gen.code).toBe(0);
    const [entry] = JSON.parse(gen.out);
    expect(entry).toMatchObject({ kid: 'e1', alg: 'EdDSA' });
    writeFileSync(pair, gen.out);
    const pub = join(dir, 'ed-public.json');
    writeFileSync(pub, JSON.stringify([{ kid: 'e1', alg: 'EdDSA', key: entry.key }]));
    const token = ward(
      'passport',
      'mint',
      '--key-file',
      pair,
      '--sub',
      'alice',
      '--aud',
      'orders',
    ).out.trim();
    expect(token).toMatch(/^v2\.e1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
    const ok = ward('passport', 'verify', token, '--key-file', pub, '--audience', 'orders');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ sub: 'alice', kid: 'e1', aud: ['orders'] });
    // The public key cannot mint.
    const noMint = ward('passport', 'mint', '--key-file', pub, '--sub', 'mallory');
    expect(noMint.code).toBe(2);
    expect(noMint.err).toMatch(/cannot mint/);
  });

  it('checks audience and lifetime; mint defaults the audience to the zone', () => {
    const token = ward(
      'passport',
      'mint',
      '--key-file',
      list,
      '--sub',
      'bob',
      '--zone',
      'shop',
    ).out.trim();
    const claims = JSON.parse(ward('passport', 'verify', token, '--key-file', list).out);
    expect(claims.aud).toEqual(['zone:shop']);
    const other = ward('passport', 'verify', token, '--key-file', list, '--audience', 'orders');
    expect(other.code).toBe(1);
    expect(other.err).toContain('PASSPORT_AUDIENCE');
    const zone = ward('passport', 'verify', token, '--key-file', list, '--audience', 'zone:shop');
    expect(zone.code).toBe(0);
    const long = ward('passport', 'mint', '--key-file', list, '--sub', 'bob', '--ttl', '2h');
    const refused = ward('passport', 'verify', long.out.trim(), '--key-file', list);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('PASSPORT_LIFETIME');
    const allowed = ward(
      'passport',
      'verify',
      long.out.trim(),
      '--key-file',
      list,
      '--max-lifetime',
      '2h',
    );
    expect(allowed.code).toBe(0);
  });
});
