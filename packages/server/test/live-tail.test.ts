/**
 * The live tail of denials (`GET /v1/decisions/stream`): what it carries, filters, team scope,
 * revocation, admission limits, the flood cut, and (PostgreSQL) fan-out across replicas.
 */
import { connect } from 'node:net';
import type { LiveDecisionV1 as LiveDecision } from '@ward/api-types';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ingestPlugin } from '../src/ingest/index.ts';
import { pack } from '../src/live/relay.ts';
import { matches } from '../src/live/tail.ts';
import {
  ADMIN,
  cleanupDirs,
  http,
  SseClient,
  type SseEvent,
  startTestServer,
  waitFor,
} from './helpers.ts';
import { applyDocs, backends, postBatch, rec, SHOP, startIngestServer } from './ingest-fixture.ts';

afterAll(() => cleanupDirs());

const DENY = rec({ effect: 'deny', rule: 'default', source: 'monitoring', path: '/orders/{id}' });
const DRY = rec({
  source: 'frontend',
  destination: 'payments',
  effect: 'deny',
  enforced: false,
  rule: 'orders-tighten#1',
  path: '/pay',
});
const decisions = (c: SseClient) =>
  c.events.filter((e) => e.event === 'decision').map((e) => JSON.parse(e.data!) as LiveDecision);
const isDecision = (pred: (d: LiveDecision) => boolean) => (e: SseEvent) =>
  e.event === 'decision' && pred(JSON.parse(e.data!));

const list = await backends('live tail');

