/**
 * Fault-injection infrastructure of the chaos tests: a private PostgreSQL instance (its own data
 * directory and port, so restarting it cannot disturb the test files that share the machine's
 * cluster) and a network namespace joined to the host by a veth pair (a replica inside it can be
 * cut off from the database and from its PDPs by taking the link down).
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** A TCP port free on loopback now (the kernel's pick for port 0). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The newest installed PostgreSQL's bin directory (Debian layout), or null. */
function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((x, y) => Number(y) - Number(x));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

/** Why a private PostgreSQL cannot be started here, or null when it can. */
export function privatePostgresUnavailable(): string | null {
  if (!postgresBin()) return 'no PostgreSQL server binaries under /usr/lib/postgresql/*/bin';
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'pipe' });
    } catch {
      return 'running as root but there is no `postgres` user to run initdb as';
    }
  }
  return null;
}

/**
 * A throwaway PostgreSQL cluster in a temporary folder, listening on `addresses` at a free port,
 * trust authentication. `stop` is an immediate shutdown (no checkpoint: the restart replays the
 * WAL, as after a crash).
 */
export class PrivatePostgres {
  readonly dir: string;
  readonly port: number;
  readonly #bin: string;
  readonly #addresses: string[];
  readonly #asPostgres: boolean;

  private constructor(dir: string, port: number, bin: string, addresses: string[]) {
    this.dir = dir;
    this.port = port;
    this.#bin = bin;
    this.#addresses = addresses;
    this.#asPostgres = process.getuid?.() === 0;
  }

  static async create(addresses: string[]): Promise<PrivatePostgres> {
    const bin = postgresBin();
    if (!bin) throw new Error('no PostgreSQL server binaries');
    const dir = mkdtempSync(join(tmpdir(), 'ward-chaos-pg-'));
    const pgInstance = new PrivatePostgres(dir, await freePort(), bin, addresses);
    try {
      // initdb refuses to run as root: the cluster belongs to the postgres user.
      if (pgInstance.#asPostgres) {
        const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
        const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
        chownSync(dir, uid, gid);
      }
      await pgInstance.#pg('initdb', [
        '-D',
        pgInstance.#data,
        '-A',
        'trust',
        '-U',
        'postgres',
        '-E',
        'UTF8',
        '--no-sync',
      ]);
      // Replicas inside the test's network namespace connect from the private /24.
      appendFileSync(join(pgInstance.#data, 'pg_hba.conf'), 'host all all 10.0.0.0/8 trust\n');
      await pgInstance.start();
      const admin = new pg.Client({ connectionString: pgInstance.url('postgres') });
      await admin.connect();
      await admin.query('CREATE DATABASE ward');
      await admin.end();
      return pgInstance;
    } catch (error) {
      await pgInstance.destroy();
      throw error;
    }
  }

  get #data(): string {
    return join(this.dir, 'data');
  }

  async #pg(tool: string, args: string[]): Promise<void> {
    const file = join(this.#bin, tool);
    if (this.#asPostgres) await run('runuser', ['-u', 'postgres', '--', file, ...args]);
    else await run(file, args);
  }

  /** URL of `database` on `host` (one of the listen addresses). */
  url(database = 'ward', host = this.#addresses[0]!): string {
    return `postgres://postgres@${host}:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      `-c listen_addresses='${this.#addresses.join(',')}'`,
      '-c max_connections=200',
    ].join(' ');
    await this.#pg('pg_ctl', [
      '-D',
      this.#data,
      '-l',
      join(this.dir, 'log'),
      '-w',
      '-o',
      options,
      'start',
    ]);
  }

  async stop(): Promise<void> {
    await this.#pg('pg_ctl', ['-D', this.#data, '-m', 'immediate', '-w', 'stop']);
  }

  /** The sessions of database `ward` now: who waits on what (for a stalled scenario's figures). */
  async activity(): Promise<unknown[]> {
    const client = new pg.Client({
      connectionString: this.url('postgres'),
      connectionTimeoutMillis: 2000,
    });
    try {
      await client.connect();
      const { rows } = await client.query(
        `SELECT client_addr::text AS client, state, wait_event_type AS wait,
                round(extract(epoch FROM now() - xact_start) * 1000) AS "xactMs", left(query, 60) AS query
           FROM pg_stat_activity WHERE datname = 'ward' AND state <> 'idle'`,
      );
      return rows;
    } catch (error) {
      return [(error as Error).message];
    } finally {
      await client.end().catch(() => {});
    }
  }

  async destroy(): Promise<void> {
    if (existsSync(join(this.#data, 'postmaster.pid'))) await this.stop().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Why network namespaces cannot be used here, or null when they can. */
export async function netnsUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `wchk${randomBytes(3).toString('hex')}`;
  try {
    await run('ip', ['netns', 'add', probe]);
    await run('ip', ['netns', 'del', probe]);
    return null;
  } catch (error) {
    return `\`ip netns add\` failed: ${(error as Error).message.split('\n')[0]}`;
  }
}

