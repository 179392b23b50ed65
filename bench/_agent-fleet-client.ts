/**
 * The worker side of the fleet benchmarks: simulated node agents made of real agent code. Each
 * attested identity is a real attestation (its own key pair, CSR, join token, agent SVID); each
 * agent is the agent's own `BundleFeed` (proof-signed agent-scoped watch stream, SSE parsing,
 * shape checks, revision ordering), with a `SecretStore` when asked. Agents share the attested
 * identities round-robin (set-up cost only: each stream is still its own connection, proof
 * check and write).
 */
import { type AgentIdentity, BundleFeed, ControlPlaneClient, SecretStore } from '@ward/agent';
import { createCsr, generateKeyPair } from '@ward/ca';
import pino from 'pino';
import { startProfile } from './_profile.ts';

/** What the benchmark process sends a fleet worker to start. */
export interface FleetStart {
  url: string;
  /** Join tokens of the attested agent identities this process uses (round-robin over agents). */
  tokens: string[];
  /** Simulated agents (one stream each) in this process. */
  agents: number;
}

export interface FleetAgent {
  feed: BundleFeed;
  /** With `secrets: true`: the agent's secret store, fed by its stream. */
  secrets: SecretStore | undefined;
}

export const send = (message: object): void => {
  process.send?.(message);
};

async function attest(client: ControlPlaneClient, token: string): Promise<AgentIdentity> {
  const pair = await generateKeyPair();
  const reply = await client.attest({ joinToken: token, csr: await createCsr(pair) });
  return {
    spiffeId: reply.spiffeId,
    node: reply.node,
    privateKey: pair.privateKey,
    chain: reply.chain,
    expiresAt: reply.expiresAt,
  };
}

/**
 * Attests the identities (50 at a time), then opens `m.agents` streams, 200 at a time with a
 * pause between; `wire(i, agent)` attaches listeners before agent `i` starts.
 */
export async function startFleet(
  m: FleetStart,
  options: { secrets: boolean; wire(i: number, agent: FleetAgent): void },
): Promise<{ agents: FleetAgent[]; setupMs: { attest: number; open: number } }> {
  const t0 = performance.now();
  const client = new ControlPlaneClient(m.url, { timeoutMs: 120_000 });
  const identities: AgentIdentity[] = [];
  for (let from = 0; from < m.tokens.length; from += 50) {
    const batch = m.tokens.slice(from, from + 50);
    identities.push(...(await Promise.all(batch.map((t) => attest(client, t)))));
  }
  const attested = performance.now();
  const logger = pino({ level: 'silent' });
  const agents: FleetAgent[] = [];
  for (let i = 0; i < m.agents; i++) {
    const identity = identities[i % identities.length]!;
    const secrets = options.secrets ? new SecretStore() : undefined;
    const feed = new BundleFeed({
      client,
      identity: () => identity,
      logger,
      timing: { minBackoffMs: 500, maxBackoffMs: 5000 },
      ...(secrets ? { secrets } : {}),
    });
    const agent = { feed, secrets };
    options.wire(i, agent);
    agents.push(agent);
    feed.start();
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 10));
  }
  return { agents, setupMs: { attest: attested - t0, open: performance.now() - attested } };
}

/** Polls `done` every 50 ms until it holds. */
export async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 50));
}

/** Stops every feed, then exits (the `stop` message). */
export function stopFleet(agents: readonly FleetAgent[]): void {
  void Promise.all(agents.map((a) => a.feed.stop())).finally(() => process.exit(0));
}

/**
 * A fleet worker's side of the IPC protocol: `start` → `ready` (with what `start` resolves to)
 * or `error`; `arm` → the in-process profiler started under PROF=1, `armed()`, `armed`; `stop`
 * → `stop()`. The worker exits when the benchmark process goes (killed, crashed), so it never
 * lingers holding sockets and CPU.
 */
export function serveFleetWorker<M>(handlers: {
  start(message: M): Promise<Record<string, unknown>>;
  armed(): void;
  stop(): void;
}): void {
  process.on('message', (message: { type: string }) => {
    if (message.type === 'start') {
      handlers.start(message as M).then(
        (ready) => send({ type: 'ready', ...ready }),
        (error: unknown) =>
          send({ type: 'error', message: String((error as Error)?.stack ?? error) }),
      );
    } else if (message.type === 'arm') {
      void (process.env.PROF ? startProfile() : Promise.resolve()).then(() => {
        handlers.armed();
        send({ type: 'armed' });
      });
    } else if (message.type === 'stop') {
      handlers.stop();
    }
  });
  process.on('disconnect', () => process.exit(0));
}
