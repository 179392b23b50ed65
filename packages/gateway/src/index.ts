/**
 * `ward gateway`, the edge: external identity (OIDC bearer tokens, API keys) in, passports out,
 * policy at the edge, rate limits, request hygiene and mTLS upstreams through the SDK's client.
 */
export { GatewayError, type GatewayErrorCode } from './errors.ts';
