/**
 * One client process of the `propagation` benchmark. It runs `count` watchers against one control
 * plane and reports, for each, the wall-clock time at which it held the new verified bundle.
 *
 * - `watch` mode: each watcher is a full PDP (`createPdp`): its own SSE stream, its own bundle
 *   fetch, signature verification and compilation. They share one undici Pool per process so the
 *   streams, plus a few spare connections for the fetches, use a bounded number of sockets.
 * - `poll` mode (the peer): each watcher fetches the bundle every `pollMs` with If-None-Match,
 *   verifies and compiles it when it changed: what a PDP without a push channel would do.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type BundlePublicKey, importPublicKey, verifyBundle } from '@ward/bundle';
import * as engine from '@ward/policy';
import { Pool } from 'undici';
import { createPdp, type Pdp } from '../packages/sdk/src/index.ts';
import { fetchBundle } from '../packages/sdk/src/pdp/control-plane.ts';

interface StartMessage {
  type: 'start';
  mode: 'watch' | 'poll';
  url: string;
  publicKey: string;
  token: string;
  service: string;
  count: number;
  pollMs: number;
}
type Message = StartMessage | { type: 'arm' } | { type: 'stop' };

const now = (): number => performance.timeOrigin + performance.now();
const send = (message: object): void => {
  process.send?.(message);
};

let armedAt = Number.POSITIVE_INFINITY;
let armedCpu: NodeJS.CpuUsage | undefined;
let baseline = -1;
let times: Float64Array;
/** When each watcher's stream delivered the change event (watch mode only). */
let eventTimes: Float64Array;
let got = 0;
let reported = false;
const pdps: Pdp[] = [];
let polling = true;
let pool: Pool | undefined;
let watchPool: Pool | undefined;

function arrived(i: number, revision: number): void {
  if (revision <= baseline || armedAt === Number.POSITIVE_INFINITY || times[i]! > 0) return;
  times[i] = now();
  got++;
  if (got === times.length && !reported) {
    reported = true;
    const cpu = process.cpuUsage(armedCpu);
    send({
      type: 'done',
      times: Array.from(times),
      eventTimes: Array.from(eventTimes),
      cpuMs: (cpu.user + cpu.system) / 1000,
    });
    // Profiling runs (PROF=1) end here, so the profile's tail is the propagation alone.
    if (process.execArgv.includes('--cpu-prof')) setImmediate(() => process.exit(0));
  }
}

async function startWatchers(m: StartMessage): Promise<void> {
  // Streams in one pool (sized to hold them all), fetches in a small one: undici's Pool scans its
  // clients for a free one on every request, so fetches must not share the pool of the streams.
  pool = new Pool(m.url, { connections: 32, keepAliveTimeout: 60_000 });
  watchPool = new Pool(m.url, { connections: m.count, keepAliveTimeout: 60_000 });
  const silent = { warn() {} };
  const batch = 250;
  for (let from = 0; from < m.count; from += batch) {
    const started: Pdp[] = [];
    for (let i = from; i < Math.min(m.count, from + batch); i++) {
      const index = i;
      const pdp = createPdp({
        service: m.service,
        controlPlanes: [m.url],
        publicKey: m.publicKey,
        token: m.token,
        dispatcher: pool,
        watchDispatcher: watchPool,
        readTimeoutMs: 600_000,
        requestTimeoutMs: 60_000,
        logger: {
          warn: silent.warn,
          debug(fields, message) {
            const revision = (fields as { revision?: number }).revision;
            if (message === 'watch event' && typeof revision === 'number' && revision > baseline) {
              if (armedAt !== Number.POSITIVE_INFINITY && eventTimes[index] === 0)
                eventTimes[index] = now();
            }
          },
          // The PDP logs every swap at info level, synchronously, right after the swap.
          info(fields) {
            const revision = (fields as { revision?: number }).revision;
            if (typeof revision === 'number') arrived(index, revision);
          },
        },
      });
      pdps.push(pdp);
      started.push(pdp);
    }
    await Promise.all(started.map((p) => p.ready));
    // Ready means a bundle; connected means the stream is open too.
    while (!started.every((p) => p.status().connected !== null)) await sleep(20);
  }
}

async function startPollers(m: StartMessage): Promise<void> {
  pool = new Pool(m.url, { connections: 64, keepAliveTimeout: 60_000 });
  const keys: BundlePublicKey[] = [importPublicKey(m.publicKey)];
  const signal = new AbortController().signal;
  const options = {
    token: m.token,
    dispatcher: pool,
    watchDispatcher: undefined,
    signal,
    requestTimeoutMs: 60_000,
    readTimeoutMs: 60_000,
    maxBundleBytes: 16 << 20,
  };
  const held: { revision: number; hash: string | undefined }[] = [];
  const first: Promise<void>[] = [];
  for (let i = 0; i < m.count; i++) {
    held.push({ revision: -1, hash: undefined });
    const index = i;
    const poll = async (): Promise<void> => {
      const r = await fetchBundle(m.url, m.service, held[index]!.hash, options);
      if (!r.changed) return;
      const bundle = verifyBundle(r.envelope, { keys, service: m.service });
      engine.compile(bundle.documents, { trustDomain: bundle.trustDomain });
      held[index] = { revision: bundle.revision, hash: (r.envelope as { hash: string }).hash };
      arrived(index, bundle.revision);
    };
    first.push(poll());
    // Spread the pollers' phases over the interval, as independent services would be.
    // On a fixed schedule (phase + k·interval), not "sleep after each poll": the start-up burst
    // would otherwise bunch the pollers together for good.
    const startAt = performance.now() + Math.random() * m.pollMs;
    void (async () => {
      for (let k = 0; polling; k++) {
        const at = startAt + k * m.pollMs;
        const wait = at - performance.now();
        if (wait > 0) await sleep(wait);
        else if (wait < -m.pollMs) continue; // fell a whole interval behind: skip, as a timer would
        await poll().catch(() => {});
      }
    })();
  }
  await Promise.all(first);
  baseline = Math.max(...held.map((h) => h.revision));
}

process.on('message', (message: Message) => {
  if (message.type === 'start') {
    times = new Float64Array(message.count);
    eventTimes = new Float64Array(message.count);
    const start = message.mode === 'watch' ? startWatchers(message) : startPollers(message);
    start.then(
      () => {
        if (message.mode === 'watch') baseline = Math.max(...pdps.map((p) => p.revision()));
        send({ type: 'ready', baseline });
      },
      (error: unknown) =>
        send({ type: 'error', message: String((error as Error)?.stack ?? error) }),
    );
  } else if (message.type === 'arm') {
    armedAt = now();
    armedCpu = process.cpuUsage();
    send({ type: 'armed' });
  } else if (message.type === 'stop') {
    polling = false;
    void Promise.all(pdps.map((p) => p.close()))
      .then(() => Promise.all([pool?.destroy(), watchPool?.destroy()]))
      .finally(() => process.exit(0));
  }
});

// The benchmark process is gone (killed, crashed): do not linger holding sockets and CPU.
process.on('disconnect', () => process.exit(0));
