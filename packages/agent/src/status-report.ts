/**
 * The agent's status heartbeat: every `intervalMs`, `POST /v1/status/agent` (signed with its
 * proof, like every agent call) with its node, the workload SVIDs it holds (SPIFFE ID, serial,
 * notAfter) and the bundle revision it holds per service — what `ward status` and the console's
 * identity view show, and what the SVID-expiry alert watches. Failures are logged at debug and
 * never touch serving.
 */
import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AgentStatusReportV1, AgentWorkloadV1 } from '@ward/api-types';
import type { Logger } from 'pino';
import type { BundleFeed } from './bundle-feed.ts';
import type { ControlPlaneClient } from './control-plane.ts';
import type { SvidManager } from './svid-manager.ts';

function agentVersion(): string {
  try {
    // src/ and dist/ are both one level under the package root.
    return String(createRequire(import.meta.url)('../package.json').version);
  } catch {
    return 'unknown';
  }
}

/** The report body of the agent's current state. */
export function agentStatusReport(
  manager: SvidManager,
  feed: BundleFeed | undefined,
  intervalMs: number,
): AgentStatusReportV1 {
  const workloads: AgentWorkloadV1[] = [];
  for (const entry of manager.entries) {
    const held = manager.svid(entry.id);
    const leaf = held?.chainDer[0];
    if (!held || !leaf) continue;
    workloads.push({
      spiffeId: held.spiffeId,
      serial: new X509Certificate(leaf).serialNumber,
      notAfter: new Date(held.notAfter).toISOString(),
    });
  }
  return {
    node: manager.identity.node,
    version: agentVersion(),
    intervalMs,
    workloads: workloads.slice(0, 1000),
    bundles: (feed?.revisions() ?? []).slice(0, 1000),
  };
}

/** Starts the heartbeat (first report at once); returns a stop function. */
export function startStatusReports(options: {
  client: ControlPlaneClient;
  manager: SvidManager;
  feed: BundleFeed | undefined;
  intervalMs: number;
  log: Logger;
}): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async () => {
    try {
      const report = agentStatusReport(options.manager, options.feed, options.intervalMs);
      await options.client.reportStatus(options.manager.identity, report);
    } catch (error) {
      options.log.debug({ error: (error as Error).message }, 'status report failed');
    }
    if (stopped) return;
    timer = setTimeout(() => void tick(), options.intervalMs * (0.9 + Math.random() * 0.2));
    timer.unref();
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
