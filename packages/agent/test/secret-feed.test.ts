/**
 * The agent's control-plane stream and the secrets it holds across a reconnect, over a real
 * loopback HTTP server speaking the control plane's `/v1/agent/watch` framing (`: connected`,
 * the connect snapshot, then `: heartbeat` comments).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BundleFeed, type ControlPlaneClient, SecretStore } from '../src/index.ts';

const ORDERS = 'spiffe://example.org/ns/shop/sa/orders';
const event = (secret: string, revision: number) =>
  `event: secret\ndata: ${JSON.stringify({
    service: 'shop/orders',
    spiffeId: ORDERS,
    secret,
    revision,
    type: 'static',
    versions: [{ version: 1, data: { value: `v-${secret}` }, notBefore: 0, notAfter: null }],
  })}\n\n`;
const until = async (check: () => boolean) => {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
};

describe('secrets held across a reconnect of the agent stream', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('drops a held secret that the connect snapshot after a reconnect no longer carries', async () => {
    // What each connection's snapshot carries: the first both secrets, the second (the reader
    // of shop/b was removed while the agent was away, so no `removed` ever reached it) only a.
    const snapshots = [[event('shop/a', 5), event('shop/b', 6)], [event('shop/a', 5)]];
    let connects = 0;
    const streams = new Set<ServerResponse>();
    const server = createServer((_req, res) => {
      const snapshot = snapshots[Math.min(connects++, snapshots.length - 1)]!;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'ward-heartbeat-ms': '60000' });
      res.write(': connected\n\n');
      for (const e of snapshot) res.write(e);
      res.write(': heartbeat 7\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/agent/watch`;
    const client = {
      watch: (_identity: unknown, signal: AbortSignal) => fetch(url, { signal }),
    } as unknown as ControlPlaneClient;
    const store = new SecretStore();
    const feed = new BundleFeed({
      client,
      identity: () => ({}) as never,
      logger: pino({ level: 'silent' }),
      timing: { minBackoffMs: 10, maxBackoffMs: 20 },
      secrets: store,
    });
    feed.start();
    cleanups.push(() => feed.stop());
    await until(() => store.size === 2);
    const withdrawn: string[] = [];
    store.on('secret', (_service: string, secret: string) => withdrawn.push(secret));

    // The control plane goes away and comes back: the agent reconnects.
    for (const s of streams) s.destroy();
    await until(() => connects === 2 && feed.connected);
    await until(() => store.get('shop/orders', 'shop/b') === undefined);
    expect(withdrawn).toContain('shop/b');
    // What the snapshot still carries stays held, and is not withdrawn on the way.
    expect(store.get('shop/orders', 'shop/a')?.versions?.[0]?.data).toEqual({ value: 'v-shop/a' });
    expect(withdrawn).not.toContain('shop/a');
  }, 15_000);
});
