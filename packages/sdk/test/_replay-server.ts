import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny real control-plane peer on loopback that replays what it is given: a bundle body (bytes,
 * served as is, so a test can flip bytes of a captured bundle) and watch events pushed on demand.
 * It speaks the same HTTP as the control plane; what it serves is up to the test.
 */
export interface ReplayServer {
  url: string;
  /** Body of `GET /v1/bundles/{service}` (any service), or null for 404. */
  bundle: Buffer | null;
  /** `watch: 'hang'` sends the stream's headers and then nothing, like a dead peer. */
  watchMode: 'events' | 'hang';
  /** Requests seen, as `METHOD path`. */
  readonly requests: string[];
  /** Sends a `revision` event to every open watch stream. */
  push(revision: number, services: string[]): void;
  /** Pushes a bundle itself (`event: bundle`) to every open watch stream. */
  pushBundle(revision: number, body: string): void;
  /** `ward-watch-include` header of the last watch request. */
  watchInclude: string | undefined;
  openStreams(): number;
  close(): Promise<void>;
}

export async function startReplayServer(): Promise<ReplayServer> {
  const streams = new Set<ServerResponse>();
  const state: ReplayServer = {
    url: '',
    bundle: null,
    watchMode: 'events',
    requests: [],
    push(revision, services) {
      const data = JSON.stringify({ revision, services });
      for (const res of streams) res.write(`id: ${revision}\nevent: revision\ndata: ${data}\n\n`);
    },
    pushBundle(revision, body) {
      for (const res of streams) res.write(`id: ${revision}\nevent: bundle\ndata: ${body}\n\n`);
    },
    watchInclude: undefined,
    openStreams: () => streams.size,
    close: async () => {
      for (const res of streams) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    state.requests.push(`${req.method} ${path}`);
    if (path.startsWith('/v1/bundles/')) {
      if (state.bundle === null) {
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end('{"code":"API_NOT_FOUND","title":"unknown service","status":404}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(state.bundle);
      return;
    }
    if (path === '/v1/watch') {
      state.watchInclude = req.headers['ward-watch-include'] as string | undefined;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.flushHeaders();
      if (state.watchMode === 'hang') {
        streams.add(res);
        res.on('close', () => streams.delete(res));
        return;
      }
      res.write(': connected\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
