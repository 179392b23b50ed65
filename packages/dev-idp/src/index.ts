/** A development OpenID provider for the demo and tests (oidc-provider on loopback). */
export {};
