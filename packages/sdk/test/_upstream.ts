/**
 * Programmable upstreams on loopback for the resilient client's tests: real node:http / https
 * servers whose behaviour a test switches at run time (answer, hang, fail, reset).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** What the upstream does with a request. */
export type Mode =
  | 'ok' // 200, body = JSON of what it saw
  | 'hang' // never answers
  | 'hold' // answers when release() is called
  | 'reset' // destroys the connection
  | number; // answers with this status

export interface Upstream {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  mode: Mode;
  /** Extra headers on every answer (e.g. Retry-After). */
  headers: Record<string, string>;
  /** Requests received (health checks not counted). */
  hits: number;
  /** Health-check requests received. */
  checks: number;
  /** Status answered to health checks. */
  health: number;
  /** Requests whose connection closed before an answer. */
  abandoned: number;
  /** Request headers of every request, in order. */
  seen: IncomingMessage['headers'][];
  /** Answers every held request. */
  release(): void;
  close(): Promise<void>;
}

export const HEALTH_PATH = '/healthz';

/** Starts an upstream on `port` (default: any free one); https when `tls` is given. */
export async function upstream(
  mode: Mode = 'ok',
  options: { tls?: ServerOptions; port?: number } = {},
): Promise<Upstream> {
  const held: ServerResponse[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === HEALTH_PATH) {
      up.checks++;
      res.statusCode = up.health;
      res.end();
      return;
    }
    up.hits++;
    up.seen.push(req.headers);
    res.on('close', () => {
      if (!res.writableFinished) up.abandoned++;
    });
    const m = up.mode;
    for (const [k, v] of Object.entries(up.headers)) res.setHeader(k, v);
    if (m === 'hang') return;
    if (m === 'hold') {
      held.push(res);
      return;
    }
    if (m === 'reset') {
      req.socket.destroy();
      return;
    }
    // Read the body, then answer.
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (m === 'ok') {
        const socket = req.socket as TLSSocket;
        const peer =
          typeof socket.getPeerCertificate === 'function'
            ? socket.getPeerCertificate().subjectaltname
            : undefined;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            port: up.port,
            method: req.method,
            url: req.url,
            body: Buffer.concat(chunks).toString(),
            peer,
          }),
        );
      } else {
        res.statusCode = m;
        res.end(`status ${m}`);
      }
    });
  };
  const server = options.tls ? createHttpsServer(options.tls, handler) : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const up: Upstream = {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    server,
    mode,
    headers: {},
    hits: 0,
    checks: 0,
    health: 200,
    abandoned: 0,
    seen: [],
    release() {
      for (const res of held.splice(0)) res.end('released');
    },
    close() {
      up.release();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return up;
}

/** A loopback port nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** How long `fn` takes to settle, and how. */
export async function timed<T>(
  fn: () => Promise<T>,
): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = performance.now();
  try {
    const value = await fn();
    return { ms: performance.now() - start, value };
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
}
