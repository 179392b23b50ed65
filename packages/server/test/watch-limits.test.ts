/**
 * Hostile watchers against a real server on loopback (issue 10, item 3): watchers that never
 * read are reset rather than closed gracefully (no socket left in FIN-WAIT-1 holding its kernel
 * send buffer), watch streams are limited per credential, per client address and in total (429
 * with a problem body and Retry-After, slots released when a stream ends), and a client that
 * never finishes its request headers or body is cut off.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { WardContext } from '../src/http/context.ts';
import type { RunningServer, StartServerOptions } from '../src/index.ts';
import { testCa } from './_svids.ts';
import {
  ADMIN,
  cleanupDirs,
  http,
  intention,
  startTestServer,
  svc,
  tempDir,
  yamlOf,
} from './helpers.ts';

const servers: RunningServer[] = [];
const sockets: Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) await s.close();
  cleanupDirs();
});

async function start(opts: StartServerOptions = {}): Promise<RunningServer> {
  const server = await startTestServer(opts);
  servers.push(server);
  const seed = await http(server.url, 'POST', '/v1/apply', {
    body: { files: [{ name: 'seed.yaml', content: yamlOf([svc('web'), svc('api')]) }] },
  });
  expect(seed.status).toBe(200);
  return server;
}

const wardOf = (s: RunningServer) => (s.app as unknown as { ward: WardContext }).ward;
const portOf = (s: RunningServer) => Number(new URL(s.url).port);

async function pdpToken(server: RunningServer, service: string): Promise<string> {
  const res = await http(server.url, 'POST', '/v1/tokens', {
    body: { name: `pdp-${service}-${Math.random()}`, scope: 'pdp', services: [service] },
  });
  expect(res.status).toBe(201);
  return res.body.token;
}

interface RawWatch {
  socket: Socket;
  /** Status code and raw head of the answer (resolves once the head has arrived). */
  head: Promise<{ status: number; text: string }>;
  /** How the connection ended, seen from the client: a reset, or a clean end. */
  outcome: Promise<'reset' | 'end' | string>;
}

/** A watch request over a raw TCP socket, optionally from another loopback source address. */
function rawWatch(
  server: RunningServer,
  token: string,
  opts: { service?: string; push?: boolean; from?: string; read?: boolean; url?: string } = {},
): RawWatch {
  const url = opts.url ?? server.url;
  const at = {
    host: '127.0.0.1',
    port: Number(new URL(url).port),
    ...(opts.from ? { localAddress: opts.from } : {}),
  };
  const socket = url.startsWith('https:')
    ? tlsConnect({ ...at, rejectUnauthorized: false })
    : connect(at);
  sockets.push(socket);
  const path = opts.service ? `/v1/watch?service=${opts.service}` : '/v1/watch';
  socket.write(
    `GET ${path} HTTP/1.1\r\nhost: ward\r\nauthorization: Bearer ${token}\r\n` +
      `${opts.push ? 'ward-watch-include: bundle\r\n' : ''}\r\n`,
  );
  let text = '';
  const head = new Promise<{ status: number; text: string }>((resolve) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      // A watcher that never reads stops here: the kernel buffers fill and the window closes.
      if (opts.read === false) socket.pause();
      resolve({ status: Number(text.slice(9, 12)), text });
    };
    socket.on('data', onData);
  });
  const outcome = new Promise<string>((resolve) => {
    socket.on('error', (e: NodeJS.ErrnoException) =>
      resolve(e.code === 'ECONNRESET' ? 'reset' : (e.code ?? e.message)),
    );
    socket.on('end', () => resolve('end'));
  });
  return { socket, head, outcome };
}

/** An intention on `web` with many callers (rules take 1,000 sources at most). */
function bigIntention(callers: string[], round: number): object {
  const doc = intention('big', 'web', [`round-${round}`]) as { spec: { rules: object[] } };
  for (let i = 0; i < callers.length; i += 500) {
    doc.spec.rules.push({ sources: callers.slice(i, i + 500), action: 'allow' });
  }
  return doc;
}

