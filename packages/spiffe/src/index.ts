/**
 * The one SPIFFE ID check of Ward: parsing and validation of SPIFFE IDs, trust domains and
 * Ward's SPIFFE ID patterns exactly as the SPIFFE-ID standard says, and Ward's default naming
 * convention. Pure: no I/O and no change to globals on import. The Workload API protobuf
 * definition lives at the `@ward/spiffe/workload-api` entry point.
 */
export { defaultSpiffeId, serviceByConvention } from './convention.ts';
export { SpiffeError, type SpiffeErrorCode } from './errors.ts';
export {
  canonicalServiceKey,
  DEFAULT_NAMESPACE,
  isNamespace,
  isServiceKey,
  isServiceName,
  MAX_SERVICE_KEY_LENGTH,
  NAMESPACE_PATTERN,
  namespaceOfKey,
  parseServiceRef,
  SERVICE_NAME_PATTERN,
  SERVICE_REF_PATTERN,
  type ServiceRef,
  serviceKey,
  splitServiceKey,
} from './service-ref.ts';
export {
  isSpiffeId,
  isWorkloadSpiffeId,
  MAX_SPIFFE_ID_BYTES,
  MAX_TRUST_DOMAIN_BYTES,
  parseSpiffeId,
  parseTrustDomain,
  SPIFFE_SCHEME_PREFIX,
  type SpiffeId,
  spiffeIdProblem,
  splitSpiffeId,
  trustDomainOf,
  trustDomainProblem,
} from './spiffe-id.ts';
