/**
 * Streaming calls to the local node agent over its Unix socket (the Workload API socket of
 * `ward agent`): `ward.agent.v1.Bundles/WatchBundle` for the PDP, `ward.agent.v1.Secrets/WatchSecret`
 * for secrets. Both are JSON-coded server streams that the agent answers only with the
 * `workload.spiffe.io: true` metadata, and both are held open for the life of the process:
 * reopened after any failure with an exponential backoff with full jitter.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { AGENT_BUNDLES_HEADER } from '@ward/api-types';
import { ExponentialBackoff, fullJitterGenerator, type IBackoff } from 'cockatiel';

/** A stream that stayed open this long was healthy: the next failure starts a fresh backoff. */
export const HEALTHY_MS = 1000;

/**
 * One gRPC client for `definition` (a grpc-js `ServiceDefinition`, JSON-coded) over the agent's
 * Unix socket. Streams share its connection; `close()` it when done.
 */
export function agentClient<C>(
  definition: object,
  serviceName: string,
  socketPath: string,
  options: { maxReceiveBytes: number },
): grpc.Client & C {
  const Client = grpc.makeGenericClientConstructor(
    definition as grpc.ServiceDefinition,
    serviceName,
  );
  return new Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
    'grpc.max_reconnect_backoff_ms': 1000,
    'grpc.max_receive_message_length': options.maxReceiveBytes,
  }) as unknown as grpc.Client & C;
}

/** The metadata every call to the agent carries (SPIFFE Workload API's security header). */
export function agentMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(AGENT_BUNDLES_HEADER, 'true');
  return md;
}

/** How one stream ended: the agent's status, or a clean end (which the agent never sends). */
export interface AgentStreamEnd {
  /** The gRPC error the stream ended with; undefined when it ended cleanly. */
  readonly error: grpc.ServiceError | undefined;
  /** Whether the stream delivered at least one message. */
  readonly received: boolean;
}

export interface AgentStreamOptions {
  /** Stops the loop (and cancels the open stream). */
  readonly signal: AbortSignal;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  /** Opens one streaming call with the given metadata. */
  open(metadata: grpc.Metadata): grpc.ClientReadableStream<unknown>;
  /** Each message of the stream; `first` for the first message of each opened stream. */
  onMessage(message: unknown, first: boolean): void;
  /** After each stream ends (not when the signal aborted it), before the backoff delay. */
  onEnd(end: AgentStreamEnd): void;
}

/**
 * Holds one server stream from the agent open until `signal` aborts: opens it, hands each
 * message over, and on any end reopens it after an exponential backoff with full jitter (reset
 * once a stream has been healthy for {@link HEALTHY_MS}).
 */
export async function watchAgentStream(options: AgentStreamOptions): Promise<void> {
  const { signal } = options;
  const factory = new ExponentialBackoff({
    generator: fullJitterGenerator,
    initialDelay: options.backoff.initialMs,
    maxDelay: options.backoff.maxMs,
  });
  let backoff: IBackoff<unknown> = factory.next();
  while (!signal.aborted) {
    const openedAt = Date.now();
    let received = false;
    const error = await new Promise<grpc.ServiceError | undefined>((resolve) => {
      const call = options.open(agentMetadata());
      const cancel = () => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
      call.on('data', (message: unknown) => {
        const first = !received;
        received = true;
        options.onMessage(message, first);
      });
      const done = (e: grpc.ServiceError | undefined) => {
        signal.removeEventListener('abort', cancel);
        resolve(e);
      };
      call.on('error', (e: grpc.ServiceError) => done(e));
      call.on('end', () => done(undefined));
    });
    if (signal.aborted) break;
    options.onEnd({ error, received });
    if (received && Date.now() - openedAt >= HEALTHY_MS) backoff = factory.next();
    const delay = backoff.duration;
    backoff = backoff.next(undefined);
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      break;
    }
  }
}
