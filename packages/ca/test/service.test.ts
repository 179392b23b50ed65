import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_PROOF_HEADER,
  CaService,
  caRequestListener,
  createCsr,
  generateKeyPair,
  generateSealKey,
  MemoryCaStore,
  parseSealKey,
  readTokenReview,
  signAgentProof,
  validateJwtSvid,
} from '../src/index.ts';
import { openssl } from './_fixtures.ts';

const ADMIN = 'admin-secret';

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
  };
}

describe('CA service over HTTP', () => {
  let server: Server;
  let base: string;
  let store: MemoryCaStore;
  let service: CaService;
  const admin = { authorization: `Bearer ${ADMIN}` };

  beforeAll(async () => {
    store = new MemoryCaStore();
    service = new CaService({
      store,
      sealKey: parseSealKey(generateSealKey()),
      trustDomain: 'example.org',
    });
    server = createServer(caRequestListener(service, { isAdmin: (h) => h === `Bearer ${ADMIN}` }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("attests with a one-time join token, then issues only for the agent's own entries", async () => {
    expect((await call(base, 'POST', '/v1/ca/join-tokens', { node: 'n1' })).status).toBe(403);
    const jt = await call(
      base,
      'POST',
      '/v1/ca/join-tokens',
      { node: 'n1', ttlSeconds: 60 },
      admin,
    );
    expect(jt.status).toBe(201);
    expect(jt.body.spiffeId).toBe('spiffe://example.org/ward/agent/n1');
    const mine = await call(
      base,
      'POST',
      '/v1/ca/entries',
      {
        spiffeId: 'spiffe://example.org/ns/a/sa/web',
        node: 'n1',
        selectors: ['unix:uid:1000'],
        ttlSeconds: 120,
      },
      admin,
    );
    expect(mine.status).toBe(201);
    const theirs = await call(
      base,
      'POST',
      '/v1/ca/entries',
      { spiffeId: 'spiffe://example.org/ns/a/sa/db', node: 'n2', selectors: ['unix:uid:1000'] },
      admin,
    );
    const keys = await generateKeyPair();
    // A bad CSR does not burn the token.
    const bad = await call(base, 'POST', '/v1/agent/attest', {
      joinToken: jt.body.token,
      csr: 'AAAA',
    });
    expect(bad.body.code).toBe('CA_BAD_CSR');
    const att = await call(base, 'POST', '/v1/agent/attest', {
      joinToken: jt.body.token,
      csr: await createCsr(keys),
    });
    expect(att.status).toBe(200);
    expect(att.body.spiffeId).toBe('spiffe://example.org/ward/agent/n1');
    // Single use.
    const again = await call(base, 'POST', '/v1/agent/attest', {
      joinToken: jt.body.token,
      csr: await createCsr(keys),
    });
    expect(again).toMatchObject({ status: 401, body: { code: 'CA_JOIN_TOKEN_INVALID' } });

    const proof = (method: string, path: string) =>
      signAgentProof({
        privateKey: keys.privateKey,
        chainPem: att.body.chain,
        spiffeId: att.body.spiffeId,
        method,
        path,
      });
    const sync = await call(base, 'GET', '/v1/agent/sync', undefined, {
      [AGENT_PROOF_HEADER]: await proof('GET', '/v1/agent/sync'),
    });
    expect(sync.status).toBe(200);
    expect(sync.body.entries.map((e: { id: string }) => e.id)).toEqual([mine.body.id]);
    // A proof is bound to its method and path.
    const wrong = await call(base, 'GET', '/v1/agent/sync', undefined, {
      [AGENT_PROOF_HEADER]: await proof('POST', '/v1/agent/svids'),
    });
    expect(wrong.body.code).toBe('CA_AGENT_PROOF');
    expect((await call(base, 'GET', '/v1/agent/sync')).body.code).toBe('CA_AGENT_PROOF');

    const wk = await generateKeyPair();
    const issued = await call(
      base,
      'POST',
      '/v1/agent/svids',
      { csrs: [{ entryId: mine.body.id, csr: await createCsr(wk) }] },
      { [AGENT_PROOF_HEADER]: await proof('POST', '/v1/agent/svids') },
    );
    expect(issued.status).toBe(200);
    expect(issued.body.svids[0].spiffeId).toBe('spiffe://example.org/ns/a/sa/web');
    expect(issued.body.svids[0].notAfter - Date.now()).toBeLessThanOrEqual(120_000);
    const bundle = (await call(base, 'GET', '/v1/trust-bundle')).body as string;
    expect(
      openssl(
        {
          'b.pem': bundle,
          'i.pem': issued.body.svids[0].chain[1],
          'l.pem': issued.body.svids[0].chain[0],
        },
        ['verify', '-CAfile', 'b.pem', '-untrusted', 'i.pem', 'l.pem'],
      ),
    ).toContain('OK');
    const denied = await call(
      base,
      'POST',
      '/v1/agent/svids',
      { csrs: [{ entryId: theirs.body.id, csr: await createCsr(wk) }] },
      { [AGENT_PROOF_HEADER]: await proof('POST', '/v1/agent/svids') },
    );
    expect(denied).toMatchObject({
      status: 403,
      body: { code: 'CA_NOT_AUTHORIZED', errors: [{ field: 'csrs[0].entryId' }] },
    });

    const jwt = await call(
      base,
      'POST',
      '/v1/agent/jwt-svids',
      { entryId: mine.body.id, audience: ['orders'] },
      { [AGENT_PROOF_HEADER]: await proof('POST', '/v1/agent/jwt-svids') },
    );
    const jwks = (await call(base, 'GET', '/v1/jwt-bundle')).body;
    await expect(validateJwtSvid(jwt.body.token, jwks, 'orders')).resolves.toMatchObject({
      spiffeId: 'spiffe://example.org/ns/a/sa/web',
    });
    await expect(validateJwtSvid(jwt.body.token, jwks, 'payments')).rejects.toMatchObject({
      code: 'CA_JWT_SVID',
    });

    const spiffe = await call(base, 'GET', '/v1/trust-bundle?format=spiffe');
    expect(spiffe.body.keys.filter((k: { use: string }) => k.use === 'x509-svid')).toHaveLength(1);

    // Rotation keeps the bundle and agent proofs working.
    const rot = await call(base, 'POST', '/v1/ca/rotate', {}, admin);
    expect(rot.status).toBe(200);
    expect((await call(base, 'GET', '/v1/trust-bundle')).body).toBe(bundle);
    const renewed = await call(
      base,
      'POST',
      '/v1/agent/renew',
      { csr: await createCsr(keys) },
      { [AGENT_PROOF_HEADER]: await proof('POST', '/v1/agent/renew') },
    );
    expect(renewed.status).toBe(200);
    expect(renewed.body.chain[1]).not.toBe(att.body.chain[1]);
  });

  it('expires join tokens and validates entry input with field names', async () => {
    let now = Date.now();
    const svc = new CaService({
      store: new MemoryCaStore(),
      sealKey: parseSealKey(generateSealKey()),
      trustDomain: 'example.org',
      now: () => now,
    });
    const { token } = await svc.createJoinToken({ node: 'n9', ttlSeconds: 1 });
    now += 2000;
    await expect(
      svc.attestAgent({ joinToken: token, csr: await createCsr(await generateKeyPair()) }),
    ).rejects.toMatchObject({ code: 'CA_JOIN_TOKEN_INVALID' });
    await expect(
      svc.createEntry({
        spiffeId: 'spiffe://example.org/x',
        node: 'n',
        selectors: ['unix:uid:abc'],
      }),
    ).rejects.toMatchObject({ code: 'CA_BAD_SELECTOR', field: 'selectors[0]' });
    await expect(
      svc.createEntry({ spiffeId: 'spiffe://example.org/x', node: 'n', selectors: [] }),
    ).rejects.toMatchObject({ code: 'CA_BAD_SELECTOR', field: 'selectors' });
    await expect(
      svc.createEntry({
        spiffeId: 'spiffe://example.org/x/',
        node: 'n',
        selectors: ['unix:uid:1'],
      }),
    ).rejects.toMatchObject({ code: 'CA_BAD_SPIFFE_ID', field: 'spiffeId' });
    await expect(
      svc.createEntry({
        spiffeId: 'spiffe://example.org/x',
        node: '../n',
        selectors: ['unix:uid:1'],
      }),
    ).rejects.toMatchObject({ code: 'CA_BAD_ENTRY', field: 'node' });
    await expect(
      svc.createEntry({
        spiffeId: 'spiffe://example.org/x',
        node: 'n',
        selectors: ['unix:uid:1'],
        extra: 1,
      }),
    ).rejects.toMatchObject({ code: 'CA_BAD_ENTRY', field: 'extra' });
  });

  it('registers a service key as its conventional SPIFFE ID, in its own namespace', async () => {
    const svc = new CaService({
      store: new MemoryCaStore(),
      sealKey: parseSealKey(generateSealKey()),
      trustDomain: 'example.org',
    });
    const entry = (service: unknown, extra: Record<string, unknown> = {}) =>
      svc.createEntry({ service, node: 'n1', selectors: ['unix:uid:1'], ...extra });
    expect((await entry('team-a/payments')).spiffeId).toBe(
      'spiffe://example.org/ns/team-a/sa/payments',
    );
    expect((await entry('team-b/payments')).spiffeId).toBe(
      'spiffe://example.org/ns/team-b/sa/payments',
    );
    // A bare name and `default/x` are the default namespace's service.
    expect((await entry('payments')).spiffeId).toBe('spiffe://example.org/ns/default/sa/payments');
    expect((await entry('default/ledger')).spiffeId).toBe(
      'spiffe://example.org/ns/default/sa/ledger',
    );
    for (const bad of ['Team-A/payments', 'a/b/c', '../payments', 'team-a/', 7, '']) {
      await expect(entry(bad), String(bad)).rejects.toMatchObject({
        code: 'CA_BAD_ENTRY',
        field: 'service',
      });
    }
    await expect(
      entry('team-a/payments', { spiffeId: 'spiffe://example.org/ns/team-b/sa/payments' }),
    ).rejects.toMatchObject({ code: 'CA_BAD_ENTRY', field: 'service' });
  });
});

describe('Kubernetes projected service-account token attestation (reading the review)', () => {
  // The apiserver call is the control plane's (packages/server/test/ca-token-review.test.ts runs
  // it against a real HTTPS apiserver stand-in); the CA decides what an answer means.
  const policy = { allowedServiceAccounts: ['ward:ward-agent'] };
  const answer = (token: string) => ({
    status:
      token === 'good'
        ? {
            authenticated: true,
            audiences: ['ward'],
            user: {
              username: 'system:serviceaccount:ward:ward-agent',
              extra: { 'authentication.kubernetes.io/node-name': ['worker-1'] },
            },
          }
        : token === 'other-sa'
          ? {
              authenticated: true,
              audiences: ['ward'],
              user: { username: 'system:serviceaccount:default:app' },
            }
          : token === 'no-audience'
            ? {
                authenticated: true,
                user: { username: 'system:serviceaccount:ward:ward-agent' },
              }
            : { authenticated: false, error: 'invalid bearer token' },
  });

  it('attests an agent from a reviewed token and refuses others', async () => {
    const asked: string[] = [];
    const svc = new CaService({
      store: new MemoryCaStore(),
      sealKey: parseSealKey(generateSealKey()),
      trustDomain: 'example.org',
      reviewK8sToken: async (token) => {
        asked.push(token);
        return readTokenReview(answer(token), policy);
      },
    });
    const csr = await createCsr(await generateKeyPair());
    await expect(svc.attestAgent({ k8sToken: 'good', csr })).resolves.toMatchObject({
      spiffeId: 'spiffe://example.org/ward/agent/worker-1',
    });
    for (const token of ['forged', 'other-sa', 'no-audience']) {
      await expect(svc.attestAgent({ k8sToken: token, csr })).rejects.toMatchObject({
        code: 'CA_ATTESTATION_FAILED',
      });
    }
    // A token of the wrong shape is refused before anyone is asked.
    await expect(svc.attestAgent({ k8sToken: 'x'.repeat(20_000), csr })).rejects.toMatchObject({
      code: 'CA_ATTESTATION_FAILED',
    });
    expect(asked).toEqual(['good', 'forged', 'other-sa', 'no-audience']);
    const unconfigured = new CaService({
      store: new MemoryCaStore(),
      sealKey: parseSealKey(generateSealKey()),
      trustDomain: 'example.org',
    });
    await expect(unconfigured.attestAgent({ k8sToken: 'good', csr })).rejects.toMatchObject({
      code: 'CA_ATTESTATION_FAILED',
    });
  });
});
