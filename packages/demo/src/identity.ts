/**
 * Identities of the demo's services. Preferred: real mTLS with X.509-SVIDs from the control
 * plane's CA, delivered by a node agent (started in this process) over the SPIFFE Workload API,
 * one `WorkloadIdentity` per service. If the CA or the agent is unavailable, the demo falls back
 * to the SDK's development identity header and says so loudly.
 */
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsOptions } from 'node:tls';
import type { WorkloadIdentity } from '@ward/sdk';
import { type DemoAttestation, demoAttestation, privateSocketDir } from './attestation.ts';
import type { DemoControlPlane } from './control-plane.ts';

/** The header the services trust for caller identity in the development fallback. */
export const DEV_IDENTITY_HEADER = 'x-ward-source';

/** What a service needs from its identity. */
export interface ServiceIdentity {
  readonly spiffeId: string;
  /** TLS server options (client certificate required), or undefined for plain HTTP. */
  serverOptions(): TlsOptions | undefined;
  /** Keeps a TLS server's certificate current across rotations; returns a stop function. */
  secure(server: import('node:net').Server): () => void;
  /** Headers to add to outgoing calls (the dev header in the fallback). */
  readonly headers: Readonly<Record<string, string>>;
  /** The rotating SVID under mTLS (the PDP authenticates to the control plane with it). */
  readonly workload?: WorkloadIdentity;
  close(): void;
}

export interface MeshIdentities {
  readonly mode: 'mtls' | 'dev-header';
  /** Why the fallback was taken, when it was. */
  readonly reason?: string;
  /** How the agent identifies callers (mTLS mode): e.g. `SO_PEERCRED via node:ffi`. */
  readonly attestation?: string;
  /** One line to show when the agent does not attest callers (the demo fallback). */
  readonly notice?: string;
  /** The node agent's socket (mTLS mode): workloads take their secrets there too. */
  readonly agentSocket?: string;
  /**
   * Resolves when the agent's local PDP for `service` (decision API) holds a verified bundle;
   * false without the agent, or when none came within `timeoutMs`.
   */
  localPdpReady?(service: string, timeoutMs: number): Promise<boolean>;
  for(service: string, spiffeId: string): Promise<ServiceIdentity>;
  close(): Promise<void>;
}

const NODE = 'demo-node';

/**
 * Sets up mTLS identities: a registration entry per service (this process's uid and executable
 * as selectors, since every Node service runs in it; a service in another process gives its own
 * `selectors`), a join token, and a node agent serving the Workload API on a Unix socket, with
 * the local decision API on (`publicKey`: the bundle key its PDPs verify with). Falls back to the
 * dev header on any failure, with the reason.
 */
export async function meshIdentities(
  cp: DemoControlPlane,
  services: readonly { name: string; spiffeId: string; selectors?: readonly string[] }[],
  opts: { dataDir: string; forceDev: boolean; publicKey: string },
): Promise<MeshIdentities> {
  if (opts.forceDev) return devIdentities('--dev-identity was given');
  let agent: { close(): Promise<void>; socketPath: string } | undefined;
  let attestation: DemoAttestation | undefined;
  let socketDir: { dir: string; remove(): void } | undefined;
  try {
    const [{ startAgent }, { workloadIdentity }, pino] = await Promise.all([
      import('@ward/agent'),
      import('@ward/sdk'),
      import('pino'),
    ]);
    const exe = realpathSync(process.execPath);
    const own = [`unix:uid:${process.getuid?.() ?? 0}`, `unix:path:${exe}`];
    const { entries } = await cp.admin<{
      entries: { id: string; spiffeId: string; node: string; selectors: string[] }[];
    }>('GET', `/v1/ca/entries?node=${NODE}`);
    const have = new Set(entries.map((e) => e.spiffeId));
    for (const s of services) {
      // An entry kept from a run with another interpreter (python3 upgraded) is replaced.
      const kept = entries.find((e) => e.spiffeId === s.spiffeId);
      if (
        kept &&
        s.selectors &&
        [...kept.selectors].sort().join() !== [...s.selectors].sort().join()
      ) {
        await cp.admin('DELETE', `/v1/ca/entries/${encodeURIComponent(kept.id)}`);
        have.delete(s.spiffeId);
      }
      if (have.has(s.spiffeId)) continue;
      await cp.admin('POST', '/v1/ca/entries', {
        spiffeId: s.spiffeId,
        node: NODE,
        selectors: s.selectors ?? own,
        dnsNames: ['localhost'],
      });
    }
    const { token } = await cp.admin<{ token: string }>('POST', '/v1/ca/join-tokens', {
      node: NODE,
    });
    // The socket sits in a directory only this user may enter (0700).
    socketDir = privateSocketDir(opts.dataDir);
    attestation = await demoAttestation();
    const running = await startAgent({
      controlPlane: cp.url,
      joinToken: token,
      socketPath: join(socketDir.dir, 'agent.sock'),
      resolvePeer: attestation.resolvePeer,
      logger: pino.default({ level: 'warn', name: 'ward-agent' }, pino.default.destination(2)),
      // As the demo's PDPs: the fleet view shows the node's SVIDs within seconds.
      statusIntervalMs: 5000,
      // The decision API for the Python service: decisions shipped every second, as the SDK's.
      decide: { publicKey: opts.publicKey },
    });
    agent = running;
    const held: { close(): void }[] = [];
    const { method, notice, close: closeAttestation } = attestation;
    const removeDir = socketDir.remove;
    return {
      mode: 'mtls',
      attestation: method,
      agentSocket: running.socketPath,
      ...(notice ? { notice } : {}),
      async localPdpReady(service, timeoutMs) {
        const until = Date.now() + timeoutMs;
        while (Date.now() < until) {
          const pdp = running.pdps?.pdpFor(service);
          if (pdp && pdp.revision() > 0) return true;
          await new Promise((r) => setTimeout(r, 50));
        }
        return false;
      },
      async for(_service, spiffeId) {
        const id = await workloadIdentity({ socketPath: running.socketPath, spiffeId });
        held.push(id);
        return {
          spiffeId,
          headers: {},
          workload: id,
          serverOptions: () => id.serverOptions(),
          secure: (server) => id.secureServer(server),
          close() {
            id.close();
          },
        };
      },
      async close() {
        for (const h of held) h.close();
        await running.close();
        closeAttestation();
        removeDir();
      },
    };
  } catch (error) {
    await agent?.close().catch(() => {});
    attestation?.close();
    socketDir?.remove();
    return devIdentities(
      `mTLS setup failed: ${(error as Error)?.message ?? String(error)}`.split('\n')[0]!,
    );
  }
}

/** The development fallback: plain HTTP, the caller's name in a header anyone could forge. */
function devIdentities(reason: string): MeshIdentities {
  return {
    mode: 'dev-header',
    reason,
    async for(service, spiffeId) {
      return {
        spiffeId,
        headers: { [DEV_IDENTITY_HEADER]: service },
        serverOptions: () => undefined,
        secure: () => () => {},
        close() {},
      };
    },
    async close() {},
  };
}
