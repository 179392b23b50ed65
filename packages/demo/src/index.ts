/**
 * The demo that `npm start` (`ward start`) runs: the control plane on its embedded default, a
 * small mesh of real HTTP services on the Ward SDK, a traffic loop, and one new rule in dry-run
 * whose would-be refusals the `ward report` commands show.
 */

export type { BannerInfo } from './banner.ts';
export { type RunningDemo, runDemo } from './demo.ts';
export { type AnyDemoErrorCode, DemoError, type DemoErrorCode } from './errors.ts';
export { DEV_IDENTITY_HEADER } from './identity.ts';
export { MESH, type MeshService, SCRAPE_TARGETS, spiffeIdOf, TRUST_DOMAIN } from './mesh.ts';
export {
  DEFAULT_POLICY_DIR,
  type DemoOptions,
  parseDuration,
  type ResolvedDemoOptions,
} from './options.ts';
