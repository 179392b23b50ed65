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
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { AGENT_BUNDLES_HEADER, AGENT_BUNDLES_SERVICE } from '@ward/api-types';
import { ExponentialBackoff, fullJitterGenerator, type IBackoff } from 'cockatiel';
import { PdpError } from './errors.ts';
import type { SyncTarget } from './sync.ts';

type BundleClient = grpc.Client & {
  WatchBundle(
    request: { service: string },
    metadata: grpc.Metadata,
  ): grpc.ClientReadableStream<unknown>;
};

const Client = grpc.makeGenericClientConstructor(
  AGENT_BUNDLES_SERVICE as unknown as grpc.ServiceDefinition,
  'ward.agent.v1.Bundles',
);

/** A stream that stayed open this long was healthy: the next failure starts a fresh backoff. */
const HEALTHY_MS = 1000;

/**
 * Keeps the PDP's bundle current from the agent until `target.signal` aborts: one streaming
 * call, each message installed; on any failure (agent restarting, refusal) it reconnects after
 * an exponential backoff with full jitter, deciding from the bundle it has meanwhile.
 */
export async function startAgentSource(target: SyncTarget): Promise<void> {
  const { opts, signal } = target;
  const socket = opts.agentSocket!;
  const source = `unix://${socket}`;
  const client = new Client(source, grpc.credentials.createInsecure(), {
    'grpc.max_reconnect_backoff_ms': 1000,
    'grpc.max_receive_message_length': opts.maxBundleBytes,
  }) as unknown as BundleClient;
  const factory = new ExponentialBackoff({
    generator: fullJitterGenerator,
    initialDelay: opts.backoffInitialMs,
    maxDelay: opts.backoffMaxMs,
  });
  let backoff: IBackoff<unknown> = factory.next();
  try {
    while (!signal.aborted) {
      const openedAt = Date.now();
      let received = false;
      const failure = await new Promise<unknown>((resolve) => {
        const md = new grpc.Metadata();
        md.set(AGENT_BUNDLES_HEADER, 'true');
        const call = client.WatchBundle({ service: opts.service }, md);
        const cancel = () => call.cancel();
        signal.addEventListener('abort', cancel, { once: true });
        call.on('data', (message: unknown) => {
          if (!received) {
            received = true;
            target.onConnected(source);
          }
          const bundle = (message as { bundle?: unknown } | null)?.bundle;
          target.install(bundle, source);
          target.onSynced(source);
        });
        const done = (error: unknown) => {
          signal.removeEventListener('abort', cancel);
          resolve(error);
        };
        call.on('error', (e: grpc.ServiceError) => done(refusal(e, socket)));
        call.on('end', () =>
          done(new PdpError('PDP_WATCH_FAILED', `${source} ended the bundle stream`)),
        );
      });
      if (signal.aborted) break;
      target.onError(failure, source);
      if (received && Date.now() - openedAt >= HEALTHY_MS) backoff = factory.next();
      const delay = backoff.duration;
      backoff = backoff.next(undefined);
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        break;
      }
    }
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
