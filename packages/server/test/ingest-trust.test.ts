/**
 * Issue 9, ingest: what a compromised service (holding its own PDP token) can and cannot do to
 * the decision-log and trace ingest, against a real server on loopback, on SQLite and (when it
 * answers) PostgreSQL — where a NUL byte used to fail the shared write of every shipper.
 */
import type { DecisionLogRecordV1 } from '@ward/api-types';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecisionIngestor } from '../src/ingest/decision-ingestor.ts';
import type { IngestDatabase } from '../src/ingest/tables.ts';
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

const list = await ingestSuite('ingest-trust.test.ts');

/** A dry-run denial frontend → payments, as payments' PDP logs it (blocks promote of payments). */
const dryDeny = (extra: Partial<DecisionLogRecordV1> = {}) =>
  rec({
    source: 'frontend',
    destination: 'payments',
    effect: 'deny',
    enforced: false,
    rule: 'orders-tighten#1',
    method: 'POST',
    path: '/charge',
    ...extra,
  });

function otlp(service: string, spans: object[]) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [{ spans }],
      },
    ],
  };
}

let spanSeq = 1;
/** A client span of `service` calling `peer` (unpaired: becomes an edge at finalize). */
const clientSpan = (peer: string) => ({
  traceId: (spanSeq++).toString(16).padStart(32, 'a'),
  spanId: (spanSeq++).toString(16).padStart(16, 'b'),
  name: 'call',
  kind: 3,
  startTimeUnixNano: '1000000',
  endTimeUnixNano: '3000000',
  attributes: [{ key: 'peer.service', value: { stringValue: peer } }],
});

