import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PeerCredentialReader, peerCredentialSource, peerCredentials } from '../src/index.ts';

const asRoot = process.getuid?.() === 0;

/**
 * Accepts one connection from a real process started with `uid`/`gid`, returns its socket. The
 * directory is 0711 (another user may reach the socket, nobody else may list or write it) and
 * is removed by `close()`.
 */
async function acceptFrom(uid: number | undefined, gid: number | undefined, via = 'python3') {
  const dir = mkdtempSync(join(tmpdir(), 'ward-peer-'));
  chmodSync(dir, 0o711);
  const path = join(dir, 's.sock');
  let accepted!: (s: Socket) => void;
  const got = new Promise<Socket>((r) => (accepted = r));
  const server = createServer({ pauseOnConnect: true }, (s) => accepted(s));
  await new Promise<void>((r) => server.listen(path, r));
  chmodSync(path, 0o777);
  const args =
    via === 'python3'
      ? [
          '-c',
          `import socket,time\ns=socket.socket(socket.AF_UNIX)\ns.connect(${JSON.stringify(path)})\ntime.sleep(30)`,
        ]
      : ['-e', `require('net').connect(${JSON.stringify(path)}); setTimeout(() => {}, 30000)`];
  const child = spawn(via === 'python3' ? 'python3' : process.execPath, args, {
    stdio: 'ignore',
    ...(uid === undefined ? {} : { uid, gid }),
  });
  const socket = await got;
  return {
    socket,
    child,
    close() {
      child.kill();
      socket.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('peer credentials of Workload API connections', () => {
  it.skipIf(!asRoot)(
    'reads the uid, gid, pid and binary of a process running as another user',
    async () => {
      const peer = await acceptFrom(65534, 65534);
      try {
        const creds = await peerCredentials(peer.socket);
        expect(creds).toMatchObject({ pid: peer.child.pid, uid: 65534, gid: 65534 });
        expect(creds.path).toMatch(/python3/);
      } finally {
        peer.close();
      }
    },
  );

  it('reads our own credentials from a child process connecting as us', async () => {
    const peer = await acceptFrom(undefined, undefined);
    try {
      const creds = await peerCredentials(peer.socket);
      expect(creds.pid).toBe(peer.child.pid);
      expect(creds.uid).toBe(process.getuid!());
      expect(creds.gid).toBe(process.getgid!());
      expect(realpathSync(creds.path!)).toBe(creds.path);
    } finally {
      peer.close();
    }
  });

  it('fails with a coded error when the helper cannot run', async () => {
    const peer = await acceptFrom(undefined, undefined);
    try {
      await expect(
        peerCredentials(peer.socket, { python: '/nonexistent/python3' }),
      ).rejects.toMatchObject({
        code: 'AGENT_PEER_CREDENTIALS',
      });
    } finally {
      peer.close();
    }
  });

  it('reads many connections through one persistent helper, and restarts it if it dies', async () => {
    const reader = new PeerCredentialReader();
    try {
      for (const uid of [undefined, asRoot ? 65534 : undefined, undefined]) {
        const peer = await acceptFrom(uid, uid);
        try {
          const creds = await peerCredentials(peer.socket, { reader });
          expect(creds.pid).toBe(peer.child.pid);
          expect(creds.uid).toBe(uid ?? process.getuid!());
        } finally {
          peer.close();
        }
      }
      reader.close(); // the next read starts a new helper
      const peer = await acceptFrom(undefined, undefined);
      try {
        expect((await reader.read(peer.socket))[0]).toBe(peer.child.pid);
      } finally {
        peer.close();
      }
    } finally {
      reader.close();
    }
  });
});

describe('peer credentials without python3', () => {
  it('node:ffi reads SO_PEERCRED of a node process connecting as us, and as another user', async () => {
    const source = peerCredentialSource({ python: '/nonexistent/python3' });
    expect(source.method).toBe('SO_PEERCRED via node:ffi');
    for (const uid of [undefined, ...(asRoot ? [65534] : [])]) {
      const peer = await acceptFrom(uid, uid, 'node');
      try {
        const creds = await peerCredentials(peer.socket, { reader: source });
        expect(creds).toMatchObject({
          pid: peer.child.pid,
          uid: uid ?? process.getuid!(),
          gid: uid ?? process.getgid!(),
        });
        expect(creds.path).toBe(realpathSync(process.execPath));
      } finally {
        peer.close();
      }
    }
  });

  it('without node:ffi and python3 there is no source: AGENT_NO_PEER_ATTESTATION', () => {
    expect(() => peerCredentialSource({ ffi: false, python: '/nonexistent/python3' })).toThrow(
      expect.objectContaining({
        code: 'AGENT_NO_PEER_ATTESTATION',
        message: expect.stringMatching(/install python3/),
      }),
    );
  });

  it('the agent fails closed: without node:ffi and python3 it refuses to start, before attesting', async () => {
    // A PATH holding only `node`, and Node's FFI switched off: nothing can read SO_PEERCRED.
    const bin = mkdtempSync(join(tmpdir(), 'ward-nopy-'));
    try {
      symlinkSync(process.execPath, join(bin, 'node'));
      const index = new URL('../src/index.ts', import.meta.url).pathname;
      // The control plane URL is unreachable: a start that got as far as attesting would say so.
      const script = `import(${JSON.stringify(index)}).then((m) => m.startAgent({ controlPlane: 'http://127.0.0.1:9', joinToken: 't' })).then(() => process.exit(0), (e) => { process.stdout.write(e.code + ': ' + e.message); process.exit(1); })`;
      const run = promisify(execFile);
      const failed = await run(
        join(bin, 'node'),
        // The source condition too: this env has no NODE_OPTIONS to carry it.
        ['--no-experimental-ffi', '--no-warnings', '--conditions=ward-source', '-e', script],
        {
          env: { PATH: bin },
        },
      ).then(
        () => undefined,
        (e: { code: number; stdout: string }) => e,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stdout).toMatch(
        /^AGENT_NO_PEER_ATTESTATION: cannot identify Workload API callers/,
      );
      expect(failed?.stdout).not.toMatch(/attestation failed|ECONNREFUSED/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
