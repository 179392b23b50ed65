/**
 * One client process of the `propagation` benchmark's agent design. It runs `tokens.length`
 * simulated node agents against one control plane. What is real and what is simulated:
 *
 * - Real: each agent's attestation (its own key, CSR, join token, agent SVID), its proof-signed
 *   agent-scoped watch stream, and its bundle handling — the agent's own `BundleFeed` class
 *   (SSE parsing, shape checks, revision ordering), unchanged.
 * - Real per PDP: the verify-compile-swap. Each agent has `pdpsPerAgent` PDPs; each one runs
 *   exactly what `createPdp`'s install runs on a bundle (`verifyBundle` with its trust key, the
 *   revision checks, `loadBundle` = compile) and swaps its reference.
 * - `pdpsPerAgent: 0` (agents-only): no PDP work at all on this box; the process only receives,
 *   parses and holds each agent's event — what one node's agent does — so the arrival times are
 *   the control plane's fan-out and the agents' receipt, not a queue of simulated PDPs.
 * - Simulated: the agent → PDP hop. The agent hands the envelope to its PDPs in-process instead of
 *   over its Unix socket (the main process measures that hop on a real agent and a real PDP), and
 *   all PDPs of all agents of this process share its event loop — on a real node they run in
 *   their own processes on the node's cores.
 */
import type { SignedBundleV1 } from '@ward/api-types';
import { type BundlePublicKey, importPublicKey, verifyBundle } from '@ward/bundle';
import { type LoadedBundle, loadBundle } from '../packages/sdk/src/pdp/loaded.ts';
import { epochNow as now } from './_agent-fleet.ts';
import {
  type FleetAgent,
  type FleetStart,
  send,
  serveFleetWorker,
  startFleet,
  stopFleet,
  until,
} from './_agent-fleet-client.ts';
import { stopProfile } from './_profile.ts';

interface StartMessage extends FleetStart {
  type: 'start';
  publicKey: string;
  service: string;
  pdpsPerAgent: number;
}

/** One PDP's state: what `createPdp` keeps between bundles. */
interface SimPdp {
  current: LoadedBundle | null;
  floor: number;
}

let keys: BundlePublicKey[];
let service: string;
let armed = false;
let baseline = -1;
let fleet: FleetAgent[] = [];
let pdps: SimPdp[][] = [];
/** Per agent: when its stream delivered the change (epoch ms). */
let agentTimes: Float64Array;
/** Per PDP: when it swapped the new bundle in. */
let pdpTimes: Float64Array;
/** Per PDP: its verify-compile-swap, ms. */
let vcsMs: Float64Array;
let got = 0;
/** Agents whose stream delivered the change. */
let agentsGot = 0;
let finished = false;
let armedCpu: NodeJS.CpuUsage | undefined;
const setupCache = new Map<string, LoadedBundle>();

/** `createPdp`'s install, minus logging and the disk: verify, floor, compile, swap. */
function install(pdp: SimPdp, envelope: SignedBundleV1): boolean {
  const held = pdp.current;
  if (held && envelope.hash === held.envelope.hash) return false;
  const bundle = verifyBundle(envelope, { keys, service, currentRevision: held?.bundle.revision });
  if (bundle.revision < pdp.floor) return false;
  pdp.current = loadBundle(envelope, bundle, 'agent');
  pdp.floor = bundle.revision;
  return true;
}

function onBundle(agent: number): void {
  const held = fleet[agent]!.feed.get(service);
  if (!held) return;
  const isChange = armed && held.revision > baseline && pdpTimes[agent * pdps[agent]!.length] === 0;
  const list = pdps[agent]!;
  if (!armed) {
    // Before the measured change: the PDPs' first bundle is verified and compiled once per
    // process and shared (set-up only; the change below is installed by every PDP itself).
    let loaded = setupCache.get(held.bundle.hash);
    if (!loaded) {
      const probe: SimPdp = { current: null, floor: 0 };
      install(probe, held.bundle);
      loaded = probe.current!;
      setupCache.set(held.bundle.hash, loaded);
    }
    for (const p of list) {
      p.current = loaded;
      p.floor = loaded.bundle.revision;
    }
    return;
  }
  for (let p = 0; p < list.length; p++) {
    const t = performance.now();
    install(list[p]!, held.bundle);
    if (!isChange) continue;
    const k = agent * list.length + p;
    vcsMs[k] = performance.now() - t;
    pdpTimes[k] = now();
    got++;
  }
  if (isChange) maybeFinish();
}

