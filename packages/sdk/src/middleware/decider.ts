import type { BundlePassportV1, PassportKeyV1 } from '@ward/api-types';
import type { Decision, DecisionInput, PassportClaims } from '@ward/policy';

/**
 * What the middleware, the egress guard and the decision log need from a policy engine. Both a
 * compiled `PolicySet` (from `@ward/policy`) and a running PDP (from `createPdp`) satisfy it, so
 * the same middleware runs against a fixed policy in tests and a live bundle in production.
 *
 * Only `decide` is required; the optional members let the middleware find passport keys, name
 * the revision in decision logs, and map a SPIFFE ID to a service name from the policy's
 * `Service` documents.
 */
export interface Decider {
  /** Synchronous, in-process decision. Must not throw on any input (the middleware fails closed if it does). */
  decide(input: DecisionInput): Decision;
  /**
   * `decide` for an input whose request is already in canonical form (the middleware's, from
   * `canonicalRequest`): a PDP's `decide` puts hand-written requests in that form first, and this
   * skips the check (one scan of the path per call). Omitted: the middleware calls `decide`.
   */
  decideCanonical?(input: DecisionInput): Decision;
  /** The policy revision decisions are made at (the PDP's bundle revision); omitted means 0. */
  revision?(): number;
  /**
   * Passport verification keys from the bundle. The array is replaced (not mutated) when a new
   * bundle arrives, so its identity tells the middleware when to rebuild its verifier.
   */
  passportKeys?(): readonly PassportKeyV1[];
  /**
   * The bundle's passport settings (zone, lifetime, whether the service verifies at all), read
   * whenever `passportKeys()` returns a new array; undefined for bundles without them.
   */
  passportPolicy?(): BundlePassportV1 | undefined;
  /** Service name declared for a SPIFFE ID by a `Service` document, if any (a PDP). */
  serviceForSpiffeId?(spiffeId: string): string | undefined;
  /** The `Service` a SPIFFE ID belongs to, if any (a compiled `PolicySet`). */
  serviceBySpiffeId?(spiffeId: string): { name: string } | undefined;
}

/**
 * Verifies a compact passport. Throws an error whose `code` starts with `PASSPORT_` for every
 * bad passport (malformed, unknown key, bad signature, expired, not yet valid, too large).
 */
export interface PassportVerifier {
  verify(token: string, now?: number): PassportClaims;
}