async function postTraces(url: string, token: string, body: unknown) {
  const res = await fetch(`${url}/v1/traces`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function dryRunCount(url: string, service: string): Promise<number> {
  const r = await http(url, 'GET', `/v1/reports/dry-run?service=${service}`);
  return r.body.items.reduce((n: number, i: any) => n + i.count, 0);
}

describe.each(list)('ingest scope on $name', (backend) => {
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(backend, { traceFinalizeMs: 200 });
    await applyDocs(s.url, SHOP);
  });
  afterAll(async () => s?.close());

  it("a service's PDP token cannot forge denials on another service and block its promote", async () => {
    // orders is compromised; it forges payments' dry-run denials to block promote of payments.
    const forged = await postBatch(s.url, s.pdpToken, { records: [dryDeny(), dryDeny()] });
    expect(forged.status).toBe(403);
    expect(forged.body.code).toBe('API_FORBIDDEN');
    expect(forged.body.errors).toHaveLength(2);
    expect(forged.body.errors[0]).toMatchObject({
      field: '/records/0/destination',
      code: 'API_NOT_OWNER',
    });
    expect(await dryRunCount(s.url, 'payments')).toBe(0);
    const denials = await http(s.url, 'GET', '/v1/decision-logs/denials?destination=payments');
    expect(denials.body.items).toEqual([]);
  });

  it('a forged edge into another service does not leave the unused report or enter the graph', async () => {
    const before = await http(s.url, 'GET', '/v1/reports/unused?since=7d');
    const pairs = (b: any) => b.items.map((i: any) => `${i.source}->${i.destination}`);
    expect(pairs(before.body)).toContain('monitoring->frontend');
    // orders claims monitoring called frontend (approved by `*`, never used).
    const r = await postBatch(s.url, s.pdpToken, {
      records: [rec({ source: 'monitoring', destination: 'frontend', rule: 'metrics#0' })],
    });
    expect(r.status).toBe(403);
    const after = await http(s.url, 'GET', '/v1/reports/unused?since=7d');
    expect(pairs(after.body)).toContain('monitoring->frontend');
    const unapproved = await http(s.url, 'GET', '/v1/reports/unapproved');
    expect(unapproved.body.items.find((i: any) => i.destination === 'frontend')).toBeUndefined();
  });

  it('a caller reports the calls its egress guard refused, and nothing else about other services', async () => {
    // orders' egress guard refused a call to monitoring (no rule allows it): monitoring never saw
    // it, so only orders can report it.
    const refused = rec({
      source: 'orders',
      destination: 'monitoring',
      effect: 'deny',
      enforced: true,
      rule: 'default',
      method: 'GET',
      path: '/internal',
    });
    const r = await postBatch(s.url, s.pdpToken, {
      records: [
        refused,
        // What a caller cannot claim about the destination: a dry-run denial (its promote gate),
        // an allow (its unused report), or another caller's refusal.
        { ...refused, enforced: false },
        { ...refused, effect: 'allow' },
        { ...refused, source: 'frontend' },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 3 });
    expect(r.body.rejections.map((e: { code: string }) => e.code)).toEqual([
      'API_NOT_OWNER',
      'API_NOT_OWNER',
      'API_NOT_OWNER',
    ]);
    let seen = false;
    for (let tries = 0; tries < 200 && !seen; tries++) {
      await new Promise((done) => setTimeout(done, 25));
      const unapproved = await http(s.url, 'GET', '/v1/reports/unapproved');
      seen = unapproved.body.items.some(
        (i: { source: string; destination: string }) =>
          i.source === 'orders' && i.destination === 'monitoring',
      );
    }
    expect(seen).toBe(true);
    expect(await dryRunCount(s.url, 'monitoring')).toBe(0);
  });

  it('refuses invented rule names per record and counts the rest of the batch', async () => {
    const r = await postBatch(s.url, s.pdpToken, {
      records: [
        rec(),
        rec({ effect: 'deny', enforced: false, rule: 'invented#0' }),
        rec({ destination: 'payments' }),
        rec({ effect: 'deny', rule: 'default', source: 'monitoring' }),
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 2, rejected: 2 });
    expect(r.body.rejections.map((e: any) => e.field)).toEqual([
      '/records/1/rule',
      '/records/2/destination',
    ]);
    expect(r.body.rejections[0].message).toContain('invented#0');
    const report = await http(s.url, 'GET', '/v1/reports/dry-run?service=orders');
    expect(report.body.items).toEqual([]);
  });

  it('a pdp token bound to no service ships nothing; a collector ships no decisions', async () => {
    const tokens = s.server.app.ward.db;
    const { insertToken, generateToken } = await import('../src/auth/tokens.ts');
    const unbound = generateToken();
    await insertToken(tokens, unbound, { name: 'legacy-pdp', scope: 'pdp', createdBy: 'test' });
    const r = await postBatch(s.url, unbound, { records: [rec()] });
    expect(r.status).toBe(403);
    const collector = await s.token('otel-collector', 'collector');
    const c = await postBatch(s.url, collector, { records: [rec()] });
    expect(c.status).toBe(403);
    const bundle = await http(s.url, 'GET', '/v1/bundles/orders', { token: collector });
    expect(bundle.status).toBe(403);
    const two = await http(s.url, 'POST', '/v1/tokens', {
      body: { name: 'two', scope: 'pdp', services: ['orders', 'payments'] },
    });
    expect(two.status).toBe(400);
    expect(two.body.errors[0].field).toBe('/services');
    const col = await http(s.url, 'POST', '/v1/tokens', {
      body: { name: 'c2', scope: 'collector', services: ['orders'] },
    });
    expect(col.status).toBe(400);
  });

  it("a PDP token reports only its own service's spans; a collector reports any", async () => {
    const forged = await postTraces(
      s.url,
      s.pdpToken,
      otlp('frontend', [clientSpan('catalog'), clientSpan('catalog')]),
    );
    expect(forged.status).toBe(200);
    expect(forged.body.partialSuccess.rejectedSpans).toBe('2');
    expect(forged.body.partialSuccess.errorMessage).toContain("reports only orders's spans");
    const own = await postTraces(s.url, s.pdpToken, otlp('orders', [clientSpan('ledger')]));
    expect(own.status).toBe(200);
    expect(own.body).toEqual({});
    const collector = await s.token('otel-collector-2', 'collector');
    const fwd = await postTraces(s.url, collector, otlp('monitoring', [clientSpan('payments')]));
    expect(fwd.status).toBe(200);
    expect(fwd.body).toEqual({});
    // Open traces are finalized every 200 ms here: unpaired client spans become peer edges.
    let edges: string[] = [];
    for (let tries = 0; tries < 100 && !edges.includes('monitoring->payments'); tries++) {
      await new Promise((r) => setTimeout(r, 50));
      const graph = await http(s.url, 'GET', '/v1/graph');
      edges = graph.body.graph.edges.map((e: any) => `${e.from}->${e.to}`);
    }
    expect(edges).toContain('orders->ledger');
    expect(edges).toContain('monitoring->payments');
    expect(edges).not.toContain('frontend->catalog');
  });

  it("a PDP token cannot report its name into another namespace's node", async () => {
    const inNs = (namespace: string) => {
      const body = otlp('orders', [clientSpan('ledger')]);
      body.resourceSpans[0]!.resource.attributes.push({
        key: 'k8s.namespace.name',
        value: { stringValue: namespace },
      });
      return body;
    };
    // The span's node would be team-a/orders: not this token's service (orders).
    const forged = await postTraces(s.url, s.pdpToken, inNs('team-a'));
    expect(forged.status).toBe(200);
    expect(forged.body.partialSuccess.rejectedSpans).toBe('1');
    expect(forged.body.partialSuccess.errorMessage).toContain('"team-a/orders"');
    // The default namespace written out is the same key.
    const own = await postTraces(s.url, s.pdpToken, inNs('default'));
    expect(own.status).toBe(200);
    expect(own.body).toEqual({});
  });

  it('refuses NUL, control characters, lone surrogates and invalid UTF-8 per record', async () => {
    const good = JSON.stringify(rec({ path: '/ok' }));
    const bad = [
      JSON.stringify(rec({ path: '/a\u0000b' })),
      JSON.stringify(rec({ source: 'front\u001b[31mend' })),
      // A lone surrogate, as JSON text allows it to be written.
      JSON.stringify(rec({ source: 'SURROGATE' })).replace('SURROGATE', '\\ud800x'),
      JSON.stringify(rec({ subject: 'user\u0085' })),
    ];
    const text = `{"records":[${good},${bad.join(',')},${good}]}`;
    const r = await postBatch(s.url, s.pdpToken, text);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 2, rejected: 4 });
    expect(r.body.rejections.map((e: any) => e.field)).toEqual([
      '/records/1/path',
      '/records/2/source',
      '/records/3/source',
      '/records/4/subject',
    ]);
    expect(r.body.rejections[0].message).toContain('U+0000');
    expect(r.body.rejections[2].message).toContain('surrogate');

    // Raw bytes that are not UTF-8 (0xff) in one record's path.
    const [head, tail] = JSON.stringify(rec({ path: '/PLACE' })).split('PLACE') as [string, string];
    const fixed = Buffer.concat([
      Buffer.from(`{"records":[${good},${head}`),
      Buffer.from([0xff]),
      Buffer.from(`${tail}]}`),
    ]);
    const res = await fetch(`${s.url}/v1/decision-logs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.pdpToken}`, 'content-type': 'application/json' },
      body: fixed,
    });
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(body.rejections[0]).toMatchObject({ field: '/records/1/path' });
    expect(body.rejections[0].message).toContain('UTF-8');

    const all = await postBatch(s.url, s.pdpToken, `{"records":[${bad[0]}]}`);
    expect(all.status).toBe(400);
    expect(all.body.errors[0].field).toBe('/records/0/path');

    const nulSpan = await postTraces(s.url, s.pdpToken, otlp('orders', [clientSpan('db\u0000x')]));
    expect(nulSpan.status).toBe(200);
    expect(nulSpan.body.partialSuccess.rejectedSpans).toBe('1');
    expect(nulSpan.body.partialSuccess.errorMessage).toContain('U+0000');
  });

  it('refuses records too old to keep, and revisions that would not fit the column', async () => {
    const r = await postBatch(s.url, s.pdpToken, {
      records: [
        rec(),
        rec({ time: '-271821-04-20T00:00:00.000Z' }),
        // Folded: the first decision absurdly old, the last one now — kept, first time clamped.
        rec({ time: '-271821-04-20T00:00:00.000Z', lastTime: new Date().toISOString(), count: 3 }),
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 4, rejected: 1 });
    expect(r.body.rejections[0].field).toBe('/records/1/time');
    const big = await postBatch(s.url, s.pdpToken, { records: [rec({ revision: 2 ** 40 })] });
    expect(big.status).toBe(400);
    expect(big.body.errors[0].field).toBe('/records/0/revision');
  });
});

