export { PassportError, type PassportErrorCode } from './errors.ts';
export {
  DEFAULT_CLOCK_SKEW_SEC,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_LIFETIME_SEC,
  KID_PATTERN,
  PASSPORT_VERSION,
  PASSPORT_VERSION_ED25519,
  type PassportAlg,
  zoneAudience,
} from './format.ts';
export {
  generatePassportKeyMaterial,
  keyringFromBundleKeys,
  MIN_KEY_BYTES,
  PassportKey,
  type PassportKeyInit,
  PassportKeyring,
} from './keyring.ts';
export {
  DEFAULT_TTL_SEC,
  type MintClaims,
  type MintPassportOptions,
  mintPassport,
} from './mint.ts';
export {
  createPassportVerifier,
  PassportVerifier,
  type PassportVerifierOptions,
} from './verifier.ts';
export { type VerifyPassportOptions, verifyPassport } from './verify.ts';
