import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, realpathSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PeerCredentialReader, peerCredentials } from '../src/index.ts';

const asRoot = process.getuid?.() === 0;

/** Accepts one connection from a real process started with `uid`/`gid`, returns its socket. */
async function acceptFrom(uid: number | undefined, gid: number | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'ward-peer-'));
  chmodSync(dir, 0o777);
  const path = join(dir, 's.sock');
  let accepted!: (s: Socket) => void;
  const got = new Promise<Socket>((r) => (accepted = r));
  const server = createServer({ pauseOnConnect: true }, (s) => accepted(s));
  await new Promise<void>((r) => server.listen(path, r));
  chmodSync(path, 0o777);
  const child = spawn(
    'python3',
    [
      '-c',
      `import socket,time\ns=socket.socket(socket.AF_UNIX)\ns.connect(${JSON.stringify(path)})\ntime.sleep(30)`,
    ],
    { stdio: 'ignore', ...(uid === undefined ? {} : { uid, gid }) },
  );
  const socket = await got;
  return {
    socket,
    child,
    close() {
      child.kill();
      socket.destroy();
      server.close();
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
