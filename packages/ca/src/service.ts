import { randomUUID } from 'node:crypto';
import { AgentChainCache } from './agent-chain-cache.ts';
import { verifyAgentProof } from './agent-proof.ts';
import type { Authority, AuthorityLifetimes } from './authority.ts';
import { AuthorityCache } from './authority-cache.ts';
import { jwtBundle, spiffeBundle, trustBundlePem } from './bundle.ts';
import { verifyCsr } from './csr.ts';
import { parseEntryInput, type RegistrationEntry } from './entries.ts';
import { CaError } from './errors.ts';
import { generateJoinToken, hashJoinToken, parseJoinToken } from './join-token.ts';
import { signJwtSvid } from './jwt-svid.ts';
import { type K8sTokenReviewer, parseK8sToken } from './k8s-attestation.ts';
import { withActivatedRoot, withoutRetiredRoots, withPreparedRoot } from './root-rotation.ts';
import type { SealKey } from './seal.ts';
import { agentIdOf, parseNodeName, parseTrustDomain } from './spiffe-id.ts';
import type { CaStore } from './store.ts';
import type { JsonWebKey } from './webcrypto.ts';
import { type IssuedX509Svid, issueX509Svid, parseTtl, signLeaf } from './x509-svid.ts';

/** Configuration of a {@link CaService}. */
export interface CaServiceOptions {
  store: CaStore;
  sealKey: SealKey;
  trustDomain: string;
  lifetimes?: AuthorityLifetimes;
  /** Agent SVID lifetime, seconds. Default 1 h; agents renew at half-life. */
  agentSvidTtlSeconds?: number;
  /**
   * Enables Kubernetes PSAT agent attestation: asks the apiserver about an agent's token. The
   * control plane supplies it (the CA itself does no I/O).
   */
  reviewK8sToken?: K8sTokenReviewer;
  /** Clock, ms since epoch (tests). */
  now?: () => number;
  /**
   * Called after an agent was revoked here, with its SPIFFE ID: the control plane ends the
   * agent's open streams at once (other replicas notice on their next sweep).
   */
  onAgentRevoked?: (spiffeId: string) => void;
  /** Verified agent chains kept (LRU) so proofs skip re-validating them. Default 20,000. */
  agentChainCacheSize?: number;
}

/** What an agent receives after attestation or renewal. */
export interface AgentSvidResult {
  spiffeId: string;
  node: string;
  /** PEM, leaf first. */
  chain: readonly string[];
  expiresAt: number;
  /** PEM root certificates. */
  bundle: string;
}

/**
 * The certificate authority of the control plane: attestation, registration entries, X.509- and
 * JWT-SVID issuance, trust bundle and rotation, over a {@link CaStore}. Framework-neutral: the
 * HTTP layer ({@link caRoutes}) adapts it to any server.
 */
export class CaService {
  readonly trustDomain: string;
  readonly #store: CaStore;
  readonly #authority: AuthorityCache;
  readonly #agentTtl: number;
  readonly #reviewK8sToken: K8sTokenReviewer | undefined;
  readonly #now: () => number;
  readonly #onAgentRevoked: ((spiffeId: string) => void) | undefined;
  /** Agent chains already validated under the current trust bundle (see AgentChainCache). */
  readonly agentChains: AgentChainCache;

