import { createHash, type KeyObject, type X509Certificate as NodeCert } from 'node:crypto';

/** What a verified agent chain yields: everything the proof check needs from the chain. */
export interface VerifiedAgentChain {
  readonly spiffeId: string;
  readonly node: string;
  /** The leaf's notAfter (reported to callers), ms. */
  readonly notAfter: number;
  /** The leaf's public key, for the proof's signature. */
  readonly key: KeyObject;
  /** Latest notBefore / earliest notAfter of the chain and its anchoring root, ms. */
  readonly validFrom: number;
  readonly validUntil: number;
}

/**
 * A bounded LRU of agent certificate chains that verified, so the control plane parses and
 * path-validates an agent's X.509 chain once rather than on every request of it (10,000 agents
 * reconnecting cost ~45% of a server's CPU in chain verification alone).
 *
 * What it may and may not skip, and why that is safe:
 * - Key: SHA-256 of the exact `x5c` strings as sent. A hit means byte-identical certificates to
 *   ones that passed full X509-SVID validation; anything else is a miss and is validated fully.
 * - Trust bundle: the cache is bound to one `roots` array (the CA's current trust anchors, a new
 *   array on every change of the stored authority — rotation, root retirement). Any other array
 *   empties it first, so no chain verified under a rotated-out root is ever accepted from here.
 * - Expiry: an entry is only used within its chain's validity window (the latest notBefore and
 *   the earliest notAfter of every certificate, root included); outside it, it is dropped and
 *   the chain is validated again (and so refused as expired).
 * - Only successes are stored, so hostile input cannot fill it with junk; a valid chain is
 *   public, but each needs a certificate the CA issued.
 * - Not skipped: the proof's own checks (signature with the leaf key, method, path, time, `jti`)
 *   run on every request, and callers check revocation after this (`CaService.authenticateAgent`).
 */
export class AgentChainCache {
  readonly #max: number;
  readonly #entries = new Map<string, VerifiedAgentChain>();
  #roots: readonly NodeCert[] | undefined;
  /** Lookups answered from the cache, and those that were not (metrics, tests, bench). */
  hits = 0;
  misses = 0;

  constructor(options: { maxEntries?: number } = {}) {
    this.#max = Math.max(1, options.maxEntries ?? 20_000);
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** The cache key of a chain: SHA-256 over its exact strings (`.` is not base64, so unambiguous). */
  static keyOf(x5c: readonly string[]): string {
    return createHash('sha256').update(x5c.join('.')).digest('base64url');
  }

  /** The verified chain for `key` under `roots` at `now`, or undefined (a miss). */
  get(key: string, roots: readonly NodeCert[], now: number): VerifiedAgentChain | undefined {
    this.#bind(roots);
    const hit = this.#entries.get(key);
    if (!hit) {
      this.misses++;
      return undefined;
    }
    this.#entries.delete(key);
    if (now < hit.validFrom || now >= hit.validUntil) {
      this.misses++;
      return undefined;
    }
    this.#entries.set(key, hit); // most recently used last
    this.hits++;
    return hit;
  }

  /** Remembers a chain that `roots` validated in full. */
  set(key: string, roots: readonly NodeCert[], chain: VerifiedAgentChain): void {
    this.#bind(roots);
    this.#entries.delete(key);
    this.#entries.set(key, chain);
    while (this.#entries.size > this.#max) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
  }

  /** Forgets everything (e.g. a trust-bundle change seen by other means). */
  clear(): void {
    this.#entries.clear();
  }

  #bind(roots: readonly NodeCert[]): void {
    if (roots === this.#roots) return;
    this.#entries.clear();
    this.#roots = roots;
  }
}
