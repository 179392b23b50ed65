/** Test helpers: temp dirs, a throwaway PostgreSQL schema, a real server, HTTP and SSE clients. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSealKey, parseSealKey } from '@ward/ca';
import pg from 'pg';
import { type RunningServer, type StartServerOptions, startServer } from '../src/index.ts';

export const PG_URL = process.env.WARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const ADMIN = 'test-admin-token-0123456789abcdef';
/**
 * The seal key of test servers, shared like a deployment's `WARD_SEAL_KEY`: replicas on one
 * database (or one signing-key file) need the same key. Tests of the generated default pass
 * `sealKey: undefined`.
 */
export const TEST_SEAL_KEY = parseSealKey(generateSealKey());

/** An apply request body holding one YAML file. */
export const FILE = (content: string) => ({ body: { files: [{ name: 'x.yaml', content }] } });

const dirs: string[] = [];
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ward-server-'));
  dirs.push(d);
  return d;
}
export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Whether PostgreSQL answers; prints a loud warning when it does not (suites then skip). */
export async function pgAvailable(suite: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (error) {
    console.warn(
      `\n*** SKIPPING the PostgreSQL part of ${suite}: cannot connect to ${PG_URL} (${(error as Error).message}). ` +
        'These tests run in CI; start PostgreSQL (or set WARD_TEST_PG_URL) to run them here. ***\n',
    );
    return false;
  }
}

/** A fresh schema; the returned URL pins `search_path` to it. */
export async function createPgSchema(): Promise<{ url: string; drop(): Promise<void> }> {
  const schema = `ward_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const sep = PG_URL.includes('?') ? '&' : '?';
  return {
    url: `${PG_URL}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

export async function startTestServer(opts: StartServerOptions = {}): Promise<RunningServer> {
  return startServer({
    dataDir: tempDir(),
    port: 0,
    adminToken: ADMIN,
    heartbeatMs: 60_000,
    sealKey: TEST_SEAL_KEY,
    env: {},
    ...opts,
  });
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field in tests
export interface Res<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** fetch with JSON in and out; never throws on HTTP errors. */
// biome-ignore lint/suspicious/noExplicitAny: see Res
export async function http<T = any>(
  base: string,
  method: string,
  path: string,
  opts: {
    token?: string | null;
    body?: unknown;
    raw?: string;
    contentType?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Res<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const token = opts.token === undefined ? ADMIN : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.raw !== undefined) {
    body = opts.raw;
    headers['content-type'] = opts.contentType ?? 'application/json';
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

export const svc = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { ...extra },
});

export const intention = (
  name: string,
  destination: string,
  sources: string[],
  action = 'allow',
) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name },
  spec: { destination, rules: [{ sources, action }] },
});

export function yamlOf(docs: object[]): string {
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}

export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** A minimal SSE client over fetch: collects events and comments, lets a test wait for one. */
export class SseClient {
  events: SseEvent[] = [];
  #waiters: { pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  #abort = new AbortController();
  status = 0;
  /** Response headers of the stream. */
  headers = new Headers();
  #ended!: () => void;
  /** Resolves when the server ends the stream (or it is closed here). */
  readonly ended = new Promise<void>((resolve) => {
    this.#ended = resolve;
  });

  static async open(
    url: string,
    token: string = ADMIN,
    headers: Record<string, string> = {},
  ): Promise<SseClient> {
    const c = new SseClient();
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, ...headers },
      signal: c.#abort.signal,
    });
    c.status = res.status;
    c.headers = res.headers;
    if (res.body) void c.#read(res.body);
    else c.#ended();
    return c;
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        let i = buf.indexOf('\n\n');
        while (i !== -1) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const e: SseEvent = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) e.comment = line.slice(1).trim();
            else {
              const [k, ...v] = line.split(':');
              const value = v.join(':').replace(/^ /, '');
              if (k === 'id' || k === 'event' || k === 'data') e[k] = value;
            }
          }
          this.events.push(e);
          this.#waiters = this.#waiters.filter((w) => {
            if (!w.pred(e)) return true;
            w.resolve(e);
            return false;
          });
          i = buf.indexOf('\n\n');
        }
      }
    } catch {
      // aborted
    } finally {
      this.#ended();
    }
  }

  /** Resolves with the first (past or future) event matching `pred`. */
  next(pred: (e: SseEvent) => boolean): Promise<SseEvent> {
    const past = this.events.find(pred);
    if (past) return Promise.resolve(past);
    return new Promise((resolve) => this.#waiters.push({ pred, resolve }));
  }

  revisions(): number[] {
    return this.events.filter((e) => e.event === 'revision').map((e) => Number(e.id));
  }

  close(): void {
    this.#abort.abort();
  }
}

export const revisionEvent = (rev: number) => (e: SseEvent) =>
  e.event === 'revision' && Number(e.id) >= rev;

/** Polls `check` every 50 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
