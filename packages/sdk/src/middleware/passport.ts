import type { BundlePassportV1, PassportKeyV1 } from '@ward/api-types';
import { createPassportVerifier, keyringFromBundleKeys, zoneAudience } from '@ward/passport';
import type { Decider, PassportVerifier } from './decider.ts';

/** This service does not verify passports (its bundle says so): a passport header is ignored. */
export const IGNORE_PASSPORT = 'ignore';

/** The zone of bundles that predate zones. */
const DEFAULT_ZONE = 'default';

/**
 * The passport verifier to use for each call: the explicit one, else one built over the
 * decider's bundle keys and rebuilt only when the bundle brings a new key array (a PDP swaps its
 * bundle atomically, so array identity is the change signal and the check is one comparison).
 * The built verifier accepts only passports for this service or its zone (`aud`) and no longer
 * than the bundle's `maxLifetimeSec`. `IGNORE_PASSPORT` when the bundle says the service does
 * not verify passports (no rule reads one and it is not declared a verifier or minter: it was
 * given no keys, and a passport could not change any decision).
 */
export function passportVerifierOf(
  decider: Decider,
  explicit: PassportVerifier | undefined,
  service: string,
): () => PassportVerifier | typeof IGNORE_PASSPORT | undefined {
  if (explicit !== undefined) {
    if (typeof explicit.verify !== 'function') {
      throw new TypeError('options.passportVerifier must have a verify(token) method');
    }
    return () => explicit;
  }
  const keysOf = decider.passportKeys?.bind(decider);
  if (keysOf === undefined) return () => undefined;
  const policyOf = decider.passportPolicy?.bind(decider);
  let lastKeys: readonly PassportKeyV1[] | undefined;
  let verifier: PassportVerifier | typeof IGNORE_PASSPORT | undefined;
  return () => {
    const keys = keysOf();
    if (keys !== lastKeys) {
      lastKeys = keys;
      const policy = policyOf?.();
      verifier =
        policy !== undefined && !policy.verify && keys.length === 0
          ? IGNORE_PASSPORT
          : keys.length === 0
            ? undefined
            : verifierForKeys(keys, service, policy);
    }
    return verifier;
  };
}

/**
 * A cached passport verifier over bundle keys (`@ward/passport`) for `service`, or undefined
 * when the bundle's keys are unusable: then every passport is refused (fail closed), never
 * accepted unchecked.
 */
export function verifierForKeys(
  keys: readonly PassportKeyV1[],
  service: string,
  policy?: BundlePassportV1,
): PassportVerifier | undefined {
  try {
    return createPassportVerifier({
      keyring: keyringFromBundleKeys(keys),
      audience: [service, zoneAudience(policy?.zone ?? DEFAULT_ZONE)],
      ...(policy !== undefined ? { maxLifetimeSec: policy.maxLifetimeSec } : {}),
    });
  } catch {
    return undefined;
  }
}
