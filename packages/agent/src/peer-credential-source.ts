/**
 * How the agent learns who is calling: the kernel's SO_PEERCRED of the Workload API connection,
 * read in process through `node:ffi` (Node 26+), or through a persistent `python3` helper
 * (older Node). With neither, the agent cannot attest callers and refuses to start: it never
 * serves an SVID to a caller it has not identified.
 */
import { spawnSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { AgentError } from './errors.ts';
import { PeerCredentialReader } from './peer-credential-reader.ts';
import { ffiPeerCredentialSource } from './so-peercred-ffi.ts';

/** Reads `[pid, uid, gid]` of the process at the other end of a Unix socket. */
export interface PeerCredentialSource {
  /** For logs and the demo's notice, e.g. `SO_PEERCRED via node:ffi`. */
  readonly method: string;
  read(socket: Socket): Promise<[number, number, number]>;
  close(): void;
}

/** Whether `python` runs and its socket module knows SO_PEERCRED (5 s at most). */
function pythonWorks(python: string): boolean {
  const r = spawnSync(python, ['-c', 'import socket; socket.SO_PEERCRED'], {
    stdio: 'ignore',
    timeout: 5000,
  });
  return r.error === undefined && r.status === 0;
}

/**
 * The best way to read peer credentials on this host: `node:ffi`, then `python3`. Throws
 * `AGENT_NO_PEER_ATTESTATION` naming what is missing when there is none.
 */
export function peerCredentialSource(
  options: { python?: string; ffi?: boolean } = {},
): PeerCredentialSource {
  if (process.platform !== 'linux') {
    throw new AgentError(
      'AGENT_NO_PEER_ATTESTATION',
      `cannot identify Workload API callers on ${process.platform}: the agent needs Linux (SO_PEERCRED and /proc)`,
    );
  }
  if (options.ffi !== false) {
    const ffi = ffiPeerCredentialSource();
    if (ffi) return ffi;
  }
  const python = options.python ?? 'python3';
  if (pythonWorks(python)) {
    const reader = new PeerCredentialReader({ python });
    return {
      method: `SO_PEERCRED via ${python}`,
      read: (socket) => reader.read(socket),
      close: () => reader.close(),
    };
  }
  throw new AgentError(
    'AGENT_NO_PEER_ATTESTATION',
    `cannot identify Workload API callers: this Node (${process.version}) has no usable node:ffi and ${python} is not installed; ` +
      'the agent does not serve SVIDs to callers it cannot identify. Run it on Node 26+ or install python3',
  );
}
