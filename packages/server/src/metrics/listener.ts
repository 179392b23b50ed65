/**
 * The optional scrape listener (`ward server --metrics-listen HOST:PORT`): `GET /metrics` without
 * a token, on its own port, so Prometheus can scrape without holding a credential of the API.
 * It serves nothing else, and binds loopback unless told otherwise: whoever reaches it reads
 * counts and route patterns, never documents, tokens or service data.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { METRICS_CONTENT_TYPE } from './metrics.ts';

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `scrape()` (Prometheus text) at `GET /metrics` on `host:port` (0 = any free port); the
 * demo uses it for each service's PDP registry as well.
 */
export async function listenMetrics(
  scrape: () => Promise<string>,
  host: string,
  port: number,
): Promise<MetricsListener> {
  // Loaded here, not at import: on Node 26 loading `node:http` fills undici's global dispatcher
  // slots, and importing @ward/server must change no globals (test/package-purity.test.ts).
  const { createServer } = await import('node:http');
  const server: Server = createServer(
    // A scrape's request has no body; slow or idle clients are cut like on the API.
    { headersTimeout: 10_000, requestTimeout: 30_000 },
    (request, response) => {
      const path = (request.url ?? '').split('?')[0];
      if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
        response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        response.end('only GET /metrics is served here\n');
        return;
      }
      scrape().then(
        (text) => {
          response.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
          response.end(request.method === 'HEAD' ? undefined : text);
        },
        () => {
          response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          response.end('collecting metrics failed\n');
        },
      );
    },
  );
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
