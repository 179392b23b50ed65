/**
 * The Ward control plane: policy administration API, signed per-service bundles, watch streams.
 */

export { SIGNATURE_HEADER as ALERT_SIGNATURE_HEADER } from './alerts/delivery.ts';
export type { AlertMessage } from './alerts/engine.ts';
export {
  type AlertSourceFactory,
  type AlertsPlugin,
  type AlertsPluginOptions,
  alertsPlugin,
  DEFAULT_ALERT_INTERVAL_MS,
} from './alerts/plugin.ts';
export type { AlertInstance, AlertName, AlertSource } from './alerts/types.ts';
export type { ApplyFile, ApplyResult, ApplyResultItem } from './apply/apply.ts';
export type { FieldChange } from './apply/diff.ts';
export { Authenticator } from './auth/authenticator.ts';
export { type Principal, SCOPES, type Scope, type TokenInfo } from './auth/tokens.ts';
export { type CaPluginOptions, caPlugin } from './ca/plugin.ts';
export { type TokenReviewConfig, tokenReviewer } from './ca/token-review.ts';
export { type AnyServerErrorCode, ServerError, type ServerErrorCode } from './errors.ts';
export {
  fleetAlertSources,
  pdpStaleSource,
  svidExpiringSource,
} from './fleet/alert-sources.ts';
export { DEFAULT_FLEET_LIMITS, type FleetLimits } from './fleet/members.ts';
export { type FleetPluginOptions, fleetPlugin } from './fleet/plugin.ts';
export {
  type BuildAppOptions,
  DEFAULT_HTTP_TIMEOUTS,
  type HttpTimeouts,
  type WardPlugin,
} from './http/app.ts';
export { principalOf } from './http/auth-hook.ts';
export type { RouteAuth, WardContext } from './http/context.ts';
export { problemResponses } from './http/schemas.ts';
export { type IngestPluginOptions, ingestPlugin } from './ingest/index.ts';
export { type ResealOptions, type ResealResult, resealAtRest } from './keys/reseal.ts';
export { type ResolvedSealKey, resolveSealKey } from './keys/seal-key.ts';
export { listenMetrics, type MetricsListener } from './metrics/listener.ts';
export { METRICS_CONTENT_TYPE, ServerMetrics } from './metrics/metrics.ts';
export {
  declarationOf,
  durationMs,
  formatDuration,
  type SecretDeclaration,
  type SecretType,
} from './secrets/declaration.ts';
export type { ResolvedKek, SecretsKekOptions } from './secrets/kek-source.ts';
export {
  DEFAULT_ROTATION_CHECK_MS,
  type SecretsPlugin,
  type SecretsPluginOptions,
  secretsPlugin,
} from './secrets/plugin.ts';
export {
  KEPT_VERSIONS,
  SECRET_KIND,
  type SecretStore,
  type SecretValue,
  type SecretWrite,
  type VersionRecord,
} from './secrets/store.ts';
export type { SecretsDatabase } from './secrets/tables.ts';
export {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_PORT,
  DEFAULT_STORE_QUERY_TIMEOUT_MS,
  type RunningServer,
  type ServerTlsOptions,
  type StartServerOptions,
  startServer,
  type TlsListener,
} from './start.ts';
export { appendAudit } from './store/audit.ts';
export type { Dialect } from './store/database.ts';
export type { Database } from './store/schema.ts';
export type { Actor, RevisionEvent, StoredDocument } from './store/store.ts';
export {
  DEFAULT_VULNS_BODY_BYTES,
  NOT_CONFIGURED as VULNS_NOT_CONFIGURED,
  type VulnsData,
  type VulnsPluginOptions,
  vulnsPlugin,
} from './vulns/plugin.ts';
export { API_REACHABILITY, MAX_LOCKFILES } from './vulns/routes.ts';
export { DEFAULT_WATCH_LIMITS, type WatchLimits } from './watch/limits.ts';
