/**
 * Property tests for the ingest endpoints, which parse untrusted bodies from every service: any
 * body, well-formed or not, gets a 2xx or a 4xx problem answer — never a 5xx, a hang or a crash —
 * and the server keeps answering afterwards.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngestServer, startIngestServer } from './ingest-fixture.ts';

const sqlite = {
  name: 'sqlite' as const,
  database: async () => ({ url: undefined, drop: async () => {} }),
};

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
