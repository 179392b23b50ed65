/**
 * Issue 18 part A: the node agent's local decision API. A real control plane (`startServer` with
 * the CA and ingest plugins, SQLite), a real agent (its bundle stream, its Unix socket, peer
 * credentials from the kernel), and clients that know nothing of Ward: node:http over the socket,
 * `curl --unix-socket`, and Python's standard library, as a Go, Python or Java service would ask.
 */
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ControlPlaneClient, type RunningAgent, startAgent } from '@ward/agent';
import {
  AGENT_DECISION_LOG_PATH,
  type BundleV1,
  DECIDE_AUDIENCE,
  type DecideResponseV1,
  type DryRunItemV1,
  type SignedBundleV1,
} from '@ward/api-types';
import { keyringFromBundleKeys, mintPassport, PassportKeyring } from '@ward/passport';
import type { IntentionRule, PolicyDocument } from '@ward/policy';
import { createPdp } from '@ward/sdk';
import type { RunningServer } from '@ward/server';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlane, type TestPlane, waitFor } from './_node-agent.ts';

const ADMIN = 'decide-api-admin-token-0123456789';
const TD = 'prod.test';
const quiet = pino({ level: 'silent' });

const service = (name: string, extra: Record<string, unknown> = {}): PolicyDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { spiffeId: `spiffe://${TD}/ns/shop/sa/${name}`, ...extra },
});
const intention = (
  destination: string,
  mode: 'enforce' | 'dry-run',
  rules: IntentionRule[],
): PolicyDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name: `${destination}-access` },
  spec: { destination, mode, rules },
});
const POLICY = [
  service('orders'),
  service('payments'),
  service('billing'),
  service('inventory'),
  service('frontend'),
  service('checkout'),
  service('web', { passport: { mint: true } }),
  intention('orders', 'enforce', [
    {
      sources: ['frontend'],
      action: 'allow',
      permissions: [{ http: { methods: ['GET'], paths: [{ prefix: '/orders' }] } }],
    },
    {
      sources: ['web'],
      action: 'allow',
      when: 'passport.present && passport.attrs.?role.orValue("") == "admin"',
    },
  ]),
  // Soft-apply: payments' rules are dry-run, so a call they would deny proceeds and is reported.
  intention('payments', 'dry-run', [
    {
      sources: ['frontend'],
      action: 'allow',
      permissions: [{ http: { methods: ['POST'], paths: [{ prefix: '/payments' }] } }],
    },
  ]),
  intention('billing', 'enforce', [{ sources: ['frontend'], action: 'allow' }]),
  intention('inventory', 'enforce', [{ sources: ['frontend'], action: 'allow' }]),
];

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** POST over the agent's Unix socket with node:http (one keep-alive connection per call here). */
function post(socketPath: string, path: string, body: string | object): Promise<Reply> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        socketPath,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          data += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(data) }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${cmd}: ${error.message}\n${stderr}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

const ask = (over: Record<string, unknown> = {}) => ({
  destination: 'orders',
  source: { service: 'frontend' },
  request: { method: 'GET', path: '/orders/1' },
  ...over,
});

