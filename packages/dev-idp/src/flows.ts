/**
 * The client side of the dev IdP: obtains tokens the way a real application does, over HTTP
 * against the provider's own endpoints (authorization code + PKCE for users, client credentials
 * for machines), so a token from `userToken` went through the same code as one from a browser.
 */
import { createHash, randomBytes } from 'node:crypto';

/** The endpoints of the discovery document the flows use. */
export interface Endpoints {
  authorization: string;
  token: string;
}

/** Cookies by name, for one flow (no paths or domains: one issuer, one flow, then dropped). */
class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';', 1)[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      // An expired cookie (the provider clears `_interaction` after use) is a deletion.
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

const MAX_REDIRECTS = 10;

/** Runs the authorization code + PKCE flow for `loginHint`; the provider's interaction signs it in. */
export async function authorizationCodeFlow(options: {
  endpoints: Endpoints;
  clientId: string;
  redirectUri: string;
  scope: string;
  resource: string;
  loginHint: string;
}): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL(options.endpoints.authorization);
  for (const [name, value] of Object.entries({
    client_id: options.clientId,
    response_type: 'code',
    redirect_uri: options.redirectUri,
    scope: options.scope,
    resource: options.resource,
    login_hint: options.loginHint,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    prompt: 'login consent',
  })) {
    authorize.searchParams.set(name, value);
  }

  const jar = new CookieJar();
  let next = authorize.href;
  let code: string | undefined;
  for (let hop = 0; hop < MAX_REDIRECTS && code === undefined; hop++) {
    const response = await fetch(next, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.store(response);
    const location = response.headers.get('location');
    await response.body?.cancel();
    if (response.status < 300 || response.status >= 400 || location === null) {
      throw new Error(
        `authorization flow stopped at ${new URL(next).pathname} with HTTP ${response.status}`,
      );
    }
    const target = new URL(location, next);
    if (target.href.startsWith(options.redirectUri)) {
      const error = target.searchParams.get('error');
      if (error !== null) throw new Error(`authorization refused: ${error}`);
      if (target.searchParams.get('state') !== state)
        throw new Error('authorization answered another state');
      code = target.searchParams.get('code') ?? undefined;
      if (code === undefined) throw new Error('authorization answered no code');
    }
    next = target.href;
  }
  if (code === undefined) throw new Error('authorization flow did not reach the redirect URI');

  return tokenRequest(options.endpoints.token, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: options.redirectUri,
    code_verifier: verifier,
    client_id: options.clientId,
  });
}

/** The client credentials grant for a confidential client (client_secret_basic). */
export function clientCredentialsFlow(options: {
  endpoints: Endpoints;
  clientId: string;
  clientSecret: string;
  scope: string;
  resource: string;
}): Promise<string> {
  const basic = Buffer.from(
    `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
  ).toString('base64');
  return tokenRequest(
    options.endpoints.token,
    { grant_type: 'client_credentials', scope: options.scope, resource: options.resource },
    `Basic ${basic}`,
  );
}

async function tokenRequest(
  endpoint: string,
  form: Record<string, string>,
  authorization?: string,
): Promise<string> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (authorization !== undefined) headers.authorization = authorization;
  const response = await fetch(endpoint, {
    method: 'POST',
    headers,
    body: new URLSearchParams(form).toString(),
  });
  const body = (await response.json()) as { access_token?: unknown; error?: unknown };
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new Error(
      `token endpoint answered HTTP ${response.status} (${String(body.error ?? 'no token')})`,
    );
  }
  return body.access_token;
}
