import type { DecisionLogBatchV1 } from '@ward/api-types';
import type { RuleRef } from '@ward/policy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DecisionLogEntry } from '../src/decision-log/entry.ts';
import { DecisionLogRing } from '../src/decision-log/ring.ts';
import { createDecisionLogShipper } from '../src/index.ts';
import { type Sink, startSink, until } from './_decision-log-sink.ts';

const RULE: RuleRef = { policy: 'orders', index: 2, action: 'deny', mode: 'dry-run' };

function entry(i: number, over: Partial<DecisionLogEntry> = {}): DecisionLogEntry {
  return {
    time: Date.UTC(2026, 0, 1, 0, 0, 0, i % 1000),
    source: 'frontend',
    destination: 'orders',
    method: 'GET',
    path: `/orders/${1000 + i}?token=secret${i}`,
    routed: false,
    effect: 'deny',
    enforced: false,
    rule: RULE,
    revision: 7,
    subject: undefined,
    kid: undefined,
    ...over,
  };
}

function total(batches: DecisionLogBatchV1[]): number {
  return batches.flatMap((b) => b.records).reduce((n, r) => n + (r.count ?? 1), 0);
}

describe('decision-log ring', () => {
  it('never grows beyond its capacity under a flood, counts every drop and keeps a sample', () => {
    const ring = new DecisionLogRing(100, 8);
    for (let i = 0; i < 100_000; i++) ring.push(entry(i));
    expect(ring.size).toBe(100);
    expect(ring.dropped).toBe(99_900);
    expect(ring.totalDropped).toBe(99_900);
    const kept = ring.take(1000);
    expect(kept).toHaveLength(100);
    // The newest survive: the oldest made room.
    expect(kept[0]!.path).toBe(`/orders/${1000 + 99_900}?token=secret99900`);
    expect(kept[99]!.path).toBe(`/orders/${1000 + 99_999}?token=secret99999`);
    const { dropped, sample } = ring.takeDropped();
    expect(dropped).toBe(99_900);
    expect(sample).toHaveLength(8);
    for (const s of sample) expect(s.path).toMatch(/^\/orders\/\d+/);
    expect(ring.dropped).toBe(0);
    expect(ring.takeDropped().sample).toHaveLength(0);
  });

  it('keeps order across wrap-around', () => {
    const ring = new DecisionLogRing(4, 0);
    for (let i = 0; i < 3; i++) ring.push(entry(i));
    expect(ring.take(2).map((e) => e.time % 1000)).toEqual([0, 1]);
    for (let i = 3; i < 6; i++) ring.push(entry(i));
    expect(ring.take(10).map((e) => e.time % 1000)).toEqual([2, 3, 4, 5]);
    expect(ring.size).toBe(0);
  });

  it('refuses a nonsense capacity', () => {
    expect(() => new DecisionLogRing(0, 1)).toThrow(TypeError);
    expect(() => new DecisionLogRing(1.5, 1)).toThrow(TypeError);
  });
});

