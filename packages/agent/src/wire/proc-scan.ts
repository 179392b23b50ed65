/**
 * The I/O half of wire sampling: reads the node's TCP tables, finds which process holds each
 * socket, and reads what the agent attests of a process. Linux only; everything read from /proc
 * may vanish between two reads (processes exit), which costs the affected rows, never the sample.
 */

import { readdirSync, readlinkSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { endianness } from 'node:os';
import { AgentError } from '../errors.ts';
import { startTime } from '../peer-credentials.ts';
import {
  type ProcNetIssue,
  type ProcNetSocket,
  parseProcNetTcp,
  TCP_ESTABLISHED,
  TCP_LISTEN,
} from './proc-net.ts';

const STATES: ReadonlySet<number> = new Set([TCP_ESTABLISHED, TCP_LISTEN]);

/** ESTABLISHED and LISTEN rows of `tcp` and `tcp6`, with the rows that did not parse. */
export async function readTcpTables(
  proc: string,
): Promise<{ sockets: ProcNetSocket[]; skipped: (ProcNetIssue & { file: string })[] }> {
  const littleEndian = endianness() === 'LE';
  const sockets: ProcNetSocket[] = [];
  const skipped: (ProcNetIssue & { file: string })[] = [];
  let read = 0;
  for (const name of ['tcp', 'tcp6']) {
    const file = `${proc}/net/${name}`;
    let text: string;
    try {
      text = await readFile(file, 'latin1');
    } catch {
      continue; // no IPv6 on this node, or no such table
    }
    read++;
    const parsed = parseProcNetTcp(text, { littleEndian, states: STATES });
    sockets.push(...parsed.sockets);
    for (const s of parsed.skipped) skipped.push({ file, ...s });
  }
  if (read === 0) {
    throw new AgentError(
      'AGENT_WIRE',
      `cannot read ${proc}/net/tcp: wire sampling needs Linux /proc`,
    );
  }
  return { sockets, skipped };
}

/**
 * Socket inode → pid, for the inodes in `wanted`: every `/proc/<pid>/fd/*` link of the form
 * `socket:[N]`. Processes whose descriptors the agent may not read (another user's, without
 * CAP_SYS_PTRACE) are counted in `unreadable`. A socket shared by several processes (a forked
 * server) maps to the lowest pid.
 *
 * The links are read synchronously, one process at a time, yielding to the event loop between
 * processes: a readlink through the thread pool costs several times the syscall itself, and a
 * node holds thousands of descriptors. The longest pause is one process's descriptor table.
 */
export async function socketOwners(
  proc: string,
  wanted: ReadonlySet<number>,
): Promise<{ owners: Map<number, number>; unreadable: number }> {
  const owners = new Map<number, number>();
  let unreadable = 0;
  const pids = (await readdir(proc)).filter((n) => /^[1-9][0-9]*$/.test(n)).map(Number);
  pids.sort((a, b) => a - b);
  for (const pid of pids) {
    if (owners.size === wanted.size) break;
    if (!scanProcess(proc, pid, wanted, owners)) unreadable++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { owners, unreadable };
}

/** Adds `pid`'s sockets among `wanted` to `owners`; false when its fd table is unreadable. */
function scanProcess(
  proc: string,
  pid: number,
  wanted: ReadonlySet<number>,
  owners: Map<number, number>,
): boolean {
  const dir = `${proc}/${pid}/fd/`;
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return false;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(dir + fd);
    } catch {
      continue; // closed meanwhile
    }
    if (!target.startsWith('socket:[')) continue;
    const inode = Number(target.slice(8, -1));
    if (wanted.has(inode) && !owners.has(inode)) owners.set(inode, pid);
  }
  return true;
}

/** What the agent attests of a process it did not talk to: the same fields as peer credentials. */
export interface ProcessFacts {
  uid: number;
  gid: number;
  supplementaryGids: number[];
  path: string | undefined;
}

/**
 * Effective uid and gid, supplementary groups and binary of `pid` from /proc, or undefined when
 * the process is gone or changed while being read (pid reuse: its start time differs).
 */
export async function processFacts(proc: string, pid: number): Promise<ProcessFacts | undefined> {
  const before = await startTime(proc, pid);
  if (before === undefined) return undefined;
  let status: string;
  try {
    status = await readFile(`${proc}/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  // "Uid:\treal\teffective\tsaved\tfs": SO_PEERCRED reports the effective ids, and so do we.
  const uid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1]);
  const gid = Number(/^Gid:\s+\d+\s+(\d+)/m.exec(status)?.[1]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  const groups = (/^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '')
    .split(/\s+/)
    .filter((g) => /^\d+$/.test(g))
    .map(Number);
  let path: string | undefined;
  try {
    path = await readlink(`${proc}/${pid}/exe`);
  } catch {
    path = undefined;
  }
  if ((await startTime(proc, pid)) !== before) return undefined;
  return { uid, gid, supplementaryGids: groups, path };
}
