import type { PassportKeyV1 } from '@ward/api-types';
import { createPassportVerifier, keyringFromBundleKeys } from '@ward/passport';
import type { Decider, PassportVerifier } from './decider.ts';

/**
 * The passport verifier to use for each call: the explicit one, else one built over the
 * decider's bundle keys and rebuilt only when the bundle brings a new key array (a PDP swaps its
 * bundle atomically, so array identity is the change signal and the check is one comparison).
 */
export function passportVerifierOf(
  decider: Decider,
  explicit: PassportVerifier | undefined,
): () => PassportVerifier | undefined {
  if (explicit !== undefined) {
    if (typeof explicit.verify !== 'function') {
      throw new TypeError('options.passportVerifier must have a verify(token) method');
    }
    return () => explicit;
  }
  const keysOf = decider.passportKeys?.bind(decider);
  if (keysOf === undefined) return () => undefined;
  let lastKeys: readonly PassportKeyV1[] | undefined;
  let verifier: PassportVerifier | undefined;
  return () => {
    const keys = keysOf();
    if (keys !== lastKeys) {
      lastKeys = keys;
      verifier = keys.length === 0 ? undefined : verifierForKeys(keys);
    }
    return verifier;
  };
}

/**
 * A cached passport verifier over bundle keys (`@ward/passport`), or undefined when the bundle's
 * keys are unusable: then every passport is refused (fail closed), never accepted unchecked.
 */
export function verifierForKeys(keys: readonly PassportKeyV1[]): PassportVerifier | undefined {
  try {
    return createPassportVerifier({ keyring: keyringFromBundleKeys(keys) });
  } catch {
    return undefined;
  }
}
