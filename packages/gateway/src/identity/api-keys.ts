/**
 * API keys for machine clients. Documents hold only the SHA-256 of each key; the key a request
 * presents is hashed and looked up among those hashes.
 *
 * Timing: the lookup is a Map keyed by the hex digest, whose string comparison may end early.
 * That leaks, at most, how many leading hex digits of SHA-256(presented key) match a configured
 * hash; learning a prefix of the hash of a key the attacker chose says nothing about the hash of
 * the real key's preimage, since SHA-256 is preimage-resistant and the configured keys are
 * random. The final comparison is timingSafeEqual over the digests anyway, so the equality
 * decision itself never branches on secret bytes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { GatewayApiKey } from '@ward/policy';
import type { Principal } from '../contracts.ts';
import { GatewayError } from '../errors.ts';
import { jsonValue, MAX_ATTRS_BYTES, MAX_SUBJECT_LENGTH } from './claims.ts';

const ID = /^[a-z0-9-]{1,63}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

interface Entry {
  digest: Buffer;
  principal: Principal;
}

export interface ApiKeyVerifier {
  /** @throws GatewayError `GATEWAY_UNAUTHENTICATED` when the key matches no configured hash. */
  verify(key: string): Principal;
}

const configInvalid = (message: string): GatewayError<'GATEWAY_CONFIG_INVALID'> =>
  new GatewayError('GATEWAY_CONFIG_INVALID', `Gateway spec.apiKeys: ${message}`);

export function createApiKeyVerifier(apiKeys: GatewayApiKey[]): ApiKeyVerifier {
  if (!Array.isArray(apiKeys))
    throw new TypeError('createApiKeyVerifier: apiKeys must be an array');
  const byDigest = new Map<string, Entry>();
  const ids = new Set<string>();
  for (const apiKey of apiKeys) {
    if (apiKey === null || typeof apiKey !== 'object')
      throw configInvalid('each entry must be an object');
    const { id, sha256, subject, attrs } = apiKey;
    if (typeof id !== 'string' || !ID.test(id))
      throw configInvalid('id must match [a-z0-9-]{1,63}');
    if (ids.has(id)) throw configInvalid(`${id} is listed twice`);
    const hex = typeof sha256 === 'string' ? sha256.toLowerCase() : '';
    if (!SHA256_HEX.test(hex)) throw configInvalid(`${id}: sha256 must be 64 hex digits`);
    if (byDigest.has(hex)) throw configInvalid(`${id}: the same key hash is configured twice`);
    if (typeof subject !== 'string' || subject === '' || subject.length > MAX_SUBJECT_LENGTH) {
      throw configInvalid(
        `${id}: subject must be a non-empty string of at most ${MAX_SUBJECT_LENGTH}`,
      );
    }
    const copied = jsonValue(attrs ?? {});
    if (copied === null || typeof copied !== 'object' || Array.isArray(copied)) {
      throw configInvalid(`${id}: attrs must be a JSON object`);
    }
    if (Buffer.byteLength(JSON.stringify(copied)) > MAX_ATTRS_BYTES) {
      throw configInvalid(`${id}: attrs exceed ${MAX_ATTRS_BYTES} bytes`);
    }
    ids.add(id);
    byDigest.set(hex, {
      digest: Buffer.from(hex, 'hex'),
      principal: Object.freeze({
        kind: 'apiKey',
        subject,
        attrs: copied as Record<string, unknown>,
        apiKeyId: id,
      }) as Principal,
    });
  }

  return {
    verify(key) {
      const digest = createHash('sha256').update(key, 'utf8').digest();
      const entry = byDigest.get(digest.toString('hex'));
      if (entry === undefined || !timingSafeEqual(entry.digest, digest)) {
        throw new GatewayError('GATEWAY_UNAUTHENTICATED', 'the API key is not valid');
      }
      // A fresh object per request: the pipeline may add to it; the configured one stays intact.
      return { ...entry.principal, attrs: structuredClone(entry.principal.attrs) };
    },
  };
}
