/**
 * The decision API's handler against a service that leaves the node while the handler waits for
 * another destination's bundle: a real node:http server on loopback, the SDK's own Enforcer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Enforcer } from '@ward/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureDecider } from '../../sdk/test/_policy-fixture.ts';
import { decideHandler } from '../src/decide/http.ts';
import type { LocalPdps } from '../src/decide/local-pdps.ts';
import { id, Recorder } from './_ext-authz.ts';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

describe('decideHandler', () => {
  it('answers 503, not a crash, when a destination left the node during the wait', async () => {
    const enforcers = new Map<string, Enforcer>([
      [
        'orders',
        new Enforcer({ decider: fixtureDecider(), service: 'orders', log: new Recorder() }),
      ],
    ]);
    const pdps = {
      spiffeIdOf: (s: string) => (enforcers.has(s) ? id(s) : undefined),
      pdpFor: (s: string) => (enforcers.has(s) ? { revision: () => 1 } : undefined),
      enforcerFor: (s: string) => enforcers.get(s),
    } as unknown as LocalPdps;
    const handler = decideHandler({
      pdps,
      // payments' bundle arrives; meanwhile orders' entries leave the node (its PDP closes).
      async ensure(service) {
        enforcers.delete('orders');
        enforcers.set(service, new Enforcer({ decider: fixtureDecider(), service }));
      },
      callerOf: () => ({ spiffeIds: new Set([id('orders'), id('payments')]) }),
    });
    server = createServer(handler);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as AddressInfo;
    const ask = (destination: string) => ({
      destination,
      source: { service: 'frontend' },
      request: { method: 'GET', path: '/orders/1' },
    });
    const res = await fetch(`http://127.0.0.1:${port}/v1/decide/batch`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [ask('orders'), ask('payments')] }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'AGENT_DECIDE_NOT_READY' });
  });
});
