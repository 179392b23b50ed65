/**
 * Issue 18: Envoy ext_authz end to end through a real node agent. A real control plane
 * (`startServer` with the CA and ingest plugins, SQLite), a real agent with the decision API on
 * (its bundle stream, its local PDPs, its Unix socket, the kernel's peer credentials), and a stock
 * gRPC client built from the vendored Envoy protos sending the CheckRequest Envoy sends over that
 * socket, as the Envoy in front of `orders` would: allow, deny (the 403 problem), dry-run
 * (admitted, the would-deny rule in a header), out of scope (another workload's service); and the
 * decisions reach the control plane's soft-apply report.
 */
import { join } from 'node:path';
import { DRY_RUN_DENY_HEADER, type RunningAgent, startAgent } from '@ward/agent';
import type { DryRunItemV1 } from '@ward/api-types';
import type { PolicyDocument } from '@ward/policy';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
  authorizationClient,
  envoyCheck,
  problemOf,
} from '../packages/agent/test/_ext-authz.ts';
import { startTestPlane, type TestPlane, waitFor } from './_node-agent.ts';

const ADMIN = 'ext-authz-e2e-admin-token-0123456789';
const TD = 'prod.test';
const id = (name: string) => `spiffe://${TD}/ns/shop/sa/${name}`;

const service = (name: string): PolicyDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { spiffeId: id(name) },
});
const POLICY: PolicyDocument[] = [
  service('orders'),
  service('payments'),
  service('frontend'),
  service('monitoring'),
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'orders-access' },
    spec: {
      destination: 'orders',
      rules: [
        {
          sources: ['frontend'],
          action: 'allow',
          permissions: [{ http: { methods: ['GET'], paths: [{ prefix: '/orders' }] } }],
        },
      ],
    },
  },
  // Soft-apply: a new rule that would refuse the export; it is only reported.
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'orders-export-freeze' },
    spec: {
      destination: 'orders',
      mode: 'dry-run',
      rules: [
        {
          sources: ['frontend'],
          action: 'deny',
          permissions: [{ http: { paths: [{ exact: '/orders/export' }] } }],
        },
      ],
    },
  },
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'payments-access' },
    spec: { destination: 'payments', rules: [{ sources: ['frontend'], action: 'allow' }] },
  },
];

