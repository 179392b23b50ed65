/**
 * Bundle source "node agent": the PDP takes its bundles from the local `ward agent` over its
 * Unix socket (`ward.agent.v1.Bundles/WatchBundle`) instead of holding a control-plane stream
 * of its own. The agent holds one stream for the whole node (fan-out by nodes, not instances).
 *
 * The agent is a relay, not a trust anchor: every bundle goes through the same `install` as one
 * from a control plane — signature against the PDP's own keys, service, revision floor, cache —
 * so an agent (or whoever took its socket) can neither forge nor roll back a bundle. It can only
 * withhold updates, as a control plane outage would; `maxStaleness` then applies once the stream
 * is gone.
 */
import * as grpc from '@grpc/grpc-js';
import { AGENT_BUNDLES_SERVICE } from '@ward/api-types';
import { agentClient, watchAgentStream } from '../agent/stream.ts';
import { PdpError } from './errors.ts';
import type { SyncTarget } from './sync.ts';

type BundleClient = {
  WatchBundle(
    request: { service: string },
    metadata: grpc.Metadata,
  ): grpc.ClientReadableStream<unknown>;
};

/**
 * Keeps the PDP's bundle current from the agent until `target.signal` aborts: one streaming
 * call, each message installed; on any failure (agent restarting, refusal) it reconnects after
 * an exponential backoff with full jitter, deciding from the bundle it has meanwhile.
 */
export async function startAgentSource(target: SyncTarget): Promise<void> {
  const { opts, signal } = target;
  const socket = opts.agentSocket!;
  const source = `unix://${socket}`;
  const client = agentClient<BundleClient>(AGENT_BUNDLES_SERVICE, 'ward.agent.v1.Bundles', socket, {
    maxReceiveBytes: opts.maxBundleBytes,
  });
  try {
    await watchAgentStream({
      signal,
      backoff: { initialMs: opts.backoffInitialMs, maxMs: opts.backoffMaxMs },
      open: (md) => client.WatchBundle({ service: opts.service }, md),
      onMessage(message, first) {
        if (first) target.onConnected(source);
        const bundle = (message as { bundle?: unknown } | null)?.bundle;
        target.install(bundle, source);
        target.onSynced(source);
      },
      onEnd({ error }) {
        target.onError(
          error
            ? refusal(error, socket)
            : new PdpError('PDP_WATCH_FAILED', `${source} ended the bundle stream`),
          source,
        );
      },
    });
  } finally {
    client.close();
  }
}

/** The agent's gRPC status as a PDP error (a refusal says why; the rest is "unavailable"). */
function refusal(e: grpc.ServiceError, socket: string): PdpError {
  if (e.code === grpc.status.PERMISSION_DENIED || e.code === grpc.status.INVALID_ARGUMENT) {
    return new PdpError(
      'PDP_UNAUTHORIZED',
      `the agent at ${socket} refused this workload's bundle: ${e.details}`,
    );
  }
  return new PdpError('PDP_WATCH_FAILED', `agent at ${socket}: ${e.details || e.message}`, {
    cause: e,
  });
}
