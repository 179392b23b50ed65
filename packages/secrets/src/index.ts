/**
 * `@ward/secrets`: the pure core of Ward's secrets — names, the timing of versions through
 * rotation, envelope encryption under a key-encryption key, generators and the PostgreSQL
 * statement templates of dynamic credentials. No I/O: the control plane, the agent and the SDK
 * wrap it.
 */

export { checkSecretData, MAX_SECRET_BYTES, MAX_SECRET_FIELDS } from './data.ts';
export {
  openValue,
  rewrapValue,
  type SealedValueV1,
  sealValue,
  secretContext,
} from './envelope.ts';
export { SecretsError, type SecretsErrorCode } from './errors.ts';
export {
  type GeneratorSettings,
  generateValue,
  type KeypairAlgorithm,
  type RandomAlphabet,
} from './generate.ts';
export { KekRing, type KeyEncryptionKey, localKek, parseKekSpec, ringOf } from './kek.ts';
export { isSecretKey, secretKeyOf } from './name.ts';
export {
  creationStatements,
  leaseRoleName,
  MAX_GRANT_LENGTH,
  MAX_GRANTS,
  PG_MAX_IDENTIFIER_BYTES,
  quoteIdent,
  quoteLiteral,
  renderGrants,
  renewStatement,
  revocationStatements,
} from './postgres.ts';
export {
  currentVersion,
  DEFAULT_ACTIVATION_MS,
  DEFAULT_GRACE_MS,
  isValid,
  nextRotation,
  nextTransition,
  planNewVersion,
  type VersionTimes,
  validVersions,
} from './versions.ts';
