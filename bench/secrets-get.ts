/**
 * `npm run bench -- secrets-get [batches]`: the read path of a secret in a service.
 * `secrets.get(name)` of a client connected to an agent (a real gRPC server on a Unix socket
 * answering `WatchSecret`) — a map lookup and a cached pointer — against two peers measured in
 * the same run: a plain `Map.get` of a string (the floor), and `fs.readFileSync` of the value
 * rendered to a file in /dev/shm (what a consumer of a Vault Agent template does per read).
 *
 * Latency per operation from batches (one clock read per batch of `batchOps` operations, so the
 * clock's own cost stays out), p50/p99 over the batches; the three alternate, batch by batch.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AGENT_SECRETS_SERVICE, type SecretWatchReplyV1 } from '@ward/api-types';
import { connectSecrets } from '../packages/sdk/src/index.ts';
import { nowNs, percentile, progress, round } from './_stats.ts';

const NAMES = ['api-key', 'db-password', 'signing-key', 'webhook-token'];

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const batches = Number(args[0] ?? 2_000);
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-secrets-get-'));
  const shmRoot = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const shm = mkdtempSync(join(shmRoot, 'ward-bench-secrets-'));
  const socketPath = join(dir, 'agent.sock');
  const now = Date.now();
  const replies = new Map<string, SecretWatchReplyV1>(
    NAMES.map((n, i) => [
      `shop/${n}`,
      {
        secret: `shop/${n}`,
        type: 'random',
        versions: [
          {
            version: 1,
            data: { value: `value-${i}-${'x'.repeat(32)}` },
            notBefore: now,
            notAfter: null,
          },
        ],
      },
    ]),
  );
  const server = new grpc.Server();
  server.addService(AGENT_SECRETS_SERVICE as unknown as grpc.ServiceDefinition, {
    WatchSecret(call: grpc.ServerWritableStream<{ secret: string }, unknown>) {
      const reply = replies.get(call.request.secret);
      if (reply) call.write(reply);
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (e) =>
      e ? reject(e) : resolve(),
    ),
  );
  const secrets = await connectSecrets({ socketPath, service: 'shop/orders', names: NAMES });
  const map = new Map<string, string>();
  const files: string[] = [];
  for (const name of NAMES) {
    const value = secrets.get(name).value!;
    map.set(name, value);
    const file = join(shm, name);
    writeFileSync(file, value, { mode: 0o600 });
    files.push(file);
  }

  let sink = 0;
  const measure = (ops: number, op: (i: number) => number): number => {
    const start = nowNs();
    for (let i = 0; i < ops; i++) sink += op(i & 3);
    return (nowNs() - start) / ops;
  };
  const get = (i: number) => secrets.get(NAMES[i]!).version;
  const mapGet = (i: number) => map.get(NAMES[i]!)!.length;
  const readFile = (i: number) => readFileSync(files[i]!, 'utf8').length;
  const fast = 10_000;
  const slow = 100;
  // Warm-up, so every path is optimised before it is timed.
  for (let r = 0; r < 50; r++) {
    measure(fast, get);
    measure(fast, mapGet);
    measure(slow, readFile);
  }
  const samples = { get: [] as number[], map: [] as number[], file: [] as number[] };
  let totalNs = { get: 0, map: 0, file: 0 };
  for (let b = 0; b < batches; b++) {
    const g = measure(fast, get);
    const m = measure(fast, mapGet);
    const f = measure(slow, readFile);
    samples.get.push(g);
    samples.map.push(m);
    samples.file.push(f);
    totalNs = {
      get: totalNs.get + g * fast,
      map: totalNs.map + m * fast,
      file: totalNs.file + f * slow,
    };
    if ((b + 1) % 500 === 0) progress(`batch ${b + 1}/${batches}`);
  }
  secrets.close();
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
  rmSync(shm, { recursive: true, force: true });
  if (sink < 0) throw new Error('unreachable'); // keeps the loops' results alive

  const figures = (s: number[], ops: number, total: number) => ({
    p50_ns: round(percentile(s, 50), 2),
    p99_ns: round(percentile(s, 99), 2),
    ops_per_sec: Math.round((s.length * ops) / (total / 1e9)),
  });
  return {
    batches,
    batch_ops: { get: fast, map: fast, file: slow },
    secrets_get: figures(samples.get, fast, totalNs.get),
    peers: [
      { name: 'Map.get of a string (floor)', ...figures(samples.map, fast, totalNs.map) },
      {
        name: `fs.readFileSync of a rendered file in ${shmRoot} (Vault Agent template consumer)`,
        ...figures(samples.file, slow, totalNs.file),
      },
    ],
  };
}
