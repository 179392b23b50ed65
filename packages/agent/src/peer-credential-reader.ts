import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { AgentError } from './errors.ts';

// A long-lived helper that speaks Node's IPC channel protocol (JSON lines; descriptors passed
// with SCM_RIGHTS). Node sends `{"cmd":"NODE_HANDLE",…}` with the connection's descriptor and
// waits for `NODE_HANDLE_ACK` before sending the next one; the helper answers each with the
// kernel's SO_PEERCRED of that descriptor and closes its copy.
const HELPER = `
import json, os, socket, struct
ch = socket.socket(fileno=int(os.environ['NODE_CHANNEL_FD']))
buf, fds = b'', []
def send(o):
    ch.sendall((json.dumps(o) + '\\n').encode())
while True:
    data, anc, _f, _a = ch.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    if not data:
        break
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            n = len(cdata) // 4
            fds.extend(struct.unpack('%di' % n, cdata[:n * 4]))
    buf += data
    while b'\\n' in buf:
        line, buf = buf.split(b'\\n', 1)
        msg = json.loads(line)
        if msg.get('cmd') != 'NODE_HANDLE':
            continue
        fd = fds.pop(0) if fds else -1
        send({'cmd': 'NODE_HANDLE_ACK'})
        out = {'wardPeer': (msg.get('msg') or {}).get('id')}
        try:
            s = socket.socket(fileno=fd)
            c = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize('3i'))
            s.detach()
            out['pid'], out['uid'], out['gid'] = struct.unpack('3i', c)
        except Exception as e:
            out['error'] = str(e)
        finally:
            if fd >= 0:
                os.close(fd)
        send(out)
`;

/**
 * Reads SO_PEERCRED of Unix-socket connections through one persistent `python3` helper
 * (≈ 1-4 ms a connection, against tens of ms for a process per connection). The helper is
 * started lazily and restarted if it dies; a request waits at most `timeoutMs`.
 */
export class PeerCredentialReader {
  readonly #python: string;
  readonly #timeoutMs: number;
  #child: ChildProcess | undefined;
  readonly #pending = new Map<
    number,
    { resolve: (v: [number, number, number]) => void; reject: (e: Error) => void }
  >();
  #seq = 0;

  constructor(options: { python?: string; timeoutMs?: number } = {}) {
    this.#python = options.python ?? 'python3';
    this.#timeoutMs = options.timeoutMs ?? 5000;
  }

  #helper(): ChildProcess {
    if (this.#child && this.#child.exitCode === null && this.#child.connected) return this.#child;
    const child = spawn(this.#python, ['-c', HELPER], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d).slice(-500);
    });
    child.on(
      'message',
      (m: { wardPeer?: number; pid?: number; uid?: number; gid?: number; error?: string }) => {
        const waiter = typeof m.wardPeer === 'number' ? this.#pending.get(m.wardPeer) : undefined;
        if (!waiter) return;
        this.#pending.delete(m.wardPeer!);
        if (m.error !== undefined || typeof m.pid !== 'number') {
          waiter.reject(
            new AgentError(
              'AGENT_PEER_CREDENTIALS',
              `SO_PEERCRED failed: ${m.error ?? 'no answer'}`,
            ),
          );
        } else waiter.resolve([m.pid, m.uid!, m.gid!]);
      },
    );
    const fail = (why: string, cause?: unknown) => {
      for (const w of this.#pending.values())
        w.reject(new AgentError('AGENT_PEER_CREDENTIALS', why, { cause }));
      this.#pending.clear();
      if (this.#child === child) this.#child = undefined;
    };
    child.on('error', (cause) =>
      fail(`${this.#python} did not start (is python3 installed?)`, cause),
    );
    child.on('exit', (code) =>
      fail(
        `the peer-credential helper exited (${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`,
      ),
    );
    this.#child = child;
    return child;
  }

  /** `[pid, uid, gid]` of the process at the other end of `socket`. */
  read(socket: Socket): Promise<[number, number, number]> {
    const handle = (socket as unknown as { _handle?: object })._handle;
    if (!handle)
      return Promise.reject(
        new AgentError('AGENT_PEER_CREDENTIALS', 'the connection is already closed'),
      );
    return new Promise((resolve, reject) => {
      const id = ++this.#seq;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new AgentError(
            'AGENT_PEER_CREDENTIALS',
            'the peer-credential helper did not answer in time',
          ),
        );
      }, this.#timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      try {
        // `net.Native`: the raw pipe handle; the parent keeps its socket, the helper gets a copy.
        this.#helper().send({ id }, handle as never, (error) => {
          if (error)
            this.#pending
              .get(id)
              ?.reject(new AgentError('AGENT_PEER_CREDENTIALS', error.message, { cause: error }));
        });
      } catch (cause) {
        this.#pending.get(id)?.reject(
          new AgentError('AGENT_PEER_CREDENTIALS', 'cannot reach the peer-credential helper', {
            cause,
          }),
        );
      }
    });
  }

  /** Stops the helper. */
  close(): void {
    const child = this.#child;
    this.#child = undefined;
    child?.kill();
  }
}
