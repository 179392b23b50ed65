import { EventEmitter } from 'node:events';
import {
  certificatesFromPem,
  createCsr,
  exportPrivateKey,
  generateKeyPair,
  type RegistrationEntry,
  validateJwtSvid,
} from '@ward/ca';
import { trustDomainOf } from '@ward/spiffe';
import type { Logger } from 'pino';
import type { AgentIdentity, ControlPlaneClient } from './control-plane.ts';
import { AgentError } from './errors.ts';

/** One workload identity the agent holds for its node. */
export interface HeldSvid {
  entryId: string;
  spiffeId: string;
  hint: string | undefined;
  /** DER, leaf first. */
  chainDer: Buffer[];
  /** PKCS#8 DER; generated here, never leaves the node except to the workload. */
  keyPkcs8: Buffer;
  notAfter: number;
  renewAt: number;
}

/** Timing knobs (tests shorten them). */
export interface SvidManagerTiming {
  /** How often entries are re-synced, ms. Default 5000. */
  syncIntervalMs?: number;
  /** Retry backoff bounds after a failed call, ms. Default 500 … 30000. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** ± fraction of the lifetime added to the half-life renewal point. Default 0.05. */
  jitter?: number;
}

/**
 * Keeps the agent's own SVID and one SVID per registration entry of its node fresh: renews each
 * at half-life (± jitter), keeps serving what it has through control-plane outages, drops an SVID
 * only when it expires. Emits `update` whenever what workloads should see changed.
 */
export class SvidManager extends EventEmitter {
  readonly #client: ControlPlaneClient;
  readonly #log: Logger;
  readonly #timing: Required<SvidManagerTiming>;
  #identity: AgentIdentity;
  #identityRenewAt: number;
  #entries: RegistrationEntry[] = [];
  readonly #svids = new Map<string, HeldSvid>();
  #bundleDer: Buffer[] = [];
  #jwtBundle: { keys: JsonWebKey[] } = { keys: [] };
  readonly #jwtCache = new Map<
    string,
    { spiffeId: string; token: string; expiresAt: number; renewAt: number }
  >();
  #timer: NodeJS.Timeout | undefined;
  #nextSyncAt = 0;
  #failures = 0;
  #stopped = false;
  #running: Promise<void> | undefined;

