/**
 * `npm run bench -- local-decide [--seconds N] [--concurrency C]`
 *
 * The node agent's local decision API (docs/decide-api.md) and its Envoy ext_authz (docs/envoy.md)
 * as a service in another process sees them: a real `ward server` (SQLite, child process) with the
 * `middleware` benchmark's 200-service policy, a real agent (`startAgent` with `decide`, its own
 * process) whose registration entry for `orders` matches this benchmark's uid, and a client
 * process asking over the agent's Unix socket:
 *
 * - `POST /v1/decide`, one call in flight (latency p50/p99/p99.9) and C in flight (decisions/s),
 *   with a minimal client (`raw`: pre-made request bytes) and undici (a stock Node client);
 * - `POST /v1/decide/batch` with 100 inputs (decisions/s);
 * - ext_authz `Check` over gRPC on the same socket, one and C in flight;
 * - the floor of the transport: a bare node:http "hello" server on a Unix socket in the agent's
 *   process, from the same client;
 * - the peer measured in the same run: the Cerbos PDP server as bench/middleware.ts runs it (one
 *   OS thread, core 0), its check API over HTTP from the same client; and OPA's Envoy plugin's
 *   published median (0.2–0.4 ms), which is not measured here.
 *
 * The agent and Cerbos are pinned to core 0 (sidecars of a service), the client, the control
 * plane and this process to core 1; the phases run one after another. `agent_cpu_us_per_decision`
 * is the agent process's CPU time per decision (from /proc) under C in flight. `enforcer_ns` is
 * one decision by the service's Enforcer inside the agent process: what the socket adds its
 * transport to. PROF=1 profiles the agent and the client over the decide phases, PROF=grpc,batch
 * over those (/tmp/prof). The load average is reported: on a shared machine the figures are noisy.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpiffeId } from '@ward/spiffe';
import {
  api,
  applyPolicy,
  cpuMsOf,
  parseFlags,
  settle,
  startControlPlane,
  startWorker,
  stopControlPlane,
  stopWorkers,
  TRUST_DOMAIN,
  type Worker,
} from './_agent-fleet.ts';
import type { Phase, PhaseResult, Target } from './_local-decide-client.ts';
import { type Doc, policyDocuments, startCerbos } from './_middleware-fixture.ts';
import { pin, progress, round } from './_stats.ts';

const SERVICE = 'orders';
const SOURCE = 'frontend';
const BATCH = 100;
/** OPA's Envoy plugin (opa-envoy-plugin), its documented median decision latency, ms. */
const OPA_ENVOY_PUBLISHED_P50_MS = [0.2, 0.4];
/** The target: p50 over the agent's socket, ms. */
const TARGET_P50_MS = 0.1;

