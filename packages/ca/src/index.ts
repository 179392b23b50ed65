/**
 * Ward's SPIFFE certificate authority: an ECDSA P-256 root and signing intermediate with keys
 * sealed at rest, X.509- and JWT-SVID issuance on CSR after attestation, registration entries
 * and selectors, join tokens, Kubernetes PSAT attestation (reading the TokenReview answer), agent
 * proofs, the trust bundle and rotation. Pure: the control plane wires {@link CaService} to its
 * store, its HTTP server and the apiserver; importing this package changes no globals.
 */

/** Moved to `@ward/spiffe/workload-api`; re-exported for existing callers. */
export { WORKLOAD_PROTO_PATH } from '@ward/spiffe/workload-api';
export { AgentChainCache, type VerifiedAgentChain } from './agent-chain-cache.ts';
export {
  AGENT_PROOF_HEADER,
  signAgentProof,
  verifyAgentProof,
} from './agent-proof.ts';
export {
  type Authority,
  type AuthorityLifetimes,
  type AuthorityStateV1,
  createAuthority,
  importAuthority,
  notAfterOf,
  openAuthority,
  withNewIntermediate,
  withNewJwtKey,
} from './authority.ts';
export { jwtBundle, spiffeBundle, trustBundleCerts, trustBundlePem } from './bundle.ts';
export { createCsr, type VerifiedCsr, verifyCsr } from './csr.ts';
export { entriesForWorkload, parseEntryInput, type RegistrationEntry } from './entries.ts';
export { CA_ERROR_STATUS, CaError, type CaErrorCode, isCaError } from './errors.ts';
export {
  type CaRoute,
  type CaRouteAuth,
  type CaRouteReply,
  type CaRouteRequest,
  caProblem,
  caRequestListener,
  caRoutes,
} from './http.ts';
export { generateJoinToken, hashJoinToken, parseJoinToken } from './join-token.ts';
export {
  DEFAULT_JWT_SVID_TTL_SECONDS,
  signJwtSvid,
  validateJwtSvid,
} from './jwt-svid.ts';
export {
  type K8sTokenReviewer,
  parseK8sToken,
  type ReviewedServiceAccount,
  readTokenReview,
  type TokenReviewPolicy,
  tokenReviewRequest,
} from './k8s-attestation.ts';
export { exportPrivateKey, generateKeyPair, importPrivateKey } from './keys.ts';
export { certificatesFromPem, pemBlocks, toPem } from './pem.ts';
export { openEither, resealAuthority } from './reseal.ts';
export { generateSealKey, parseSealKey, type SealKey, seal, unseal } from './seal.ts';
export {
  parseSelector,
  parseSelectors,
  type Selector,
  selectorsMatch,
  unixSelectors,
} from './selectors.ts';
export { type AgentSvidResult, CaService, type CaServiceOptions } from './service.ts';
export {
  AGENT_PATH_PREFIX,
  agentIdOf,
  isSpiffeId,
  nodeOfAgentId,
  parseNodeName,
  parseSpiffeId,
  parseTrustDomain,
  parseWorkloadId,
  type SpiffeId,
} from './spiffe-id.ts';
export { type AgentRecord, type CaStore, type JoinTokenRecord, MemoryCaStore } from './store.ts';
export { type VerifiedX509Svid, verifyX509Svid } from './verify.ts';
export {
  DEFAULT_X509_SVID_TTL_SECONDS,
  type IssuedX509Svid,
  issueX509Svid,
  MAX_X509_SVID_TTL_SECONDS,
  parseTtl,
  signLeaf,
} from './x509-svid.ts';
