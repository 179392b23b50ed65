import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createAuthority,
  createCsr,
  exportPrivateKey,
  generateKeyPair,
  generateSealKey,
  importAuthority,
  issueX509Svid,
  openAuthority,
  parseSealKey,
  toPem,
  trustBundleCerts,
  trustBundlePem,
  unseal,
  verifyCsr,
  verifyX509Svid,
  withNewIntermediate,
} from '../src/index.ts';
import { openssl, opensslStatus } from './_fixtures.ts';

const sealKey = parseSealKey(generateSealKey());

async function newCa(lifetimes?: { intermediateTtlSeconds?: number }) {
  const state = await createAuthority({ trustDomain: 'example.org', sealKey, lifetimes });
  return { state, authority: await openAuthority(state, sealKey) };
}

async function csrFor() {
  const keys = await generateKeyPair();
  return { keys, csr: await verifyCsr(await createCsr(keys)) };
}

describe('X.509-SVID issuance', () => {
  it('issues an SVID that openssl verifies and that carries the SPIFFE fields', async () => {
    const { authority } = await newCa();
    const { csr } = await csrFor();
    const svid = await issueX509Svid(authority, {
      csr,
      spiffeId: 'spiffe://example.org/ns/shop/sa/orders',
    });
    const files = {
      'bundle.pem': trustBundlePem(authority),
      'int.pem': svid.chain[1]!,
      'leaf.pem': svid.chain[0]!,
    };
    expect(
      openssl(files, ['verify', '-CAfile', 'bundle.pem', '-untrusted', 'int.pem', 'leaf.pem']),
    ).toContain('leaf.pem: OK');
    const text = openssl(files, ['x509', '-in', 'leaf.pem', '-noout', '-text']);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(
      /Extended Key Usage:\s*\n\s+TLS Web Server Authentication, TLS Web Client Authentication/,
    );
    expect(text).toMatch(
      /Subject Alternative Name:\s*\n\s+URI:spiffe:\/\/example.org\/ns\/shop\/sa\/orders\n/,
    );
    expect(text).toContain('ecdsa-with-SHA256');
    // Default TTL is one hour.
    expect(svid.notAfter - Date.now()).toBeGreaterThan(3500_000);
    expect(svid.notAfter - Date.now()).toBeLessThanOrEqual(3600_000);
    // Our own verifier agrees.
    const chain = svid.chain.map((p) => new X509Certificate(p).raw);
    expect(verifyX509Svid(chain, trustBundleCerts(authority)).spiffeId).toBe(
      'spiffe://example.org/ns/shop/sa/orders',
    );
  });

  it('ignores names in the CSR: the CA alone sets the SPIFFE ID', async () => {
    const { authority } = await newCa();
    const keys = await generateKeyPair();
    const key = toPem(await exportPrivateKey(keys.privateKey), 'PRIVATE KEY');
    const csrPem = openssl({ 'k.pem': key }, [
      'req',
      '-new',
      '-key',
      'k.pem',
      '-subj',
      '/CN=admin',
      '-addext',
      'subjectAltName=URI:spiffe://example.org/admin,DNS:evil.example',
    ]);
    const svid = await issueX509Svid(authority, {
      csr: await verifyCsr(csrPem),
      spiffeId: 'spiffe://example.org/app',
    });
    const text = openssl({ 'leaf.pem': svid.chain[0]! }, [
      'x509',
      '-in',
      'leaf.pem',
      '-noout',
      '-text',
    ]);
    expect(text).toContain('URI:spiffe://example.org/app');
    expect(text).not.toContain('admin');
    expect(text).not.toContain('evil.example');
  });

  it('refuses a CSR whose signature does not verify, a non-P-256 key, and garbage', async () => {
    const keys = await generateKeyPair();
    const pem = await createCsr(keys);
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    der[der.length - 5] ^= 0xff; // inside the signature
    await expect(verifyCsr(der.toString('base64'))).rejects.toMatchObject({
      code: 'CA_CSR_SIGNATURE',
    });
    const rsa = openssl({}, [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      '/dev/null',
      '-subj',
      '/CN=x',
    ]);
    await expect(verifyCsr(rsa)).rejects.toMatchObject({ code: 'CA_BAD_CSR', field: 'csr' });
    await expect(verifyCsr('not base64 !!')).rejects.toMatchObject({ code: 'CA_BAD_CSR' });
    await expect(verifyCsr(Buffer.from('hello').toString('base64'))).rejects.toMatchObject({
      code: 'CA_BAD_CSR',
    });
  });

  it('never issues past the intermediate, and honours a per-entry TTL', async () => {
    const { authority } = await newCa({ intermediateTtlSeconds: 120 });
    const { csr } = await csrFor();
    const long = await issueX509Svid(authority, {
      csr,
      spiffeId: 'spiffe://example.org/a',
      ttlSeconds: 3600,
    });
    expect(long.notAfter).toBe(authority.intermediate.notAfter.getTime());
    const short = await issueX509Svid(authority, {
      csr,
      spiffeId: 'spiffe://example.org/a',
      ttlSeconds: 30,
    });
    expect(short.notAfter - Date.now()).toBeLessThanOrEqual(30_000);
    await expect(
      issueX509Svid(authority, { csr, spiffeId: 'spiffe://example.org/a', ttlSeconds: 0 }),
    ).rejects.toMatchObject({ code: 'CA_BAD_TTL' });
    await expect(
      issueX509Svid(authority, { csr, spiffeId: 'spiffe://other.org/a' }),
    ).rejects.toMatchObject({ code: 'CA_BAD_SPIFFE_ID' });
    await expect(
      issueX509Svid(authority, { csr, spiffeId: 'spiffe://example.org/ward/agent/n1' }),
    ).rejects.toMatchObject({ code: 'CA_BAD_SPIFFE_ID' });
  });

  it('rotates the intermediate without breaking SVIDs signed by the old one', async () => {
    const { state, authority } = await newCa();
    const { csr } = await csrFor();
    const old = await issueX509Svid(authority, { csr, spiffeId: 'spiffe://example.org/a' });
    const rotated = await openAuthority(await withNewIntermediate(state, sealKey), sealKey);
    expect(rotated.intermediate.serialNumber).not.toBe(authority.intermediate.serialNumber);
    expect(rotated.intermediates).toHaveLength(2);
    const fresh = await issueX509Svid(rotated, { csr, spiffeId: 'spiffe://example.org/a' });
    const bundle = trustBundlePem(rotated);
    expect(bundle).toBe(trustBundlePem(authority)); // the root did not change
    for (const svid of [old, fresh]) {
      const r = opensslStatus(
        { 'b.pem': bundle, 'i.pem': svid.chain[1]!, 'l.pem': svid.chain[0]! },
        ['verify', '-CAfile', 'b.pem', '-untrusted', 'i.pem', 'l.pem'],
      );
      expect(r.out).toContain('l.pem: OK');
    }
    expect(fresh.chain[1]).not.toBe(old.chain[1]);
  });

  it('keeps keys sealed at rest and refuses a wrong seal key', async () => {
    const { state } = await newCa();
    const text = JSON.stringify(state);
    expect(text).not.toContain('PRIVATE KEY');
    const other = parseSealKey(generateSealKey());
    await expect(openAuthority(state, other)).rejects.toMatchObject({ code: 'CA_UNSEAL' });
    expect(() =>
      unseal(sealKey, state.intermediates[0]!.key, 'ward-ca:example.org:root:x'),
    ).toThrow(expect.objectContaining({ code: 'CA_UNSEAL' }));
    expect(() => parseSealKey('short')).toThrow(expect.objectContaining({ code: 'CA_SEAL_KEY' }));
    expect(parseSealKey('00'.repeat(32)).bytes).toHaveLength(32);
  });

  it('imports an external root and signs through it', async () => {
    const rootKey = openssl({}, [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
    ]);
    const rootCert = openssl({ 'k.pem': rootKey }, [
      'req',
      '-x509',
      '-key',
      'k.pem',
      '-subj',
      '/CN=Corp Root',
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    const state = await importAuthority({
      trustDomain: 'corp.test',
      sealKey,
      rootCertPem: rootCert,
      rootKeyPem: rootKey,
    });
    const authority = await openAuthority(state, sealKey);
    const { csr } = await csrFor();
    const svid = await issueX509Svid(authority, { csr, spiffeId: 'spiffe://corp.test/x' });
    const r = opensslStatus(
      { 'b.pem': rootCert, 'i.pem': svid.chain[1]!, 'l.pem': svid.chain[0]! },
      ['verify', '-CAfile', 'b.pem', '-untrusted', 'i.pem', 'l.pem'],
    );
    expect(r.out).toContain('l.pem: OK');
    const otherKey = openssl({}, [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
    ]);
    await expect(
      importAuthority({
        trustDomain: 'corp.test',
        sealKey,
        rootCertPem: rootCert,
        rootKeyPem: otherKey,
      }),
    ).rejects.toMatchObject({ code: 'CA_BAD_KEY', field: 'rootKey' });
  });
});
