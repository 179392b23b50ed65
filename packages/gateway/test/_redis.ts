/**
 * Redis for the rate-limit tests: a prefix of their own on the shared server (127.0.0.1:6379),
 * deleted afterwards, and private `redis-server` processes the failure tests may kill.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';

export const SHARED_REDIS = 'redis://127.0.0.1:6379';

/** A key prefix no other test run uses. */
export function testPrefix(): string {
  return `ward-test:${randomUUID()}:`;
}

/** Deletes every key under `prefix` on the shared server. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** Milliseconds into the current aligned window of `windowMs`, by Redis's clock. */
export async function elapsedInWindow(redis: Redis, windowMs: number): Promise<number> {
  const [sec, usec] = await redis.time();
  return (Number(sec) * 1000 + Math.floor(Number(usec) / 1000)) % windowMs;
}

/** Waits until the next aligned window of `windowMs` has just begun (by Redis's clock). */
export async function nextWindow(redis: Redis, windowMs: number): Promise<void> {
  await sleep(windowMs - (await elapsedInWindow(redis, windowMs)) + 5);
}

/** A port nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A private redis-server (no persistence, its own temp dir) on `port`. */
export class PrivateRedis {
  readonly port: number;
  readonly url: string;
  private readonly dir = mkdtempSync(join(tmpdir(), 'ward-redis-'));
  private child: ChildProcess | undefined;

  constructor(port: number) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
  }

  /** Starts it and resolves once it accepts connections. */
  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--dir',
        this.dir,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        seen = (seen + chunk.toString()).slice(-4096);
        if (seen.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code})`));
      });
    });
    child.stdout!.resume();
  }

  /** Sends `signal` to this server only (by its pid). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Kills it and waits for the process to be gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills it and removes its directory. */
  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
