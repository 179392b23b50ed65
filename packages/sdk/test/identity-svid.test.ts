import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { svidFromMessage } from '../src/identity/svid.ts';

/** A self-signed P-256 certificate (DER) with one URI SAN, made by the real openssl CLI. */
function certWithUri(uri: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'ward-svid-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'k.pem',
        '-out',
        'c.pem',
        '-days',
        '1',
        '-subj',
        '/CN=w',
        '-addext',
        `subjectAltName=URI:${uri}`,
      ],
      { cwd: dir, stdio: 'pipe' },
    );
    return Buffer.from(new X509Certificate(readFileSync(join(dir, 'c.pem'))).raw);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const message = (spiffeId: string, der: Buffer) => ({
  spiffe_id: spiffeId,
  x509_svid: der,
  x509_svid_key: Buffer.alloc(0),
  bundle: der,
  hint: '',
});

describe('an X509-SVID from the Workload API', () => {
  it('is taken when its SPIFFE ID is a valid workload ID', () => {
    const id = 'spiffe://ward.test/ns/shop/sa/orders';
    expect(svidFromMessage(message(id, certWithUri(id))).spiffeId).toBe(id);
  });

  it('is refused when its SPIFFE ID breaks the SPIFFE-ID standard, even if the SAN matches', () => {
    for (const id of ['spiffe://Ward.test/a', 'spiffe://ward.test', 'spiffe://ward.test/a/../b']) {
      expect(() => svidFromMessage(message(id, certWithUri(id)))).toThrow(
        expect.objectContaining({ code: 'IDENTITY_BAD_SVID' }),
      );
    }
  });
});
