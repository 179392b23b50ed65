/**
 * The demo's Python service, shop/reviews (examples/demo/python/reviews.py): a child process on
 * the standard library only, which asks the node agent's decision API for every request. Here:
 * finding the interpreter (the registration entry names its real executable, which the agent
 * reads from /proc/<pid>/exe), starting it with the agent socket and its port in its environment,
 * and reading its one-JSON-line-per-event output. Without python3 the demo runs on without it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { PythonStats } from './banner.ts';
import type { MeshIdentities } from './identity.ts';
import type { Tally } from './tally.ts';

/** The service's script, in the repository beside the demo's policies. */
export const REVIEWS_SCRIPT = new URL('../../../examples/demo/python/reviews.py', import.meta.url)
  .pathname;

/** What the Python service reports per request (docs/decide-api.md's answer, abridged). */
export interface PythonDecision {
  source: string | null;
  method: string;
  path: string;
  /** Absent when the agent gave no decision (`agentStatus` says why). */
  allowed?: boolean;
  effect?: 'allow' | 'deny';
  enforced?: boolean;
  rule?: string | null;
  status?: number;
  agentStatus?: number;
}

/** The interpreter to run, or why there is none. */
export type PythonFound = { exe: string; version: string } | { missing: string };

/**
 * `python3` from PATH, resolved to the executable the kernel will report for the process (a
 * pyenv shim or a symlink is not it), and at least 3.7 (ThreadingHTTPServer).
 */
export function findPython(command = 'python3'): PythonFound {
  const r = spawnSync(
    command,
    [
      '-c',
      'import os, sys; print(os.path.realpath(sys.executable)); print("%d.%d.%d" % sys.version_info[:3]); print(int(sys.version_info >= (3, 7)))',
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  if (r.error !== undefined || r.status !== 0) {
    return { missing: `${command} is not installed (not on PATH)` };
  }
  const [exe, version, recent] = r.stdout.trim().split('\n');
  if (!exe || !version) return { missing: `${command} did not say where it is` };
  if (recent !== '1') return { missing: `${command} is ${version}; the service needs 3.7+` };
  return { exe, version };
}

/**
 * Why the Python service cannot run here, or undefined when it can: it needs python3, and the
 * agent's decision API with callers attested (the demo fallback would take it for this process).
 */
export function pythonSkipReason(
  python: PythonFound,
  identities: Pick<MeshIdentities, 'mode' | 'notice'>,
  declared: boolean,
): string | undefined {
  if ('missing' in python) return python.missing;
  if (!declared) {
    return 'the policies kept in the data dir do not declare it (from an earlier demo); delete the data dir to start over';
  }
  if (identities.mode !== 'mtls') {
    return 'it asks the node agent for its decisions, and the dev-header fallback runs no agent';
  }
  if (identities.notice) {
    return 'the agent cannot attest callers here, so it would take the Python process for this one';
  }
  return undefined;
}

/** The service's counts and the listener that feeds them and the demo's tally. */
export function countPythonDecisions(
  tally: Tally,
  service: string,
): { stats: PythonStats; onDecision: (d: PythonDecision) => void } {
  const stats: PythonStats = { allowed: 0, wouldDeny: 0, refused: 0, unavailable: 0 };
  const onDecision = (d: PythonDecision) => {
    if (d.effect === undefined) {
      stats.unavailable++;
      return;
    }
    if (!d.allowed) stats.refused++;
    else if (d.effect === 'deny') stats.wouldDeny++;
    else stats.allowed++;
    tally.count({
      source: d.source ?? 'anonymous',
      destination: service,
      effect: d.effect,
      enforced: d.enforced ?? true,
      rule: d.rule ?? 'default',
    });
  };
  return { stats, onDecision };
}

export interface PythonService {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the service on a free loopback port and resolves once it listens. `onDecision` gets
 * each decision it reports; `warn` its stderr (a traceback is a bug to show, not to hide).
 */
export async function startPythonService(opts: {
  exe: string;
  socketPath: string;
  host: string;
  service: string;
  onDecision: (d: PythonDecision) => void;
  warn: (message: string) => void;
}): Promise<PythonService> {
  const child: ChildProcess = spawn(opts.exe, ['-u', REVIEWS_SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      WARD_AGENT_SOCKET: opts.socketPath,
      PORT: '0',
      HOST: opts.host,
      WARD_SERVICE: opts.service,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
    for (const line of d.split('\n')) if (line.trim()) opts.warn(`${opts.service}: ${line}`);
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    void exited.then(() =>
      reject(new Error(`${opts.service} (python) exited before listening: ${stderr.trim()}`)),
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let event: { listening?: number; decision?: PythonDecision };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return opts.warn(`${opts.service}: ${line}`);
      }
      if (typeof event.listening === 'number') resolve(event.listening);
      else if (event.decision) opts.onDecision(event.decision);
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    url: `http://${opts.host}:${port}`,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(force);
    },
  };
}
