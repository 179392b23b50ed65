/**
 * The demo's options: validated once, defaults filled in, frozen.
 */
import { resolve } from 'node:path';
import { DemoError } from './errors.ts';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Control-plane port; 0 picks a free one. Default 8181. */
  port?: number;
  /** Loopback address everything listens on. Default 127.0.0.1. */
  host?: string;
  /** Holds the SQLite database, keys, the demo's tokens and bundle caches. Default `.ward/demo`. */
  dataDir?: string;
  /** Folder of the policy documents applied on first start. Default `examples/demo` of the repo. */
  policyDir?: string;
  /** End-user requests per second at the frontend (each fans out to 1-4 service calls). Default 8. */
  rps?: number;
  /** Stop by itself after this many milliseconds; default: run until stopped. */
  durationMs?: number;
  /** Seconds between the status lines. Default 5 s. */
  statusIntervalMs?: number;
  /** Use the development identity header instead of mTLS even when the CA works. */
  devIdentity?: boolean;
  /** Where the human-readable output goes. Default `process.stdout`. */
  out?: NodeJS.WritableStream;
  /**
   * A PostgreSQL database (`postgres://…`, a role with CREATEROLE): inventory then gets its
   * database login from Ward as a dynamic credential (a leased role).
   */
  postgresUrl?: string;
}

export interface ResolvedDemoOptions {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly policyDir: string;
  readonly rps: number;
  readonly durationMs: number | undefined;
  readonly statusIntervalMs: number;
  readonly devIdentity: boolean;
  readonly out: NodeJS.WritableStream;
  readonly postgresUrl: string | undefined;
}

/** The repository's `examples/demo`, found from this file (packages/demo/src/options.ts). */
export const DEFAULT_POLICY_DIR = new URL('../../../examples/demo/', import.meta.url).pathname;

export function resolveDemoOptions(options: DemoOptions = {}): ResolvedDemoOptions {
  const port = options.port ?? 8181;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new DemoError('DEMO_BAD_OPTION', `--port must be an integer 0-65535, got ${port}`);
  }
  const rps = options.rps ?? 8;
  if (!Number.isFinite(rps) || rps <= 0 || rps > 1000) {
    throw new DemoError('DEMO_BAD_OPTION', `--rps must be a number in (0, 1000], got ${rps}`);
  }
  const durationMs = options.durationMs;
  if (durationMs !== undefined && (!Number.isFinite(durationMs) || durationMs <= 0)) {
    throw new DemoError('DEMO_BAD_OPTION', '--duration must be positive');
  }
  const postgresUrl = options.postgresUrl;
  if (postgresUrl !== undefined && !/^postgres(ql)?:\/\/[^\s]+$/.test(postgresUrl)) {
    throw new DemoError('DEMO_BAD_OPTION', '--postgres must be a postgres:// URL');
  }
  return Object.freeze({
    port,
    host: options.host ?? '127.0.0.1',
    dataDir: resolve(options.dataDir ?? '.ward/demo'),
    policyDir: resolve(options.policyDir ?? DEFAULT_POLICY_DIR),
    rps,
    durationMs,
    statusIntervalMs: options.statusIntervalMs ?? 5000,
    devIdentity: options.devIdentity ?? false,
    out: options.out ?? process.stdout,
    postgresUrl,
  });
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration: `500ms`, `20s`, `2m`, `1h`, or a bare number of seconds. Returns undefined
 * for text that is none of these.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  return ms > 0 && Number.isFinite(ms) ? Math.round(ms) : undefined;
}