/** One veth pair between the host and the namespace, on its own /24. */
export interface Link {
  hostIf: string;
  nsIf: string;
  hostAddress: string;
  nsAddress: string;
}

/**
 * A network namespace joined to the host by two veth pairs on private /24s chosen at random:
 * `api` carries the replica's HTTP (PDPs and writers reach it at `api.nsAddress`), `db` its
 * PostgreSQL connections (the private instance listens on `db.hostAddress`). Taking one link down
 * cuts the replica off from its store only; taking both down, from everything. Names are unique
 * per run (interface names have at most 15 characters).
 */
export class Netns {
  readonly name: string;
  readonly api: Link;
  readonly db: Link;

  private constructor() {
    const id = randomBytes(3).toString('hex');
    this.name = `ward-chaos-${id}`;
    const [x, y] = randomBytes(2);
    const net = (offset: number) => `10.${200 + (x! % 50)}.${(y! + offset) % 256}`;
    const link = (tag: string, offset: number): Link => ({
      hostIf: `wc${id}${tag}h`,
      nsIf: `wc${id}${tag}n`,
      hostAddress: `${net(offset)}.1`,
      nsAddress: `${net(offset)}.2`,
    });
    this.api = link('a', 0);
    this.db = link('d', 1);
  }

  static async create(): Promise<Netns> {
    const ns = new Netns();
    try {
      await run('ip', ['netns', 'add', ns.name]);
      await run('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
      for (const l of [ns.api, ns.db]) {
        await run('ip', ['link', 'add', l.hostIf, 'type', 'veth', 'peer', 'name', l.nsIf]);
        await run('ip', ['link', 'set', l.nsIf, 'netns', ns.name]);
        await run('ip', ['addr', 'add', `${l.hostAddress}/24`, 'dev', l.hostIf]);
        await run('ip', ['-n', ns.name, 'addr', 'add', `${l.nsAddress}/24`, 'dev', l.nsIf]);
      }
      await ns.heal();
      return ns;
    } catch (error) {
      await ns.destroy();
      throw error;
    }
  }

  /** The command prefix that runs a program inside the namespace. */
  get exec(): string[] {
    return ['ip', 'netns', 'exec', this.name];
  }

  /**
   * Takes `links` down at both ends: their open TCP connections stay open and fall silent (no
   * reset reaches either end); new ones cannot be made.
   */
  async partition(links: Link[]): Promise<void> {
    for (const l of links) {
      await run('ip', ['link', 'set', l.hostIf, 'down']);
      await run('ip', ['-n', this.name, 'link', 'set', l.nsIf, 'down']);
    }
  }

  /** Brings every link up again. */
  async heal(): Promise<void> {
    for (const l of [this.api, this.db]) {
      await run('ip', ['link', 'set', l.hostIf, 'up']);
      await run('ip', ['-n', this.name, 'link', 'set', l.nsIf, 'up']);
    }
  }

  /** Removes the namespace and the veth pairs; safe to call twice or after a failed create. */
  async destroy(): Promise<void> {
    for (const l of [this.api, this.db]) await run('ip', ['link', 'del', l.hostIf]).catch(() => {});
    await run('ip', ['netns', 'del', this.name]).catch(() => {});
  }
}