async function until(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sockets of the server's port in FIN-WAIT-1, or undefined where `ss` is missing. */
function finWait1(port: number): number | undefined {
  try {
    const out = execFileSync('ss', ['-tnH', 'state', 'fin-wait-1', `( sport = :${port} )`], {
      encoding: 'utf8',
    });
    return out.split('\n').filter((l) => l.trim()).length;
  } catch {
    return undefined;
  }
}

/**
 * Opens `n` watchers that never read, pushes large bundles until the server has dropped them
 * all, and checks how it dropped them.
 */
async function slowWatchersAreReset(
  server: RunningServer,
  n: number,
  url = server.url,
): Promise<void> {
  const ward = wardOf(server);
  const token = await pdpToken(server, 'web');
  // A large bundle for `web` (many callers), so each change pushes tens of KiB per watcher.
  const callers = Array.from({ length: 1500 }, (_, i) => `caller-${i}-${'x'.repeat(24)}`);
  const watchers = Array.from({ length: n }, () =>
    rawWatch(server, token, { service: 'web', push: true, read: false, url }),
  );
  for (const w of watchers) expect((await w.head).status).toBe(200);
  await until(() => ward.hub.size === n, 'the watchers to register');
  let round = 0;
  while (ward.hub.size > 0 && round < 400) {
    round++;
    const res = await http(server.url, 'POST', '/v1/apply', {
      body: { files: [{ name: 'big.yaml', content: yamlOf([bigIntention(callers, round)]) }] },
    });
    expect(res.status, res.text).toBe(200);
  }
  expect(ward.hub.size).toBe(0);
  // Reset: the kernel dropped the sockets at once. A graceful close leaves each one in
  // FIN-WAIT-1 with megabytes unsent to a peer whose receive window is closed.
  const lingering = finWait1(Number(new URL(url).port));
  if (lingering !== undefined) expect(lingering).toBe(0);
  for (const w of watchers) w.socket.resume();
  for (const w of watchers) expect(await w.outcome).toBe('reset');
  expect(ward.watchAdmission.open).toBe(0);
  expect(ward.hub.slowDropped).toBe(n);
}

describe('a watcher that never reads', () => {
  it('is reset at the buffer limit, leaving no socket in FIN-WAIT-1', async () => {
    await slowWatchersAreReset(await start(), 5);
  }, 120_000);

  it('over TLS, the TCP connection under the session is reset too', async () => {
    const ca = await testCa('ward.local');
    const serving = await ca.issue('spiffe://ward.local/ward/control-plane', {
      dnsNames: ['localhost'],
    });
    const server = await start();
    const listener = await server.listenTls({ cert: serving.cert, key: serving.key });
    await slowWatchersAreReset(server, 3, listener.url);
  }, 120_000);
});

/** Expects a 429 problem answer naming `field`, with Retry-After. */
function expectRefused(head: { status: number; text: string }, field: string): void {
  expect(head.status).toBe(429);
  expect(head.text).toMatch(/\r\nretry-after: \d+\r\n/i);
  expect(head.text).toContain('"code":"API_RATE_LIMITED"');
  expect(head.text).toContain(`"field":"${field}"`);
}

/** Ends a stream from the client side and waits until the server has let its slot go. */
async function hangUp(server: RunningServer, w: RawWatch, openAfter: number): Promise<void> {
  w.socket.destroy();
  await until(() => wardOf(server).watchAdmission.open === openAfter, 'the slot to be released');
}

describe('watch stream limits', () => {
  it('per credential: the service sharing one token gets its limit, other services are unaffected', async () => {
    const server = await start({ watchLimits: { perCredential: 2 } });
    const web = await pdpToken(server, 'web');
    const api = await pdpToken(server, 'api');
    const a = rawWatch(server, web, { service: 'web' });
    const b = rawWatch(server, web, { service: 'web' });
    expect((await a.head).status).toBe(200);
    expect((await b.head).status).toBe(200);
    const third = rawWatch(server, web, { service: 'web' });
    expectRefused(await third.head, 'credential');
    expect((await rawWatch(server, api, { service: 'api' }).head).status).toBe(200);
    // Slots are released when a stream ends.
    await hangUp(server, a, 2);
    expect((await rawWatch(server, web, { service: 'web' }).head).status).toBe(200);
    const stats = await http(server.url, 'GET', '/v1/watch/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({
      open: 3,
      limits: { perCredential: 2 },
      rejected: { perCredential: 1, perAddress: 0, total: 0 },
    });
    // Only an admin reads the counters.
    expect((await http(server.url, 'GET', '/v1/watch/stats', { token: web })).status).toBe(403);
  });

  it('per address: one client address cannot take every slot; another address still can', async () => {
    const server = await start({ watchLimits: { perAddress: 2 } });
    const tokens = await Promise.all(['web', 'api', 'web'].map((s) => pdpToken(server, s)));
    const services = ['web', 'api', 'web'];
    const from = '127.0.0.2';
    const held = [0, 1].map((i) => rawWatch(server, tokens[i]!, { service: services[i], from }));
    for (const w of held) expect((await w.head).status).toBe(200);
    expectRefused(await rawWatch(server, tokens[2]!, { service: 'web', from }).head, 'address');
    const other = rawWatch(server, tokens[2]!, { service: 'web', from: '127.0.0.3' });
    expect((await other.head).status).toBe(200);
    await hangUp(server, held[0]!, 2);
    expect((await rawWatch(server, tokens[2]!, { service: 'web', from }).head).status).toBe(200);
    const stats = await http(server.url, 'GET', '/v1/watch/stats');
    expect(stats.body.rejected).toEqual({ perCredential: 0, perAddress: 1, total: 0 });
  });

  it('in total: a full replica refuses everyone, then admits again when a stream ends', async () => {
    const server = await start({ watchLimits: { total: 3 } });
    const tokens = await Promise.all([1, 2, 3, 4].map(() => pdpToken(server, 'web')));
    const held = [0, 1, 2].map((i) =>
      rawWatch(server, tokens[i]!, { service: 'web', from: `127.0.1.${i + 1}` }),
    );
    for (const w of held) expect((await w.head).status).toBe(200);
    expectRefused(
      await rawWatch(server, tokens[3]!, { service: 'web', from: '127.0.1.9' }).head,
      'server',
    );
    // An admin watcher counts against the same total.
    expectRefused(await rawWatch(server, ADMIN).head, 'server');
    await hangUp(server, held[1]!, 2);
    expect((await rawWatch(server, tokens[3]!, { service: 'web' }).head).status).toBe(200);
    const stats = await http(server.url, 'GET', '/v1/watch/stats');
    expect(stats.body).toMatchObject({
      open: 3,
      rejected: { perCredential: 0, perAddress: 0, total: 2 },
    });
  });

  it('refuses limits that are not positive integers', async () => {
    await expect(startTestServer({ watchLimits: { total: 0 } })).rejects.toMatchObject({
      code: 'SERVER_CONFIG_INVALID',
    });
  });
});

