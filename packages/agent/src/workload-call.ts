/**
 * What every call on the agent's socket shares: the SPIFFE security header, gRPC statuses, and
 * streams that follow changes (re-checking the caller's entitlement on each) until the call ends.
 */
import type { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { RegistrationEntry } from '@ward/ca';
import type { PeerCredentials } from './peer-credentials.ts';

export const SECURITY_HEADER = 'workload.spiffe.io';

export type WorkloadCall =
  | grpc.ServerWritableStream<unknown, unknown>
  | grpc.ServerUnaryCall<unknown, unknown>;

/** How a handler learns who calls: the peer of its connection and that peer's entries. */
export interface CallerLookup {
  /** The caller's peer credentials; throws PERMISSION_DENIED when it could not be identified. */
  peerOf(call: WorkloadCall): PeerCredentials;
  /** The registration entries whose selectors match the peer (now). */
  entriesOf(peer: PeerCredentials): readonly RegistrationEntry[];
}

/** A gRPC error with `code` (what `call.emit('error')` and `done(err)` take). */
export function grpcStatus(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), {
    code,
    details,
    metadata: new grpc.Metadata(),
  }) as grpc.ServiceError;
}

/**
 * SPIFFE Workload Endpoint §6: a request without `workload.spiffe.io: true` is refused
 * (InvalidArgument); the header guards against SSRF-style relaying of requests.
 */
export function checkHeader(call: WorkloadCall): void {
  const v = call.metadata.get(SECURITY_HEADER);
  if (v.length !== 1 || v[0] !== 'true') {
    throw grpcStatus(grpc.status.INVALID_ARGUMENT, `missing "${SECURITY_HEADER}: true" metadata`);
  }
}

/**
 * Runs `push` on each of `sources`' events until the call ends (cancelled, closed, failed);
 * returns the function that stops following (call it before ending the call yourself).
 */
export function followChanges(
  call: grpc.ServerWritableStream<unknown, unknown>,
  sources: readonly [EventEmitter, string, (...args: never[]) => void][],
): () => void {
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const [emitter, event, fn] of sources) emitter.off(event, fn as (...a: unknown[]) => void);
  };
  for (const [emitter, event, fn] of sources) emitter.on(event, fn as (...a: unknown[]) => void);
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', stop);
  return stop;
}

/** Ends a streaming call with `error` unless it has ended already. */
export function endWith(call: grpc.ServerWritableStream<unknown, unknown>, error: Error): void {
  if (call.cancelled || call.destroyed) return;
  call.emit('error', error);
}
