/**
 * The client process of the `local-decide` benchmark: asks the agent's Unix socket (HTTP/1.1
 * `POST /v1/decide` and `/v1/decide/batch` on keep-alive connections; ext_authz `Check` over
 * gRPC), the bare "hello" server beside it, and the Cerbos PDP server, in timed phases that
 * bench/local-decide.ts sends over IPC. Each phase keeps `concurrency` calls in flight (one per
 * connection for HTTP/1.1; multiplexed on one HTTP/2 connection for gRPC, as Envoy does) and
 * times every call.
 *
 * Two HTTP/1.1 clients: undici (a stock Node client) and `RawHttp`, a minimal one that writes
 * the request's pre-made bytes and reads the answer by its content-length, about what a client
 * in Go or Rust costs: it shows how much of a round trip is the Node client rather than the
 * agent.
 */
import { connect, type Socket } from 'node:net';
import { Client } from 'undici';
import { authorizationClient, envoyCheck } from '../packages/agent/test/_ext-authz.ts';
import { send } from './_agent-fleet-client.ts';
import { cerbosCheckRequest } from './_middleware-fixture.ts';
import { startProfile, stopProfile } from './_profile.ts';
import { nowNs, percentile, round } from './_stats.ts';

export type Target = 'hello' | 'decide' | 'batch' | 'grpc' | 'cerbos';

export interface Phase {
  type: 'phase';
  name: string;
  target: Target;
  client: 'raw' | 'undici' | 'grpc';
  concurrency: number;
  seconds: number;
  /** Profile this process over the timed window (bench/_profile.ts). */
  profile?: boolean;
}

export interface PhaseResult {
  type: 'phase';
  calls: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  clientCpuUsPerCall: number;
  /** The first wrong answer, when there were any. */
  failure?: string;
}

interface Setup {
  type: 'setup';
  socket: string;
  hello: string;
  cerbos: string | undefined;
  service: string;
  source: string;
  sourceSpiffeId: string;
  destinationSpiffeId: string;
  batch: number;
}

let setup: Setup;

/** What a call sends, where, and how its answer is judged. */
interface Request {
  where: { path: string } | { host: string; port: number };
  method: string;
  url: string;
  body: string;
  ok(status: number, body: string): boolean;
}

function requestOf(target: Exclude<Target, 'grpc'>): Request {
  const input = {
    destination: setup.service,
    source: { service: setup.source },
    request: { method: 'GET', path: '/orders/42', headers: { 'x-request-id': 'b8f4c0a2' } },
  };
  const allowed = (status: number, body: string) =>
    status === 200 && body.startsWith('{"allowed":true');
  switch (target) {
    case 'hello':
      return {
        where: { path: setup.hello },
        method: 'GET',
        url: '/',
        body: '',
        ok: (s, b) => s === 200 && b === 'hello',
      };
    case 'decide':
      return {
        where: { path: setup.socket },
        method: 'POST',
        url: '/v1/decide',
        body: JSON.stringify(input),
        ok: allowed,
      };
    case 'batch':
      return {
        where: { path: setup.socket },
        method: 'POST',
        url: '/v1/decide/batch',
        body: JSON.stringify({ inputs: Array.from({ length: setup.batch }, () => input) }),
        ok: (s, b) =>
          s === 200 &&
          b.split('"allowed":true').length === setup.batch + 1 &&
          !b.includes('"allowed":false'),
      };
    case 'cerbos': {
      const url = new URL(setup.cerbos!);
      const check = cerbosCheckRequest('1', setup.source, 'GET', '/orders/42');
      return {
        where: { host: url.hostname, port: Number(url.port) },
        method: 'POST',
        url: check.path,
        body: check.body,
        ok: (s, b) => s === 200 && b.includes('"GET":"EFFECT_ALLOW"'),
      };
    }
  }
}

/**
 * A minimal HTTP/1.1 client on one keep-alive connection, one request in flight: it writes the
 * request's bytes, made once, and reads the answer up to its content-length.
 */
class RawHttp {
  readonly #socket: Socket;
  readonly #request: Buffer;
  #chunks: Buffer[] = [];
  #size = 0;
  #done: ((answer: { status: number; body: string }) => void) | undefined;
  #fail: ((error: Error) => void) | undefined;

  private constructor(socket: Socket, r: Request) {
    this.#socket = socket;
    const body = Buffer.from(r.body);
    this.#request = Buffer.concat([
      Buffer.from(
        `${r.method} ${r.url} HTTP/1.1\r\nhost: local\r\n` +
          (body.length
            ? `content-type: application/json\r\ncontent-length: ${body.length}\r\n`
            : '') +
          '\r\n',
      ),
      body,
    ]);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e) => this.#fail?.(e));
    socket.on('close', () => this.#fail?.(new Error('connection closed')));
  }

  static async open(r: Request): Promise<RawHttp> {
    const socket = connect(r.where);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawHttp(socket, r);
  }

  call(): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      this.#done = resolve;
      this.#fail = reject;
      this.#socket.write(this.#request);
    });
  }

  #onData(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    const all = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#size);
    const end = all.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = all.toString('latin1', 0, end);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? Number.NaN);
    if (!(all.length >= end + 4 + length)) {
      this.#chunks = [all];
      return;
    }
    this.#chunks = [];
    this.#size = 0;
    const done = this.#done!;
    this.#done = undefined;
    this.#fail = undefined;
    done({
      status: Number(head.slice(9, 12)),
      body: all.toString('utf8', end + 4, end + 4 + length),
    });
  }

  close(): void {
    this.#fail = undefined;
    this.#socket.destroy();
  }
}

