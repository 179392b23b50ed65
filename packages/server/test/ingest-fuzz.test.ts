/**
 * Property tests for the ingest endpoints, which parse untrusted bodies from every service: any
 * body, well-formed or not, gets a 2xx or a 4xx problem answer — never a 5xx, a hang or a crash —
 * and the server keeps answering afterwards. Strings carrying NUL, other control characters or
 * lone surrogates are refused record by record, on SQLite and on PostgreSQL (which refuses NUL).
 */
import type { DecisionLogRecordV1 } from '@ward/api-types';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http } from './helpers.ts';
import {
  applyDocs,
  type IngestServer,
  ingestSuite,
  rec,
  SHOP,
  startIngestServer,
} from './ingest-fixture.ts';

const sqlite = {
  name: 'sqlite' as const,
  database: async () => ({ url: undefined, drop: async () => {} }),
};
const list = await ingestSuite('ingest-fuzz.test.ts');

/** A character no ingested string may hold: NUL, C0/C1 controls, DEL, lone surrogates. */
const badChar = fc.oneof(
  fc.constantFrom('\u0000', '\u001b', '\n', '\u007f', '\u0085', '\u009f'),
  fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
);
const poisoned = fc
  .tuple(fc.string({ maxLength: 8 }), badChar, fc.string({ maxLength: 8 }))
  .map(([a, c, b]) => `${a}${c}${b}`);
const FIELDS = ['source', 'destination', 'method', 'path', 'rule', 'subject', 'kid'] as const;
/** A record of orders' PDP with one string field poisoned. */
const poisonedRecord = fc
  .tuple(fc.constantFrom(...FIELDS), poisoned)
  .map(([field, value]) => ({ ...rec({ path: '/p' }), [field]: value }) as DecisionLogRecordV1);
const cleanRecord = fc
  .tuple(fc.constantFrom('frontend', 'monitoring'), fc.string({ maxLength: 20 }))
  .map(([source, path]) => rec({ source, path: `/${path}` }));

const record = fc.record(
  {
    time: fc.oneof(fc.constant('2026-11-23T10:00:00.000Z'), fc.string()),
    source: fc.oneof(fc.constantFrom('frontend', 'orders', 'anonymous'), fc.string()),
    destination: fc.oneof(fc.constantFrom('orders', 'payments'), fc.string()),
    method: fc.oneof(fc.constantFrom('GET', 'POST'), fc.string()),
    path: fc.oneof(fc.constant('/orders/{id}'), fc.string()),
    effect: fc.oneof(fc.constantFrom('allow', 'deny'), fc.anything()),
    enforced: fc.oneof(fc.boolean(), fc.anything()),
    rule: fc.oneof(fc.constant('orders#0'), fc.string()),
    revision: fc.oneof(fc.nat(), fc.double(), fc.anything()),
    count: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.anything()),
  },
  { requiredKeys: [] },
);

const batch = fc.oneof(
  fc.record(
    { records: fc.array(record, { maxLength: 5 }), dropped: fc.anything() },
    { requiredKeys: ['records'] },
  ),
  fc.anything(),
);

describe('ingest endpoints under arbitrary bodies', () => {
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(sqlite);
  });
  afterAll(async () => {
    await s?.close();
  });

  const post = (path: string, body: string | Uint8Array, contentType: string) =>
    fetch(`${s.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.pdpToken}`, 'content-type': contentType },
      body,
    });

  it('answers decision-log batches with 2xx or a 4xx problem body', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          batch.map((b) => JSON.stringify(b) ?? 'null'),
          fc.string(),
        ),
        async (text) => {
          const res = await post('/v1/decision-logs', text, 'application/json');
          const body = await res.text();
          expect(res.status, body).toBeLessThan(500);
          if (res.status >= 400) {
            expect(res.headers.get('content-type')).toContain('application/problem+json');
            expect(JSON.parse(body)).toHaveProperty('code');
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('answers OTLP trace bodies (JSON text and protobuf bytes) with 2xx or 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(fc.constant('application/json'), fc.json()),
          fc.tuple(fc.constant('application/x-protobuf'), fc.uint8Array({ maxLength: 256 })),
        ),
        async ([type, body]) => {
          const res = await post('/v1/traces', body, type);
          const text = await res.text();
          expect(res.status, text).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
  });
});

describe.each(list)('poisoned strings on $name', (backend) => {
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(backend, { minFlushIntervalMs: 5 });
    await applyDocs(s.url, SHOP);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('refuses exactly the poisoned records of a batch and counts the clean ones', async () => {
    let expected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(cleanRecord, { maxLength: 4 }),
        fc.array(poisonedRecord, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        async (clean, bad, seed) => {
          const records = [...clean];
          // Poisoned records anywhere in the batch.
          bad.forEach((r, i) => {
            records.splice((seed + i * 7) % (records.length + 1), 0, r);
          });
          const res = await fetch(`${s.url}/v1/decision-logs`, {
            method: 'POST',
            headers: { authorization: `Bearer ${s.pdpToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ records }),
          });
          const body = (await res.json()) as any;
          if (clean.length === 0) {
            expect(res.status, JSON.stringify(body)).toBe(400);
            expect(body.errors).toHaveLength(bad.length);
            return;
          }
          expect(res.status, JSON.stringify(body)).toBe(200);
          expect(body).toMatchObject({ accepted: clean.length, rejected: bad.length });
          expected += clean.length;
        },
      ),
      { numRuns: backend.name === 'postgres' ? 60 : 120 },
    );
    // Every clean record landed, and no poisoned string reached a report.
    const unapproved = await http(s.url, 'GET', '/v1/reports/unapproved');
    const counted = unapproved.body.items
      .filter((i: any) => i.destination === 'orders')
      .reduce((n: number, i: any) => n + i.decisions, 0);
    const approved = await http(s.url, 'GET', '/v1/graph?since=1h');
    const frontOrders = approved.body.graph.edges.find(
      (e: any) => e.from === 'frontend' && e.to === 'orders',
    );
    expect(counted + (frontOrders?.metrics.calls ?? 0)).toBe(expected);
    const text = JSON.stringify(unapproved.body);
    expect(text).not.toMatch(/\\u0000|\\ud[89ab]/i);
  });
});
