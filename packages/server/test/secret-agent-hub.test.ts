/**
 * The agent hub's secret scope under races: a rescope or a withdrawal that lands while an
 * agent's snapshot is being read must not let the snapshot's (older) event through afterwards.
 * Real loopback HTTP streams; the secret source is an in-memory one whose reads the test
 * releases by hand, so each interleaving is exact.
 */
import { once } from 'node:events';
import { createServer, get, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AgentHub,
  type AgentSecretSource,
  type AgentSecretState,
  type AgentWatcher,
} from '../src/watch/agent-hub.ts';

interface Stream {
  w: AgentWatcher;
  /** Everything the client read so far. */
  text(): string;
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function openStream(scope: Map<string, string>): Promise<Stream> {
  let res!: ServerResponse;
  const server = createServer((_req, r) => {
    r.writeHead(200, { 'content-type': 'text/event-stream' });
    r.flushHeaders();
    res = r;
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let body = '';
  const req = get(`http://127.0.0.1:${port}/`);
  const [response] = await once(req, 'response');
  response.setEncoding('utf8');
  response.on('data', (c: string) => {
    body += c;
  });
  const w: AgentWatcher = {
    res,
    agentId: 'spiffe://t/agent/n1',
    node: 'n1',
    scope,
    sent: new Map(),
    pending: [],
    bundleBytes: 0,
  };
  return {
    w,
    text: () => body,
    close: async () => {
      req.destroy();
    },
  };
}

/** Lets the loopback socket deliver what was written (a round trip through the server). */
async function settle(s: Stream): Promise<void> {
  await new Promise<void>((r) => s.w.res.write(': flush\n\n', () => r()));
  for (let i = 0; i < 50 && !s.text().includes(': flush'); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

function secretEvents(text: string): { service: string; secret: string; removed?: boolean }[] {
  return [...text.matchAll(/event: secret\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!));
}

/** A source whose state reads wait until the test releases them. */
function manualSource(initial: AgentSecretState) {
  let current = initial;
  const waiting: { revision: number; release: () => void }[] = [];
  const source: AgentSecretSource = {
    async readableBy(service) {
      return current.readers.includes(service) ? [current.secret] : [];
    },
    state(secret) {
      const snap = current;
      return new Promise((resolve) => {
        waiting.push({
          revision: snap.revision,
          release: () => resolve(secret === snap.secret ? snap : undefined),
        });
      });
    },
  };
  return {
    source,
    set(next: AgentSecretState) {
      current = next;
    },
    /** Waits until a read of the state at `revision` is waiting. */
    async waitingFor(revision: number) {
      for (let i = 0; i < 50 && !waiting.some((x) => x.revision === revision); i++)
        await new Promise((r) => setImmediate(r));
      expect(waiting.some((x) => x.revision === revision)).toBe(true);
    },
    /** Releases the oldest waiting read (of the state at `revision`, if given). */
    async releaseOne(revision?: number) {
      const at = () => waiting.findIndex((x) => revision === undefined || x.revision === revision);
      for (let i = 0; i < 50 && at() < 0; i++) await new Promise((r) => setImmediate(r));
      const i = at();
      expect(i, 'a read is waiting').toBeGreaterThanOrEqual(0);
      waiting.splice(i, 1)[0]!.release();
      for (let j = 0; j < 5; j++) await new Promise((r) => setImmediate(r));
    },
  };
}

const V1 = [{ version: 1, data: { value: 'v1-value' }, notBefore: 1, notAfter: null }];
const state = (revision: number, readers: string[]): AgentSecretState => ({
  secret: 'db-password',
  type: 'static',
  revision,
  readers,
  versions: V1,
});

describe('agent hub: secret scope under races', () => {
  it('a service that leaves the node while the connect snapshot is read gets its secret withdrawn', async () => {
    const hub = new AgentHub(60_000, { get: async () => undefined }, () => 10);
    const m = manualSource(state(5, ['orders']));
    hub.secrets = m.source;
    const s = await openStream(new Map([['orders', 'spiffe://t/orders']]));
    const adding = hub.add(s.w);
    await m.releaseOne(); // the snapshot queues orders' db-password
    await adding;
    // The sweep: orders' entry was deleted before the stream went live.
    await hub.rescope(s.w, new Map());
    hub.goLive(s.w);
    await settle(s);
    const events = secretEvents(s.text());
    const last = events.filter((e) => e.secret === 'db-password').at(-1);
    expect(last === undefined || last.removed === true, s.text()).toBe(true);
    hub.close();
    await s.close();
  });

  it('a reader removed while the connect snapshot is read is withdrawn after it', async () => {
    const hub = new AgentHub(60_000, { get: async () => undefined }, () => 10);
    const m = manualSource(state(5, ['orders']));
    hub.secrets = m.source;
    const s = await openStream(new Map([['orders', 'spiffe://t/orders']]));
    const adding = hub.add(s.w);
    await m.releaseOne(); // snapshot read: orders is a reader at revision 5
    await adding;
    // Revision 11 removes orders from the readers before the stream goes live.
    m.set(state(11, []));
    hub.publishSecrets(11, ['db-password']);
    await m.releaseOne();
    hub.goLive(s.w);
    await settle(s);
    const last = secretEvents(s.text())
      .filter((e) => e.secret === 'db-password')
      .at(-1);
    expect(last === undefined || last.removed === true, s.text()).toBe(true);
    hub.close();
    await s.close();
  });

  it('a snapshot state read before a reader was removed is not written after the removal', async () => {
    const hub = new AgentHub(60_000, { get: async () => undefined }, () => 10);
    const m = manualSource(state(5, ['orders']));
    hub.secrets = m.source;
    const s = await openStream(new Map());
    await hub.add(s.w);
    hub.goLive(s.w);
    // orders joins the node: its snapshot reads the state (revision 5, orders a reader) …
    const joining = hub.rescope(s.w, new Map([['orders', 'spiffe://t/orders']]));
    await m.waitingFor(5);
    // … while revision 11 removes orders from the readers and is fanned out first.
    m.set(state(11, []));
    hub.publishSecrets(11, ['db-password']);
    await m.releaseOne(11); // the fan-out reads the new state first
    await m.releaseOne(5); // then the snapshot's older read resolves
    await joining;
    await settle(s);
    const last = secretEvents(s.text())
      .filter((e) => e.secret === 'db-password')
      .at(-1);
    expect(last === undefined || last.removed === true, s.text()).toBe(true);
    hub.close();
    await s.close();
  });
});
