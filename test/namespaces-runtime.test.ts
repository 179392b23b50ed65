/**
 * Issue 14 item 1, the runtime: two services named `payments`, in namespaces `team-a` and
 * `team-b`, end to end on a real control plane (SQLite, the ingest and fleet plugins, its HTTPS
 * listener with a client CA), real PDPs, the real middleware behind real mTLS, and real SVIDs of
 * Ward's CA: distinct bundles, decisions, decision-log edges and SVIDs. And the attacker who owns
 * `team-b/payments` (its token, its SVID, its workload on a node agent) gets nothing of
 * `team-a/payments`, nor of the default namespace's `payments`.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlaneClient, type RunningAgent, startAgent } from '@ward/agent';
import type { SignedBundleV1 } from '@ward/api-types';
import { generateSealKey } from '@ward/ca';
import { createPdp, type Pdp, wardHttp, workloadIdentity, type X509Svid } from '@ward/sdk';
import { caPlugin, fleetPlugin, ingestPlugin, type RunningServer, startServer } from '@ward/server';
import pino from 'pino';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCa, type TestSvid, testCa } from '../packages/server/test/_svids.ts';

const ADMIN = 'namespaces-runtime-admin-0123456789';
const TD = 'ns.test';
const id = (ns: string, name: string) => `spiffe://${TD}/ns/${ns}/sa/${name}`;
const quiet = { warn() {}, error() {} };

const DOCUMENTS = `
apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments, namespace: team-a }
spec: { owner: team-a }
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: checkout, namespace: team-a }
spec: { owner: team-a }
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: ledger, namespace: team-a }
spec: { owner: team-a }
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments, namespace: team-b }
spec: { owner: team-b }
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: checkout, namespace: team-b }
spec: { owner: team-b }
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments }
spec: { owner: platform }
---
# team-a's payments: its own checkout charges cards.
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: payments, namespace: team-a }
spec:
  destination: payments
  rules:
    - sources: [checkout]
      action: allow
      permissions: [{ http: { methods: [POST], paths: [{ exact: /charges }] } }]
---
# team-b's payments: its own checkout reads balances, nothing else.
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: payments, namespace: team-b }
spec:
  destination: payments
  rules:
    - sources: [checkout]
      action: allow
      permissions: [{ http: { methods: [GET], paths: [{ prefix: /balance }] } }]
---
# team-a's ledger takes writes from team-a's payments only.
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: ledger, namespace: team-a }
spec:
  destination: ledger
  rules:
    - sources: [payments]
      action: allow
      permissions: [{ http: { methods: [POST], paths: [{ exact: /entries }] } }]
---
# The default namespace's payments: whoever calls it is default/checkout (which does not exist).
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: payments }
spec:
  destination: payments
  rules:
    - sources: [checkout]
      action: allow
`;

function svidOf(s: TestSvid, bundlePem: string): X509Svid {
  const leaf = new X509Certificate(s.cert);
  return {
    spiffeId: leaf.subjectAltName!.replace(/^URI:/, '').split(',')[0]!,
    certChainPem: s.cert,
    keyPem: s.key,
    bundlePem,
    hint: '',
    notAfter: leaf.validToDate,
    serialNumber: leaf.serialNumber,
  };
}

describe('two payments in two namespaces, end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-ns-runtime-'));
  let ca: TestCa;
  let server: RunningServer;
  /** The HTTPS listener (client SVIDs authenticate there), by the name on its certificate. */
  let tlsUrl: string;
  const tokens: Record<string, string> = {};
  const pdps: Pdp[] = [];
  const closers: (() => Promise<void>)[] = [];

  const api = async (
    method: string,
    path: string,
    token: string,
    body?: unknown,
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field
  ): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const pdpOf = (service: string, how: { token: string } | { svid: X509Svid }) => {
    const pdp = createPdp({
      service,
      ...('token' in how
        ? { controlPlanes: server.url, token: how.token }
        : { controlPlanes: tlsUrl, svid: { source: { svid: how.svid } } }),
      publicKey: server.publicKey,
      revisionFloor: false,
      logger: quiet,
      backoff: { initialMs: 50, maxMs: 300 },
    });
    pdps.push(pdp);
    return pdp;
  };
  const decide = (pdp: Pdp, caller: string, method: string, path: string) =>
    pdp.decide({ source: { service: caller }, request: { method, path } });

  beforeAll(async () => {
    ca = await testCa(TD);
    server = await startServer({
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: ADMIN,
      trustDomain: TD,
      plugins: [ingestPlugin(), fleetPlugin()],
      logger: false,
    });
    const serving = await ca.issue(`spiffe://${TD}/ward/control-plane`, {
      dnsNames: ['localhost'],
    });
    const tls = await server.listenTls(
      { cert: serving.cert, key: serving.key, clientCa: ca.bundle },
      { host: '127.0.0.1' },
    );
    tlsUrl = `https://localhost:${new URL(tls.url).port}`;
    const applied = await api('POST', '/v1/apply', ADMIN, {
      files: [{ name: 'two-teams.yaml', content: DOCUMENTS }],
    });
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    for (const service of ['team-a/payments', 'team-b/payments', 'payments']) {
      const created = await api('POST', '/v1/tokens', ADMIN, {
        name: `pdp ${service}`,
        scope: 'pdp',
        services: [service],
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      tokens[service] = created.body.token;
    }
  });

  afterAll(async () => {
    for (const p of pdps) await p.close();
    for (const c of closers) await c();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves each namespace its own bundle, by percent-encoded key', async () => {
    const a = await api('GET', '/v1/bundles/team-a%2Fpayments', tokens['team-a/payments']!);
    const b = await api('GET', '/v1/bundles/team-b%2Fpayments', tokens['team-b/payments']!);
    const d = await api('GET', '/v1/bundles/payments', tokens.payments!);
    for (const r of [a, b, d]) expect(r.status).toBe(200);
    const payload = (r: { body: SignedBundleV1 }) =>
      JSON.parse(r.body.payload) as {
        service: string;
        documents: { kind: string; metadata: { name: string; namespace?: string } }[];
      };
    expect(payload(a).service).toBe('team-a/payments');
    expect(payload(b).service).toBe('team-b/payments');
    expect(payload(d).service).toBe('payments');
    expect(new Set([a.body.hash, b.body.hash, d.body.hash]).size).toBe(3);
    // Each bundle carries its own namespace's intention and the callers it names, nothing of
    // the other team's.
    const docs = (r: typeof a) =>
      payload(r)
        .documents.map((x) => `${x.kind} ${x.metadata.namespace ?? 'default'}/${x.metadata.name}`)
        .sort();
    expect(docs(a)).toEqual([
      'Intention team-a/payments',
      'Service team-a/checkout',
      'Service team-a/payments',
    ]);
    expect(docs(b)).toEqual([
      'Intention team-b/payments',
      'Service team-b/checkout',
      'Service team-b/payments',
    ]);
    expect(docs(d)).toEqual(['Intention default/payments', 'Service default/payments']);
    // `default/payments` is the default namespace's key `payments`.
    const written = await api('GET', '/v1/bundles/default%2Fpayments', tokens.payments!);
    expect(written.status).toBe(200);
    expect(written.body.hash).toBe(d.body.hash);
  });

  it("a team-b/payments token reads no other payments' bundle or stream", async () => {
    const thief = tokens['team-b/payments']!;
    for (const path of [
      '/v1/bundles/team-a%2Fpayments',
      '/v1/bundles/payments',
      '/v1/bundles/default%2Fpayments',
      '/v1/watch?service=team-a%2Fpayments',
      '/v1/watch?service=payments',
      '/v1/watch?service=default%2Fpayments',
    ]) {
      const r = await api('GET', path, thief);
      expect(r.status, path).toBe(403);
      expect(r.body.code, path).toBe('API_FORBIDDEN');
    }
    // Its own stream opens (the keyed name travels percent-encoded).
    const controller = new AbortController();
    const own = await fetch(`${server.url}/v1/watch?service=team-b%2Fpayments`, {
      headers: { authorization: `Bearer ${thief}` },
      signal: controller.signal,
    });
    expect(own.status).toBe(200);
    controller.abort();
    await own.body?.cancel().catch(() => {});
  });

  it('decides each payments with its own policy (distinct decisions)', async () => {
    const a = pdpOf('team-a/payments', { token: tokens['team-a/payments']! });
    const b = pdpOf('team-b/payments', { token: tokens['team-b/payments']! });
    await Promise.all([a.ready, b.ready]);
    expect(a.service).toBe('team-a/payments');
    expect(decide(a, 'team-a/checkout', 'POST', '/charges')).toMatchObject({
      allowed: true,
      rule: { policy: 'team-a/payments', index: 0 },
    });
    expect(decide(a, 'team-b/checkout', 'POST', '/charges').allowed).toBe(false);
    expect(decide(a, 'checkout', 'POST', '/charges').allowed).toBe(false);
    expect(decide(a, 'team-a/checkout', 'GET', '/balance').allowed).toBe(false);
    expect(decide(b, 'team-b/checkout', 'GET', '/balance')).toMatchObject({
      allowed: true,
      rule: { policy: 'team-b/payments', index: 0 },
    });
    expect(decide(b, 'team-a/checkout', 'GET', '/balance').allowed).toBe(false);
    expect(decide(b, 'team-b/checkout', 'POST', '/charges').allowed).toBe(false);
    // The SPIFFE IDs map to keys through each bundle's Service documents.
    expect(a.serviceForSpiffeId(id('team-a', 'checkout'))).toBe('team-a/checkout');
    expect(b.serviceForSpiffeId(id('team-b', 'checkout'))).toBe('team-b/checkout');
    expect(a.serviceForSpiffeId(id('team-b', 'checkout'))).toBeUndefined();
  });

  it('a PDP with an SVID reads only the bundle of the key its SPIFFE ID names', async () => {
    const teamA = svidOf(await ca.issue(id('team-a', 'payments')), ca.bundle);
    const teamB = svidOf(await ca.issue(id('team-b', 'payments')), ca.bundle);
    const plain = svidOf(await ca.issue(id('default', 'payments')), ca.bundle);
    // Distinct SVIDs: one SPIFFE ID per key, the namespace in the path.
    expect(new Set([teamA.spiffeId, teamB.spiffeId, plain.spiffeId]).size).toBe(3);
    const own = pdpOf('team-a/payments', { svid: teamA });
    await own.ready;
    expect(decide(own, 'team-a/checkout', 'POST', '/charges').allowed).toBe(true);
    // team-b's SVID asking for team-a's (or the default) payments is refused, by the server.
    for (const target of ['team-a/payments', 'payments']) {
      const stolen = pdpOf(target, { svid: teamB });
      await expect(stolen.waitReady({ timeoutMs: 1500 })).rejects.toMatchObject({
        code: 'PDP_NOT_READY',
      });
      expect(stolen.status().lastError?.code, target).toBe('PDP_UNAUTHORIZED');
    }
    // The same refusal straight on the HTTPS listener: its SVID is team-b/payments, not payments.
    const asTeamB = new Agent({
      connect: { ca: ca.bundle, cert: teamB.certChainPem, key: teamB.keyPem },
    });
    try {
      const res = await request(`${tlsUrl}/v1/bundles/payments`, { dispatcher: asTeamB });
      const body = (await res.body.json()) as { code: string; detail: string };
      expect(res.statusCode).toBe(403);
      expect(body.detail).toMatch(/team-b\/payments may not read payments/);
    } finally {
      await asTeamB.close();
    }
  });

  it('keeps decision-log edges apart, and a team-b PDP cannot report as team-a', async () => {
    const now = new Date().toISOString();
    const record = (source: string, destination: string, rule: string) => ({
      time: now,
      source,
      destination,
      method: 'POST',
      path: '/charges',
      effect: 'deny' as const,
      enforced: true,
      rule,
      revision: 1,
    });
    const ship = (service: string, records: unknown[]) =>
      api('POST', '/v1/decision-logs', tokens[service]!, { records });
    // Each PDP reports its own destination's denials, named by keys and rule keys.
    expect(
      (await ship('team-a/payments', [record('team-b/checkout', 'team-a/payments', 'default')]))
        .status,
    ).toBe(200);
    expect(
      (
        await ship('team-b/payments', [
          record('team-b/checkout', 'team-b/payments', 'team-b/payments#0'),
        ])
      ).status,
    ).toBe(200);
    // The attacker: team-b's PDP reporting calls into team-a's payments, or the default one.
    for (const destination of ['team-a/payments', 'payments']) {
      const forged = await ship('team-b/payments', [
        record('team-a/checkout', destination, 'default'),
      ]);
      expect(forged.status, destination).toBe(403);
      expect(forged.body.code).toBe('API_FORBIDDEN');
      expect(forged.body.errors[0]).toMatchObject({ field: '/records/0/destination' });
    }
    // A rule of the other namespace's intention is not a rule of this destination.
    const wrongRule = await ship('team-a/payments', [
      record('team-a/checkout', 'team-a/payments', 'team-b/payments#0'),
    ]);
    expect(wrongRule.status).toBe(400);
    const denials = async (destination: string) => {
      // The ingestor commits in the background: poll a little.
      let items: { source: string; destination: string; rule: string }[] = [];
      for (let i = 0; i < 40 && items.length === 0; i++) {
        const r = await api(
          'GET',
          `/v1/decision-logs/denials?since=1h&destination=${encodeURIComponent(destination)}`,
          ADMIN,
        );
        items = r.body.items;
        if (items.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      return items.map((i) => `${i.source} → ${i.destination} (${i.rule})`);
    };
    expect(await denials('team-a/payments')).toEqual([
      'team-b/checkout → team-a/payments (default)',
    ]);
    expect(await denials('team-b/payments')).toEqual([
      'team-b/checkout → team-b/payments (team-b/payments#0)',
    ]);
    expect(await denials('payments')).toEqual([]);
  });

  it('fleet reports: a PDP reports only its own key', async () => {
    const report = (service: string) => ({
      instance: `i-${service.replace('/', '-')}`,
      service,
      revision: 1,
      bundleAt: null,
      connected: true,
      version: 'test',
      startedAt: new Date().toISOString(),
      decisions: { allowed: 0, denied: 0, dryRunDenied: 0 },
    });
    const thief = tokens['team-b/payments']!;
    for (const service of ['team-a/payments', 'payments', 'default/payments']) {
      const r = await api('POST', '/v1/status/pdp', thief, report(service));
      expect(r.status, service).toBe(403);
    }
    expect((await api('POST', '/v1/status/pdp', thief, report('team-b/payments'))).status).toBe(
      204,
    );
    // `default/payments` is stored under its key.
    expect(
      (await api('POST', '/v1/status/pdp', tokens.payments!, report('default/payments'))).status,
    ).toBe(204);
    // The reports above (the running PDPs of this file report too, under their own instances).
    const fleet = await api('GET', '/v1/fleet', ADMIN);
    const mine = (fleet.body.items as { kind: string; instance: string; service: string }[])
      .filter((m) => m.kind === 'pdp' && m.instance.startsWith('i-'))
      .map((m) => `${m.instance} ${m.service}`)
      .sort();
    expect(mine).toEqual(['i-default-payments payments', 'i-team-b-payments team-b/payments']);
    // A malformed key is refused by name and field.
    const bad = await api('POST', '/v1/status/pdp', thief, report('Team-B/payments'));
    expect(bad.status).toBe(400);
  });

  it('the middleware behind mTLS: an SVID of team-b/payments is never team-a/payments', async () => {
    const ledgerPdp = pdpOf('team-a/ledger', { token: await ledgerToken() });
    await ledgerPdp.ready;
    const serving = await ca.issue(id('team-a', 'ledger'), { dnsNames: ['localhost'] });
    const seen: string[] = [];
    const ledger: Server = createHttpsServer(
      {
        cert: serving.cert,
        key: serving.key,
        ca: ca.bundle,
        requestCert: true,
        rejectUnauthorized: false,
      },
      wardHttp({ decider: ledgerPdp, service: 'team-a/ledger' }, (req, res) => {
        seen.push(String(req.ward?.source.service));
        res.end('written');
      }),
    );
    await new Promise<void>((r) => ledger.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => ledger.close(() => r())));
    const url = `https://localhost:${(ledger.address() as AddressInfo).port}/entries`;
    const call = async (spiffeId: string) => {
      const client = svidOf(await ca.issue(spiffeId), ca.bundle);
      const dispatcher = new Agent({
        connect: { ca: ca.bundle, cert: client.certChainPem, key: client.keyPem },
      });
      try {
        const res = await request(url, { method: 'POST', dispatcher });
        const text = await res.body.text();
        return { status: res.statusCode, text };
      } finally {
        await dispatcher.close();
      }
    };
    expect((await call(id('team-a', 'payments'))).status).toBe(200);
    for (const attacker of [id('team-b', 'payments'), id('default', 'payments')]) {
      const r = await call(attacker);
      expect(r.status, attacker).toBe(403);
      const caller = attacker.includes('team-b') ? 'team-b/payments' : 'payments';
      expect(JSON.parse(r.text).detail).toContain(`${caller} → team-a/ledger`);
    }
    expect(seen).toEqual(['team-a/payments']);
  });

  async function ledgerToken(): Promise<string> {
    const created = await api('POST', '/v1/tokens', ADMIN, {
      name: 'pdp team-a/ledger',
      scope: 'pdp',
      services: ['team-a/ledger'],
    });
    expect(created.status).toBe(201);
    return created.body.token;
  }
});

describe('two payments through the node agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-ns-agent-'));
  let server: RunningServer;
  let agent: RunningAgent;
  const socketPath = join(dir, 'agent.sock');
  const pdps: Pdp[] = [];
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };
  const agentPdp = (service: string) => {
    const pdp = createPdp({
      service,
      agentSocket: socketPath,
      publicKey: server.publicKey,
      revisionFloor: false,
      logger: quiet,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    pdps.push(pdp);
    return pdp;
  };

  beforeAll(async () => {
    server = await startServer({
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: ADMIN,
      trustDomain: TD,
      plugins: [caPlugin({ env: { WARD_CA_KEY: generateSealKey() }, agentSweepMs: 200 })],
      logger: false,
    });
    const applied = await admin('POST', '/v1/apply', {
      files: [{ name: 'two-teams.yaml', content: DOCUMENTS }],
    });
    expect(applied.status).toBe(200);
    // This process is team-b's payments on worker-1 (registered by its key); team-a's payments
    // runs on worker-2.
    const mine = await admin('POST', '/v1/ca/entries', {
      service: 'team-b/payments',
      node: 'worker-1',
      selectors: [`unix:uid:${process.getuid!()}`],
    });
    expect(mine.status).toBe(201);
    expect(mine.body.spiffeId).toBe(id('team-b', 'payments'));
    const theirs = await admin('POST', '/v1/ca/entries', {
      service: 'team-a/payments',
      node: 'worker-2',
      selectors: [`unix:uid:${process.getuid!()}`],
    });
    expect(theirs.body.spiffeId).toBe(id('team-a', 'payments'));
    const { body } = await admin('POST', '/v1/ca/join-tokens', { node: 'worker-1' });
    agent = await startAgent({
      controlPlane: server.url,
      joinToken: body.token!,
      socketPath,
      logger: pino({ level: 'silent' }),
      bundleTiming: { minBackoffMs: 20, maxBackoffMs: 200 },
    });
  });

  afterAll(async () => {
    for (const p of pdps) await p.close();
    await agent?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("issues the workload team-b's SVID and bundle, and never team-a's or the default one", async () => {
    const identity = await workloadIdentity({ socketPath });
    try {
      expect(identity.svid.spiffeId).toBe(id('team-b', 'payments'));
    } finally {
      identity.close();
    }
    const own = agentPdp('team-b/payments');
    await own.waitReady({ timeoutMs: 10_000 });
    expect(
      own.decide({
        source: { service: 'team-b/checkout' },
        request: { method: 'GET', path: '/balance' },
      }).allowed,
    ).toBe(true);
    // The agent holds the node's bundles by key: team-b's payments only.
    expect(agent.bundles?.get('team-b/payments')?.spiffeId).toBe(id('team-b', 'payments'));
    expect(agent.bundles?.get('team-a/payments')).toBeUndefined();
    expect(agent.bundles?.get('payments')).toBeUndefined();
    for (const target of ['team-a/payments', 'payments', 'default/payments']) {
      const stolen = agentPdp(target);
      await expect(stolen.waitReady({ timeoutMs: 1500 }), target).rejects.toMatchObject({
        code: 'PDP_NOT_READY',
      });
      expect(stolen.status().lastError?.code, target).toBe('PDP_UNAUTHORIZED');
    }
    // Nor can the agent itself fetch team-a's bundle: it is not a service of its node.
    const client = new ControlPlaneClient(server.url);
    await expect(client.bundle(agent.manager.identity, 'team-a/payments')).rejects.toMatchObject({
      status: 403,
    });
    const fetched = (await client.bundle(agent.manager.identity, 'team-b/payments')) as {
      service: string;
    };
    expect(fetched.service).toBe('team-b/payments');
  });
});