/** The first wrong answer of a phase, for the report. */
let failure: string | undefined;
const fail = (what: string): false => {
  failure ??= what.slice(0, 500);
  return false;
};
const judge = (r: Request, status: number, body: string): boolean =>
  r.ok(status, body) || fail(`${status} ${body}`);

/** `concurrency` callers, each making calls one after another; `call` says whether it was ok. */
async function drive(
  callers: (() => Promise<boolean>)[],
  p: Phase,
): Promise<Omit<PhaseResult, 'type'>> {
  const { seconds } = p;
  const samples: number[] = [];
  let errors = 0;
  // A warm-up (JIT, connection buffers) before the timed window.
  const loop = async (call: () => Promise<boolean>, until: number, timed: boolean) => {
    while (nowNs() < until) {
      const t0 = nowNs();
      const ok = await call();
      if (!timed) continue;
      samples.push(nowNs() - t0);
      if (!ok) errors++;
    }
  };
  const warm = nowNs() + Math.min(1, seconds / 3) * 1e9;
  await Promise.all(callers.map((c) => loop(c, warm, false)));
  if (p.profile) await startProfile();
  send({ type: 'window' });
  const cpu0 = process.cpuUsage();
  const t0 = nowNs();
  await Promise.all(callers.map((c) => loop(c, t0 + seconds * 1e9, true)));
  const elapsed = (nowNs() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  if (p.profile) {
    const summary = await stopProfile(`/tmp/prof/local-decide-client-${p.target}.cpuprofile`, []);
    process.stderr.write(`  client profile: ${JSON.stringify(summary)}\n`);
  }
  const ms = Float64Array.from(samples, (ns) => ns / 1e6);
  return {
    calls: samples.length,
    perSec: Math.round(samples.length / elapsed),
    p50Ms: round(percentile(ms, 50), 4),
    p99Ms: round(percentile(ms, 99), 4),
    p999Ms: round(percentile(ms, 99.9), 4),
    errors,
    clientCpuUsPerCall: round((cpu.user + cpu.system) / samples.length, 2),
  };
}

async function runPhase(p: Phase): Promise<Omit<PhaseResult, 'type'>> {
  failure = undefined;
  const n = p.concurrency;
  if (p.target === 'grpc') {
    // One HTTP/2 connection with `n` calls in flight on it, as Envoy multiplexes its checks.
    const client = authorizationClient(`unix://${setup.socket}`);
    const request = envoyCheck({
      source: setup.sourceSpiffeId,
      destination: setup.destinationSpiffeId,
      path: '/orders/42',
    });
    try {
      const call = async () => {
        const answer = await client.check(request);
        return answer.status?.code === 0 || fail(JSON.stringify(answer));
      };
      return await drive(
        Array.from({ length: n }, () => call),
        p,
      );
    } finally {
      client.close();
    }
  }
  const r = requestOf(p.target);
  if (p.client === 'raw') {
    const conns = await Promise.all(Array.from({ length: n }, () => RawHttp.open(r)));
    try {
      return await drive(
        conns.map((c) => async () => {
          const a = await c.call();
          return judge(r, a.status, a.body);
        }),
        p,
      );
    } finally {
      for (const c of conns) c.close();
    }
  }
  const origin = 'path' in r.where ? 'http://local' : `http://${r.where.host}:${r.where.port}`;
  const clients = Array.from(
    { length: n },
    () => new Client(origin, 'path' in r.where ? { socketPath: r.where.path } : {}),
  );
  const headers = r.body ? { 'content-type': 'application/json' } : {};
  try {
    return await drive(
      clients.map((c) => async () => {
        const res = await c.request({
          path: r.url,
          method: r.method as 'GET',
          headers,
          ...(r.body ? { body: r.body } : {}),
        });
        return judge(r, res.statusCode, await res.body.text());
      }),
      p,
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

process.on('message', (m: { type: string }) => {
  const reply = async (): Promise<void> => {
    if (m.type === 'setup') {
      setup = m as Setup;
      send({ type: 'setup' });
    } else if (m.type === 'phase') {
      const result = await runPhase(m as Phase);
      send({ type: 'phase', ...result, ...(failure ? { failure } : {}) });
    } else if (m.type === 'stop') {
      process.exit(0);
    }
  };
  reply().catch((error: Error) => send({ type: 'error', message: error.stack ?? error.message }));
});
