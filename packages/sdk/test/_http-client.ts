import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import type { KeyPair } from './_tls-fixture.ts';

export interface Reply {
  status: number;
  contentType: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: tests read problem bodies field by field
  body: any;
}

/** Listens on an ephemeral loopback port; returns the base URL. */
export async function listen(server: Server, scheme = 'http'): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A real TLS client: presents `client` (if any) and trusts `ca`. */
export function tlsAgent(ca: string, client?: KeyPair): Agent {
  return new Agent({ connect: { ca, ...(client ?? {}), servername: 'localhost' } });
}

export async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; dispatcher?: Agent } = {},
): Promise<Reply> {
  const res = await request(url, {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.headers,
    ...(init.dispatcher ? { dispatcher: init.dispatcher } : {}),
  });
  const text = await res.body.text();
  const contentType = res.headers['content-type'] as string | undefined;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.statusCode, contentType, body };
}
