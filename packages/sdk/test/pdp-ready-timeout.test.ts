import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPdp, type Pdp } from '../src/index.ts';
import { fromCheckout, memoryLogger, signingKey } from './_pdp-fixture.ts';

/**
 * `ready` settles when the control plane is unreachable: against a frozen control plane (it
 * accepts TCP connections and never answers) and a closed port, `waitReady({ timeoutMs })` and
 * `ready` with `readyTimeoutMs` reject with PDP_NOT_READY while the PDP keeps denying.
 */
describe('PDP readiness with a timeout', () => {
  let frozen: Server;
  const sockets = new Set<Socket>();
  let frozenUrl: string;
  let closedUrl: string;
  const pdps: Pdp[] = [];

  beforeAll(async () => {
    frozen = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
    frozenUrl = `http://127.0.0.1:${(frozen.address() as { port: number }).port}`;
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    closedUrl = `http://127.0.0.1:${(gone.address() as { port: number }).port}`;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
  });
  afterAll(async () => {
    for (const p of pdps) await p.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => frozen.close(() => resolve()));
  });

  const start = (extra: { readyTimeoutMs?: number } = {}) => {
    const pdp = createPdp({
      service: 'orders',
      controlPlanes: [frozenUrl, closedUrl],
      publicKey: signingKey().publicKey,
      token: 'pdp-token',
      logger: memoryLogger(),
      backoff: { initialMs: 50, maxMs: 200 },
      ...extra,
    });
    pdps.push(pdp);
    return pdp;
  };

  it('waitReady({ timeoutMs }) rejects with PDP_NOT_READY, and the PDP denies meanwhile', async () => {
    const pdp = start();
    await expect(pdp.waitReady({ timeoutMs: 300 })).rejects.toMatchObject({
      code: 'PDP_NOT_READY',
    });
    expect(pdp.decide(fromCheckout).allowed).toBe(false);
  });

  it('ready rejects with PDP_NOT_READY after readyTimeoutMs', async () => {
    const pdp = start({ readyTimeoutMs: 300 });
    await expect(pdp.ready).rejects.toMatchObject({ code: 'PDP_NOT_READY' });
  });
});
