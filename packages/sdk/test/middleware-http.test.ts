import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Decider, type DecisionLogEntry, toRecordV1, wardHttp } from '../src/index.ts';
import { call, close, listen, type Reply, tlsAgent } from './_http-client.ts';
import { fixtureDecider, fixturePolicySet, passport } from './_policy-fixture.ts';
import { makeTlsFixture, type TlsFixture } from './_tls-fixture.ts';

/** The handler echoes what the middleware handed it. */
const echo = wardHandler();
function wardHandler() {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        service: req.ward?.source.service ?? null,
        spiffeId: req.ward?.source.spiffeId ?? null,
        identity: req.ward?.identity,
        dryRunDenied: req.ward?.dryRunDenied,
      }),
    );
  };
}

describe('node:http middleware over mTLS', () => {
  let tls: TlsFixture;
  let server: Server;
  let url: string;
  const log: DecisionLogEntry[] = [];
  const agents: Record<string, Agent> = {};

  beforeAll(async () => {
    tls = makeTlsFixture(['frontend', 'monitoring', 'payments']);
    server = createHttpsServer(
      {
        ...tls.server,
        ca: tls.ca,
        requestCert: true,
        // Let unverified clients connect, so the test shows the middleware itself ignores them.
        rejectUnauthorized: false,
      },
      wardHttp(
        { decider: fixtureDecider(), service: 'orders', log: { record: (e) => log.push(e) } },
        echo,
      ),
    );
    url = await listen(server, 'https');
    for (const name of ['frontend', 'monitoring', 'payments'])
      agents[name] = tlsAgent(tls.ca, tls.clients[name]);
    agents.rogue = tlsAgent(tls.ca, tls.rogue);
    agents.none = tlsAgent(tls.ca);
  });
  afterAll(async () => {
    await Promise.all(Object.values(agents).map((a) => a.close()));
    await close(server);
  });

  const as = (
    who: string,
    path: string,
    init: { method?: string; headers?: Record<string, string> } = {},
  ) => call(`${url}${path}`, { ...init, dispatcher: agents[who] });

  it('admits an allowed caller and hands it the verified identity', async () => {
    const r = await as('frontend', '/orders/42?debug=1');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      service: 'frontend',
      spiffeId: 'spiffe://ward.test/ns/shop/sa/frontend',
      identity: 'mtls',
      dryRunDenied: false,
    });
    const last = log.at(-1)!;
    expect(toRecordV1(last)).toMatchObject({
      source: 'frontend',
      destination: 'orders',
      method: 'GET',
      path: '/orders/{id}',
      effect: 'allow',
      enforced: true,
      rule: 'orders-access#1',
      revision: 42,
    });
  });

  it('answers 403 with a problem body naming the rule to a denied caller', async () => {
    const r = await as('monitoring', '/orders/42');
    expect(r.status).toBe(403);
    expect(r.contentType).toBe('application/problem+json');
    expect(r.body).toMatchObject({
      status: 403,
      title: 'Forbidden',
      code: 'MIDDLEWARE_DENIED',
      rule: 'orders-access#0',
      reason: expect.stringContaining('orders-access#0'),
    });
    expect(r.body.detail).toContain('monitoring');
  });

  it('denies by default what no rule allows, and says so', async () => {
    const r = await as('frontend', '/orders/42', { method: 'DELETE' });
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ code: 'MIDDLEWARE_DENIED', rule: 'default' });
    expect(r.body.reason).toContain('denied by default');
  });

  it('lets a dry-run denial through and marks it, so the log shows a would-deny', async () => {
    const r = await as('frontend', '/orders/export');
    expect(r.status).toBe(200);
    expect(r.body.dryRunDenied).toBe(true);
    expect(toRecordV1(log.at(-1)!)).toMatchObject({
      effect: 'deny',
      enforced: false,
      rule: 'orders-export-freeze#0',
    });
  });

  it('ignores a certificate from an untrusted CA: the caller is anonymous', async () => {
    const r: Reply = await as('rogue', '/orders/42');
    expect(r.status).toBe(403);
    expect(r.body.rule).toBe('default');
    expect(log.at(-1)!.source).toBe('anonymous');
  });

  it('pins the trust domain when told: a peer of another one is anonymous', async () => {
    const pinned = createHttpsServer(
      { ...tls.server, ca: tls.ca, requestCert: true, rejectUnauthorized: false },
      wardHttp({ decider: fixtureDecider(), service: 'orders', trustDomain: 'other.test' }, echo),
    );
    const u = await listen(pinned, 'https');
    const agent = tlsAgent(tls.ca, tls.clients.frontend);
    const r = await call(`${u}/orders/1`, { dispatcher: agent });
    await agent.close();
    await close(pinned);
    expect(r.status).toBe(403);
    expect(r.body.rule).toBe('default');
  });

  it('never takes identity from a header unless development mode enables it', async () => {
    const r = await as('none', '/orders/42', { headers: { 'x-ward-source': 'frontend' } });
    expect(r.status).toBe(403);
    expect(log.at(-1)!.source).toBe('anonymous');
  });
});

