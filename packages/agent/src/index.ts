/**
 * Ward's node agent: attests to the control plane, holds and renews the SVIDs of its node's
 * workloads in memory, and serves them over the SPIFFE Workload API on a Unix socket.
 */
export {
  type AgentOptions,
  type DecideOptions,
  type RunningAgent,
  startAgent,
} from './agent.ts';
export {
  BundleFeed,
  type BundleFeedTiming,
  type HeldBundle,
  parseBundleEvent,
} from './bundle-feed.ts';
export { type AgentIdentity, ControlPlaneClient } from './control-plane.ts';
export {
  BodyProblem,
  type DecideInput,
  MAX_BATCH_BODY,
  MAX_BATCH_INPUTS,
  MAX_DECIDE_BODY,
  parseDecideBatch,
  parseDecideInput,
  parseJson,
} from './decide/body.ts';
export {
  type CheckResponse,
  createExtAuthz,
  DRY_RUN_DENY_HEADER,
  type ExtAuthz,
  type ExtAuthzOptions,
  type HeaderValueOption,
  SERVICE_EXTENSION,
} from './decide/ext-authz.ts';
// Envoy external authorization (ext_authz) over the node's local PDPs
export {
  authorizationService,
  type CallerScope,
  EXT_AUTHZ_LOAD_OPTIONS,
  EXT_AUTHZ_PROTO,
  EXT_AUTHZ_PROTO_ROOT,
  type ExtAuthzTcpServer,
  type ExtAuthzTls,
  extAuthzOnSocket,
  extAuthzService,
  type GrpcService,
  mtlsCallerScope,
  RotatingServerCredentials,
  servicesOf,
  startExtAuthzTcp,
  unixCallerScope,
} from './decide/ext-authz-server.ts';
export { answerOf, type DecideCaller, DecideProblem } from './decide/http.ts';
export { LocalPdps, type LocalPdpsOptions } from './decide/local-pdps.ts';
export { type DecideApi, parseDecideListen, startDecideApi } from './decide/server.ts';
export { AgentError, type AgentErrorCode, type ExtAuthzCode } from './errors.ts';
export { type LeasedSecret, LeaseKeeper, type LeaseKeeperTiming } from './lease-keeper.ts';
export { PeerCredentialReader } from './peer-credential-reader.ts';
export {
  type PeerCredentialSource,
  peerCredentialSource,
} from './peer-credential-source.ts';
export { type PeerCredentials, peerCredentials } from './peer-credentials.ts';
export {
  checkTmpfs,
  renderSecret,
  SecretRenderer,
  TMPFS_MAGIC,
  writeAtomic,
} from './secret-render.ts';
export { type HeldSecret, parseSecretData, parseSecretEvent, SecretStore } from './secret-store.ts';
export { parseSecretTemplates, type SecretTemplate } from './secret-templates.ts';
export { type HeldSvid, SvidManager, type SvidManagerTiming } from './svid-manager.ts';
export { parseAddressMap } from './wire/address-map.ts';
export {
  type Correlated,
  type CorrelateInput,
  correlate,
  endpointKey,
  type SampledEdge,
} from './wire/correlate.ts';
export {
  formatProcNetRow,
  type ProcNetIssue,
  type ProcNetParse,
  type ProcNetSocket,
  parseProcNetTcp,
  TCP_ESTABLISHED,
  TCP_LISTEN,
} from './wire/proc-net.ts';
export { type WireOptions, type WireSample, WireSampler } from './wire/sampler.ts';
export { startWorkloadApi, type WorkloadApiServer } from './workload-api.ts';
