/**
 * Decision-log ingest, the soft-apply reports and promote, against a real server on loopback,
 * on SQLite and (when it answers) PostgreSQL.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http } from './helpers.ts';
import {
  applyDocs,
  type IngestServer,
  ingestSuite,
  postBatch,
  rec,
  SHOP,
  startIngestServer,
} from './ingest-fixture.ts';

const list = await ingestSuite('ingest-decisions.test.ts');

describe.each(list)('decision logs on $name', (backend) => {
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(backend);
    await applyDocs(s.url, SHOP);
  });
  afterAll(async () => s?.close());

  it('aggregates batches (plain and gzip, concurrent) into per-edge counts', async () => {
    const dryDeny = (n: number, path = '/charge') =>
      Array.from({ length: n }, () =>
        rec({
          source: 'frontend',
          destination: 'payments',
          effect: 'deny',
          enforced: false,
          rule: 'orders-tighten#1',
          method: 'POST',
          path,
        }),
      );
    const allows = Array.from({ length: 50 }, () => rec());
    // Each batch from the PDP of its records' destination (a PDP reports calls into its service).
    const payments = await s.pdp('payments');
    const results = await Promise.all([
      postBatch(s.url, s.pdpToken, { records: allows }),
      postBatch(s.url, payments, { records: dryDeny(3) }),
      postBatch(s.url, payments, { records: dryDeny(4, '/refund') }, { gzip: true }),
      postBatch(s.url, payments, {
        records: [
          {
            ...dryDeny(1)[0]!,
            count: 10,
            time: new Date(Date.now() - 60_000).toISOString(),
            lastTime: new Date().toISOString(),
          },
        ],
        dropped: 7,
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(results.map((r) => r.body.accepted)).toEqual([50, 3, 4, 10]);
    expect(results.map((r) => r.body.rejected)).toEqual([0, 0, 0, 0]);

    const report = await http(s.url, 'GET', '/v1/reports/dry-run?since=1h');
    expect(report.status).toBe(200);
    expect(report.body.items).toHaveLength(1);
    const item = report.body.items[0];
    expect(item).toMatchObject({
      source: 'frontend',
      destination: 'payments',
      rule: 'orders-tighten#1',
      count: 17,
    });
    expect(Date.parse(item.firstSeen)).toBeLessThanOrEqual(Date.parse(item.lastSeen));
    expect(item.samples.map((x: any) => `${x.method} ${x.path} ${x.count}`).sort()).toEqual([
      'POST /charge 13',
      'POST /refund 4',
    ]);
    expect(report.body.dropped).toBe(7);

    const filtered = await http(s.url, 'GET', '/v1/reports/dry-run?service=orders');
    expect(filtered.body.items).toEqual([]);
    const denials = await http(s.url, 'GET', '/v1/decision-logs/denials?destination=payments');
    expect(denials.status).toBe(200);
    expect(denials.body.items.reduce((n: number, d: any) => n + d.count, 0)).toBe(17);
    expect(denials.body.items[0]).toMatchObject({ source: 'frontend', enforced: false });
  });

  it('refuses a bad batch with the field at fault and writes nothing of it', async () => {
    const before = await http(s.url, 'GET', '/v1/reports/unapproved');
    const bad = await postBatch(s.url, s.pdpToken, {
      records: [
        rec({ source: 'intruder' }),
        { ...rec({ source: 'intruder' }), effect: 'maybe' as never },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('API_VALIDATION');
    expect(bad.body.errors.map((e: any) => e.field)).toContain('/records/1/effect');

    const badTime = await postBatch(s.url, s.pdpToken, {
      records: [rec({ source: 'intruder' }), rec({ source: 'intruder', time: 'yesterday' })],
    });
    expect(badTime.status).toBe(400);
    expect(badTime.body.errors[0].field).toBe('/records/1/time');

    const unknown = await postBatch(s.url, s.pdpToken, {
      records: [{ ...rec({ source: 'intruder' }), extra: 1 } as never],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].field).toBe('/records/0/extra');

    const syntax = await postBatch(s.url, s.pdpToken, '{"records": [');
    expect(syntax.status).toBe(400);
    expect(syntax.body.code).toBe('API_MALFORMED_BODY');

    const after = await http(s.url, 'GET', '/v1/reports/unapproved');
    expect(after.body.items).toEqual(before.body.items);
    expect(after.body.items.find((i: any) => i.source === 'intruder')).toBeUndefined();
  });

  it('refuses bad encodings, media types, bombs and wrong tokens', async () => {
    const corrupt = await fetch(`${s.url}/v1/decision-logs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.pdpToken}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: 'not gzip at all',
    });
    expect(corrupt.status).toBe(400);
    expect(((await corrupt.json()) as any).code).toBe('API_MALFORMED_BODY');

    // 64 MiB of spaces compress to ~64 KiB: refused once inflated past the limit.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const big = await fetch(`${s.url}/v1/decision-logs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.pdpToken}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: bomb,
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as any).code).toBe('API_PAYLOAD_TOO_LARGE');

    const br = await postBatch(s.url, s.pdpToken, { records: [rec()] }, { encoding: 'br' });
    expect(br.status).toBe(415);
    expect(br.body.errors[0].field).toBe('headers.content-encoding');
    const text = await postBatch(s.url, s.pdpToken, '{"records":[]}', {
      contentType: 'text/plain',
    });
    expect(text.status).toBe(415);

    expect((await postBatch(s.url, null, { records: [rec()] })).status).toBe(401);
    const team = await s.token('team-orders', 'team', ['orders']);
    const forbidden = await postBatch(s.url, team, { records: [rec()] });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe('API_FORBIDDEN');
  });

  it('reports unused and unapproved edges', async () => {
    await postBatch(s.url, s.pdpToken, {
      records: [
        rec({ source: 'monitoring', destination: 'orders', effect: 'deny', rule: 'default' }),
      ],
    });
    await postBatch(s.url, await s.pdp('payments'), {
      records: [
        rec({
          source: 'orders',
          destination: 'payments',
          effect: 'allow',
          enforced: false,
          rule: 'orders-tighten#0',
        }),
      ],
    });
    const unapproved = await http(s.url, 'GET', '/v1/reports/unapproved');
    expect(unapproved.status).toBe(200);
    const pairs = unapproved.body.items.map((i: any) => `${i.source}->${i.destination}`);
    expect(pairs).toContain('monitoring->orders');
    expect(pairs).not.toContain('frontend->orders'); // approved by orders-allow
    expect(pairs).not.toContain('orders->payments'); // approved by the dry-run allow
    expect(pairs).toContain('frontend->payments'); // only a deny rule names it
    const mon = unapproved.body.items.find((i: any) => i.source === 'monitoring');
    expect(mon).toMatchObject({ decisions: 1, denied: 1, seenIn: ['decision-logs'] });

    const unused = await http(s.url, 'GET', '/v1/reports/unused?since=7d');
    expect(unused.status).toBe(200);
    const u = unused.body.items.map((i: any) => `${i.source}->${i.destination}`);
    // `*` on frontend approves every other service; nobody called frontend.
    expect(u).toEqual(
      expect.arrayContaining(['monitoring->frontend', 'orders->frontend', 'payments->frontend']),
    );
    expect(unused.body.items.find((i: any) => i.destination === 'frontend').wildcard).toBe(true);
    expect(u).not.toContain('frontend->orders');
    expect(u).not.toContain('orders->payments');

    const bad = await http(s.url, 'GET', '/v1/reports/unused?since=forever');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('query.since');
  });

  it('promote refuses while dry-run denials remain, then forces, audits and bumps the revision', async () => {
    const team = await s.token('team-payments', 'team', ['payments']);
    const other = await s.token('team-orders-2', 'team', ['orders']);
    const refused = await http(s.url, 'POST', '/v1/services/payments/promote', {
      token: team,
      body: {},
    });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('API_CONFLICT');
    expect(refused.body.errors[0]).toMatchObject({ code: 'API_PROMOTE_DRY_RUN_DENIALS' });
    expect(refused.body.errors[0].message).toContain('frontend → payments');

    const notOwner = await http(s.url, 'POST', '/v1/services/payments/promote', {
      token: other,
      body: { force: true },
    });
    expect(notOwner.status).toBe(403);

    const rev = (await http(s.url, 'GET', '/v1/revision')).body.revision;
    const forced = await http(s.url, 'POST', '/v1/services/payments/promote', {
      token: team,
      body: { force: true },
    });
    expect(forced.status).toBe(200);
    expect(forced.body).toMatchObject({
      service: 'payments',
      changed: true,
      promoted: ['orders-tighten'],
      forced: true,
    });
    expect(forced.body.revision).toBeGreaterThan(rev);

    const doc = await http(s.url, 'GET', '/v1/intentions/orders-tighten');
    expect(doc.status).toBe(200);
    expect(JSON.stringify(doc.body)).toContain('"mode":"enforce"');
    const audit = await http(s.url, 'GET', '/v1/audit');
    const entry = audit.body.items.find((a: any) => a.action === 'service.promote');
    expect(entry).toMatchObject({
      target: 'payments',
      actor: { name: 'team-payments' },
      revision: forced.body.revision,
    });
    expect(entry.detail).toMatchObject({
      force: true,
      intentions: ['orders-tighten'],
      dryRunDenials: 17,
    });

    const again = await http(s.url, 'POST', '/v1/services/payments/promote', {
      token: team,
      body: {},
    });
    expect(again.status).toBe(200);
    expect(again.body.changed).toBe(false);
    const unknown = await http(s.url, 'POST', '/v1/services/nosuch/promote', { body: {} });
    expect(unknown.status).toBe(404);
  });

  it('promotes without force once the window is clean', async () => {
    await applyDocs(s.url, [
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Intention',
        metadata: { name: 'monitoring-in' },
        spec: {
          destination: 'monitoring',
          mode: 'dry-run',
          rules: [{ sources: ['orders'], action: 'allow' }],
        },
      },
    ]);
    const ok = await http(s.url, 'POST', '/v1/services/monitoring/promote', {
      body: { window: '30m' },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      changed: true,
      forced: false,
      promoted: ['monitoring-in'],
      denials: [],
    });
  });
});

describe.each(list)('raw denial retention on $name', (backend) => {
  it('keeps at most maxDenials raw rows while still counting every denial', async () => {
    const s = await startIngestServer(backend, { maxDenials: 20, pruneIntervalMs: 20 });
    try {
      await applyDocs(s.url, SHOP);
      for (let i = 0; i < 5; i++) {
        const t = Date.now() - (5 - i) * 1000;
        const r = await postBatch(s.url, await s.pdp('payments'), {
          records: Array.from({ length: 10 }, (_, j) =>
            rec({
              effect: 'deny',
              enforced: false,
              rule: 'orders-tighten#1',
              destination: 'payments',
              time: new Date(t + j).toISOString(),
            }),
          ),
        });
        expect(r.status).toBe(200);
      }
      let kept = Number.POSITIVE_INFINITY;
      for (let tries = 0; tries < 200 && kept > 20; tries++) {
        await new Promise((r) => setTimeout(r, 25));
        kept = (await http(s.url, 'GET', '/v1/decision-logs/denials?limit=1000')).body.items.length;
      }
      expect(kept).toBeLessThanOrEqual(20);
      const report = await http(s.url, 'GET', '/v1/reports/dry-run');
      expect(report.body.items[0].count).toBe(50);
    } finally {
      await s.close();
    }
  });
});
