/**
 * The alerts engine end to end: real receivers on loopback (a webhook checking the signature, an
 * Alertmanager-v2-format receiver validating every posted alert), fire -> resolve, retries, team
 * scope of GET /v1/alerts, and on PostgreSQL: only the leader of two replicas sends.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { type AlertsPlugin, alertsPlugin } from '../src/alerts/plugin.ts';
import { isSpike } from '../src/alerts/sources/denial-spike.ts';
import type { AlertSource } from '../src/alerts/types.ts';
import { fleetAlertSources } from '../src/fleet/alert-sources.ts';
import { fleetPlugin } from '../src/fleet/plugin.ts';
import { ingestPlugin } from '../src/ingest/index.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  pgAvailable,
  startTestServer,
  waitFor,
} from './helpers.ts';
import { applyDocs, postBatch, rec, SHOP } from './ingest-fixture.ts';

afterAll(() => cleanupDirs());

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A loopback receiver; answers 503 to the first `failFirst` requests. */
async function receiver(failFirst = 0): Promise<{ url: string; got: Received[]; close(): void }> {
  const got: Received[] = [];
  let failures = failFirst;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      if (failures > 0) {
        failures--;
        res.writeHead(503).end();
        return;
      }
      got.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    got,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Alertmanager API v2 `postableAlerts` (openapi.yaml), strict where it matters. */
const dateTime = { type: 'string', pattern: '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d' };
const validatePostable = new Ajv({ allErrors: true, strict: false }).compile({
  type: 'array',
  items: {
    type: 'object',
    required: ['labels'],
    additionalProperties: false,
    properties: {
      labels: {
        type: 'object',
        required: ['alertname', 'severity'],
        additionalProperties: { type: 'string' },
      },
      annotations: { type: 'object', additionalProperties: { type: 'string' } },
      startsAt: dateTime,
      endsAt: dateTime,
      generatorURL: { type: 'string', minLength: 1 },
    },
  },
});

const SECRET = 'webhook-secret-0123456789';
const SPIKE = { minCount: 3, windowMs: 10 * 60_000, baselineMs: 3_600_000, factor: 3 };
// monitoring -> orders: no intention approves it; 10 enforced denials make a spike.
const DENIED = rec({ source: 'monitoring', effect: 'deny', rule: 'default', count: 10 });

type Clock = { t: number };

async function startWithAlerts(
  database: string | undefined,
  hooks: { webhook: string; alertmanager: string },
  clock: Clock,
) {
  const alerts: AlertsPlugin = alertsPlugin({
    webhooks: [hooks.webhook],
    webhookSecret: SECRET,
    alertmanagers: [hooks.alertmanager],
    intervalMs: 3_600_000, // ticked by hand
    denialSpike: SPIKE,
    delivery: { backoffMs: 20, timeoutMs: 2000 },
    generatorURL: 'http://127.0.0.1/#/live',
    now: () => clock.t,
  });
  const server = await startTestServer({
    ...(database ? { database } : {}),
    plugins: [ingestPlugin(), alerts],
  });
  return { server, alerts };
}

const webhookAlerts = (got: Received[]) =>
  got.flatMap(
    (r) =>
      (JSON.parse(r.body) as { alerts: { status: string; labels: Record<string, string> }[] })
        .alerts,
  );

describe('alerts (SQLite)', () => {
  it('fires, delivers signed webhooks and valid Alertmanager alerts, resolves', async () => {
    const hook = await receiver(1); // first attempt fails: the retry delivers
    const am = await receiver();
    const clock = { t: Date.now() };
    const { server, alerts } = await startWithAlerts(
      undefined,
      { webhook: `${hook.url}/hook`, alertmanager: am.url },
      clock,
    );
    try {
      await applyDocs(server.url, SHOP);
      const pdp = await http(server.url, 'POST', '/v1/tokens', {
        body: { name: 'pdp-orders', scope: 'pdp', services: ['orders'] },
      });
      expect((await postBatch(server.url, pdp.body.token, { records: [DENIED] })).status).toBe(200);
      await alerts.engine!.tick();
      await Promise.all(alerts.receivers.map((r) => r.idle()));
      expect(hook.got).toHaveLength(1);
      expect(am.got).toHaveLength(1);

      // The webhook: signed over the exact body, Alertmanager's webhook shape.
      const w = hook.got[0]!;
      const expected = `sha256=${createHmac('sha256', SECRET).update(w.body).digest('hex')}`;
      expect(w.headers['x-ward-signature']).toBe(expected);
      expect(w.path).toBe('/hook');
      const names = webhookAlerts(hook.got).map((a) => `${a.status} ${a.labels.alertname}`);
      expect(names.sort()).toEqual(['firing WardDenialSpike', 'firing WardUnapprovedEdge']);

      // Alertmanager: POST /api/v2/alerts, every alert valid against the v2 schema.
      expect(am.got[0]!.path).toBe('/api/v2/alerts');
      const posted = JSON.parse(am.got[0]!.body);
      expect(validatePostable(posted), JSON.stringify(validatePostable.errors)).toBe(true);
      const edge = posted.find(
        (a: { labels: { alertname: string } }) => a.labels.alertname === 'WardUnapprovedEdge',
      );
      expect(edge.labels).toMatchObject({
        severity: 'warning',
        service: 'orders',
        source: 'monitoring',
      });
      expect(edge.annotations.summary).toContain('monitoring -> orders');
      expect(edge.endsAt).toBeUndefined();

      // GET /v1/alerts: admin sees both; a team sees its services' only.
      const all = await http(server.url, 'GET', '/v1/alerts');
      expect(all.body.alerts.map((a: { name: string }) => a.name).sort()).toEqual([
        'WardDenialSpike',
        'WardUnapprovedEdge',
      ]);
      for (const [services, n] of [
        [['payments'], 0],
        [['orders'], 2],
      ] as const) {
        const t = await http(server.url, 'POST', '/v1/tokens', {
          body: { name: `team-${services[0]}`, scope: 'team', services },
        });
        const seen = await http(server.url, 'GET', '/v1/alerts', { token: t.body.token });
        expect(seen.status).toBe(200);
        expect(seen.body.alerts).toHaveLength(n);
      }

      // Evaluated again within the repeat interval: nothing new is sent.
      await alerts.engine!.tick();
      await Promise.all(alerts.receivers.map((r) => r.idle()));
      expect(am.got).toHaveLength(1);

      // Two hours later the edge is no longer new and the spike is over: both resolve.
      clock.t += 2 * 3_600_000;
      await alerts.engine!.tick();
      await Promise.all(alerts.receivers.map((r) => r.idle()));
      expect(am.got).toHaveLength(2);
      const resolved = JSON.parse(am.got[1]!.body);
      expect(validatePostable(resolved)).toBe(true);
      expect(resolved).toHaveLength(2);
      for (const a of resolved) expect(Date.parse(a.endsAt)).toBe(clock.t);
      expect(webhookAlerts(hook.got.slice(1)).map((a) => a.status)).toEqual([
        'resolved',
        'resolved',
      ]);
      expect((await http(server.url, 'GET', '/v1/alerts')).body.alerts).toEqual([]);
    } finally {
      await server.close();
      hook.close();
      am.close();
    }
  });

  it('the fleet sources fire through the engine: a PDP behind its bundle raises WardPdpStale', async () => {
    const hook = await receiver();
    const alerts = alertsPlugin({
      webhooks: [`${hook.url}/hook`],
      intervalMs: 3_600_000, // ticked by hand
      // No grace: a PDP behind the current revision is STALE at once.
      sources: fleetAlertSources({ limits: { staleGraceMs: 0 } }),
      delivery: { backoffMs: 20, timeoutMs: 2000 },
      generatorURL: 'http://127.0.0.1/#/fleet',
    });
    const server = await startTestServer({ plugins: [ingestPlugin(), fleetPlugin(), alerts] });
    try {
      await applyDocs(server.url, SHOP);
      const pdp = await http(server.url, 'POST', '/v1/tokens', {
        body: { name: 'pdp-orders', scope: 'pdp', services: ['orders'] },
      });
      const now = new Date().toISOString();
      const reported = await http(server.url, 'POST', '/v1/status/pdp', {
        token: pdp.body.token,
        body: {
          instance: 'i-behind',
          service: 'orders',
          revision: 0,
          bundleAt: now,
          connected: true,
          version: '0.0.0-test',
          startedAt: now,
          decisions: { allowed: 0, denied: 0, dryRunDenied: 0 },
        },
      });
      expect(reported.status).toBe(204);
      await alerts.engine!.tick();
      await Promise.all(alerts.receivers.map((r) => r.idle()));
      const stale = webhookAlerts(hook.got).filter((a) => a.labels.alertname === 'WardPdpStale');
      expect(stale).toHaveLength(1);
      expect(stale[0]!.labels).toMatchObject({ service: 'orders' });
    } finally {
      await server.close();
      hook.close();
    }
  });

  it('takes extra sources; a failing or hanging source keeps its alerts; URL credentials become basic auth', async () => {
    const hook = await receiver();
    const am = await receiver();
    let mode: 'fire' | 'throw' | 'hang' | 'clear' = 'fire';
    const stale: AlertSource = {
      name: 'test-stale',
      evaluate: async () => {
        if (mode === 'throw') throw new Error('store down');
        if (mode === 'hang') return new Promise<never>(() => {});
        if (mode === 'clear') return [];
        return [
          {
            name: 'WardPdpStale',
            key: 'orders/pod-1',
            severity: 'critical',
            labels: { service: 'orders', instance: 'pod-1' },
            summary: 'PDP orders/pod-1 is 3 revisions behind',
          },
        ];
      },
    };
    const clock = { t: Date.now() };
    const alerts = alertsPlugin({
      webhooks: [hook.url.replace('http://', 'http://ops:s%3Acret@')],
      alertmanagers: [am.url],
      intervalMs: 1000, // also the hang timeout; ticked by hand
      now: () => clock.t,
    });
    alerts.addSource(() => stale);
    const server = await startTestServer({ plugins: [ingestPlugin(), alerts] });
    try {
      await alerts.engine!.tick();
      await Promise.all(alerts.receivers.map((r) => r.idle()));
      expect(hook.got).toHaveLength(1);
      expect(hook.got[0]!.headers.authorization).toBe(
        `Basic ${Buffer.from('ops:s:cret').toString('base64')}`,
      );
      expect(hook.got[0]!.headers['x-ward-signature']).toBeUndefined();
      const listed = await http(server.url, 'GET', '/v1/alerts');
      expect(listed.body.alerts).toMatchObject([
        { name: 'WardPdpStale', key: 'orders/pod-1', severity: 'critical' },
      ]);
      for (const m of ['throw', 'hang'] as const) {
        mode = m;
        await alerts.engine!.tick();
        expect((await http(server.url, 'GET', '/v1/alerts')).body.alerts).toHaveLength(1);
      }
      mode = 'clear';
      await alerts.engine!.tick();
      await Promise.all(alerts.receivers.map((r) => r.idle()));
      expect(am.got).toHaveLength(2);
      expect(JSON.parse(am.got[1]!.body)[0]).toMatchObject({
        labels: { alertname: 'WardPdpStale' },
        endsAt: new Date(clock.t).toISOString(),
      });
    } finally {
      await server.close();
      hook.close();
      am.close();
    }
  });

  it('a spike is above max(minCount, factor x baseline)', () => {
    const o = { ...SPIKE, minCount: 50, factor: 3 };
    expect(isSpike(50, 0, o)).toBe(false);
    expect(isSpike(51, 0, o)).toBe(true);
    expect(isSpike(100, 40, o)).toBe(false);
    expect(isSpike(121, 40, o)).toBe(true);
  });
});

const pg = await pgAvailable('alerts leadership');

describe.skipIf(!pg)('alerts with two replicas on PostgreSQL', () => {
  it('only the leader sends; the other takes over when it leaves', async () => {
    const am = await receiver();
    const hook = await receiver();
    const schema = await createPgSchema();
    const clock = { t: Date.now() };
    const hooks = { webhook: hook.url, alertmanager: am.url };
    const a = await startWithAlerts(schema.url, hooks, clock);
    const b = await startWithAlerts(schema.url, hooks, clock);
    let aClosed = false;
    try {
      await applyDocs(a.server.url, SHOP);
      const pdp = await http(a.server.url, 'POST', '/v1/tokens', {
        body: { name: 'pdp-orders', scope: 'pdp', services: ['orders'] },
      });
      await postBatch(a.server.url, pdp.body.token, { records: [DENIED] });
      for (let i = 0; i < 3; i++) {
        await a.alerts.engine!.tick();
        await b.alerts.engine!.tick();
      }
      await Promise.all([...a.alerts.receivers, ...b.alerts.receivers].map((r) => r.idle()));
      // Both replicas evaluate (both list the alerts); one batch was sent, by A (first to ask).
      expect(am.got).toHaveLength(1);
      expect(JSON.parse(am.got[0]!.body)).toHaveLength(2);
      const onB = await http(b.server.url, 'GET', '/v1/alerts');
      expect(onB.body.alerts).toHaveLength(2);
      // A leaves: its session ends, its lock with it; B takes over and announces what fires.
      await a.server.close();
      aClosed = true;
      await waitFor(async () => {
        await b.alerts.engine!.tick();
        await Promise.all(b.alerts.receivers.map((r) => r.idle()));
        return am.got.length === 2;
      });
      expect(JSON.parse(am.got[1]!.body)).toHaveLength(2);
      expect(hook.got).toHaveLength(2);
    } finally {
      if (!aClosed) await a.server.close();
      await b.server.close();
      await schema.drop();
      am.close();
      hook.close();
    }
  });
});