type Figures = Omit<PhaseResult, 'type'> & { serverCpuUsPerCall?: number };

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const o = parseFlags(
    args,
    { seconds: 3, concurrency: 16 },
    { '--seconds': ['seconds', 'int'], '--concurrency': ['concurrency', 'int'] },
  );
  const load0 = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-local-decide-'));
  if (process.env.PROF) mkdirSync('/tmp/prof', { recursive: true });
  const server = await startControlPlane(dir);
  const workers: Worker[] = [];
  let cerbos: Awaited<ReturnType<typeof startCerbos>> | undefined;
  try {
    const pinned = pin(1, process.pid) && pin(1, server.child.pid!);
    // The middleware benchmark's policy, its services in the default namespace, where its
    // intentions name them: `orders` admits `frontend` as the Cerbos policy does.
    await applyPolicy(
      server.url,
      policyDocuments().map((d) =>
        d.kind === 'Service' ? { ...d, metadata: { name: (d.metadata as Doc).name } } : d,
      ),
    );
    const spiffeIdOf = (name: string) => defaultSpiffeId(TRUST_DOMAIN, 'default', name);
    // The client process runs as this uid: the agent's peer credentials select this entry.
    await api(server.url, 'POST', '/v1/ca/entries', {
      spiffeId: spiffeIdOf(SERVICE),
      node: 'bench-node',
      selectors: [`unix:uid:${process.getuid!()}`],
    });
    const { token } = (await api(server.url, 'POST', '/v1/ca/join-tokens', {
      node: 'bench-node',
    })) as { token: string };

    const agent = startWorker('_local-decide-agent.ts');
    workers.push(agent);
    pin(0, agent.child.pid!);
    agent.child.send({
      type: 'start',
      url: server.url,
      joinToken: token,
      publicKey: server.publicKey,
      dir,
      service: SERVICE,
      source: SOURCE,
    });
    const ready = await agent.next('ready');
    cerbos = await startCerbos();
    const client = startWorker('_local-decide-client.ts');
    workers.push(client);
    pin(1, client.child.pid!);
    client.child.send({
      type: 'setup',
      socket: ready.socket,
      hello: ready.hello,
      cerbos: cerbos.url,
      service: SERVICE,
      source: SOURCE,
      sourceSpiffeId: spiffeIdOf(SOURCE),
      destinationSpiffeId: spiffeIdOf(SERVICE),
      batch: BATCH,
    });
    await client.next('setup');
    await settle(server, 10_000);
    progress(
      `local-decide: ${o.seconds}s per phase, C=${o.concurrency}, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );

    const measure = async (
      target: Target,
      clientKind: Phase['client'],
      concurrency: number,
      profile = false,
    ): Promise<Figures> => {
      const side = target === 'cerbos' ? cerbos!.child.pid : agent.child.pid;
      if (profile) {
        agent.child.send({ type: 'profile-start' });
        await agent.next('profiling');
      }
      client.child.send({
        type: 'phase',
        target,
        client: clientKind,
        concurrency,
        seconds: o.seconds,
        profile,
      });
      // The server's CPU time over the timed window only (the client says when it starts).
      await client.next('window');
      const cpu0 = cpuMsOf(side);
      const r = (await client.next('phase')) as unknown as PhaseResult;
      const cpuMs = cpuMsOf(side) - cpu0;
      if (profile) {
        agent.child.send({ type: 'profile-stop', phase: `${target}-${clientKind}-${concurrency}` });
        const { summary } = await agent.next('profile');
        progress(`  agent profile: ${JSON.stringify(summary)}`);
      }
      const { type: _, failure, ...figures } = r;
      if (failure) progress(`  ${target}: first wrong answer: ${failure}`);
      const serverCpuUsPerCall = round((cpuMs * 1000) / r.calls, 2);
      progress(
        `  ${target} ${clientKind} ×${concurrency}: ${r.perSec}/s p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms, server ${serverCpuUsPerCall} cpu-us/call, client ${r.clientCpuUsPerCall}, errors ${r.errors}`,
      );
      return { ...figures, serverCpuUsPerCall };
    };
    const C = o.concurrency;
    // PROF=1 profiles the decide phases; PROF=decide,grpc,… the phases of those targets.
    const profiled = (target: Target) =>
      process.env.PROF === '1'
        ? target === 'decide'
        : Boolean(process.env.PROF?.split(',').includes(target));
    const helloRaw = await measure('hello', 'raw', 1);
    const helloUndici = await measure('hello', 'undici', 1);
    const decideRaw = await measure('decide', 'raw', 1, profiled('decide'));
    const decideUndici = await measure('decide', 'undici', 1);
    const decideRawC = await measure('decide', 'raw', C, profiled('decide'));
    const helloRawC = await measure('hello', 'raw', C, profiled('hello'));
    const batch1 = await measure('batch', 'raw', 1);
    const batchC = await measure('batch', 'raw', C);
    const grpc1 = await measure('grpc', 'grpc', 1, profiled('grpc'));
    const grpcC = await measure('grpc', 'grpc', C, profiled('grpc'));
    const cerbosRaw = await measure('cerbos', 'raw', 1);
    const cerbosUndici = await measure('cerbos', 'undici', 1);
    const cerbosRawC = await measure('cerbos', 'raw', C);
    agent.child.send({ type: 'enforcer' });
    const enforcerNs = (await agent.next('enforcer')).ns as number;
    progress(`  Enforcer.checkAs in the agent: ${round(enforcerNs, 0)} ns`);

    const errors = [
      helloRaw,
      helloUndici,
      decideRaw,
      decideUndici,
      decideRawC,
      helloRawC,
      batch1,
      batchC,
      grpc1,
      grpcC,
      cerbosRaw,
      cerbosUndici,
      cerbosRawC,
    ].reduce((n, f) => n + f.errors, 0);
    const latency = (f: Figures) => ({ p50_ms: f.p50Ms, p99_ms: f.p99Ms, p999_ms: f.p999Ms });
    const throughput = (f: Figures, per = 1) => ({
      decisions_per_s: f.perSec * per,
      server_cpu_us_per_decision: round(f.serverCpuUsPerCall! / per, 2),
      p50_ms: f.p50Ms,
      p99_ms: f.p99Ms,
    });
    return {
      target_p50_ms: TARGET_P50_MS,
      socket_p50_ms: decideRaw.p50Ms,
      target_met: decideRaw.p50Ms < TARGET_P50_MS,
      // What a decision adds to the bare transport, same client, same run: the least noisy figure.
      socket_p50_over_hello_ms: round(decideRaw.p50Ms - helloRaw.p50Ms, 4),
      server_cpu_us_over_hello: round(
        decideRawC.serverCpuUsPerCall! - helloRawC.serverCpuUsPerCall!,
        2,
      ),
      decide: {
        raw_client: latency(decideRaw),
        undici_client: latency(decideUndici),
        concurrent: throughput(decideRawC),
        client_cpu_us_per_call: {
          raw: decideRaw.clientCpuUsPerCall,
          undici: decideUndici.clientCpuUsPerCall,
        },
      },
      batch: {
        inputs: BATCH,
        one_in_flight: { ...throughput(batch1, BATCH), p50_ms_per_batch: batch1.p50Ms },
        concurrent: throughput(batchC, BATCH),
      },
      ext_authz_grpc: {
        one_in_flight: { ...latency(grpc1), decisions_per_s: grpc1.perSec },
        concurrent: throughput(grpcC),
      },
      transport_floor_hello: {
        raw_client: latency(helloRaw),
        undici_client: latency(helloUndici),
        concurrent: { requests_per_s: helloRawC.perSec, p50_ms: helloRawC.p50Ms },
      },
      enforcer_ns: round(enforcerNs, 0),
      peer_cerbos_http: {
        raw_client: latency(cerbosRaw),
        undici_client: latency(cerbosUndici),
        concurrent: throughput(cerbosRawC),
        note: 'Cerbos PDP server as bench/middleware.ts runs it (GOMAXPROCS=1, core 0), check API over loopback HTTP',
      },
      peer_opa_envoy_published: {
        p50_ms: OPA_ENVOY_PUBLISHED_P50_MS,
        note: 'published, not measured here',
      },
      failed_calls: errors,
      concurrency: C,
      seconds: o.seconds,
      pinned: pinned ? 'agent+cerbos core 0; client, ward server, bench core 1' : 'not pinned',
      load_average: {
        start: load0.map((l) => round(l, 2)),
        end: loadavg().map((l) => round(l, 2)),
      },
    };
  } finally {
    await stopWorkers(workers);
    if (cerbos) {
      cerbos.child.kill('SIGTERM');
      rmSync(cerbos.dir, { recursive: true, force: true });
    }
    await stopControlPlane(server);
    rmSync(dir, { recursive: true, force: true });
  }
}