describe('node:http middleware with the development identity header', () => {
  let server: Server;
  let url: string;
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => warnings.push(w.code ?? '');

  beforeAll(async () => {
    process.on('warning', onWarning);
    server = createHttpServer(
      wardHttp(
        { decider: fixtureDecider(), service: 'orders', devIdentityHeader: 'X-Ward-Source' },
        echo,
      ),
    );
    url = await listen(server);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    await close(server);
  });

  it('reads the caller from the header, and warns that this is for development', async () => {
    const r = await call(`${url}/orders/1`, { headers: { 'x-ward-source': 'frontend' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ service: 'frontend', identity: 'dev-header' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toContain('WARD_DEV_IDENTITY');
  });

  it('accepts a SPIFFE ID in the header and maps it by convention', async () => {
    const r = await call(`${url}/orders`, {
      method: 'POST',
      headers: { 'x-ward-source': 'spiffe://ward.test/ns/shop/sa/frontend' },
    });
    expect(r.status).toBe(200);
    expect(r.body.spiffeId).toBe('spiffe://ward.test/ns/shop/sa/frontend');
  });

  it.each(['not a name', 'spiffe://Bad/../x', 'x'.repeat(300)])(
    'answers 401 to a malformed claimed identity %#',
    async (value) => {
      const r = await call(`${url}/orders/1`, { headers: { 'x-ward-source': value } });
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ code: 'MIDDLEWARE_BAD_IDENTITY', status: 401 });
    },
  );

  it('refuses a passport when no keys are configured, as a 401, not a crash', async () => {
    const { passportKeys: _, ...keyless } = fixtureDecider();
    const s = createHttpServer(
      wardHttp({ decider: keyless, service: 'orders', devIdentityHeader: 'x-ward-source' }, echo),
    );
    const u = await listen(s);
    const r = await call(`${u}/orders/1`, {
      headers: { 'x-ward-source': 'frontend', 'x-ward-passport': passport({ sub: 'alice' }) },
    });
    await close(s);
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('MIDDLEWARE_PASSPORT_REJECTED');
  });

  it('takes a bare compiled PolicySet as its decider', async () => {
    const bare = createHttpServer(
      wardHttp(
        { decider: fixturePolicySet(), service: 'orders', devIdentityHeader: 'x-ward-source' },
        echo,
      ),
    );
    const u = await listen(bare);
    const ok = await call(`${u}/orders/1`, { headers: { 'x-ward-source': 'frontend' } });
    const no = await call(`${u}/orders/1`, { headers: { 'x-ward-source': 'monitoring' } });
    await close(bare);
    expect(ok.status).toBe(200);
    expect(no.status).toBe(403);
    expect(no.body.rule).toBe('orders-access#0');
  });

  it('fails closed with a 500 problem when the decider throws', async () => {
    const broken = createHttpServer(
      wardHttp(
        {
          decider: {
            decide() {
              throw new Error('engine bug');
            },
          },
          service: 'orders',
        },
        echo,
      ),
    );
    const u = await listen(broken);
    const r = await call(`${u}/orders/1`);
    await close(broken);
    expect(r.status).toBe(500);
    expect(r.body).toMatchObject({ code: 'MIDDLEWARE_DECIDE_FAILED' });
  });

  it('rejects misuse at construction with TypeError', () => {
    expect(() => wardHttp({ decider: fixtureDecider(), service: '' }, echo)).toThrow(TypeError);
    expect(() => wardHttp({ decider: {} as never, service: 'x' }, echo)).toThrow(TypeError);
  });
});

describe('passports', () => {
  let server: Server;
  let url: string;
  const log: DecisionLogEntry[] = [];
  const seenHeaders: Record<string, string>[] = [];

  beforeAll(async () => {
    const fixture = fixtureDecider();
    // Wraps the real decider only to look at the input the middleware builds.
    const decider: Decider = {
      ...fixture,
      decide(input) {
        seenHeaders.push({ ...input.request?.headers });
        return fixture.decide(input);
      },
    };
    server = createHttpServer(
      wardHttp(
        {
          decider,
          service: 'orders',
          devIdentityHeader: 'x-ward-source',
          log: { record: (e) => log.push(e) },
        },
        (req, res) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ passport: req.ward?.passport ?? null }));
        },
      ),
    );
    url = await listen(server);
  });
  afterAll(() => close(server));

  const withPassport = (token: string) =>
    call(`${url}/orders/1`, { headers: { 'x-ward-source': 'frontend', 'x-ward-passport': token } });

  it('verifies a passport with the bundle keys and hands its claims to the handler', async () => {
    const r = await withPassport(passport({ sub: 'alice', attrs: { role: 'admin' } }));
    expect(r.status).toBe(200);
    expect(r.body.passport).toMatchObject({
      sub: 'alice',
      attrs: { role: 'admin' },
      kid: 'k1',
      iss: 'frontend',
    });
    // The log keeps the subject and key id only; the policy never sees the passport header.
    expect(toRecordV1(log.at(-1)!)).toMatchObject({ subject: 'alice', kid: 'k1' });
    expect(JSON.stringify(toRecordV1(log.at(-1)!))).not.toContain('admin');
    expect(seenHeaders.at(-1)).not.toHaveProperty('x-ward-passport');
    expect(seenHeaders.at(-1)).toHaveProperty('x-ward-source', 'frontend');
  });

  it('answers 401 with the PASSPORT_* code to any tampered byte', async () => {
    const token = passport({ sub: 'alice' });
    const codes = new Set<string>();
    for (const i of [0, Math.floor(token.length / 2), token.length - 1]) {
      const c = token[i] === 'A' ? 'B' : 'A';
      const tampered = token.slice(0, i) + c + token.slice(i + 1);
      const r = await withPassport(tampered);
      expect(r.status).toBe(401);
      expect(r.contentType).toBe('application/problem+json');
      expect(r.body.code).toMatch(/^PASSPORT_/);
      expect(r.body.reason).toBe(r.body.detail);
      codes.add(r.body.code);
    }
    expect(codes.size).toBeGreaterThan(0);
  });

  it('answers 401 PASSPORT_EXPIRED to an expired passport', async () => {
    const now = Math.floor(Date.now() / 1000);
    const r = await withPassport(passport({ sub: 'alice', iat: now - 3600, exp: now - 600 }));
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('PASSPORT_EXPIRED');
  });

  it('answers 401 to garbage, never crashing', async () => {
    for (const token of ['', 'x', '....', 'a'.repeat(10_000), '\u00e9t\u00e9']) {
      const r = await withPassport(token);
      expect(r.status).toBe(401);
      expect(r.body.code).toMatch(/^PASSPORT_|MIDDLEWARE_PASSPORT_REJECTED/);
    }
  });
});
