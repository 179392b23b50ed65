/**
 * One client process of the `secrets-propagation` benchmark: `agents` simulated node agents
 * (bench/_agent-fleet-client.ts: real attestation, proof-signed agent streams, the agent's own
 * `BundleFeed`) each feeding its own real `SecretStore`, as `ward agent` does. Nothing else runs:
 * no PDP, no workload. Records, per agent, when its store first held a version of `secret` newer
 * than the one all of them held when armed (the store's `secret` event, version checked).
 */

import { epochNow } from './_agent-fleet.ts';
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
  /** The reader service every agent's node runs (a service key). */
  service: string;
  /** The secret key. */
  secret: string;
}

let fleet: FleetAgent[] = [];
let service = '';
let secret = '';
/** The newest version every agent held when armed; -1 before. */
let baseline = -1;
let armed = false;
let armedCpu: NodeJS.CpuUsage | undefined;
/** Per agent: when its store held a newer version (epoch ms), 0 until then. */
let times: Float64Array;
let got = 0;

/** The newest version of the secret `agent` holds, 0 when none. */
function newest(agent: FleetAgent): number {
  let top = 0;
  for (const v of agent.secrets?.get(service, secret)?.versions ?? [])
    top = Math.max(top, v.version);
  return top;
}

async function finish(): Promise<void> {
  const cpu = process.cpuUsage(armedCpu);
  const profile = process.env.PROF
    ? await stopProfile(`/tmp/prof/secrets-agent-worker-${process.pid}.cpuprofile`, [
        // The agent: SSE parsing, the event's checks, the store.
        'feedBytes',
        'parseSecretEvent',
        'accept',
      ])
    : undefined;
  send({ type: 'done', times: Array.from(times), cpuMs: (cpu.user + cpu.system) / 1000, profile });
}

async function start(m: StartMessage): Promise<Record<string, unknown>> {
  service = m.service;
  secret = m.secret;
  times = new Float64Array(m.agents);
  const t0 = performance.now();
  const started = await startFleet(m, {
    secrets: true,
    wire(i, agent) {
      agent.secrets!.on('secret', (s: string, k: string) => {
        if (!armed || times[i] !== 0 || s !== service || k !== secret) return;
        if (newest(agent) <= baseline) return;
        times[i] = epochNow();
        if (++got === times.length) void finish();
      });
    },
  });
  fleet = started.agents;
  // Every agent streaming and holding the secret's current version.
  await until(() => fleet.every((a) => newest(a) > 0));
  baseline = Math.max(...fleet.map(newest));
  return { baseline, setupMs: { ...started.setupMs, held: performance.now() - t0 } };
}

serveFleetWorker<StartMessage>({
  start,
  armed() {
    armed = true;
    armedCpu = process.cpuUsage();
  },
  stop: () => stopFleet(fleet),
});