describe('the local decision API on the node agent', () => {
  let plane: TestPlane;
  let server: RunningServer;
  let agent: RunningAgent;
  let socket: string;

  const admin = (method: string, path: string, body?: unknown) => plane.admin(method, path, body);

  beforeAll(async () => {
    plane = await startTestPlane({
      prefix: 'ward-decide-',
      adminToken: ADMIN,
      trustDomain: TD,
      policy: POLICY,
      server: { heartbeatMs: 3000 },
    });
    server = plane.server;
    // worker-1: this process (its uid) is orders and payments; billing runs as another uid.
    // worker-2: inventory.
    const me = process.getuid!();
    await plane.register(
      (
        [
          ['orders', 'worker-1', me],
          ['payments', 'worker-1', me],
          ['billing', 'worker-1', me + 4242],
          ['inventory', 'worker-2', me],
        ] as const
      ).map(([name, node, uid]) => ({ spiffeId: `spiffe://${TD}/ns/shop/sa/${name}`, node, uid })),
    );
    socket = join(plane.dir, 'agent.sock');
    agent = await startAgent({
      controlPlane: server.url,
      joinToken: await plane.joinToken('worker-1'),
      socketPath: socket,
      logger: quiet,
      bundleTiming: { minBackoffMs: 20, maxBackoffMs: 200 },
      decide: { publicKey: server.publicKey, listen: '127.0.0.1:0', logFlushIntervalMs: 100 },
    });
    await waitFor(
      'the local PDPs',
      () => agent.pdps!.services().sort(),
      (s) => s.join() === 'billing,orders,payments',
    );
  });

  let closed = false;
  afterAll(async () => {
    if (!closed) await agent?.close();
    await plane?.close();
  });

  it('allows and denies, with the rule and the reason', async () => {
    const allow = await post(socket, '/v1/decide', ask());
    expect(allow.status).toBe(200);
    expect(allow.body).toMatchObject({
      allowed: true,
      effect: 'allow',
      enforced: true,
      rule: 'orders-access#0',
      status: 200,
    });
    expect(allow.body.revision).toBeGreaterThan(0);

    const deny = await post(
      socket,
      '/v1/decide',
      ask({ request: { method: 'DELETE', path: '/orders/1' } }),
    );
    expect(deny.status).toBe(200);
    expect(deny.body).toMatchObject({
      allowed: false,
      effect: 'deny',
      enforced: true,
      rule: 'default',
      status: 403,
      problem: { code: 'MIDDLEWARE_DENIED', status: 403 },
    });
    expect(deny.body.reason).toMatch(/no rule of orders/);
    // The request is put in the middleware's canonical form: `..` and `%2F` tricks decide
    // like the router routes, the query is split off.
    const dotted = await post(
      socket,
      '/v1/decide',
      ask({ request: { method: 'GET', path: '/x/../orders/2?a=1' } }),
    );
    expect(dotted.body).toMatchObject({ allowed: true, rule: 'orders-access#0' });
    // A caller named by its SPIFFE ID is mapped to its service by the bundle.
    const bySpiffe = await post(
      socket,
      '/v1/decide',
      ask({ source: { spiffeId: `spiffe://${TD}/ns/shop/sa/frontend` } }),
    );
    expect(bySpiffe.body).toMatchObject({ allowed: true });
  });

  it('answers a batch in order, and bounds it', async () => {
    const inputs = [
      ask(),
      ask({ request: { method: 'POST', path: '/orders' } }),
      ask({ destination: 'payments', source: { service: 'checkout' } }),
    ];
    const r = await post(socket, '/v1/decide/batch', { inputs });
    expect(r.status).toBe(200);
    const d = r.body.decisions as DecideResponseV1[];
    expect(d.map((x) => x.allowed)).toEqual([true, false, true]);
    // payments is dry-run: the call proceeds, the complete policy would deny.
    expect(d[2]).toMatchObject({ effect: 'deny', enforced: false, dryRunDenied: true });

    const tooMany = await post(socket, '/v1/decide/batch', {
      inputs: Array.from({ length: 1001 }, () => ask()),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toMatchObject({ code: 'AGENT_DECIDE_BAD_REQUEST' });
    expect(tooMany.body.errors).toEqual([expect.objectContaining({ field: '/inputs' })]);
  });

  it('verifies the passport with the bundle keys: good, forged, expired', async () => {
    const web = await admin('GET', '/v1/bundles/web');
    const ring = keyringFromBundleKeys(
      (JSON.parse((web.body as SignedBundleV1).payload) as BundleV1).passportKeys,
    );
    const claims = { sub: 'ada', iss: 'web', aud: 'orders', attrs: { role: 'admin' } };
    const asWeb = (passport: string) =>
      post(
        socket,
        '/v1/decide',
        ask({
          source: { service: 'web' },
          passport,
          request: { method: 'PUT', path: '/orders/9' },
        }),
      );

    const good = await asWeb(mintPassport(claims, ring));
    expect(good.body).toMatchObject({ allowed: true, rule: 'orders-access#1' });

    const forgedRing = new PassportKeyring([{ kid: ring.current!.kid, key: Buffer.alloc(32, 7) }]);
    const forged = await asWeb(mintPassport(claims, forgedRing));
    expect(forged.body).toMatchObject({ allowed: false, status: 401, rule: null });
    expect((forged.body.problem as { code: string }).code).toMatch(/^PASSPORT_/);

    const past = Date.now() - 3_600_000;
    const iat = Math.floor(past / 1000);
    const expired = await asWeb(
      mintPassport({ ...claims, iat, exp: iat + 60 }, ring, { now: past }),
    );
    expect(expired.body).toMatchObject({ allowed: false, status: 401 });
    expect((expired.body.problem as { code: string }).code).toBe('PASSPORT_EXPIRED');

    // Without a passport the rule that reads one does not match.
    const none = await post(
      socket,
      '/v1/decide',
      ask({ source: { service: 'web' }, request: { method: 'PUT', path: '/orders/9' } }),
    );
    expect(none.body).toMatchObject({ allowed: false, status: 403 });
  });

  it('answers only about calls into the caller’s own services', async () => {
    // billing is on this node, but its entry is another uid's.
    const other = await post(socket, '/v1/decide', ask({ destination: 'billing' }));
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({ code: 'AGENT_DECIDE_FORBIDDEN' });
    expect(other.body.detail).toMatch(/not service billing/);
    // inventory is another node's: the control plane refuses the agent its bundle.
    const elsewhere = await post(socket, '/v1/decide', ask({ destination: 'inventory' }));
    expect(elsewhere.status).toBe(403);
    // One forbidden destination refuses the whole batch.
    const batch = await post(socket, '/v1/decide/batch', {
      inputs: [ask(), ask({ destination: 'billing' })],
    });
    expect(batch.status).toBe(403);
  });

  it('refuses bad bodies with 400 naming the field, and oversized ones with 413', async () => {
    const bad = async (body: string | object, field: string) => {
      const r = await post(socket, '/v1/decide', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ code: 'AGENT_DECIDE_BAD_REQUEST', status: 400 });
      expect(r.body.errors).toEqual([expect.objectContaining({ field })]);
    };
    await bad('{"destination": ', '/');
    await bad({ source: {}, request: { method: 'GET', path: '/' } }, '/destination');
    await bad({ destination: 'orders' }, '/request');
    await bad(ask({ request: { path: '/x' } }), '/request/method');
    await bad(ask({ request: { method: 'GET' } }), '/request/path');
    await bad(ask({ time: 0 }), '/time');
    await bad(ask({ source: { service: 'Not A Service' } }), '/source/service');

    const big = await post(socket, '/v1/decide', ask({ route: 'x'.repeat(70_000) }));
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ code: 'AGENT_DECIDE_TOO_LARGE' });
    expect((await post(socket, '/v1/nothing', {})).status).toBe(404);
  });

  it('works with curl --unix-socket', async () => {
    const out = await run(
      'curl',
      [
        '-s',
        '--unix-socket',
        socket,
        '-H',
        'content-type: application/json',
        '--data-binary',
        '@-',
        'http://agent/v1/decide',
      ],
      JSON.stringify(ask()),
    );
    expect(JSON.parse(out)).toMatchObject({ allowed: true, rule: 'orders-access#0' });
  });

  it("works with Python's standard library (http.client over AF_UNIX)", async () => {
    const script = `
import http.client, json, socket, sys

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)

conn = UnixHTTPConnection(sys.argv[1])
out = []
for method in ("GET", "DELETE"):  # two requests on one keep-alive connection
    body = json.dumps({"destination": "orders", "source": {"service": "frontend"},
                       "request": {"method": method, "path": "/orders/7"}})
    conn.request("POST", "/v1/decide", body, {"Content-Type": "application/json"})
    res = conn.getresponse()
    out.append({"status": res.status, "decision": json.loads(res.read())})
print(json.dumps(out))
`;
    const out = JSON.parse(await run('python3', ['-c', script, socket])) as {
      status: number;
      decision: DecideResponseV1;
    }[];
    expect(out.map((o) => o.status)).toEqual([200, 200]);
    expect(out.map((o) => o.decision.allowed)).toEqual([true, false]);
  });

  it('still serves gRPC on the same socket (a PDP of the SDK takes its bundle there)', async () => {
    const pdp = createPdp({
      service: 'orders',
      agentSocket: socket,
      publicKey: server.publicKey,
      revisionFloor: false,
      logger: { warn() {}, error() {} },
    });
    try {
      await pdp.waitReady({ timeoutMs: 10_000 });
      expect(pdp.revision()).toBe(agent.pdps!.pdpFor('orders')!.revision());
    } finally {
      await pdp.close();
    }
  });

  it('on the loopback port, a JWT-SVID identifies the caller; nothing else does', async () => {
    const { host, port } = agent.decideAddress!;
    const url = `http://${host}:${port}/v1/decide`;
    const call = (headers: Record<string, string>, body: object = ask()) =>
      fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    const anonymous = await call({});
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: 'AGENT_DECIDE_UNAUTHENTICATED' });
    expect((await call({ authorization: 'Bearer not.a.jwt' })).status).toBe(401);

    const entry = agent.manager.entries.find((e) => e.spiffeId.endsWith('/sa/orders'))!;
    const { token } = await agent.manager.fetchJwt(entry.id, [DECIDE_AUDIENCE]);
    const ok = await call({ authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ allowed: true });
    // The orders identity may not ask about payments, though this process may over the socket.
    const scoped = await call(
      { authorization: `Bearer ${token}` },
      ask({ destination: 'payments' }),
    );
    expect(scoped.status).toBe(403);
    // A JWT-SVID for another audience is refused.
    const { token: other } = await agent.manager.fetchJwt(entry.id, ['payments']);
    expect((await call({ authorization: `Bearer ${other}` })).status).toBe(401);
  });

  it('ships its decision logs to the control plane: they show in the soft-apply report', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await post(
        socket,
        '/v1/decide',
        ask({
          destination: 'payments',
          source: { service: 'checkout' },
          request: { method: 'GET', path: `/payments/${i}` },
        }),
      );
      expect(r.body).toMatchObject({ allowed: true, dryRunDenied: true });
    }
    // The batch test asked once already: four would-denials of checkout → payments in all.
    const checkout = (b: { items: DryRunItemV1[] }) =>
      b.items.find((i) => i.source === 'checkout' && i.destination === 'payments');
    const report = await waitFor(
      'the dry-run report',
      async () => (await admin('GET', '/v1/reports/dry-run?since=1h&service=payments')).body,
      (b) => (checkout(b)?.count ?? 0) >= 4,
    );
    expect(checkout(report)).toMatchObject({ count: 4, rule: 'default' });
    expect(agent.decisionLog!.stats()).toMatchObject({ lastError: null });
    expect(agent.decisionLog!.stats().shipped).toBeGreaterThan(0);
  });

  it("an agent cannot ship another node's records", async () => {
    const record = (destination: string) => ({
      time: new Date().toISOString(),
      source: 'frontend',
      destination,
      method: 'GET',
      path: '/x',
      effect: 'allow',
      enforced: true,
      rule: `${destination}-access#0`,
      revision: 1,
    });
    const ship = async (records: object[]) => {
      const headers = await new ControlPlaneClient(server.url).proofHeaders(
        agent.manager.identity,
        'POST',
        AGENT_DECISION_LOG_PATH,
      );
      const res = await fetch(`${server.url}${AGENT_DECISION_LOG_PATH}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ records }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const refused = await ship([record('inventory')]);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'API_FORBIDDEN' });
    expect(JSON.stringify(refused.body)).toMatch(/worker-2|worker-1/);
    // In a mixed batch only its own node's record counts.
    const mixed = await ship([record('inventory'), record('orders')]);
    expect(mixed.status).toBe(200);
    expect(mixed.body).toMatchObject({ accepted: 1, rejected: 1 });
    // Without a proof: 401.
    const anonymous = await fetch(`${server.url}${AGENT_DECISION_LOG_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: [record('orders')] }),
    });
    expect(anonymous.status).toBe(401);
  });
  // Last: it closes the agent. A workload's kept-alive decision connection and a connection that
  // has not sent its first bytes yet must not keep the agent from stopping.
  it('closes with a kept-alive decision connection and a silent one open', async () => {
    const open = (send?: string) =>
      new Promise<import('node:net').Socket>((resolve, reject) => {
        const s = connect(socket, () => {
          if (send === undefined) return resolve(s);
          s.write(send);
          s.once('data', () => resolve(s)); // the answer came: the connection stays open
        });
        s.on('error', reject);
      });
    const body = JSON.stringify(ask());
    const kept = await open(
      `POST /v1/decide HTTP/1.1\r\nhost: agent\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    const silent = await open();
    const ended = (s: import('node:net').Socket) =>
      new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));
    closed = true;
    await agent.close();
    await Promise.all([ended(kept), ended(silent)]);
    expect(kept.destroyed && silent.destroyed).toBe(true);
  });
});