describe('decision-log shipper', () => {
  let sink: Sink;
  beforeEach(async () => {
    sink = await startSink();
  });
  afterEach(async () => {
    await sink.close();
  });

  it('ships full batches at once, folded, with the bearer token and plain wire records', async () => {
    const shipper = createDecisionLogShipper({
      controlPlanes: sink.url,
      token: 'tok-123',
      batchSize: 50,
      flushIntervalMs: 60_000,
    });
    for (let i = 0; i < 100; i++)
      shipper.record(entry(i, i === 0 ? { subject: 'alice', kid: 'k1' } : {}));
    await until(() => shipper.stats().shipped === 100);
    expect(sink.batches).toHaveLength(2);
    // Folded, each batch is two records: too small to be worth compressing.
    expect(sink.requests.every((r) => r.encoding === undefined)).toBe(true);
    expect(sink.requests[0]!.authorization).toBe('Bearer tok-123');
    expect(sink.batches[0]!.records[0]).toEqual({
      time: '2026-01-01T00:00:00.000Z',
      source: 'frontend',
      destination: 'orders',
      method: 'GET',
      path: '/orders/{id}',
      effect: 'deny',
      enforced: false,
      rule: 'orders#2',
      revision: 7,
      subject: 'alice',
      kid: 'k1',
    });
    // The other 49 decisions of the first batch are identical but for the time: one record.
    expect(sink.batches[0]!.records).toHaveLength(2);
    expect(sink.batches[0]!.records[1]).toMatchObject({
      path: '/orders/{id}',
      count: 49,
      time: '2026-01-01T00:00:00.001Z',
      lastTime: '2026-01-01T00:00:00.049Z',
    });
    expect(total(sink.batches)).toBe(100);
    // No query strings, no ids, ever.
    const text = JSON.stringify(sink.batches);
    expect(text).not.toContain('secret');
    expect(text).not.toContain('?');
    const stats = await shipper.close();
    expect(stats).toMatchObject({
      recorded: 100,
      shipped: 100,
      dropped: 0,
      batches: 2,
      buffered: 0,
    });
  });

  it('ships a partial batch on the timer, and keeps route templates as given', async () => {
    const shipper = createDecisionLogShipper({
      controlPlanes: sink.url,
      batchSize: 500,
      flushIntervalMs: 20,
    });
    shipper.record(
      entry(1, { routed: true, path: '/orders/:id', rule: null, effect: 'allow', enforced: true }),
    );
    await until(() => sink.batches.length === 1);
    expect(sink.batches[0]!.records).toEqual([
      expect.objectContaining({
        path: '/orders/:id',
        rule: 'default',
        effect: 'allow',
        enforced: true,
      }),
    ]);
    // A small body is not worth compressing.
    expect(sink.requests[0]!.encoding).toBeUndefined();
    await shipper.close();
  });

  it('retries failed batches with backoff and loses nothing that fits', async () => {
    sink.failNext.push(503, 500, 429);
    const errors: string[] = [];
    const shipper = createDecisionLogShipper({
      controlPlanes: sink.url,
      batchSize: 10,
      flushIntervalMs: 10,
      backoffMs: 5,
      onError: (e) => errors.push(e.code),
    });
    for (let i = 0; i < 10; i++) shipper.record(entry(i));
    await until(() => shipper.stats().shipped === 10);
    expect(errors).toEqual([
      'DECISION_LOG_SHIP_FAILED',
      'DECISION_LOG_SHIP_FAILED',
      'DECISION_LOG_SHIP_FAILED',
    ]);
    expect(sink.batches).toHaveLength(1);
    expect(total(sink.batches)).toBe(10);
    const stats = await shipper.close();
    expect(stats.failedAttempts).toBe(3);
    expect(stats.lastError?.code).toBe('DECISION_LOG_SHIP_FAILED');
    expect(stats.dropped).toBe(0);
  });

  it('drops a batch the control plane rejects, counts it and reports the count and a sample next time', async () => {
    sink.failNext.push(422);
    const shipper = createDecisionLogShipper({
      controlPlanes: sink.url,
      batchSize: 5,
      flushIntervalMs: 10,
      sampleSize: 3,
    });
    for (let i = 0; i < 5; i++) shipper.record(entry(i));
    await until(() => shipper.stats().dropped === 5);
    expect(shipper.stats().lastError?.code).toBe('DECISION_LOG_REJECTED');
    shipper.record(entry(99));
    // The drop count may travel alone (the timer can fire first) or with the next record.
    await until(() => total(sink.batches) === 1);
    expect(sink.batches.reduce((n, b) => n + (b.dropped ?? 0), 0)).toBe(5);
    expect(sink.batches.flatMap((b) => b.droppedSample ?? [])).toHaveLength(3);
    await shipper.close();
  });

  it('stays bounded while the control plane is down: counts drops, never grows, then recovers', async () => {
    const down = await startSink();
    const url = down.url;
    await down.close(); // nothing listens there now: connection refused
    const shipper = createDecisionLogShipper({
      controlPlanes: url,
      capacity: 200,
      batchSize: 50,
      flushIntervalMs: 10,
      backoffMs: 1,
      maxBackoffMs: 5,
      maxAttempts: 2,
    });
    for (let i = 0; i < 20_000; i++) shipper.record(entry(i));
    const during = shipper.stats();
    expect(during.buffered + during.inFlight).toBeLessThanOrEqual(200 + 50);
    expect(during.recorded).toBe(20_000);
    await until(() => shipper.stats().failedAttempts >= 2);
    const after = shipper.stats();
    expect(after.buffered).toBeLessThanOrEqual(200);
    expect(after.recorded).toBe(after.shipped + after.dropped + after.buffered + after.inFlight);
    expect(after.lastError?.code).toBe('DECISION_LOG_SHIP_FAILED');
    await shipper.close();
  });

  it('flushes what is buffered on close', async () => {
    const shipper = createDecisionLogShipper({
      controlPlanes: [sink.url],
      flushIntervalMs: 60_000,
    });
    for (let i = 0; i < 7; i++) shipper.record(entry(i));
    const stats = await shipper.close();
    expect(stats.shipped).toBe(7);
    expect(total(sink.batches)).toBe(7);
  });

  it('folds only decisions that are identical but for the time, and can be told not to', async () => {
    const folding = createDecisionLogShipper({ controlPlanes: sink.url, flushIntervalMs: 60_000 });
    folding.record(entry(1));
    folding.record(entry(2, { subject: 'alice', kid: 'k1' }));
    folding.record(entry(3, { subject: 'bob', kid: 'k1' }));
    folding.record(entry(4, { subject: 'alice', kid: 'k1' }));
    folding.record(entry(5, { effect: 'allow', enforced: true }));
    folding.record(entry(6, { routed: true, path: '/orders/:id' }));
    await folding.close();
    const records = sink.batches[0]!.records;
    expect(records.map((r) => [r.subject ?? null, r.effect, r.path, r.count ?? 1])).toEqual([
      [null, 'deny', '/orders/{id}', 1],
      ['alice', 'deny', '/orders/{id}', 2],
      ['bob', 'deny', '/orders/{id}', 1],
      [null, 'allow', '/orders/{id}', 1],
      [null, 'deny', '/orders/:id', 1],
    ]);
    const plain = createDecisionLogShipper({
      controlPlanes: sink.url,
      flushIntervalMs: 60_000,
      fold: false,
    });
    for (let i = 0; i < 30; i++) plain.record(entry(i));
    await plain.close();
    expect(sink.batches[1]!.records).toHaveLength(30);
    expect(sink.batches[1]!.records.every((r) => r.count === undefined)).toBe(true);
    // Above 1 KiB the body travels gzipped (the sink inflates it).
    expect(sink.requests[1]!.encoding).toBe('gzip');
  });

  it('rejects nonsense options as caller misuse', () => {
    expect(() => createDecisionLogShipper({ controlPlanes: [] })).toThrow(TypeError);
    expect(() => createDecisionLogShipper({ controlPlanes: sink.url, batchSize: 0 })).toThrow(
      TypeError,
    );
  });
});
