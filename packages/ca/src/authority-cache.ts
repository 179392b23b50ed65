import { type X509Certificate as NodeCert, X509Certificate as NodeX509 } from 'node:crypto';
import {
  type Authority,
  type AuthorityLifetimes,
  type AuthorityStateV1,
  createAuthority,
  openAuthority,
  withNewIntermediate,
  withNewJwtKey,
} from './authority.ts';
import { trustBundleCerts } from './bundle.ts';
import { CaError } from './errors.ts';
import type { SealKey } from './seal.ts';
import type { CaStore } from './store.ts';

/**
 * The unsealed authority of a CA store, shared safely by replicas: created on first use,
 * reopened only when the stored version changed, rotated automatically when due, and rotated on
 * demand with compare-and-set so concurrent rotations never lose a key.
 */
export class AuthorityCache {
  readonly #store: CaStore;
  readonly #sealKey: SealKey;
  readonly #trustDomain: string;
  readonly #lifetimes: AuthorityLifetimes | undefined;
  readonly #now: () => number;
  #cached: { version: number; authority: Authority; roots: NodeCert[] } | undefined;

  constructor(options: {
    store: CaStore;
    sealKey: SealKey;
    trustDomain: string;
    lifetimes: AuthorityLifetimes | undefined;
    now: () => number;
  }) {
    this.#store = options.store;
    this.#sealKey = options.sealKey;
    this.#trustDomain = options.trustDomain;
    this.#lifetimes = options.lifetimes;
    this.#now = options.now;
  }

  /** The current authority and its roots as Node certificates. */
  async current(): Promise<{ version: number; authority: Authority; roots: NodeCert[] }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const stored = await this.#store.loadAuthority();
      if (!stored) {
        const state = await createAuthority({
          trustDomain: this.#trustDomain,
          sealKey: this.#sealKey,
          lifetimes: this.#lifetimes,
          now: this.#now(),
        });
        await this.#store.saveAuthority(state, 0);
        continue; // reload: another replica may have won the race
      }
      if (stored.state.trustDomain !== this.#trustDomain) {
        throw new CaError(
          'CA_BAD_STATE',
          `the stored CA is for trust domain "${stored.state.trustDomain}", not "${this.#trustDomain}"`,
        );
      }
      const now = this.#now();
      const due = dueByDates(stored.state, now, this.#lifetimes?.jwtKeyTtlSeconds ?? 30 * 86400);
      if (due) {
        const next =
          due === 'intermediate'
            ? await withNewIntermediate(stored.state, this.#sealKey, {
                now,
                lifetimes: this.#lifetimes,
              })
            : await withNewJwtKey(stored.state, this.#sealKey, { now, lifetimes: this.#lifetimes });
        await this.#store.saveAuthority(next, stored.version);
        continue;
      }
      if (this.#cached?.version === stored.version) return this.#cached;
      const authority = await openAuthority(stored.state, this.#sealKey, now);
      this.#cached = { version: stored.version, authority, roots: trustBundleCerts(authority) };
      return this.#cached;
    }
    throw new CaError('CA_CONFLICT', 'the CA state kept changing under concurrent updates; retry');
  }

  /**
   * Applies `change` to the stored state with compare-and-set, retrying when another replica
   * changed it meanwhile, and returns the reopened authority.
   */
  async update(
    change: (
      state: AuthorityStateV1,
      ctx: { sealKey: SealKey; now: number; lifetimes: AuthorityLifetimes | undefined },
    ) => Promise<AuthorityStateV1> | AuthorityStateV1,
  ): Promise<Authority> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const stored = await this.#store.loadAuthority();
      if (!stored) {
        await this.current();
        continue;
      }
      const next = await change(stored.state, {
        sealKey: this.#sealKey,
        now: this.#now(),
        lifetimes: this.#lifetimes,
      });
      if (await this.#store.saveAuthority(next, stored.version))
        return (await this.current()).authority;
    }
    throw new CaError('CA_CONFLICT', 'another replica is changing the CA; retry');
  }

  /** Rotates the signing intermediate now. Old SVIDs keep verifying until they expire. */
  async rotateIntermediate(): Promise<{ serial: string; notAfter: number }> {
    const a = await this.update((state, ctx) => withNewIntermediate(state, ctx.sealKey, ctx));
    return { serial: a.intermediate.serialNumber, notAfter: a.intermediate.notAfter.getTime() };
  }

  /** Rotates the JWT-SVID signing key now; the old key stays published until it expires. */
  async rotateJwtKey(): Promise<{ kid: string }> {
    const a = await this.update((state, ctx) => withNewJwtKey(state, ctx.sealKey, ctx));
    return { kid: a.jwtKey.kid };
  }
}

function dueByDates(
  state: AuthorityStateV1,
  now: number,
  jwtKeyTtlSeconds: number,
): 'intermediate' | 'jwt' | undefined {
  const active = state.intermediates.at(-1);
  if (!active) return 'intermediate';
  const c = new NodeX509(active.cert);
  const from = c.validFromDate.getTime();
  const to = c.validToDate.getTime();
  // Rotate once a third of the life remains, so leaves (clamped to the intermediate's notAfter)
  // keep their full TTL and a replica that is down for a while still finds a valid signer.
  if (to - now < (to - from) / 3) return 'intermediate';
  const jwt = state.jwtKeys.at(-1);
  if (!jwt || jwt.notAfter - now < (jwtKeyTtlSeconds * 1000) / 3) return 'jwt';
  return undefined;
}
