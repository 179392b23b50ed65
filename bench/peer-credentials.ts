/**
 * What reading a Workload API caller's SO_PEERCRED costs: in process through `node:ffi` against
 * its peer, the persistent `python3` helper (older Node). Each round accepts a fresh connection
 * from a child process and reads its `[pid, uid, gid]`; figures are per connection (the agent
 * pays this once per workload connection, not per request).
 *
 *   node bench/run.ts peer-credentials [rounds=200]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PeerCredentialReader } from '../packages/agent/src/index.ts';
import { ffiPeerCredentialSource } from '../packages/agent/src/so-peercred-ffi.ts';

type Read = (socket: Socket) => Promise<[number, number, number]>;

async function measure(label: string, read: Read, rounds: number, path: string) {
  const accepted: Socket[] = [];
  let waiting: ((s: Socket) => void) | undefined;
  const server = createServer({ pauseOnConnect: true }, (s) => {
    if (waiting) waiting(s);
    else accepted.push(s);
  });
  await new Promise<void>((r) => server.listen(path, r));
  // One child holding `rounds` connections: the cost measured is the read, not process start.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const net=require('net');for(let i=0;i<${rounds};i++)net.connect(${JSON.stringify(path)});setTimeout(()=>{},60000)`,
    ],
    { stdio: 'ignore' },
  );
  const next = () =>
    accepted.length > 0
      ? Promise.resolve(accepted.shift()!)
      : new Promise<Socket>((r) => {
          waiting = (s) => {
            waiting = undefined;
            r(s);
          };
        });
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const socket = await next();
    const t0 = performance.now();
    const [pid] = await read(socket);
    times.push(performance.now() - t0);
    if (pid !== child.pid) throw new Error(`${label}: read pid ${pid}, expected ${child.pid}`);
    socket.destroy();
  }
  child.kill();
  await new Promise<void>((r) => server.close(() => r()));
  times.sort((a, b) => a - b);
  const at = (q: number) =>
    Number(times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(4));
  process.stderr.write(`${label}: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms\n`);
  return { p50Ms: at(0.5), p99Ms: at(0.99), rounds };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const rounds = Number(args[0] ?? 200);
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-peercred-'));
  try {
    const ffi = ffiPeerCredentialSource();
    if (!ffi) throw new Error('node:ffi is not available in this Node');
    const ffiFigures = await measure('node:ffi', (s) => ffi.read(s), rounds, join(dir, 'a.sock'));
    const reader = new PeerCredentialReader();
    let python: Record<string, unknown>;
    try {
      await measure('python3 (warm-up)', (s) => reader.read(s), 5, join(dir, 'w.sock'));
      python = await measure('python3', (s) => reader.read(s), rounds, join(dir, 'b.sock'));
    } finally {
      reader.close();
    }
    return { ffi: ffiFigures, peer: { python3Helper: python } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
