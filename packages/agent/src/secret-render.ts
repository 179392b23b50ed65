/**
 * Renders held secrets to files for programs that read files (Vault Agent templates are the
 * reference), from the templates of `secret-templates.ts`:
 *
 * - only to a directory on tmpfs (unless the template says `allowDisk`), so the value lives in
 *   memory as on the agent's side; checked at start and before every write;
 * - atomically: a temporary file in the same directory, created exclusively with the mode,
 *   written, fsync'd, then renamed over the destination — a reader sees the old file or the new
 *   one, never a half-written one, and never a moment with looser permissions;
 * - on every change of the current version, and at the times a version activates or expires
 *   (`nextTransition`): one timer per template, no polling;
 * - after a change (not the first render), runs the template's command (argv, no shell, 30 s
 *   timeout, output truncated in the log) or signals the process of its pid file.
 *
 * A secret the service may no longer read (removed by the control plane, the service's entries
 * gone from the node) has its file deleted. Closing the renderer leaves rendered files in
 * place: the programs reading them keep running through an agent restart, and the files are on
 * tmpfs (gone at reboot); access ends by removal, not by the agent stopping.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, open, readFile, rename, statfs, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { SecretVersionV1 } from '@ward/api-types';
import { currentVersion, nextTransition } from '@ward/secrets';
import type { Logger } from 'pino';
import { AgentError } from './errors.ts';
import type { LeaseKeeper } from './lease-keeper.ts';
import type { SecretStore } from './secret-store.ts';
import { PLACEHOLDER, type SecretTemplate } from './secret-templates.ts';

/** `statfs` type of tmpfs (linux/magic.h TMPFS_MAGIC). */
export const TMPFS_MAGIC = 0x01021994;
const MAX_TIMER = 2 ** 31 - 1;
const COMMAND_TIMEOUT_MS = 30_000;
const LOGGED_OUTPUT = 512;

/** The text a template renders for one version. Throws `AGENT_SECRET_TEMPLATE`. */
export function renderSecret(t: SecretTemplate, v: SecretVersionV1): string {
  if (t.template === undefined) {
    return Object.hasOwn(v.data, 'value') ? v.data.value! : JSON.stringify(v.data);
  }
  return t.template.replace(PLACEHOLDER, (_m, name: string) => {
    if (name === 'version') return String(v.version);
    if (!Object.hasOwn(v.data, name)) {
      throw new AgentError(
        'AGENT_SECRET_TEMPLATE',
        `template for ${t.destination}: {{ ${name} }} is not a field of ${t.secret} version ${v.version}`,
      );
    }
    return v.data[name]!;
  });
}

/** Throws `AGENT_SECRET_RENDER` unless `dir` is on tmpfs. */
export async function checkTmpfs(dir: string): Promise<void> {
  let type: number;
  try {
    type = Number((await statfs(dir)).type);
  } catch (cause) {
    throw new AgentError('AGENT_SECRET_RENDER', `${dir}: ${(cause as Error).message}`, { cause });
  }
  if (type !== TMPFS_MAGIC) {
    throw new AgentError(
      'AGENT_SECRET_RENDER',
      `${dir} is not on tmpfs: a rendered secret would reach a disk (mount a tmpfs there, or set allowDisk)`,
    );
  }
}

/** Writes `text` to `path` atomically with `mode` (temp file O_EXCL, fsync, rename). */
export async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.chmod(mode); // the umask may have narrowed `mode`; set it exactly
    await handle.writeFile(text);
    await handle.sync();
    await handle.close();
    await rename(tmp, path);
  } catch (e) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/**
 * The reload command's environment: the agent's, without its own `WARD_*` settings — the join
 * token (`WARD_JOIN_TOKEN`) and any other credential given to the agent stay with the agent.
 */
function commandEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WARD_')));
}

