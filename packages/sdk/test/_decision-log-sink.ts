import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { DecisionLogBatchV1 } from '@ward/api-types';

/**
 * A small real HTTP peer for the shipper's protocol until the control plane has its ingest
 * endpoint: it stores every batch it accepts, and can be told to fail the next requests.
 */
export interface Sink {
  url: string;
  batches: DecisionLogBatchV1[];
  requests: { encoding: string | undefined; authorization: string | undefined; status: number }[];
  /** Statuses to answer to the next requests (then 204). */
  failNext: number[];
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const sink: Omit<Sink, 'url' | 'close'> = { batches: [], requests: [], failNext: [] };
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body = Buffer.concat(chunks);
    const encoding = req.headers['content-encoding'];
    const fail = sink.failNext.shift();
    const status = fail ?? (req.method === 'POST' && req.url === '/v1/decision-logs' ? 204 : 404);
    sink.requests.push({ encoding, authorization: req.headers.authorization, status });
    if (status === 204) {
      if (encoding === 'gzip') body = gunzipSync(body);
      sink.batches.push(JSON.parse(body.toString('utf8')) as DecisionLogBatchV1);
    }
    res.statusCode = status;
    res.end(status === 204 ? undefined : `{"code":"TEST_${status}"}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(sink, {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** Waits until `predicate` holds, polling; fails after `ms`. Not a timing assertion: a deadline. */
export async function until(predicate: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