describe.each(list)('ingest poisoning on $name', (backend) => {
  it("a shipper sending NUL records every 50 ms never fails another shipper's writes", async () => {
    const s = await startIngestServer(backend, { minFlushIntervalMs: 20 });
    try {
      await applyDocs(s.url, SHOP);
      const payments = await s.pdp('payments');
      let stop = false;
      let attacks = 0;
      const attacker = (async () => {
        while (!stop) {
          const r = await postBatch(
            s.url,
            s.pdpToken,
            `{"records":[${JSON.stringify(rec({ path: '/x\u0000' }))},${JSON.stringify(rec({ rule: 'default', effect: 'deny', time: '-271821-04-20T00:00:00.000Z' }))}]}`,
          );
          expect(r.status).toBeLessThan(500);
          attacks++;
          await new Promise((res) => setTimeout(res, 50));
        }
      })();
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await postBatch(s.url, payments, {
          records: Array.from({ length: 5 }, () => dryDeny()),
        });
        statuses.push(r.status);
        await new Promise((res) => setTimeout(res, 15));
      }
      stop = true;
      await attacker;
      expect(attacks).toBeGreaterThan(3);
      expect(statuses.every((x) => x === 200)).toBe(true);
      expect(await dryRunCount(s.url, 'payments')).toBe(100);
      // The dry-run denials still hold promote back.
      const promote = await http(s.url, 'POST', '/v1/services/payments/promote', { body: {} });
      expect(promote.status).toBe(409);
      expect(promote.body.errors[0].code).toBe('API_PROMOTE_DRY_RUN_DENIALS');
    } finally {
      await s.close();
    }
  });

  it.skipIf(backend.name !== 'postgres')(
    'group commit: a batch the store refuses fails alone; the others in its write commit',
    async () => {
      const s = await startIngestServer(backend);
      try {
        const db = s.server.app.ward.db as unknown as Kysely<IngestDatabase>;
        const errors: unknown[] = [];
        const ingestor = new DecisionIngestor(db, {
          maxDenials: 1000,
          maxDenialsPerFlush: 1000,
          maxDenialsPerFlushPerIdentity: 1000,
          maxAgeMs: 3_600_000,
          maxPendingRecords: 10_000,
          minFlushIntervalMs: 50,
          now: Date.now,
          onError: (e) => errors.push(e),
        });
        // Bypasses the route's screening: stands for whatever the store refuses that screening
        // did not foresee (PostgreSQL refuses NUL in text; SQLite stores it, hence PG only).
        const poison = rec({ source: 'evil', path: '/\u0000' });
        const shipper = (id: string) => ({ id, name: id, identity: `service:${id}` });
        const clean = ingestor.accept(
          { records: [rec({ source: 'honest' })], positions: [0], sample: [], dropped: 0 },
          shipper('a'),
        );
        const bad = ingestor.accept(
          { records: [poison], positions: [0], sample: [], dropped: 0 },
          shipper('b'),
        );
        const clean2 = ingestor.accept(
          { records: [rec({ source: 'honest2' })], positions: [0], sample: [], dropped: 0 },
          shipper('c'),
        );
        const results = await Promise.allSettled([clean.done, bad.done, clean2.done]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect(errors.length).toBeGreaterThan(0);
        const rows = await sql<{
          source: string;
        }>`SELECT source FROM ingest_decision_edges ORDER BY source`.execute(db);
        const sources = rows.rows.map((r) => r.source);
        expect(sources).toContain('honest');
        expect(sources).toContain('honest2');
        expect(sources).not.toContain('evil');
      } finally {
        await s.close();
      }
    },
  );
});