describe('a client that never finishes its request', () => {
  /** Resolves when the server closes the socket (any way), with what it answered. */
  function closed(socket: Socket): Promise<string> {
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    return new Promise((resolve) => socket.on('close', () => resolve(text)));
  }

  it('trickling its headers (slowloris) is cut off at the header timeout', async () => {
    const server = await start({ httpTimeouts: { headersMs: 500 } });
    const socket = connect({ host: '127.0.0.1', port: portOf(server) });
    sockets.push(socket);
    const answer = closed(socket);
    socket.write('GET /v1/watch HTTP/1.1\r\nhost: ward\r\n');
    // One header byte at a time, well inside any idle timeout, never the blank line.
    const drip = setInterval(() => socket.writable && socket.write('x'), 100);
    try {
      expect(await answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
    }
    expect(wardOf(server).watchAdmission.open).toBe(0);
  });

  it('trickling its body is cut off at the request timeout', async () => {
    const server = await start({ httpTimeouts: { headersMs: 500, requestMs: 1000 } });
    const socket = connect({ host: '127.0.0.1', port: portOf(server) });
    sockets.push(socket);
    const answer = closed(socket);
    socket.write(
      `POST /v1/apply HTTP/1.1\r\nhost: ward\r\nauthorization: Bearer ${ADMIN}\r\n` +
        'content-type: application/json\r\ncontent-length: 100000\r\n\r\n{',
    );
    const drip = setInterval(() => socket.writable && socket.write(' '), 100);
    try {
      expect(await answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
    }
  });

  it('a watch stream, whose request is complete, outlives both timeouts', async () => {
    const server = await start({ httpTimeouts: { headersMs: 200, requestMs: 300 } });
    const w = rawWatch(server, await pdpToken(server, 'web'), { service: 'web' });
    expect((await w.head).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(w.socket.destroyed).toBe(false);
    expect(wardOf(server).watchAdmission.open).toBe(1);
  });
});

describe('ward server --watch-max-*', () => {
  const BIN = join(import.meta.dirname, '..', '..', 'cli', 'src', 'bin.ts');

  it('passes the limits to the server, and refuses a value that is not a positive integer', async () => {
    const env = { ...process.env, WARD_ADMIN_TOKEN: ADMIN, WARD_SEAL_KEY: '' };
    const proc = spawn(
      process.execPath,
      [BIN, 'server', '--data-dir', tempDir(), '--listen', '127.0.0.1:0', '-o', 'json'].concat([
        '--watch-max-per-credential',
        '1',
        '--watch-max-per-address',
        '7',
        '--watch-max-total',
        '9',
      ]),
      { env, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      const line = await new Promise<string>((resolve) =>
        createInterface({ input: proc.stdout! }).once('line', resolve),
      );
      const url = (JSON.parse(line) as { url: string }).url;
      const stats = await http(url, 'GET', '/v1/watch/stats');
      expect(stats.body.limits).toEqual({ perCredential: 1, perAddress: 7, total: 9 });
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    const bad = await promisify(execFile)(process.execPath, [
      BIN,
      'server',
      '--watch-max-total',
      '0',
    ]).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toContain(
      '--watch-max-total must be a positive integer',
    );
  });
});
