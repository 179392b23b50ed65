import { X509Certificate } from 'node:crypto';
import {
  AGENT_PROOF_HEADER,
  createCsr,
  generateKeyPair,
  generateSealKey,
  signAgentProof,
} from '@ward/ca';
import { afterAll, describe, expect, it } from 'vitest';
import { caPlugin } from '../src/index.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  pgAvailable,
  startTestServer,
  tempDir,
} from './helpers.ts';

afterAll(() => cleanupDirs());

async function scenario(base: string, node = 'n1') {
  // Admin-only routes refuse anonymous callers.
  expect(
    (await http(base, 'POST', '/v1/ca/join-tokens', { token: null, body: { node: 'n1' } })).status,
  ).toBe(401);
  const jt = await http(base, 'POST', '/v1/ca/join-tokens', {
    body: { node, ttlSeconds: 120 },
  });
  expect(jt.status).toBe(201);
  const entry = await http(base, 'POST', '/v1/ca/entries', {
    body: {
      spiffeId: 'spiffe://ward.test/ns/shop/sa/orders',
      node,
      selectors: ['unix:uid:1000'],
    },
  });
  expect(entry.status).toBe(201);
  const bad = await http(base, 'POST', '/v1/ca/entries', {
    body: { spiffeId: 'spiffe://ward.test/x', node: 'n1', selectors: ['unix:bogus:1'] },
  });
  expect(bad.status).toBe(400);
  expect(bad.headers.get('content-type')).toContain('application/problem+json');
  expect(bad.body).toMatchObject({ code: 'CA_BAD_SELECTOR', errors: [{ field: 'selectors[0]' }] });

  const keys = await generateKeyPair();
  const att = await http(base, 'POST', '/v1/agent/attest', {
    token: null,
    body: { joinToken: jt.body.token, csr: await createCsr(keys) },
  });
  expect(att.status).toBe(200);
  expect(att.body.spiffeId).toBe(`spiffe://ward.test/ward/agent/${node}`);
  const reuse = await http(base, 'POST', '/v1/agent/attest', {
    token: null,
    body: { joinToken: jt.body.token, csr: await createCsr(keys) },
  });
  expect(reuse.body.code).toBe('CA_JOIN_TOKEN_INVALID');

  const proof = (method: string, path: string) =>
    signAgentProof({
      privateKey: keys.privateKey,
      chainPem: att.body.chain,
      spiffeId: att.body.spiffeId,
      method,
      path,
    });
  const sync = await http(base, 'GET', '/v1/agent/sync', {
    token: null,
    headers: { [AGENT_PROOF_HEADER]: await proof('GET', '/v1/agent/sync') },
  });
  expect(sync.status).toBe(200);
  expect(sync.body.entries).toHaveLength(1);
  const noProof = await http(base, 'GET', '/v1/agent/sync', { token: null });
  expect(noProof.body.code).toBe('CA_AGENT_PROOF');

  const wk = await generateKeyPair();
  const issued = await http(base, 'POST', '/v1/agent/svids', {
    token: null,
    headers: { [AGENT_PROOF_HEADER]: await proof('POST', '/v1/agent/svids') },
    body: { csrs: [{ entryId: entry.body.id, csr: await createCsr(wk) }] },
  });
  expect(issued.status).toBe(200);
  const leaf = new X509Certificate(issued.body.svids[0].chain[0]);
  expect(leaf.subjectAltName).toBe('URI:spiffe://ward.test/ns/shop/sa/orders');

  const bundle = await http(base, 'GET', '/v1/trust-bundle', { token: null });
  expect(bundle.status).toBe(200);
  expect(bundle.headers.get('content-type')).toContain('application/x-pem-file');
  const root = new X509Certificate(bundle.text);
  expect(leaf.verify(new X509Certificate(issued.body.svids[0].chain[1]).publicKey)).toBe(true);
  expect(new X509Certificate(issued.body.svids[0].chain[1]).verify(root.publicKey)).toBe(true);
  return { bundle: bundle.text, entryId: entry.body.id as string };
}

describe('CA plugin (SQLite)', () => {
  it('runs attestation, issuance and rotation through the control plane', async () => {
    const server = await startTestServer({
      trustDomain: 'ward.test',
      plugins: [caPlugin({ env: {} })],
    });
    try {
      const { bundle, entryId } = await scenario(server.url);
      const rot = await http(server.url, 'POST', '/v1/ca/rotate', { body: {} });
      expect(rot.status).toBe(200);
      expect((await http(server.url, 'GET', '/v1/trust-bundle', { token: null })).text).toBe(
        bundle,
      );
      expect((await http(server.url, 'DELETE', `/v1/ca/entries/${entryId}`)).status).toBe(204);
      expect((await http(server.url, 'GET', `/v1/ca/entries/${entryId}`)).body.code).toBe(
        'CA_ENTRY_NOT_FOUND',
      );
      const doc = await http(server.url, 'GET', '/openapi.json', { token: null });
      expect(Object.keys(doc.body.paths)).toContain('/v1/agent/attest');
    } finally {
      await server.close();
    }
  });

  it('keeps the CA across restarts and refuses to start with the wrong seal key', async () => {
    const dataDir = tempDir();
    const key = generateSealKey();
    const a = await startTestServer({
      dataDir,
      trustDomain: 'ward.test',
      plugins: [caPlugin({ env: { WARD_CA_KEY: key } })],
    });
    const bundle = (await http(a.url, 'GET', '/v1/trust-bundle', { token: null })).text;
    await a.close();
    const b = await startTestServer({
      dataDir,
      trustDomain: 'ward.test',
      plugins: [caPlugin({ env: { WARD_CA_KEY: key } })],
    });
    expect((await http(b.url, 'GET', '/v1/trust-bundle', { token: null })).text).toBe(bundle);
    await b.close();
    await expect(
      startTestServer({
        dataDir,
        trustDomain: 'ward.test',
        plugins: [caPlugin({ env: { WARD_CA_KEY: generateSealKey() } })],
      }),
    ).rejects.toMatchObject({ code: 'CA_UNSEAL' });
  });
});

describe('CA plugin (PostgreSQL, two replicas)', async () => {
  const ok = await pgAvailable('CA plugin');
  it.skipIf(!ok)(
    'shares one CA between replicas; a rotation on one is seen by the other',
    async () => {
      const schema = await createPgSchema();
      const env = { WARD_CA_KEY: generateSealKey() };
      const a = await startTestServer({
        database: schema.url,
        trustDomain: 'ward.test',
        plugins: [caPlugin({ env })],
      });
      const b = await startTestServer({
        database: schema.url,
        trustDomain: 'ward.test',
        plugins: [caPlugin({ env })],
      });
      try {
        const { bundle } = await scenario(a.url);
        expect((await http(b.url, 'GET', '/v1/trust-bundle', { token: null })).text).toBe(bundle);
        const [r1, r2] = await Promise.all([
          http(a.url, 'POST', '/v1/ca/rotate', { body: {} }),
          http(b.url, 'POST', '/v1/ca/rotate', { body: {} }),
        ]);
        expect([r1.status, r2.status]).toEqual([200, 200]);
        expect(r1.body.intermediate.serial).not.toBe(r2.body.intermediate.serial);
        await scenario(b.url, 'n2');
      } finally {
        await a.close();
        await b.close();
        await schema.drop();
      }
    },
  );
});