describe.each(list)('live tail on $name', (backend) => {
  it('streams denials and dry-run denials, filtered by kind, service and team scope', async () => {
    const s = await startIngestServer(backend);
    try {
      await applyDocs(s.url, SHOP);
      const team = await s.token('team-payments', 'team', ['payments']);
      const all = await SseClient.open(`${s.url}/v1/decisions/stream`);
      const dry = await SseClient.open(`${s.url}/v1/decisions/stream?kind=dry-run-deny`);
      const byService = await SseClient.open(`${s.url}/v1/decisions/stream?service=monitoring`);
      const mine = await SseClient.open(`${s.url}/v1/decisions/stream`, team);
      expect([all.status, dry.status, byService.status, mine.status]).toEqual([200, 200, 200, 200]);
      expect(all.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const r = await postBatch(s.url, s.pdpToken, { records: [rec(), DENY] });
      expect(r.status).toBe(200);
      const pay = await s.pdp('payments');
      expect((await postBatch(s.url, pay, { records: [DRY] })).status).toBe(200);

      await all.next(isDecision((d) => d.dryRun));
      await byService.next(isDecision(() => true));
      await dry.next(isDecision(() => true));
      await mine.next(isDecision(() => true));
      const got = decisions(all);
      expect(got).toHaveLength(2);
      expect(got[0]).toMatchObject({
        source: 'monitoring',
        destination: 'orders',
        method: 'GET',
        path: '/orders/{id}',
        allowed: false,
        dryRun: false,
        rule: 'default',
      });
      expect(got[0]!.reason).toContain('default deny');
      expect(got[1]).toMatchObject({ destination: 'payments', dryRun: true });
      expect(all.events.filter((e) => e.event === 'decision').every((e) => e.id)).toBe(true);
      // Filters: the dry-run tail and the team tail (owns payments) saw only the dry run.
      expect(decisions(dry).map((d) => d.destination)).toEqual(['payments']);
      expect(decisions(byService).map((d) => d.source)).toEqual(['monitoring']);
      // Post another denial on orders and a marker on payments: the team tail never gets orders.
      await postBatch(s.url, s.pdpToken, { records: [DENY] });
      await postBatch(s.url, pay, { records: [{ ...DRY, path: '/marker' }] });
      await mine.next(isDecision((d) => d.path === '/marker'));
      await all.next(isDecision((d) => d.path === '/marker'));
      expect(decisions(mine).every((d) => d.destination === 'payments')).toBe(true);
      expect(decisions(mine)).toHaveLength(2);
      // The backlog route (raw denials) holds the team to the same scope.
      const kept = await http(s.url, 'GET', '/v1/decision-logs/denials', { token: team });
      expect(kept.status).toBe(200);
      expect(kept.body.items.length).toBeGreaterThan(0);
      for (const d of kept.body.items) expect(d.destination).toBe('payments');
      const admin = await http(s.url, 'GET', '/v1/decision-logs/denials');
      expect(
        admin.body.items.some((d: { destination: string }) => d.destination === 'orders'),
      ).toBe(true);
      for (const c of [all, dry, byService, mine]) c.close();
    } finally {
      await s.close();
    }
  });

  it('ends the stream of a revoked token; refuses tails beyond the per-credential limit', async () => {
    const s = await startIngestServer(backend, { tailLimits: { perCredential: 2 } });
    try {
      const t = await http(s.url, 'POST', '/v1/tokens', {
        body: { name: 'oncall', scope: 'team', services: ['orders'] },
      });
      const a = await SseClient.open(`${s.url}/v1/decisions/stream`, t.body.token);
      const b = await SseClient.open(`${s.url}/v1/decisions/stream`, t.body.token);
      const c = await SseClient.open(`${s.url}/v1/decisions/stream`, t.body.token);
      expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
      const pdp = await SseClient.open(`${s.url}/v1/decisions/stream`, s.pdpToken);
      expect(pdp.status).toBe(403);
      const revoked = await http(s.url, 'DELETE', `/v1/tokens/${t.body.id}`);
      expect(revoked.status).toBe(200);
      await a.ended;
      await b.ended;
      const again = await SseClient.open(`${s.url}/v1/decisions/stream`, t.body.token);
      expect(again.status).toBe(401);
      for (const x of [c, pdp, again]) x.close();
    } finally {
      await s.close();
    }
  });

  it('under a flood, sends at most its rate and reports the rest as dropped', async () => {
    const s = await startIngestServer(backend, {
      tail: { maxPerSecond: 5, perSubscriberPerSecond: 5, perSubscriberBurst: 5 },
    });
    try {
      const c = await SseClient.open(`${s.url}/v1/decisions/stream`);
      const flood = Array.from({ length: 50 }, (_, i) => ({ ...DENY, path: `/f/${i}` }));
      expect((await postBatch(s.url, s.pdpToken, { records: flood })).status).toBe(200);
      const d = await c.next((e) => e.event === 'dropped');
      expect(JSON.parse(d.data!).dropped).toBeGreaterThanOrEqual(45);
      expect(decisions(c).length).toBeLessThanOrEqual(5);
      c.close();
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(!list.some((b) => b.name === 'postgres'))('live tail across replicas', () => {
  it('a denial ingested on replica A reaches a tail on replica B', async () => {
    const pgBackend = list.find((b) => b.name === 'postgres')!;
    const a = await startIngestServer(pgBackend);
    // Replica B shares A's schema (its drop is A's).
    const dbUrl = (a.server.app.ward.postgresUrl ?? '') as string;
    const b = await startTestServer({ database: dbUrl, plugins: [ingestPlugin()] });
    try {
      const tail = await SseClient.open(`${b.url}/v1/decisions/stream?service=orders`);
      expect(tail.status).toBe(200);
      expect((await postBatch(a.url, a.pdpToken, { records: [DENY] })).status).toBe(200);
      const e = await tail.next(isDecision(() => true));
      expect(JSON.parse(e.data!)).toMatchObject({ source: 'monitoring', destination: 'orders' });
      // Each event arrives once (B does not echo it back to A's subscribers either).
      const onA = await SseClient.open(`${a.url}/v1/decisions/stream`);
      await postBatch(a.url, a.pdpToken, { records: [{ ...DENY, path: '/two' }] });
      await onA.next(isDecision((d) => d.path === '/two'));
      await tail.next(isDecision((d) => d.path === '/two'));
      // A's own NOTIFY of /two came back before that of /three: it was not published twice.
      await postBatch(a.url, a.pdpToken, { records: [{ ...DENY, path: '/three' }] });
      await onA.next(isDecision((d) => d.path === '/three'));
      await tail.next(isDecision((d) => d.path === '/three'));
      expect(decisions(onA).map((d) => d.path)).toEqual(['/two', '/three']);
      // A token revoked on A ends its tail on B (NOTIFY ward_token_revoked).
      const t = await http(a.url, 'POST', '/v1/tokens', {
        body: { name: 'oncall', scope: 'team', services: ['orders'] },
      });
      const held = await SseClient.open(`${b.url}/v1/decisions/stream`, t.body.token);
      expect(held.status).toBe(200);
      expect((await http(a.url, 'DELETE', `/v1/tokens/${t.body.id}`)).status).toBe(200);
      await held.ended;
      tail.close();
      onA.close();
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe('a tail that never reads', () => {
  it('is reset at the buffer limit, and its slot is free again', async () => {
    const sqlite = list.find((b) => b.name === 'sqlite')!;
    const s = await startIngestServer(sqlite, {
      tail: { maxPerSecond: 1e9, perSubscriberPerSecond: 1e9, perSubscriberBurst: 1e9 },
      tailLimits: { perCredential: 1 },
      decisionQuota: { perSecond: 1e9, burst: 1e9 },
    });
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(s.url).port) });
    try {
      socket.write(
        `GET /v1/decisions/stream HTTP/1.1\r\nhost: ward\r\nauthorization: Bearer ${ADMIN}\r\n\r\n`,
      );
      await new Promise<void>((resolve) => {
        let head = '';
        const onData = (c: Buffer) => {
          head += c.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          socket.off('data', onData);
          socket.pause(); // never reads again: the kernel buffers fill, then the server's
          resolve();
        };
        socket.on('data', onData);
      });
      let outcome: string | undefined;
      socket.on('error', (e: NodeJS.ErrnoException) => {
        outcome = e.code;
      });
      // Long paths, so each batch queues megabytes for the reader.
      const path = `/${'p'.repeat(2000)}`;
      const batch = { records: Array.from({ length: 1000 }, () => ({ ...DENY, path })) };
      const other = await SseClient.open(`${s.url}/v1/decisions/stream`);
      expect(other.status).toBe(429); // the never-reading tail holds the one slot
      other.close();
      for (let round = 0; round < 200; round++) {
        expect((await postBatch(s.url, s.pdpToken, batch)).status).toBe(200);
        const again = await SseClient.open(`${s.url}/v1/decisions/stream`);
        again.close();
        if (again.status === 200) break;
      }
      socket.resume();
      await waitFor(async () => outcome !== undefined || socket.destroyed);
      expect(outcome).toBe('ECONNRESET');
    } finally {
      socket.destroy();
      await s.close();
    }
  });
});

describe('live tail pure parts', () => {
  const decision = fc.record({
    at: fc.constant('2026-01-01T00:00:00.000Z'),
    source: fc.string({ maxLength: 2048 }),
    destination: fc.string({ maxLength: 253 }),
    path: fc.string({ maxLength: 4096 }),
    allowed: fc.constant(false),
    dryRun: fc.boolean(),
    rule: fc.string({ maxLength: 300 }),
    reason: fc.string({ maxLength: 100 }),
  });

  it('packs any events into NOTIFY payloads under 8000 bytes that parse back', () => {
    fc.assert(
      fc.property(fc.array(decision, { maxLength: 40 }), (events) => {
        const payloads = pack('abc', events);
        let n = 0;
        for (const p of payloads) {
          expect(Buffer.byteLength(p)).toBeLessThan(8000);
          expect(p.startsWith('abc\n')).toBe(true);
          const back = JSON.parse(p.slice(4)) as LiveDecision[];
          n += back.length;
        }
        expect(n).toBe(events.length);
      }),
    );
  });

  it('leaves out an event too large for one payload, never its neighbours', () => {
    const ctl = (n: number) => '\u0001'.repeat(n);
    const huge: LiveDecision = {
      at: '2026-01-01T00:00:00.000Z',
      source: ctl(2048),
      destination: 'orders',
      method: 'GET',
      path: ctl(2048),
      allowed: false,
      dryRun: false,
      rule: ctl(512),
      reason: `denied: rule ${ctl(512)}`,
    };
    const small: LiveDecision = { ...huge, source: 'web', path: '/x', rule: 'r', reason: 'r' };
    const payloads = pack('abc', [small, huge, small]);
    const back = payloads.flatMap((p) => {
      expect(Buffer.byteLength(p)).toBeLessThan(8000);
      return JSON.parse(p.slice(4)) as LiveDecision[];
    });
    expect(back).toEqual([small, small]);
  });

  it('a team filter never lets through an event on neither owned service', () => {
    fc.assert(
      fc.property(decision, fc.array(fc.string(), { maxLength: 3 }), (e, owned) => {
        const ok = matches(e, { owned: new Set(owned) });
        expect(ok).toBe(owned.includes(e.source) || owned.includes(e.destination));
      }),
    );
  });
});
