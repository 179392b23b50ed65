/** Shared set-up of the ingest tests: a real server with the ingest plugin, tokens, records. */
import { gzipSync } from 'node:zlib';
import type { DecisionLogBatchV1, DecisionLogRecordV1 } from '@ward/api-types';
import { afterAll } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { type IngestPluginOptions, ingestPlugin } from '../src/ingest/index.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  intention,
  pgAvailable,
  startTestServer,
  svc,
} from './helpers.ts';

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** undefined: the default SQLite file. */
  database(): Promise<{ url: string | undefined; drop(): Promise<void> }>;
}

/** The storage backends to test; PostgreSQL only when it answers (a loud skip otherwise). */
export async function backends(suite: string): Promise<Backend[]> {
  const list: Backend[] = [
    { name: 'sqlite', database: async () => ({ url: undefined, drop: async () => {} }) },
  ];
  if (await pgAvailable(suite)) list.push({ name: 'postgres', database: createPgSchema });
  return list;
}

/** An ingest test file's set-up: its backends, and its temp dirs removed when it ends. */
export async function ingestSuite(suite: string): Promise<Backend[]> {
  afterAll(() => cleanupDirs());
  return backends(suite);
}

type TokenScope = 'admin' | 'team' | 'pdp' | 'collector';

export interface IngestServer {
  server: RunningServer;
  url: string;
  /** A pdp token bound to `orders` (the destination most records name). */
  pdpToken: string;
  /** A pdp token bound to `service` (made once per service). */
  pdp(service: string): Promise<string>;
  token(name: string, scope: TokenScope, services?: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startIngestServer(
  backend: Backend,
  options: IngestPluginOptions = {},
): Promise<IngestServer> {
  const db = await backend.database();
  const server = await startTestServer({
    ...(db.url ? { database: db.url } : {}),
    plugins: [ingestPlugin(options)],
  });
  const token = async (name: string, scope: TokenScope, services?: string[]) => {
    const r = await http(server.url, 'POST', '/v1/tokens', {
      body: { name, scope, ...(services ? { services } : {}) },
    });
    if (r.status !== 201) throw new Error(`token: ${r.status} ${r.text}`);
    return r.body.token as string;
  };
  const pdps = new Map<string, Promise<string>>();
  const pdp = (service: string) => {
    let t = pdps.get(service);
    if (!t) {
      t = token(`pdp-${service}`, 'pdp', [service]);
      pdps.set(service, t);
    }
    return t;
  };
  const pdpToken = await pdp('orders');
  return {
    server,
    url: server.url,
    pdpToken,
    pdp,
    token,
    async close() {
      await server.close();
      await db.drop();
    },
  };
}

/** A shop: orders has an enforced intention and a new dry-run one; payments is dry-run only. */
export const SHOP = [
  svc('frontend'),
  svc('orders'),
  svc('payments'),
  svc('monitoring'),
  intention('orders-allow', 'orders', ['frontend']),
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'orders-tighten' },
    spec: {
      destination: 'payments',
      mode: 'dry-run',
      rules: [
        { sources: ['orders'], action: 'allow' },
        { sources: ['frontend'], action: 'deny' },
      ],
    },
  },
  intention('metrics', 'frontend', ['*']),
];

export async function applyDocs(url: string, docs: object[]): Promise<void> {
  const r = await http(url, 'POST', '/v1/apply', {
    body: {
      files: [{ name: 'shop.yaml', content: docs.map((d) => JSON.stringify(d)).join('\n---\n') }],
    },
  });
  if (r.status !== 200) throw new Error(`apply: ${r.status} ${r.text}`);
}

export function rec(partial: Partial<DecisionLogRecordV1> = {}): DecisionLogRecordV1 {
  return {
    time: new Date().toISOString(),
    source: 'frontend',
    destination: 'orders',
    method: 'GET',
    path: '/orders/{id}',
    effect: 'allow',
    enforced: true,
    rule: 'orders-allow#0',
    revision: 1,
    ...partial,
  };
}

/** POSTs a batch (optionally gzip) and returns status and body. */
export async function postBatch(
  url: string,
  token: string | null,
  batch: DecisionLogBatchV1 | string,
  opts: { gzip?: boolean; contentType?: string; encoding?: string } = {},
): Promise<{ status: number; body: any }> {
  let payload: string | Buffer = typeof batch === 'string' ? batch : JSON.stringify(batch);
  const headers: Record<string, string> = {
    'content-type': opts.contentType ?? 'application/json',
  };
  if (opts.gzip) {
    payload = gzipSync(payload);
    headers['content-encoding'] = 'gzip';
  }
  if (opts.encoding) headers['content-encoding'] = opts.encoding;
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/v1/decision-logs`, { method: 'POST', headers, body: payload });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
