/**
 * The parts of `Gateway.spec` that external identity reads (docs/gateway.md): a Pick of
 * @ward/policy's GatewayDocument, so a whole validated spec is one.
 */
import type { GatewayDocument } from '@ward/policy';

/** What `createAuthenticator` needs of a Gateway spec. */
export type GatewayIdentitySpec = Pick<GatewayDocument['spec'], 'oidc' | 'apiKeys' | 'passport'>;
