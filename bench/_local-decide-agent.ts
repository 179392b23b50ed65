/**
 * The agent process of the `local-decide` benchmark: a real node agent (`startAgent` with
 * `decide`: its bundle stream, local PDPs, Unix socket, peer credentials from the kernel), and,
 * for the floor of the transport, a bare node:http "hello" server on a Unix socket of its own in
 * the same process. Driven over IPC by bench/local-decide.ts; the client process asks over the
 * sockets.
 */
import { createServer } from 'node:http';
import { join } from 'node:path';
import { type RunningAgent, startAgent } from '@ward/agent';
import pino from 'pino';
import { send } from './_agent-fleet-client.ts';
import { startProfile, stopProfile } from './_profile.ts';
import { nowNs } from './_stats.ts';

interface Start {
  type: 'start';
  url: string;
  joinToken: string;
  publicKey: string;
  dir: string;
  service: string;
  source: string;
}

let agent: RunningAgent | undefined;
const hello = createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
  res.end('hello');
});

async function start(m: Start): Promise<void> {
  agent = await startAgent({
    controlPlane: m.url,
    joinToken: m.joinToken,
    socketPath: join(m.dir, 'agent.sock'),
    logger: pino({ level: 'silent' }),
    statusIntervalMs: 0,
    decide: { publicKey: m.publicKey },
  });
  const until = Date.now() + 30_000;
  while (!((agent.pdps!.pdpFor(m.service)?.revision() ?? 0) > 0)) {
    if (Date.now() > until) throw new Error(`no verified bundle for ${m.service} after 30 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const helloSocket = join(m.dir, 'hello.sock');
  await new Promise<void>((r) => hello.listen(helloSocket, r));
  send({ type: 'ready', socket: agent.socketPath, hello: helloSocket });
}

/**
 * One decision by the service's Enforcer in this process, the fastest of several blocks (load
 * elsewhere only slows a block down): the work the socket adds its transport to.
 */
function enforcerNs(m: Start): number {
  const enforcer = agent!.pdps!.enforcerFor(m.service)!;
  const headers = { 'x-request-id': 'b8f4c0a2' };
  const source = { service: m.source };
  let best = Number.POSITIVE_INFINITY;
  for (let block = 0; block < 10; block++) {
    const t0 = nowNs();
    for (let i = 0; i < 20_000; i++)
      enforcer.checkAs(source, 'GET', '/orders/42', headers, undefined);
    if (block > 1) best = Math.min(best, (nowNs() - t0) / 20_000);
  }
  const check = enforcer.checkAs(source, 'GET', '/orders/42', headers, undefined);
  if (!('identity' in check)) throw new Error('the bench request is not allowed by the policy');
  return best;
}

let started: Start | undefined;
process.on('message', (m: { type: string } & Record<string, unknown>) => {
  const reply = async (): Promise<void> => {
    if (m.type === 'start') {
      started = m as unknown as Start;
      await start(started);
    } else if (m.type === 'enforcer') {
      send({ type: 'enforcer', ns: enforcerNs(started!) });
    } else if (m.type === 'profile-start') {
      await startProfile();
      send({ type: 'profiling' });
    } else if (m.type === 'profile-stop') {
      const summary = await stopProfile(`/tmp/prof/local-decide-agent-${m.phase}.cpuprofile`, [
        // Ward's parts of a decision over HTTP/1.1 and gRPC; the rest is node:http, grpc-js, I/O.
        'parseJson',
        'parseDecideInput',
        'checkAs',
        'send',
        'readBody',
        'Check',
      ]);
      send({ type: 'profile', summary });
    } else if (m.type === 'stop') {
      hello.close();
      await agent?.close();
      process.exit(0);
    }
  };
  reply().catch((error: Error) => send({ type: 'error', message: error.stack ?? error.message }));
});
