/**
 * One client process of the `secrets-propagation` benchmark's peer: `count` simulated agents in
 * Vault Agent's model, each polling the secret's value over HTTP (`GET /v1/secrets/:s/value`
 * with a reader service's pdp token, real requests on keep-alive connections) every
 * `intervalMs` from a random phase, one request at a time each. Records, per poller, when its first answer carrying a version
 * newer than the one every poller had seen when armed arrived, and the latency of each request
 * made while armed.
 */

import { epochNow } from './_agent-fleet.ts';
import { send, serveFleetWorker } from './_agent-fleet-client.ts';
import { stopProfile } from './_profile.ts';

interface StartMessage {
  type: 'start';
  url: string;
  /** A pdp token of a reader service, shared by the pollers. */
  token: string;
  secret: string;
  count: number;
  intervalMs: number;
}

let versions: Int32Array;
/** Per poller: when it saw a newer version (epoch ms), 0 until then. */
let times: Float64Array;
let baseline = -1;
let armed = false;
let armedCpu: NodeJS.CpuUsage | undefined;
let got = 0;
let stopped = false;
/** Latency of each request made while armed, ms. */
const latencies: number[] = [];
let errors = 0;
const timers: NodeJS.Timeout[] = [];

async function finish(): Promise<void> {
  const cpu = process.cpuUsage(armedCpu);
  const profile = process.env.PROF
    ? await stopProfile(`/tmp/prof/secrets-poll-worker-${process.pid}.cpuprofile`, ['poll'])
    : undefined;
  send({
    type: 'done',
    times: Array.from(times),
    latencies,
    errors,
    cpuMs: (cpu.user + cpu.system) / 1000,
    profile,
  });
}

async function poll(m: StartMessage, i: number): Promise<void> {
  if (stopped) return;
  const t = performance.now();
  try {
    const res = await fetch(`${m.url}/v1/secrets/${encodeURIComponent(m.secret)}/value`, {
      headers: { authorization: `Bearer ${m.token}` },
    });
    const body = (await res.json()) as { version?: number };
    if (!res.ok || typeof body.version !== 'number') throw new Error(`answered ${res.status}`);
    versions[i] = body.version;
    if (armed) {
      latencies.push(performance.now() - t);
      if (times[i] === 0 && body.version > baseline) {
        times[i] = epochNow();
        if (++got === times.length) void finish();
      }
    }
  } catch {
    errors++;
  }
}

async function start(m: StartMessage): Promise<Record<string, unknown>> {
  versions = new Int32Array(m.count);
  times = new Float64Array(m.count);
  for (let i = 0; i < m.count; i++) {
    // Vault Agent's template polling: a fixed interval, each agent from its own start time, one
    // request at a time (an answer slower than the interval delays the next poll, so an
    // overloaded control plane sees at most one request per poller).
    const loop = async () => {
      const started = performance.now();
      await poll(m, i);
      if (stopped) return;
      timers[i] = setTimeout(loop, Math.max(0, m.intervalMs - (performance.now() - started)));
    };
    timers.push(setTimeout(loop, Math.random() * m.intervalMs));
  }
  const t0 = performance.now();
  while (versions.some((v) => v === 0)) await new Promise((r) => setTimeout(r, 100));
  baseline = Math.max(...versions);
  return { baseline, setupMs: performance.now() - t0, errors };
}

serveFleetWorker<StartMessage>({
  start,
  armed() {
    armed = true;
    armedCpu = process.cpuUsage();
  },
  stop() {
    stopped = true;
    for (const t of timers) clearTimeout(t);
    process.exit(0);
  },
});
