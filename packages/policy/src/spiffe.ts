/**
 * SPIFFE IDs and ID patterns are checked by `@ward/spiffe`, the one implementation of the
 * SPIFFE-ID standard in Ward; re-exported here for the policy engine's callers.
 */
export { defaultSpiffeId, spiffeIdProblem } from '@ward/spiffe';
