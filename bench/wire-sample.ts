/**
 * `wire-sample`: the cost of one wire sample in the node agent with N live TCP connections on
 * loopback — read `/proc/net/tcp{,6}`, map every socket inode to its process through
 * `/proc/<pid>/fd`, attest each process (uid, gid, binary) against the node's entries, correlate
 * into edges. A Python server ("payments") holds N connections from a Node client ("checkout"),
 * so each connection is two sockets in two processes; everything else running on the machine is
 * scanned too, as in production.
 *
 * Peers, same run: `ss -tnp` (iproute2; the same socket → process mapping, through netlink and
 * /proc/<pid>/fd), and `cat /proc/net/tcp /proc/net/tcp6` from a shell (reading the tables only).
 * Their CPU time is the children's, from the shell's `times`; Ward's is this process's (user +
 * system, so the kernel's cost of printing the tables is counted on both sides).
 *
 * Args: `--connections N` (default 2,000), `--runs R` (default 20).
 */
import { execFile, spawn } from 'node:child_process';
import { readlinkSync, realpathSync } from 'node:fs';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import type { RegistrationEntry } from '@ward/ca';
import pino from 'pino';
import { WireSampler } from '../packages/agent/src/index.ts';
import { nowNs, percentile, progress, round } from './_stats.ts';

const exec = promisify(execFile);

const SERVER_PY = [
  'import socket',
  's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(4096)',
  'print(s.getsockname()[1], flush=True)',
  'held=[]',
  'while True:',
  '  c,_=s.accept(); held.append(c)',
].join('\n');
const CLIENT_JS = `
const net = require('node:net');
const [port, n] = process.argv.slice(1).map(Number);
let open = 0;
const held = [];
(function next() {
  if (held.length === n) return;
  const s = net.connect(port, '127.0.0.1', () => { if (++open === n) console.log('ready'); next(); });
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
  held.push(s);
})();
`;

/** Runs `command` in sh and returns the CPU ms (user + system) of its children, from `times`. */
async function shell(command: string): Promise<number> {
  const { stdout } = await exec('sh', ['-c', `${command}; times`]);
  const children = stdout.trim().split('\n').at(-1) ?? '';
  let ms = 0;
  for (const m of children.matchAll(/(\d+)m([\d.]+)s/g))
    ms += (Number(m[1]) * 60 + Number(m[2])) * 1000;
  return ms;
}

function firstLine(child: ReturnType<typeof spawn>): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl).trim());
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
}

/**
 * Wall and CPU time of `fn` per run. `fn` returns the CPU ms it spent elsewhere (a child
 * process), or nothing when all of it is this process's.
 */
async function timed(runs: number, fn: () => Promise<number | unknown>) {
  const wall: number[] = [];
  const cpu: number[] = [];
  await fn(); // warm-up (JIT, page cache)
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = nowNs();
    const child = await fn();
    wall.push((nowNs() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push(typeof child === 'number' ? child : (c.user + c.system) / 1000);
  }
  return {
    p50_ms: round(percentile(wall, 50), 2),
    p90_ms: round(percentile(wall, 90), 2),
    cpu_p50_ms: round(percentile(cpu, 50), 2),
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  let connections = 2000;
  let runs = 20;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--connections') connections = Number(args[++i]);
    else if (args[i] === '--runs') runs = Number(args[++i]);
    else throw new TypeError(`unknown argument ${args[i]}`);
  }
  const server = spawn('python3', ['-c', SERVER_PY], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = Number(await firstLine(server));
    const c2 = spawn(process.execPath, ['-e', CLIENT_JS, String(port), String(connections)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await firstLine(c2);
      progress(`${connections} connections open on 127.0.0.1:${port}`);
      const uid = process.getuid!();
      const entry = (id: string, spiffeId: string, path: string, createdAt: number) =>
        ({
          id,
          spiffeId,
          node: 'bench',
          parentId: 'spiffe://bench.test/ward/agent/bench',
          selectors: [`unix:uid:${uid}`, `unix:path:${path}`],
          ttlSeconds: 3600,
          jwtTtlSeconds: 300,
          createdAt,
        }) satisfies RegistrationEntry;
      const entries = [
        entry('1', 'spiffe://bench.test/checkout', realpathSync(process.execPath), 1),
        entry('2', 'spiffe://bench.test/payments', readlinkSync(`/proc/${server.pid}/exe`), 2),
      ];
      const sampler = new WireSampler({
        entries: () => entries,
        ship: async () => {},
        logger: pino({ level: 'silent' }),
      });
      const probe = await sampler.sample();
      const edge = probe.edges.find((e) => e.destination === 'spiffe://bench.test/payments');
      if (!edge || edge.connections !== connections) {
        throw new Error(
          `expected ${connections} connections on the edge, saw ${edge?.connections}`,
        );
      }
      progress(`sample: ${probe.sockets} sockets, ${probe.edges.length} edges`);
      const ward = await timed(runs, () => sampler.sample());
      const ss = await timed(runs, () => shell('ss -tnpH > /dev/null'));
      const cat = await timed(runs, () => shell('cat /proc/net/tcp /proc/net/tcp6 > /dev/null'));
      return {
        connections,
        sockets_in_tables: probe.sockets,
        processes_unreadable: probe.unreadableProcesses,
        ward_sample: ward,
        peer_ss_tnp: ss,
        peer_cat_proc_net: { ...cat, note: 'reads the tables only' },
        load_average: loadavg().map((l) => round(l, 1)),
      };
    } finally {
      c2.kill();
    }
  } finally {
    server.kill();
  }
}
