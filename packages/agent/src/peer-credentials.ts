import { spawn } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { AgentError } from './errors.ts';
import type { PeerCredentialSource } from './peer-credential-source.ts';

/** What the kernel says about the process at the other end of a Unix socket. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
  supplementaryGids: number[];
  /** `/proc/<pid>/exe`; undefined when unreadable (process gone, or no permission). */
  path: string | undefined;
}

// Node has no getsockopt(SO_PEERCRED). Python's socket module does, and a child process
// inherits the connection's descriptor as fd 3 (child_process stdio), so the kernel's own
// record of the peer — the pid, uid and gid fixed at connect() time — is read without a native
// addon. `detach()` keeps Python from closing (shutting down) the shared socket.
const PEERCRED_SCRIPT = [
  'import socket,struct,sys',
  's=socket.socket(fileno=3)',
  "c=s.getsockopt(socket.SOL_SOCKET,socket.SO_PEERCRED,struct.calcsize('3i'))",
  's.detach()',
  "sys.stdout.write('%d %d %d'%struct.unpack('3i',c))",
].join('\n');

/**
 * Reads the peer credentials of a connected Unix socket: SO_PEERCRED through a short-lived
 * `python3` helper, then `/proc/<pid>/status` for supplementary groups and `/proc/<pid>/exe` for
 * the binary path. Linux only. See docs/identity.md for the limits (pid reuse, exe of
 * interpreters, pid namespaces). Throws `AGENT_PEER_CREDENTIALS`.
 */
export async function peerCredentials(
  socket: Socket,
  options: {
    python?: string;
    procRoot?: string;
    reader?: Pick<PeerCredentialSource, 'read'>;
  } = {},
): Promise<PeerCredentials> {
  const [pid, uid, gid] = options.reader
    ? await options.reader.read(socket)
    : await soPeerCred(socket, options.python ?? 'python3');
  if (!(pid > 0))
    throw new AgentError(
      'AGENT_PEER_CREDENTIALS',
      'the peer has no process id (another pid namespace?)',
    );
  const proc = options.procRoot ?? '/proc';
  const startBefore = await startTime(proc, pid);
  let supplementaryGids: number[] = [];
  let path: string | undefined;
  try {
    const status = await readFile(`${proc}/${pid}/status`, 'utf8');
    const groups = /^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '';
    supplementaryGids = groups
      .split(/\s+/)
      .filter((g) => /^\d+$/.test(g))
      .map(Number);
  } catch {
    // The process may have exited; uid and gid from SO_PEERCRED still stand.
  }
  try {
    path = await readlink(`${proc}/${pid}/exe`);
  } catch {
    path = undefined;
  }
  // If the pid was recycled while we read /proc, the start time changed: drop what we read
  // from /proc rather than attribute another process's binary to this peer.
  const startAfter = await startTime(proc, pid);
  if (startBefore === undefined || startBefore !== startAfter) {
    supplementaryGids = [];
    path = undefined;
  }
  return { pid, uid, gid, supplementaryGids, path };
}

/** Start time (field 22 of `/proc/<pid>/stat`), which changes when a pid is reused. */
export async function startTime(proc: string, pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`${proc}/${pid}/stat`, 'utf8');
    // Field 22 (starttime) after the parenthesised comm, which may itself contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function soPeerCred(socket: Socket, python: string): Promise<[number, number, number]> {
  return new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown) =>
      reject(
        new AgentError('AGENT_PEER_CREDENTIALS', `cannot read the caller's credentials: ${why}`, {
          cause,
        }),
      );
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(python, ['-c', PEERCRED_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe', socket] });
    } catch (cause) {
      fail(`${python} did not start`, cause);
      return;
    }
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.on('error', (cause) => fail(`${python} did not start (is python3 installed?)`, cause));
    child.on('close', (code) => {
      const m = /^(-?\d+) (\d+) (\d+)$/.exec(out.trim());
      if (code !== 0 || !m) {
        fail(`helper exited ${code}: ${err.trim().split('\n').at(-1) ?? ''}`);
        return;
      }
      resolve([Number(m[1]), Number(m[2]), Number(m[3])]);
    });
  });
}
