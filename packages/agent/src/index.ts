/**
 * Ward's node agent: attests to the control plane, holds and renews the SVIDs of its node's
 * workloads in memory, and serves them over the SPIFFE Workload API on a Unix socket.
 */
export { type AgentOptions, type RunningAgent, startAgent } from './agent.ts';
export { type AgentIdentity, ControlPlaneClient } from './control-plane.ts';
export { AgentError, type AgentErrorCode } from './errors.ts';
export { PeerCredentialReader } from './peer-credential-reader.ts';
export {
  type PeerCredentialSource,
  peerCredentialSource,
} from './peer-credential-source.ts';
export { type PeerCredentials, peerCredentials } from './peer-credentials.ts';
export { type HeldSvid, SvidManager, type SvidManagerTiming } from './svid-manager.ts';
export { startWorkloadApi, type WorkloadApiServer } from './workload-api.ts';