/** Done once every agent and every PDP of this process has the change. */
function maybeFinish(): void {
  if (finished || agentsGot < agentTimes.length || got < pdpTimes.length) return;
  finished = true;
  void finish();
}

async function finish(): Promise<void> {
  const cpu = process.cpuUsage(armedCpu);
  const profile = process.env.PROF
    ? await stopProfile(`/tmp/prof/agent-worker-${process.pid}.cpuprofile`, [
        // PDPs: signature + hash + payload parse, then compilation.
        'verifyBundle',
        'loadBundle',
        // The agent: SSE parsing and its checks of each event.
        'feedBytes',
        'parseBundleEvent',
      ])
    : undefined;
  send({
    type: 'done',
    agentTimes: Array.from(agentTimes),
    pdpTimes: Array.from(pdpTimes),
    vcsMs: Array.from(vcsMs),
    cpuMs: (cpu.user + cpu.system) / 1000,
    profile,
  });
}

/**
 * The PDPs' work, queued and run in slices of at most SLICE_MS between which the event loop
 * reads sockets again: the agents' arrival times then measure the control plane and the
 * agents, not the queue of PDP work this one process has to get through.
 */
const SLICE_MS = 4;
const queue: number[] = [];
let draining = false;
function enqueue(agent: number): void {
  queue.push(agent);
  if (!draining) {
    draining = true;
    setImmediate(drain);
  }
}
function drain(): void {
  const end = performance.now() + SLICE_MS;
  let k = 0;
  while (k < queue.length && performance.now() < end) onBundle(queue[k++]!);
  queue.splice(0, k);
  if (queue.length > 0) setImmediate(drain);
  else draining = false;
}

async function start(m: StartMessage): Promise<Record<string, unknown>> {
  keys = [importPublicKey(m.publicKey)];
  service = m.service;
  const n = m.agents;
  agentTimes = new Float64Array(n);
  pdpTimes = new Float64Array(n * m.pdpsPerAgent);
  vcsMs = new Float64Array(n * m.pdpsPerAgent);
  pdps = Array.from({ length: n }, () =>
    Array.from({ length: m.pdpsPerAgent }, () => ({ current: null, floor: 0 })),
  );
  const t0 = performance.now();
  const started = await startFleet(m, {
    secrets: false,
    wire(i, { feed }) {
      // A real agent writes to its PDPs' sockets and returns: the PDPs' work (other processes on
      // a real node) must not hold up the agents' reading here. See `enqueue`.
      feed.on('bundle', () => {
        const held = feed.get(service);
        if (armed && held && held.revision > baseline && agentTimes[i] === 0) {
          agentTimes[i] = now();
          agentsGot++;
        }
        // Agents-only (no PDPs): the agent has it, nothing else runs on this box.
        if (m.pdpsPerAgent > 0) enqueue(i);
        else maybeFinish();
      });
    },
  });
  fleet = started.agents;
  // Every agent connected and holding the current bundle, and every PDP too.
  await until(
    () =>
      fleet.every((a) => a.feed.get(service)) &&
      pdps.every((list) => list.every((p) => p.current !== null)),
  );
  baseline = Math.max(...fleet.map((a) => a.feed.get(service)!.revision));
  const setupMs = { ...started.setupMs, stream: performance.now() - t0 - started.setupMs.attest };
  return { baseline, setupMs };
}

serveFleetWorker<StartMessage>({
  start,
  armed() {
    armed = true;
    armedCpu = process.cpuUsage();
  },
  stop: () => stopFleet(fleet),
});
