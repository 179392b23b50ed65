/**
 * How the demo's node agent identifies the services that ask it for SVIDs. Preferred: the
 * kernel's peer credentials (`peerCredentialSource` of @ward/agent: node:ffi on Node 26+, else
 * python3). Where neither exists, the demo — and only the demo, the agent itself refuses —
 * serves SVIDs without attesting callers: its socket sits in a directory only this user can
 * enter (0700), every demo service runs in this very process, so the caller is taken to be this
 * process. One line says so.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCredentials } from '@ward/agent';
import { DemoError } from './errors.ts';

export interface DemoAttestation {
  /** e.g. `SO_PEERCRED via node:ffi`, or `none (demo fallback)`. */
  readonly method: string;
  /** The one line to print when callers are not attested. */
  readonly notice?: string;
  readonly resolvePeer: (socket: Socket) => Promise<PeerCredentials>;
  close(): void;
}

/** Peer attestation when the host offers it, else the labelled demo fallback. */
export async function demoAttestation(): Promise<DemoAttestation> {
  const { AgentError, peerCredentialSource, peerCredentials } = await import('@ward/agent');
  try {
    const source = peerCredentialSource();
    return {
      method: source.method,
      resolvePeer: (socket) => peerCredentials(socket, { reader: source }),
      close: () => source.close(),
    };
  } catch (error) {
    if (!(error instanceof AgentError) || error.code !== 'AGENT_NO_PEER_ATTESTATION') throw error;
    const self: PeerCredentials = Object.freeze({
      pid: process.pid,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      supplementaryGids: process.getgroups?.() ?? [],
      path: realpathSync(process.execPath),
    });
    return {
      method: 'none (demo fallback)',
      notice:
        'agent: cannot read caller credentials (no node:ffi in this Node, no python3) — callers are not attested (demo fallback); use Node 26+ or install python3 for peer attestation',
      resolvePeer: async () => self,
      close() {},
    };
  }
}

/**
 * A directory for the agent socket that only this user may enter (0700, owned by us):
 * `<dataDir>/agent`, or a fresh temp directory when that path is too long for a Unix socket
 * (~107 bytes). `remove()` deletes the temp directory.
 */
export function privateSocketDir(dataDir: string): { dir: string; remove(): void } {
  const inData = join(dataDir, 'agent');
  if (join(inData, 'agent.sock').length >= 100) {
    const dir = mkdtempSync(join(tmpdir(), 'ward-demo-')); // mkdtemp creates it 0700
    return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
  }
  mkdirSync(inData, { recursive: true, mode: 0o700 });
  const st = lstatSync(inData);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) {
    throw new DemoError(
      'DEMO_SETUP_FAILED',
      `${inData} must be a directory owned by you (it holds the agent socket); remove it`,
    );
  }
  // Ours: tighten it, so only this user can reach the agent socket inside.
  if ((st.mode & 0o077) !== 0) chmodSync(inData, 0o700);
  return { dir: inData, remove() {} };
}
