/**
 * SO_PEERCRED through `node:ffi` (Node 26+): `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)` called
 * on the connection's own descriptor, in process: the kernel's record of the peer's pid, uid and
 * gid fixed at connect() time, with no helper process and no native addon. Linux only (the
 * constants and `struct ucred` layout are Linux's).
 */
import type { Socket } from 'node:net';
import { AgentError } from './errors.ts';
import type { PeerCredentialSource } from './peer-credential-source.ts';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
/** `struct ucred { pid_t pid; uid_t uid; gid_t gid; }`: three 32-bit integers. */
const UCRED_BYTES = 12;

interface FfiModule {
  dlopen(
    path: string | null,
    definitions: Record<string, { arguments: string[]; return: string }>,
  ): { functions: Record<string, (...args: unknown[]) => unknown> };
  getRawPointer(source: ArrayBufferView): bigint;
}

type GetSockOpt = (fd: number, level: number, name: number, value: bigint, len: bigint) => number;

/**
 * Loads `node:ffi` without printing its ExperimentalWarning (the one line a user sees should be
 * Ward's, not Node's). Undefined when this Node has no FFI, has it disabled
 * (`--no-experimental-ffi`), or the permission model forbids it.
 */
function loadFfi(): FfiModule | undefined {
  if (process.platform !== 'linux') return undefined;
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (/\bFFI\b/.test(text)) return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return process.getBuiltinModule?.('node:ffi') as FfiModule | undefined;
  } catch {
    return undefined;
  } finally {
    process.emitWarning = emit;
  }
}

/** The file descriptor behind a connected `net.Socket` (a libuv pipe), or -1. */
function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/**
 * A {@link PeerCredentialSource} reading SO_PEERCRED through `node:ffi`, or undefined when FFI
 * is unavailable or `getsockopt` does not resolve in this process.
 */
export function ffiPeerCredentialSource(): PeerCredentialSource | undefined {
  const ffi = loadFfi();
  if (!ffi) return undefined;
  let getsockopt: GetSockOpt;
  try {
    const lib = ffi.dlopen(null, {
      getsockopt: { arguments: ['i32', 'i32', 'i32', 'pointer', 'pointer'], return: 'i32' },
    });
    getsockopt = lib.functions.getsockopt as unknown as GetSockOpt;
  } catch {
    return undefined;
  }
  return {
    method: 'SO_PEERCRED via node:ffi',
    async read(socket: Socket): Promise<[number, number, number]> {
      const fd = fdOf(socket);
      if (fd < 0)
        throw new AgentError('AGENT_PEER_CREDENTIALS', 'the connection is already closed');
      // Buffer.alloc is never pooled: the pointers address these 12 + 4 bytes only.
      const cred = Buffer.alloc(UCRED_BYTES);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(UCRED_BYTES);
      const rc = getsockopt(
        fd,
        SOL_SOCKET,
        SO_PEERCRED,
        ffi.getRawPointer(cred),
        ffi.getRawPointer(len),
      );
      if (rc !== 0 || len.readUInt32LE() !== UCRED_BYTES)
        throw new AgentError('AGENT_PEER_CREDENTIALS', 'getsockopt(SO_PEERCRED) failed');
      const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
      const i32 = (at: number) => (little ? cred.readInt32LE(at) : cred.readInt32BE(at));
      const u32 = (at: number) => (little ? cred.readUInt32LE(at) : cred.readUInt32BE(at));
      return [i32(0), u32(4), u32(8)];
    },
    close() {},
  };
}