interface State {
  /** Digest of what this run rendered (or found rendered and still current). */
  digest: string | undefined;
  /** Digest of the file a previous run left at the destination, until this run renders it. */
  prior: string | undefined;
  version: number | undefined;
  timer: NodeJS.Timeout | undefined;
  unwatch: (() => void) | undefined;
  chain: Promise<void>;
  /** Set when a render was asked for while one runs (coalesced). */
  again: boolean;
  running: boolean;
  /**
   * Whether the reading program may already have read a file here (this run rendered one, or a
   * previous run left one): a render is then a change, followed by the reload.
   */
  seen: boolean;
}

/** Keeps each template's file rendered from the store (and the lease keeper). */
export class SecretRenderer {
  readonly #templates: readonly SecretTemplate[];
  readonly #store: SecretStore;
  readonly #leases: LeaseKeeper | undefined;
  readonly #log: Logger;
  readonly #states = new Map<SecretTemplate, State>();
  #closed = false;
  /** Files written since start (tests, metrics). */
  renders = 0;
  /** Reload commands and signals run since start. */
  reloads = 0;

  constructor(options: {
    templates: readonly SecretTemplate[];
    store: SecretStore;
    leases?: LeaseKeeper;
    logger: Logger;
  }) {
    this.#templates = options.templates;
    this.#store = options.store;
    this.#leases = options.leases;
    this.#log = options.logger;
  }

