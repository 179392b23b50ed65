/**
 * What route plugins get: the store, caches and helpers. Core routes and plugins added later
 * (identity CA, trace and decision-log ingest) use the same object, reached as `app.ward`.
 */
import type { X509Certificate } from 'node:crypto';
import type { SealKey } from '@ward/ca';
import type { Kysely } from 'kysely';
import type { Authenticator } from '../auth/authenticator.ts';
import type { ServiceIdentities } from '../auth/service-identities.ts';
import type { Principal, Scope } from '../auth/tokens.ts';
import type { BundleCache } from '../bundles/cache.ts';
import type { SigningKey } from '../bundles/signing-key.ts';
import type { ServerMetrics } from '../metrics/metrics.ts';
import type { ResolvedKek } from '../secrets/kek-source.ts';
import type { SecretStore } from '../secrets/store.ts';
import type { Dialect } from '../store/database.ts';
import type { Database } from '../store/schema.ts';
import type { RevisionEvent, Store } from '../store/store.ts';
import type { AgentHub } from '../watch/agent-hub.ts';
import type { RevisionFollower } from '../watch/follower.ts';
import type { WatchHub } from '../watch/hub.ts';
import type { WatchAdmission } from '../watch/limits.ts';

export interface WardContext {
  store: Store;
  /** Kysely handle; plugins may query their own tables (declare their types themselves). */
  db: Kysely<Database>;
  dialect: Dialect;
  /** PostgreSQL URL (absent on SQLite): for plugins that LISTEN on a connection of their own. */
  postgresUrl?: string;
  trustDomain: string;
  dataDir: string;
  signingKey: SigningKey;
  /** The control plane's seal key: plugins seal their own keys at rest with it (the CA does). */
  sealKey: SealKey;
  bundles: BundleCache;
  hub: WatchHub;
  /** Node agents' scoped bundle streams (`GET /v1/agent/watch`, with the CA plugin). */
  agentHub: AgentHub;
  /** Limits on open watch streams (per credential, per client address, in total). */
  watchAdmission: WatchAdmission;
  follower: RevisionFollower;
  authenticator: Authenticator;
  /** SPIFFE ID -> service, for client-certificate authentication. */
  identities: ServiceIdentities;
  /** Roots that client SVIDs must chain to; set when the TLS listener takes client certificates. */
  clientRoots?: readonly X509Certificate[];
  /**
   * Node agents, set by the CA plugin (absent without it): other plugins authenticate an agent's
   * proof header and read what its node runs, e.g. wire-observation ingest.
   */
  agents?: AgentDirectory;
  /** This server's Prometheus registry and the recorders of requests, applies, ingest, CA. */
  metrics: ServerMetrics;
  /** Call after committing a revision: publishes it to watchers and drops stale bundles now. */
  changed(): Promise<void>;
  /**
   * Registers a listener for every revision this replica follows (its own commits and other
   * replicas'), in order, `secrets` included; returns the unsubscribe. A listener that throws
   * is logged and skipped.
   */
  onRevision(listener: (event: RevisionEvent) => void): () => void;
  /**
   * The secrets' key-encryption key ring (`startServer({ secrets })`, `WARD_SECRETS_KEK`, …),
   * resolved when the secrets plugin is registered.
   */
  secretsKek?: ResolvedKek;
  /** The secrets store, set by the secrets plugin (leases and other plugins use it). */
  secrets?: SecretStore;
}

/** What the CA plugin tells other plugins about node agents. */
export interface AgentDirectory {
  /**
   * The agent whose proof header (`x-ward-agent-proof`) is bound to `method` `path`; throws
   * `API_UNAUTHENTICATED` saying why not.
   */
  authenticate(
    proof: unknown,
    method: string,
    path: string,
  ): Promise<{ spiffeId: string; node: string }>;
  /** SPIFFE IDs of the registration entries of `node` (the workloads its agent attests). */
  workloadsOf(node: string): Promise<ReadonlySet<string>>;
  /** SPIFFE IDs of the agents not revoked (shared store: every replica's revocations). */
  liveAgents(): Promise<ReadonlySet<string>>;
  /** Calls `fn` with an agent's SPIFFE ID when this replica revokes it; returns an unsubscribe. */
  onRevoked(fn: (spiffeId: string) => void): () => void;
}

/**
 * Who may call a route: `public` (no token), or the token scopes allowed. Routes that say
 * nothing require `admin` — a forgotten declaration fails closed.
 */
export type RouteAuth = 'public' | readonly Scope[];

declare module 'fastify' {
  interface FastifyInstance {
    ward: WardContext;
    /** Every route registered (method and URL), HEAD twins and hidden routes excluded. */
    wardRoutes: { method: string; url: string }[];
  }
  interface FastifyRequest {
    /** The authenticated token's identity; set on every non-public route. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}