describe('Envoy ext_authz through a real node agent', () => {
  let plane: TestPlane;
  let agent: RunningAgent;
  let envoy: ReturnType<typeof authorizationClient>;

  const admin = (method: string, path: string, body?: unknown) => plane.admin(method, path, body);
  /** What the Envoy in front of orders asks about a call from `source`. */
  const check = (source: string, path: string, destination = 'orders'): Promise<Answer> =>
    envoy.check(envoyCheck({ source: id(source), destination: id(destination), path }));

  beforeAll(async () => {
    plane = await startTestPlane({
      prefix: 'ward-xauthz-e2e-',
      adminToken: ADMIN,
      trustDomain: TD,
      policy: POLICY,
      server: { logger: false },
    });
    // This process (its uid) is the orders workload, whose Envoy asks; payments, on the same
    // node, runs as another uid.
    const me = process.getuid!();
    await plane.register([
      { spiffeId: id('orders'), node: 'worker-1', uid: me },
      { spiffeId: id('payments'), node: 'worker-1', uid: me + 4242 },
    ]);
    const socket = join(plane.dir, 'agent.sock');
    agent = await startAgent({
      controlPlane: plane.server.url,
      joinToken: await plane.joinToken('worker-1'),
      socketPath: socket,
      logger: pino({ level: 'silent' }),
      bundleTiming: { minBackoffMs: 20, maxBackoffMs: 200 },
      decide: { publicKey: plane.server.publicKey, logFlushIntervalMs: 100 },
    });
    await waitFor(
      'the local PDPs',
      () => agent.pdps!.services().sort(),
      (s) => s.join() === 'orders,payments',
    );
    await waitFor(
      "orders' bundle",
      () => agent.pdps!.pdpFor('orders')!.revision(),
      (r) => r > 0,
    );
    envoy = authorizationClient(`unix://${socket}`);
  });

  afterAll(async () => {
    envoy?.close();
    await agent?.close();
    await plane?.close();
  });

  it('allows an allowed call: OK, and a dry-run header sent from outside is removed', async () => {
    const allowed = await check('frontend', '/orders/42');
    expect(allowed.status).toEqual({ code: 0 });
    expect(allowed.http_response).toBe('ok_response');
    expect(allowed.ok_response?.headers_to_remove).toEqual([DRY_RUN_DENY_HEADER]);
  });

  it('denies with PERMISSION_DENIED and the 403 problem body', async () => {
    const denied = await check('monitoring', '/orders/42');
    expect(denied.status?.code).toBe(7);
    expect(denied.denied_response?.status).toEqual({ code: 'Forbidden' });
    expect(denied.denied_response?.headers).toEqual([
      {
        header: { key: 'content-type', value: 'application/problem+json' },
        append: { value: false },
      },
    ]);
    expect(problemOf(denied)).toMatchObject({
      status: 403,
      code: 'MIDDLEWARE_DENIED',
      rule: 'default',
    });
  });

  it('admits a dry-run denial: OK with the would-deny rule in x-ward-dry-run-deny', async () => {
    const soft = await check('frontend', '/orders/export');
    expect(soft.status).toEqual({ code: 0 });
    expect(soft.ok_response?.headers).toEqual([
      {
        header: { key: DRY_RUN_DENY_HEADER, value: 'orders-export-freeze#0' },
        append: { value: false },
      },
    ]);
  });

  it("refuses, undecided, a Check about another workload's service on the node", async () => {
    const other = await check('frontend', '/payments/1', 'payments');
    expect(other.status?.code).toBe(7);
    expect(problemOf(other)).toMatchObject({ status: 403, code: 'EXT_AUTHZ_OUT_OF_SCOPE' });
    // payments' PDP is on the node, and decided nothing for it.
    expect(agent.pdps!.services()).toContain('payments');
  });

  it("the agent ships the decisions: the soft-apply report and the denials show Envoy's calls", async () => {
    for (let i = 0; i < 2; i++) {
      expect((await check('frontend', '/orders/export')).status).toEqual({ code: 0 });
    }
    const item = (b: { items: DryRunItemV1[] }) =>
      b.items.find((i) => i.source === 'frontend' && i.destination === 'orders');
    const report = await waitFor(
      'the dry-run report',
      async () => (await admin('GET', '/v1/reports/dry-run?since=1h&service=orders')).body,
      (b) => (item(b)?.count ?? 0) >= 3,
    );
    // The three would-denials (one in the test before), under the dry-run rule, with the path.
    expect(item(report)).toMatchObject({ count: 3, rule: 'orders-export-freeze#0' });
    expect(item(report)!.samples).toContainEqual(
      expect.objectContaining({ method: 'GET', path: '/orders/export' }),
    );
    const denials = (await admin('GET', '/v1/decision-logs/denials?since=1h&destination=orders'))
      .body as { items: { source: string; enforced: boolean; rule: string }[] };
    // orders' policy never names monitoring, so its bundle does not list it: the caller's
    // SPIFFE ID is read by convention (ns/shop/sa/monitoring).
    expect(denials.items.filter((d) => d.enforced)).toEqual([
      expect.objectContaining({ source: 'shop/monitoring', rule: 'default' }),
    ]);
    // Nothing was recorded for payments: the out-of-scope Check was refused before deciding.
    const payments = (await admin('GET', '/v1/decision-logs/denials?since=1h&destination=payments'))
      .body as { items: unknown[] };
    expect(payments.items).toEqual([]);
    expect(agent.decisionLog!.stats()).toMatchObject({ lastError: null });
  });
});