  constructor(options: {
    client: ControlPlaneClient;
    identity: AgentIdentity;
    bundlePem: string;
    logger: Logger;
    timing?: SvidManagerTiming;
  }) {
    super();
    this.#client = options.client;
    this.#log = options.logger;
    this.#timing = {
      syncIntervalMs: 5000,
      minBackoffMs: 500,
      maxBackoffMs: 30_000,
      jitter: 0.05,
      ...options.timing,
    };
    this.#identity = options.identity;
    this.#identityRenewAt = this.#renewPoint(Date.now(), options.identity.expiresAt);
    this.#bundleDer = certificatesFromPem(options.bundlePem);
  }

  get identity(): AgentIdentity {
    return this.#identity;
  }
  get trustDomain(): string {
    return trustDomainOf(this.#identity.spiffeId);
  }
  get entries(): readonly RegistrationEntry[] {
    return this.#entries;
  }
  get bundleDer(): readonly Buffer[] {
    return this.#bundleDer;
  }
  get jwtBundle(): { keys: JsonWebKey[] } {
    return this.#jwtBundle;
  }
  /** The SVID currently held for an entry, if any and unexpired. */
  svid(entryId: string): HeldSvid | undefined {
    const s = this.#svids.get(entryId);
    return s && s.notAfter > Date.now() ? s : undefined;
  }

  /** Runs the first sync and issuance, then keeps everything fresh in the background. */
  async start(): Promise<void> {
    await this.#tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #renewPoint(receivedAt: number, notAfter: number): number {
    // Half-life from when we received it (not notBefore, which the CA backdates), ± jitter so a
    // fleet started together does not renew together.
    const life = notAfter - receivedAt;
    return receivedAt + life * (0.5 + (Math.random() * 2 - 1) * this.#timing.jitter);
  }

  #schedule(): void {
    if (this.#stopped) return;
    const now = Date.now();
    let next =
      this.#failures > 0
        ? now +
          Math.min(this.#timing.maxBackoffMs, this.#timing.minBackoffMs * 2 ** (this.#failures - 1))
        : this.#nextSyncAt;
    next = Math.min(next, this.#identityRenewAt);
    for (const s of this.#svids.values()) next = Math.min(next, s.renewAt, s.notAfter);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), Math.max(50, next - now));
    this.#timer.unref?.();
  }

  #tick(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = this.#work().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
    return this.#running;
  }

  async #work(): Promise<void> {
    let changed = this.#dropExpired();
    try {
      const now = Date.now();
      if (now >= this.#identityRenewAt) await this.#renewIdentity();
      if (now >= this.#nextSyncAt) {
        changed = (await this.#sync()) || changed;
        this.#nextSyncAt = Date.now() + this.#timing.syncIntervalMs;
      }
      changed = (await this.#issueDue()) || changed;
      this.#failures = 0;
    } catch (error) {
      this.#failures++;
      this.#log.warn(
        { err: error instanceof Error ? error.message : String(error), failures: this.#failures },
        'control plane call failed; serving cached SVIDs until they expire',
      );
      if (this.#identity.expiresAt <= Date.now()) {
        this.#log.error(
          'the agent SVID expired during the outage: re-attest the agent with a new join token',
        );
      }
    }
    if (changed) this.emit('update');
  }

  #dropExpired(): boolean {
    const now = Date.now();
    let changed = false;
    for (const [id, s] of this.#svids) {
      if (s.notAfter <= now) {
        this.#svids.delete(id);
        changed = true;
        this.#log.warn({ spiffeId: s.spiffeId }, 'SVID expired before it could be renewed');
      }
    }
    return changed;
  }

  async #renewIdentity(): Promise<void> {
    const keys = await generateKeyPair();
    const reply = await this.#client.renew(this.#identity, await createCsr(keys));
    this.#identity = {
      ...this.#identity,
      privateKey: keys.privateKey,
      chain: reply.chain,
      expiresAt: reply.expiresAt,
    };
    this.#identityRenewAt = this.#renewPoint(Date.now(), reply.expiresAt);
    this.#log.info({ expiresAt: new Date(reply.expiresAt).toISOString() }, 'agent SVID renewed');
    // The agent's own TLS listeners (ext_authz over TCP) present the renewed certificate.
    this.emit('identity');
  }

  async #sync(): Promise<boolean> {
    const reply = await this.#client.sync(this.#identity);
    let changed = false;
    const bundle = certificatesFromPem(reply.bundle);
    if (!sameDer(bundle, this.#bundleDer)) {
      this.#bundleDer = bundle;
      changed = true;
    }
    this.#jwtBundle = { keys: reply.jwtBundle.keys as JsonWebKey[] };
    const before = JSON.stringify(this.#entries);
    this.#entries = reply.entries;
    if (JSON.stringify(reply.entries) !== before) changed = true;
    const live = new Set(reply.entries.map((e) => e.id));
    for (const id of this.#svids.keys()) {
      if (!live.has(id)) {
        this.#svids.delete(id);
        changed = true;
      }
    }
    return changed;
  }

  async #issueDue(): Promise<boolean> {
    const now = Date.now();
    const due = this.#entries.filter((e) => {
      const s = this.#svids.get(e.id);
      return !s || now >= s.renewAt || s.spiffeId !== e.spiffeId;
    });
    if (due.length === 0) return false;
    const keys = new Map<string, CryptoKeyPair>();
    const csrs: { entryId: string; csr: string }[] = [];
    for (const e of due) {
      const k = await generateKeyPair();
      keys.set(e.id, k);
      csrs.push({ entryId: e.id, csr: await createCsr(k) });
    }
    const reply = await this.#client.issue(this.#identity, csrs);
    const receivedAt = Date.now();
    for (const s of reply.svids) {
      const k = keys.get(s.entryId);
      const entry = this.#entries.find((e) => e.id === s.entryId);
      if (!k || !entry) continue;
      this.#svids.set(s.entryId, {
        entryId: s.entryId,
        spiffeId: s.spiffeId,
        hint: entry.hint,
        chainDer: s.chain.flatMap((p) => certificatesFromPem(p)),
        keyPkcs8: await exportPrivateKey(k.privateKey),
        notAfter: s.notAfter,
        renewAt: this.#renewPoint(receivedAt, s.notAfter),
      });
    }
    this.#bundleDer = certificatesFromPem(reply.bundle);
    this.#log.debug({ count: reply.svids.length }, 'workload SVIDs issued');
    return true;
  }

  /** A JWT-SVID for an entry, signed by the control plane. Throws `AGENT_CONTROL_PLANE`. */
  async fetchJwt(
    entryId: string,
    audience: string[],
  ): Promise<{ spiffeId: string; token: string }> {
    // Cached per entry and audience set until half its life, so busy workloads do not call the
    // control plane per request, and an outage only fails callers once the token has expired.
    const key = `${entryId}\0${[...new Set(audience)].sort().join('\0')}`;
    const now = Date.now();
    const hit = this.#jwtCache.get(key);
    if (hit && now < hit.renewAt) return hit;
    try {
      const fresh = await this.#client.jwt(this.#identity, entryId, audience);
      if (this.#jwtCache.size >= 1000) this.#jwtCache.delete(this.#jwtCache.keys().next().value!);
      this.#jwtCache.set(key, { ...fresh, renewAt: now + (fresh.expiresAt - now) / 2 });
      return fresh;
    } catch (error) {
      if (hit && now < hit.expiresAt - 1000) return hit;
      throw error;
    }
  }

  /** Validates a JWT-SVID against the cached JWT bundle (works during outages). */
  validateJwt(token: string, audience: string) {
    if (this.#jwtBundle.keys.length === 0) {
      throw new AgentError(
        'AGENT_CONTROL_PLANE',
        'no JWT bundle received from the control plane yet',
      );
    }
    return validateJwtSvid(token, this.#jwtBundle, audience);
  }
}

type JsonWebKey = import('node:crypto').webcrypto.JsonWebKey;
type CryptoKeyPair = import('node:crypto').webcrypto.CryptoKeyPair;

function sameDer(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((x, i) => x.equals(b[i]!));
}
