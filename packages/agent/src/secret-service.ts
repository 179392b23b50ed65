/**
 * `ward.agent.v1.Secrets/WatchSecret` on the agent's socket (issue 16): a workload asks for one
 * secret of its own service and receives its versions valid now or pending, on connect and on
 * every change, until it hangs up.
 *
 * Scope: the caller is identified by its connection's peer credentials (as for SVIDs), and a
 * secret held for service S is served only while one of the caller's registration entries has
 * S's SPIFFE ID — re-checked on every change of the secret and of the node's entries, so a
 * workload whose entry is removed, or a service whose grant is withdrawn, loses the stream
 * (PERMISSION_DENIED) at once. A secret not held yet is waited for until the call's deadline
 * (then NOT_FOUND). Every message sent is logged at info with the caller's pid and uid, the
 * service, secret and versions — the agent's read audit — and never with a value.
 */
import * as grpc from '@grpc/grpc-js';
import type { SecretVersionV1, SecretWatchReplyV1 } from '@ward/api-types';
import { currentVersion, nextTransition, secretKeyOf, validVersions } from '@ward/secrets';
import { canonicalServiceKey, splitServiceKey } from '@ward/spiffe';
import type { Logger } from 'pino';
import type { LeaseKeeper } from './lease-keeper.ts';
import type { SecretStore } from './secret-store.ts';
import type { SvidManager } from './svid-manager.ts';
import {
  type CallerLookup,
  checkHeader,
  endWith,
  followChanges,
  grpcStatus,
} from './workload-call.ts';

/** Longest timer Node runs (ms). */
const MAX_TIMER = 2 ** 31 - 1;

type Stream = grpc.ServerWritableStream<unknown, unknown>;

/** The WatchSecret handler over `store` (and `leases` for dynamic secrets). */
export function watchSecretHandler(ctx: {
  store: SecretStore;
  leases?: LeaseKeeper;
  manager: SvidManager;
  log: Logger;
  lookup: CallerLookup;
}): (call: Stream) => void {
  return (call) => {
    try {
      checkHeader(call);
      const peer = ctx.lookup.peerOf(call);
      const request = (call.request ?? {}) as { service?: unknown; secret?: unknown };
      const service =
        typeof request.service === 'string' && request.service.length <= 300
          ? canonicalServiceKey(request.service)
          : undefined;
      if (service === undefined) {
        throw grpcStatus(
          grpc.status.INVALID_ARGUMENT,
          'service: not a service name or namespace/name',
        );
      }
      let secret: string;
      try {
        if (typeof request.secret !== 'string' || request.secret.length > 300) throw new Error();
        secret = secretKeyOf(request.secret, splitServiceKey(service).namespace);
      } catch {
        throw grpcStatus(
          grpc.status.INVALID_ARGUMENT,
          'secret: not a secret name or namespace/name',
        );
      }
      if (ctx.lookup.entriesOf(peer).length === 0) {
        throw grpcStatus(
          grpc.status.PERMISSION_DENIED,
          'no identity is registered for this workload',
        );
      }
      serve(
        call,
        ctx,
        { pid: peer.pid, uid: peer.uid },
        () => ctx.lookup.entriesOf(peer),
        service,
        secret,
      );
    } catch (e) {
      call.emit('error', e as Error);
    }
  };
}

function serve(
  call: Stream,
  ctx: Parameters<typeof watchSecretHandler>[0],
  who: { pid: number; uid: number },
  entries: () => readonly { spiffeId: string }[],
  service: string,
  secret: string,
): void {
  const { store, leases, log } = ctx;
  let last = '';
  let served = false;
  let unwatch: (() => void) | undefined;
  let transition: NodeJS.Timeout | undefined;
  let waiting: NodeJS.Timeout | undefined;

  const cleanup = () => {
    stopFollowing();
    clearTimeout(transition);
    clearTimeout(waiting);
    unwatch?.();
    unwatch = undefined;
  };
  const finish = (code: grpc.status, why: string) => {
    cleanup();
    endWith(call, grpcStatus(code, why));
  };
  const isService = (spiffeId: string) => entries().some((e) => e.spiffeId === spiffeId);

  const push = () => {
    if (call.cancelled || call.destroyed) return cleanup();
    const held = store.get(service, secret);
    if (!held) {
      // Held before and gone now: the grant was withdrawn or the service left the node.
      if (served)
        return finish(grpc.status.PERMISSION_DENIED, `${service} may no longer read ${secret}`);
      // Not held yet: refuse now if the caller is not even the service (known from a sibling).
      const sibling = store.anyOf(service);
      if (entries().length === 0 || (sibling && !isService(sibling.spiffeId))) {
        return finish(grpc.status.PERMISSION_DENIED, `this workload is not service ${service}`);
      }
      return; // wait (until the deadline)
    }
    if (!isService(held.spiffeId)) {
      return finish(grpc.status.PERMISSION_DENIED, `this workload is not service ${service}`);
    }
    const now = Date.now();
    let reply: SecretWatchReplyV1;
    let schedule: readonly SecretVersionV1[];
    if (held.type === 'postgres') {
      if (!leases)
        return finish(grpc.status.NOT_FOUND, 'this agent does not lease dynamic secrets');
      unwatch ??= leases.watch(service, secret);
      const leased = leases.get(service, secret);
      if (!leased) {
        if (leases.refusal(service, secret) === 403) {
          return finish(
            grpc.status.PERMISSION_DENIED,
            `the control plane refused a lease on ${secret}`,
          );
        }
        return; // the lease is being taken (or retried)
      }
      reply = { secret, type: held.type, versions: leased.versions, lease: leased.lease };
      schedule = leased.versions;
    } else {
      unwatch?.();
      unwatch = undefined;
      const all = held.versions ?? [];
      reply = { secret, type: held.type, versions: validVersions(all, now) };
      schedule = all;
    }
    // Versions expire (and activate) by the clock: look again then.
    clearTimeout(transition);
    const next = nextTransition(schedule, now);
    if (next !== undefined) {
      transition = setTimeout(push, Math.min(MAX_TIMER, next - now + 1));
      transition.unref?.();
    }
    if (!served && reply.versions.length === 0) return; // declared, no value yet: wait
    const key = JSON.stringify(reply);
    if (key === last) return;
    last = key;
    served = true;
    clearTimeout(waiting);
    call.write(reply);
    log.info(
      {
        pid: who.pid,
        uid: who.uid,
        service,
        secret,
        version: currentVersion(reply.versions, now)?.version ?? null,
        versions: reply.versions.map((v) => v.version),
        ...(reply.lease ? { lease: reply.lease.id } : {}),
      },
      'secret served',
    );
  };

  const onSecret = (s: string, name: string) => {
    if (s === service && name === secret) push();
  };
  const stopFollowing = followChanges(call, [
    [store, 'secret', onSecret],
    [ctx.manager, 'update', push],
    ...(leases ? [[leases, 'lease', onSecret] as [typeof leases, string, typeof onSecret]] : []),
  ]);
  call.on('cancelled', cleanup);
  call.on('close', cleanup);
  call.on('error', cleanup);

  // Waiting ends just before the caller's deadline with NOT_FOUND (at the deadline itself gRPC
  // would answer DEADLINE_EXCEEDED, which does not say why).
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  if (Number.isFinite(at)) {
    const left = at - Date.now();
    waiting = setTimeout(
      () => {
        if (!served) finish(grpc.status.NOT_FOUND, `${secret} is not held for ${service}`);
      },
      Math.min(MAX_TIMER, Math.max(0, left - Math.min(500, left / 10))),
    );
    waiting.unref?.();
  }
  push();
}