describe.each(list)('per-identity quotas on $name', (backend) => {
  it("a flooding service is answered 429 with Retry-After; another service's batches pass", async () => {
    const s = await startIngestServer(backend, { decisionQuota: { perSecond: 50, burst: 100 } });
    try {
      await applyDocs(s.url, SHOP);
      const flood = Array.from({ length: 60 }, () => rec());
      expect((await postBatch(s.url, s.pdpToken, { records: flood })).status).toBe(200);
      const res = await fetch(`${s.url}/v1/decision-logs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.pdpToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ records: flood }),
      });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await res.json()) as any).code).toBe('API_RATE_LIMITED');
      const payments = await s.pdp('payments');
      const other = await postBatch(s.url, payments, { records: [dryDeny()] });
      expect(other.status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it("a service flooding denials cannot push out another service's raw denials", async () => {
    const s = await startIngestServer(backend, { maxDenials: 20, pruneIntervalMs: 20 });
    try {
      await applyDocs(s.url, SHOP);
      const payments = await s.pdp('payments');
      // payments' real denials come first: under a global oldest-first cap they went first.
      const t0 = Date.now() - 60_000;
      const honest = await postBatch(s.url, payments, {
        records: Array.from({ length: 5 }, (_, i) =>
          dryDeny({ time: new Date(t0 + i).toISOString() }),
        ),
      });
      expect(honest.status).toBe(200);
      for (let b = 0; b < 5; b++) {
        const r = await postBatch(s.url, s.pdpToken, {
          records: Array.from({ length: 40 }, (_, i) =>
            rec({
              source: 'monitoring',
              effect: 'deny',
              rule: 'default',
              time: new Date(t0 + 1000 + b * 100 + i).toISOString(),
            }),
          ),
        });
        expect(r.status).toBe(200);
      }
      let items: any[] = [];
      for (let tries = 0; tries < 200; tries++) {
        await new Promise((r) => setTimeout(r, 25));
        items = (await http(s.url, 'GET', '/v1/decision-logs/denials?limit=1000&since=1h')).body
          .items;
        if (items.length <= 20) break;
      }
      expect(items.length).toBeLessThanOrEqual(20);
      const kept = items.filter((d) => d.destination === 'payments');
      expect(kept.reduce((n, d) => n + d.count, 0)).toBe(5);
      // The flood is still counted in full.
      const unapproved = await http(s.url, 'GET', '/v1/reports/unapproved');
      const mon = unapproved.body.items.find(
        (i: any) => i.source === 'monitoring' && i.destination === 'orders',
      );
      expect(mon).toMatchObject({ decisions: 200, denied: 200 });
    } finally {
      await s.close();
    }
  });
});