  /** Checks every destination directory (tmpfs), then renders what is held and follows changes. */
  async start(): Promise<void> {
    for (const t of this.#templates) {
      if (!t.allowDisk) await checkTmpfs(dirname(t.destination));
    }
    for (const t of this.#templates) {
      // A file left by the previous run: rewritten (and the command run) only if it changed
      // (its text, or the mode the template asks for).
      const prior = await lstat(t.destination)
        .then(async (st) =>
          st.isFile() && (st.mode & 0o7777) === (t.mode ?? 0o600)
            ? createHash('sha256')
                .update(await readFile(t.destination))
                .digest('hex')
            : undefined,
        )
        .catch(() => undefined);
      this.#states.set(t, {
        digest: undefined,
        prior,
        version: undefined,
        timer: undefined,
        unwatch: undefined,
        chain: Promise.resolve(),
        again: false,
        running: false,
        seen: prior !== undefined,
      });
    }
    this.#store.on('secret', this.#onChange);
    this.#store.on('synced', this.#onSynced);
    this.#leases?.on('lease', this.#onChange);
    for (const t of this.#templates) this.#schedule(t);
    await Promise.all([...this.#states.values()].map((s) => s.chain));
  }

  /** Stops following and releases leases; rendered files stay (see the module comment). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#store.off('secret', this.#onChange);
    this.#store.off('synced', this.#onSynced);
    this.#leases?.off('lease', this.#onChange);
    for (const s of this.#states.values()) {
      clearTimeout(s.timer);
      s.unwatch?.();
      s.unwatch = undefined;
    }
    await Promise.all([...this.#states.values()].map((s) => s.chain));
  }

  /** Resolves when every render asked for so far is done (tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.#states.values()].map((s) => s.chain));
  }

  readonly #onSynced = (): void => {
    for (const t of this.#templates) this.#schedule(t);
  };

  readonly #onChange = (service: string, secret: string): void => {
    for (const t of this.#templates) {
      if (t.service === service && t.secret === secret) this.#schedule(t);
    }
  };

  #schedule(t: SecretTemplate): void {
    const s = this.#states.get(t);
    if (!s || this.#closed) return;
    if (s.running) {
      s.again = true;
      return;
    }
    s.running = true;
    s.chain = (async () => {
      do {
        s.again = false;
        try {
          await this.#render(t, s);
        } catch (error) {
          this.#log.error(
            {
              service: t.service,
              secret: t.secret,
              destination: t.destination,
              err: (error as Error).message,
            },
            'secret not rendered',
          );
        }
      } while (s.again && !this.#closed);
      s.running = false;
    })();
  }

  /**
   * Removes the rendered file: this run's, or — once a whole connect snapshot has been read and
   * the secret is not in it — one a previous run left (the secret was withdrawn while the agent
   * was stopped).
   */
  async #remove(t: SecretTemplate, s: State, why: string): Promise<void> {
    if (s.digest === undefined && (s.prior === undefined || !this.#store.synced)) return;
    s.digest = undefined;
    s.prior = undefined;
    s.version = undefined;
    await unlink(t.destination).catch(() => {});
    this.#log.info(
      { service: t.service, secret: t.secret, destination: t.destination },
      `${why}; rendered file removed`,
    );
  }

  async #render(t: SecretTemplate, s: State): Promise<void> {
    const held = this.#store.get(t.service, t.secret);
    if (!held) {
      s.unwatch?.();
      s.unwatch = undefined;
      clearTimeout(s.timer);
      await this.#remove(t, s, 'secret no longer readable');
      return;
    }
    let versions: readonly SecretVersionV1[];
    if (held.type === 'postgres') {
      if (!this.#leases)
        throw new AgentError('AGENT_SECRET_RENDER', 'no lease keeper for a dynamic secret');
      s.unwatch ??= this.#leases.watch(t.service, t.secret);
      versions = this.#leases.get(t.service, t.secret)?.versions ?? [];
    } else {
      s.unwatch?.();
      s.unwatch = undefined;
      versions = held.versions ?? [];
    }
    const now = Date.now();
    clearTimeout(s.timer);
    const next = nextTransition(versions, now);
    if (next !== undefined && !this.#closed) {
      s.timer = setTimeout(() => this.#schedule(t), Math.min(MAX_TIMER, next - now + 1));
      s.timer.unref?.();
    }
    const current = currentVersion(versions, now);
    if (!current) {
      // Every version expired: no stale value stays on disk. (A dynamic login between two
      // leases keeps its file until the next one is written over it.)
      if (held.type !== 'postgres')
        await this.#remove(t, s, 'no version of the secret is valid now');
      return;
    }
    const text = renderSecret(t, current);
    const digest = createHash('sha256').update(text).digest('hex');
    if (digest === (s.digest ?? s.prior)) {
      s.digest = digest;
      s.version = current.version;
      return;
    }
    if (!t.allowDisk) await checkTmpfs(dirname(t.destination));
    await writeAtomic(t.destination, text, t.mode ?? 0o600);
    const first = !s.seen;
    s.seen = true;
    s.prior = undefined;
    s.digest = digest;
    s.version = current.version;
    this.renders++;
    this.#log.info(
      {
        service: t.service,
        secret: t.secret,
        version: current.version,
        destination: t.destination,
      },
      'secret rendered',
    );
    if (!first && !this.#closed) await this.#reload(t);
  }

  async #reload(t: SecretTemplate): Promise<void> {
    if (t.command) {
      const [file, ...args] = t.command;
      await new Promise<void>((resolve) => {
        execFile(
          file!,
          args,
          {
            timeout: COMMAND_TIMEOUT_MS,
            killSignal: 'SIGKILL',
            maxBuffer: 1 << 20,
            windowsHide: true,
            env: commandEnv(),
          },
          (error, stdout, stderr) => {
            const out = {
              destination: t.destination,
              command: file,
              stdout: String(stdout).slice(0, LOGGED_OUTPUT),
              stderr: String(stderr).slice(0, LOGGED_OUTPUT),
            };
            if (error)
              this.#log.warn(
                { ...out, err: error.message.slice(0, LOGGED_OUTPUT) },
                'reload command failed',
              );
            else this.#log.info(out, 'reload command ran');
            resolve();
          },
        );
      });
      this.reloads++;
    } else if (t.signal) {
      const text = await readFile(t.signal.pidFile, 'utf8').catch(() => '');
      const pid = Number(text.trim());
      if (!Number.isSafeInteger(pid) || pid <= 1) {
        this.#log.warn(
          { pidFile: t.signal.pidFile },
          'reload signal not sent: no pid in the pid file',
        );
        return;
      }
      try {
        process.kill(pid, t.signal.name);
        this.reloads++;
        this.#log.info(
          { destination: t.destination, pid, signal: t.signal.name },
          'reload signal sent',
        );
      } catch (error) {
        this.#log.warn(
          { pid, signal: t.signal.name, err: (error as Error).message },
          'reload signal failed',
        );
      }
    }
  }
}