  constructor(options: CaServiceOptions) {
    this.#onAgentRevoked = options.onAgentRevoked;
    this.agentChains = new AgentChainCache({ maxEntries: options.agentChainCacheSize });
    this.trustDomain = parseTrustDomain(options.trustDomain);
    this.#store = options.store;
    this.#agentTtl = parseTtl(options.agentSvidTtlSeconds ?? 3600, 'agentSvidTtlSeconds');
    this.#reviewK8sToken = options.reviewK8sToken;
    this.#now = options.now ?? Date.now;
    this.#authority = new AuthorityCache({
      store: options.store,
      sealKey: options.sealKey,
      trustDomain: this.trustDomain,
      lifetimes: options.lifetimes,
      now: this.#now,
    });
  }

  /**
   * The unsealed authority, created on first use. Reloaded when another replica changed it, and
   * the intermediate is rotated automatically once less than a third of its life remains.
   */
  async authority(): Promise<Authority> {
    return (await this.#authority.current()).authority;
  }

  /** Rotates the signing intermediate now. Old SVIDs keep verifying until they expire. */
  rotateIntermediate(): Promise<{ serial: string; notAfter: number }> {
    return this.#authority.rotateIntermediate();
  }

  /** Rotates the JWT-SVID signing key now; the old key stays published until it expires. */
  rotateJwtKey(): Promise<{ kid: string }> {
    return this.#authority.rotateJwtKey();
  }

  /**
   * Root rotation, step 1: a new root joins the trust bundle without signing yet. Activate it
   * once agents have synced the new bundle (a sync interval plus a margin).
   */
  async prepareRoot(): Promise<{ roots: string[] }> {
    const a = await this.#authority.update((state, ctx) =>
      withPreparedRoot(state, ctx.sealKey, ctx),
    );
    return { roots: a.roots.map((r) => r.serialNumber) };
  }

  /** Root rotation, step 2: the prepared root signs, through a new intermediate. */
  async activateRoot(): Promise<{ serial: string; notAfter: number }> {
    const a = await this.#authority.update((state, ctx) =>
      withActivatedRoot(state, ctx.sealKey, ctx),
    );
    return { serial: a.intermediate.serialNumber, notAfter: a.intermediate.notAfter.getTime() };
  }

  /**
   * Root rotation, step 3: the old roots leave the bundle, once no SVID chained to them can be
   * alive (the longest TTL of any entry or of agent SVIDs after the activation).
   */
  async retireRoots(): Promise<{ roots: string[] }> {
    const entries = await this.#store.listEntries();
    const maxLeafTtlSeconds = Math.max(this.#agentTtl, ...entries.map((e) => e.ttlSeconds));
    const a = await this.#authority.update((state, ctx) =>
      withoutRetiredRoots(state, { now: ctx.now, maxLeafTtlSeconds }),
    );
    return { roots: a.roots.map((r) => r.serialNumber) };
  }

  /** Root certificates as PEM: what every workload trusts. */
  async trustBundlePem(): Promise<string> {
    return trustBundlePem(await this.authority());
  }

  /** The SPIFFE bundle (JWK Set with x509-svid and jwt-svid keys). */
  async spiffeBundle(): Promise<Awaited<ReturnType<typeof spiffeBundle>>> {
    return spiffeBundle(await this.authority());
  }

  /** JWK Set of JWT-SVID keys. */
  async jwtBundle(): Promise<{ keys: JsonWebKey[] }> {
    return jwtBundle(await this.authority());
  }

  /** Creates a one-time join token for `node` (default TTL 10 min). The token is shown once. */
  async createJoinToken(input: { node: unknown; ttlSeconds?: unknown }): Promise<{
    token: string;
    node: string;
    spiffeId: string;
    expiresAt: number;
  }> {
    const node = parseNodeName(input?.node);
    const ttl =
      input.ttlSeconds === undefined ? 600 : parseTtl(input.ttlSeconds, 'ttlSeconds', 7 * 86400);
    const { token, hash } = generateJoinToken();
    const now = this.#now();
    await this.#store.insertJoinToken({ hash, node, createdAt: now, expiresAt: now + ttl * 1000 });
    return {
      token,
      node,
      spiffeId: agentIdOf(this.trustDomain, node),
      expiresAt: now + ttl * 1000,
    };
  }

  /** Creates a registration entry from an API body. */
  async createEntry(body: unknown): Promise<RegistrationEntry> {
    const entry = parseEntryInput(body, this.trustDomain, { id: randomUUID(), now: this.#now() });
    await this.#store.insertEntry(entry);
    return entry;
  }

  async listEntries(filter?: { node?: string }): Promise<RegistrationEntry[]> {
    if (filter?.node !== undefined) parseNodeName(filter.node, 'query.node');
    return this.#store.listEntries(filter);
  }

  async getEntry(id: string): Promise<RegistrationEntry> {
    const entry = await this.#store.getEntry(id);
    if (!entry)
      throw new CaError('CA_ENTRY_NOT_FOUND', `entry ${id} does not exist`, { field: 'params.id' });
    return entry;
  }

  async deleteEntry(id: string): Promise<void> {
    if (!(await this.#store.deleteEntry(id))) {
      throw new CaError('CA_ENTRY_NOT_FOUND', `entry ${id} does not exist`, { field: 'params.id' });
    }
  }

  /**
   * Attests a node agent with a one-time join token or (when configured) a Kubernetes projected
   * service-account token, and signs its CSR as `spiffe://<td>/ward/agent/<node>`.
   */
  async attestAgent(body: unknown): Promise<AgentSvidResult> {
    if (body === null || typeof body !== 'object') {
      throw new CaError('CA_BAD_REQUEST', 'body: expected { joinToken | k8sToken, csr }', {
        field: 'body',
      });
    }
    const b = body as { joinToken?: unknown; k8sToken?: unknown; csr?: unknown };
    // Check the CSR first: a malformed request must not burn the one-time token.
    const csr = await verifyCsr(b.csr, 'csr');
    let node: string;
    let attestedBy: string;
    if (b.joinToken !== undefined) {
      const token = parseJoinToken(b.joinToken);
      const record = await this.#store.consumeJoinToken(hashJoinToken(token), this.#now());
      if (!record) {
        throw new CaError('CA_JOIN_TOKEN_INVALID', 'joinToken: unknown, expired or already used', {
          field: 'joinToken',
        });
      }
      node = record.node;
      attestedBy = 'join_token';
    } else if (b.k8sToken !== undefined) {
      if (!this.#reviewK8sToken) {
        throw new CaError(
          'CA_ATTESTATION_FAILED',
          'k8sToken: Kubernetes attestation is not configured',
          {
            field: 'k8sToken',
          },
        );
      }
      const reviewed = await this.#reviewK8sToken(parseK8sToken(b.k8sToken));
      node = parseNodeName(reviewed.nodeName, 'k8sToken.node-name');
      attestedBy = 'k8s_psat';
    } else {
      throw new CaError('CA_ATTESTATION_FAILED', 'body: joinToken or k8sToken is required', {
        field: 'joinToken',
      });
    }
    const spiffeId = agentIdOf(this.trustDomain, node);
    const authority = await this.authority();
    const svid = await signLeaf(authority, {
      csr,
      spiffeId,
      ttlSeconds: this.#agentTtl,
      now: this.#now(),
    });
    await this.#store.upsertAgent({
      spiffeId,
      node,
      attestedBy,
      serial: svid.serial,
      expiresAt: svid.notAfter,
      lastSeen: this.#now(),
    });
    return {
      spiffeId,
      node,
      chain: svid.chain,
      expiresAt: svid.notAfter,
      bundle: await this.trustBundlePem(),
    };
  }

  /**
   * Checks an agent's proof-of-possession header for `method` `path` (see `signAgentProof`) and
   * returns the agent. Throws `CA_AGENT_PROOF`.
   */
  async authenticateAgent(
    proof: unknown,
    method: string,
    path: string,
  ): Promise<{ spiffeId: string; node: string; notAfter: number }> {
    const { roots } = await this.#authority.current();
    const agent = await verifyAgentProof(proof, {
      roots,
      trustDomain: this.trustDomain,
      method,
      path,
      now: this.#now(),
      cache: this.agentChains,
    });
    // After the cache, on every request: a revoked agent's chain may still be cached.
    const record = await this.#store.getAgent(agent.spiffeId);
    if (!record) throw new CaError('CA_AGENT_PROOF', `${agent.spiffeId} was never attested`);
    return agent;
  }

  /**
   * Revokes the agent of `node`: forgets its attestation record, so every later proof it signs is
   * refused (`CA_AGENT_PROOF`: it can no longer renew, sync, obtain SVIDs or watch bundles) and a
   * new join token is needed to bring the node back. Its current SVID stays valid until it
   * expires as a certificate, but nothing of Ward's accepts it any more.
   */
  async revokeAgent(node: string): Promise<{ spiffeId: string }> {
    const spiffeId = agentIdOf(this.trustDomain, parseNodeName(node, 'params.node'));
    if (!(await this.#store.deleteAgent(spiffeId))) {
      throw new CaError('CA_AGENT_NOT_FOUND', `no attested agent for node ${node}`, {
        field: 'params.node',
      });
    }
    this.#onAgentRevoked?.(spiffeId);
    return { spiffeId };
  }

  /** SPIFFE IDs of the agents currently attested (not revoked). */
  async agentIds(): Promise<Set<string>> {
    return new Set(await this.#store.listAgentIds());
  }

  /** Renews an authenticated agent's own SVID over a new CSR. */
  async renewAgent(
    agent: { spiffeId: string; node: string },
    body: unknown,
  ): Promise<AgentSvidResult> {
    const csr = await verifyCsr((body as { csr?: unknown } | null)?.csr, 'csr');
    const svid = await signLeaf(await this.authority(), {
      csr,
      spiffeId: agent.spiffeId,
      ttlSeconds: this.#agentTtl,
      now: this.#now(),
    });
    const prev = await this.#store.getAgent(agent.spiffeId);
    // Revoked while this request was in flight: renewing would bring the agent back.
    if (!prev) throw new CaError('CA_AGENT_PROOF', `${agent.spiffeId} was revoked`);
    await this.#store.upsertAgent({
      spiffeId: agent.spiffeId,
      node: agent.node,
      attestedBy: prev.attestedBy,
      serial: svid.serial,
      expiresAt: svid.notAfter,
      lastSeen: this.#now(),
    });
    return {
      spiffeId: agent.spiffeId,
      node: agent.node,
      chain: svid.chain,
      expiresAt: svid.notAfter,
      bundle: await this.trustBundlePem(),
    };
  }

  /** The entries an agent serves, with the current bundles. */
  async agentSync(agent: { node: string }): Promise<{
    entries: RegistrationEntry[];
    bundle: string;
    jwtBundle: { keys: JsonWebKey[] };
  }> {
    const authority = await this.authority();
    return {
      // Entries of another trust domain (a store shared across a trust-domain change) are not
      // this CA's to serve.
      entries: (await this.#store.listEntries({ node: agent.node })).filter((e) =>
        e.spiffeId.startsWith(`spiffe://${this.trustDomain}/`),
      ),
      bundle: trustBundlePem(authority),
      jwtBundle: jwtBundle(authority),
    };
  }

  /**
   * Signs X.509-SVIDs for an agent's entries: body `{ csrs: [{ entryId, csr }] }`. Only entries of
   * the agent's own node are signed; the SPIFFE ID and TTL come from the entry, never the CSR.
   */
  async issueForAgent(
    agent: { node: string },
    body: unknown,
  ): Promise<{ svids: (IssuedX509Svid & { entryId: string })[]; bundle: string }> {
    const csrs = (body as { csrs?: unknown } | null)?.csrs;
    if (!Array.isArray(csrs) || csrs.length === 0 || csrs.length > 100) {
      throw new CaError('CA_BAD_REQUEST', 'csrs: expected 1 to 100 { entryId, csr } items', {
        field: 'csrs',
      });
    }
    const authority = await this.authority();
    const svids: (IssuedX509Svid & { entryId: string })[] = [];
    for (let i = 0; i < csrs.length; i++) {
      const item = csrs[i] as { entryId?: unknown; csr?: unknown } | null;
      const entry =
        typeof item?.entryId === 'string' ? await this.#store.getEntry(item.entryId) : undefined;
      if (!entry || entry.node !== agent.node) {
        throw new CaError(
          'CA_NOT_AUTHORIZED',
          `csrs[${i}].entryId: no such entry for node ${agent.node}`,
          {
            field: `csrs[${i}].entryId`,
          },
        );
      }
      const csr = await verifyCsr(item!.csr, `csrs[${i}].csr`);
      const svid = await issueX509Svid(authority, {
        csr,
        spiffeId: entry.spiffeId,
        ttlSeconds: entry.ttlSeconds,
        ...(entry.dnsNames ? { dnsNames: entry.dnsNames } : {}),
        now: this.#now(),
      });
      svids.push({ ...svid, entryId: entry.id });
    }
    return { svids, bundle: trustBundlePem(authority) };
  }

  /** Signs a JWT-SVID for one of the agent's entries: body `{ entryId, audience: [..] }`. */
  async jwtForAgent(
    agent: { node: string },
    body: unknown,
  ): Promise<{ spiffeId: string; token: string; expiresAt: number }> {
    const b = body as { entryId?: unknown; audience?: unknown } | null;
    const entry =
      typeof b?.entryId === 'string' ? await this.#store.getEntry(b.entryId) : undefined;
    if (!entry || entry.node !== agent.node) {
      throw new CaError('CA_NOT_AUTHORIZED', `entryId: no such entry for node ${agent.node}`, {
        field: 'entryId',
      });
    }
    const { token, expiresAt } = await signJwtSvid(await this.authority(), {
      spiffeId: entry.spiffeId,
      audience: b!.audience as string[],
      ttlSeconds: entry.jwtTtlSeconds,
      now: this.#now(),
    });
    return { spiffeId: entry.spiffeId, token, expiresAt };
  }
}
