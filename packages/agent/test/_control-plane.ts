import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CaService,
  caRequestListener,
  generateSealKey,
  MemoryCaStore,
  parseSealKey,
} from '@ward/ca';

export const ADMIN = 'test-admin';

/**
 * A real CA control plane on loopback: the @ward/ca service and routes behind node:http (the
 * same routes the Ward server mounts). `stop()`/`start()` simulate an outage on the same port.
 */
export async function startControlPlane(trustDomain = 'example.org') {
  const service = new CaService({
    store: new MemoryCaStore(),
    sealKey: parseSealKey(generateSealKey()),
    trustDomain,
  });
  const listener = caRequestListener(service, { isAdmin: (h) => h === `Bearer ${ADMIN}` });
  let server: Server = createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json() as Promise<Record<string, unknown>>;
  };
  return {
    url,
    service,
    admin,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
    async start() {
      server = createServer(listener);
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    },
  };
}
