/**
 * OpenID Connect Discovery, just enough to find an issuer's `jwks_uri`. The document comes from
 * the network, so it is read with a deadline and a size bound, and its `issuer` must equal the
 * configured one exactly (OpenID Connect Discovery 1.0, section 4.3): a document that names
 * another issuer could point us at someone else's keys.
 */

/** Discovery documents are a few KiB; anything much larger is not one. */
const MAX_DOCUMENT_BYTES = 256 * 1024;

/** The `jwks_uri` of `issuer`. Throws (plain Error, message without secrets) on any failure. */
export async function discoverJwksUri(issuer: string, timeoutMs: number): Promise<URL> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url, {
    headers: { accept: 'application/json' },
    redirect: 'error',
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`discovery answered HTTP ${response.status}`);
  }
  const text = await readBounded(response, MAX_DOCUMENT_BYTES);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new Error('discovery document is not JSON');
  }
  if (document === null || typeof document !== 'object')
    throw new Error('discovery document is not an object');
  const { issuer: named, jwks_uri: jwksUri } = document as { issuer?: unknown; jwks_uri?: unknown };
  if (named !== issuer) throw new Error('discovery document names another issuer');
  if (typeof jwksUri !== 'string') throw new Error('discovery document has no jwks_uri');
  return checkJwksUri(issuer, jwksUri);
}

/** A JWKS URL for `issuer`: http(s), and https whenever the issuer is https (no downgrade). */
export function checkJwksUri(issuer: string, jwksUri: string): URL {
  let url: URL;
  try {
    url = new URL(jwksUri);
  } catch {
    throw new Error('jwks_uri is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new Error('jwks_uri is not http(s)');
  if (issuer.startsWith('https:') && url.protocol !== 'https:')
    throw new Error('jwks_uri downgrades to http');
  return url;
}

async function readBounded(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw new Error(`discovery document larger than ${limit} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body === null) return '';
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > limit) throw new Error(`discovery document larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
