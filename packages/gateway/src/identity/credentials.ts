/**
 * Which credential a request carries, read from its headers. Accepted forms:
 * - `Authorization: Bearer <token>` (RFC 6750; scheme case-insensitive): an OIDC access token;
 * - `Authorization: ApiKey <key>` or `X-Api-Key: <key>`: an API key.
 * Two credentials at once (a bearer token and an API key, or an API key twice) are refused
 * rather than picking one: which one wins would otherwise depend on the gateway's code, and a
 * proxy or client adding a second credential is a misconfiguration worth seeing.
 * Every refusal is a GatewayError whose message never includes the credential.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.ts';

/** Bearer tokens longer than this are refused before any parsing (RFC 9068 tokens are ~1 KiB). */
export const MAX_TOKEN_BYTES = 8192;
/** API keys longer than this are refused (keys are random text, typically 32-64 characters). */
export const MAX_API_KEY_BYTES = 512;

export type Credential = { kind: 'bearer'; token: string } | { kind: 'apiKey'; key: string };

/** RFC 6750 b64token (JWTs are base64url segments joined by dots, a subset). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** Visible ASCII without spaces: what an API key may contain. */
const API_KEY = /^[\x21-\x7e]+$/;

const unauthenticated = (reason: string): GatewayError<'GATEWAY_UNAUTHENTICATED'> =>
  new GatewayError('GATEWAY_UNAUTHENTICATED', reason);

/**
 * The one credential in `headers`, or undefined when there is none.
 * @throws GatewayError `GATEWAY_UNAUTHENTICATED` on a malformed, oversized, unsupported or
 *   duplicated credential.
 */
export function readCredential(headers: IncomingHttpHeaders): Credential | undefined {
  const authorization = single(headers.authorization, 'Authorization');
  const apiKeyHeader = single(headers['x-api-key'], 'X-Api-Key');
  let fromAuthorization: Credential | undefined;
  if (authorization !== undefined) fromAuthorization = parseAuthorization(authorization);
  if (apiKeyHeader !== undefined) {
    if (fromAuthorization !== undefined) {
      throw unauthenticated('more than one credential: send either Authorization or X-Api-Key');
    }
    return { kind: 'apiKey', key: checkApiKey(apiKeyHeader.trim()) };
  }
  return fromAuthorization;
}

/**
 * A header Node may hand over as a list must appear once. Node itself keeps only the first of
 * two `Authorization` headers and joins two `X-Api-Key` headers with ", " (which then fails the
 * key syntax): a list only arrives from callers that build headers themselves.
 */
function single(value: string | string[] | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length !== 1) throw unauthenticated(`more than one ${name} header`);
    return value[0];
  }
  return value;
}

function parseAuthorization(value: string): Credential {
  const trimmed = value.trim();
  const space = trimmed.indexOf(' ');
  if (space <= 0)
    throw unauthenticated('malformed Authorization header (expected "<scheme> <credential>")');
  const scheme = trimmed.slice(0, space).toLowerCase();
  const rest = trimmed.slice(space + 1).trim();
  if (scheme === 'bearer') {
    if (rest.length > MAX_TOKEN_BYTES)
      throw unauthenticated(`bearer token longer than ${MAX_TOKEN_BYTES} bytes`);
    if (!B64TOKEN.test(rest)) throw unauthenticated('malformed bearer token');
    return { kind: 'bearer', token: rest };
  }
  if (scheme === 'apikey') return { kind: 'apiKey', key: checkApiKey(rest) };
  throw unauthenticated('unsupported Authorization scheme (use Bearer or ApiKey)');
}

function checkApiKey(key: string): string {
  if (key.length > MAX_API_KEY_BYTES)
    throw unauthenticated(`API key longer than ${MAX_API_KEY_BYTES} bytes`);
  if (!API_KEY.test(key)) throw unauthenticated('malformed API key');
  return key;
}
