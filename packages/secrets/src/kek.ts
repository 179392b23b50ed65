/**
 * Key-encryption keys (KEKs): what wraps each secret version's data key. A KEK is an interface,
 * so a KMS (AWS KMS, Vault Transit, an HSM) can stand in for the local AES key; the control plane
 * keeps a {@link KekRing} — the current KEK, which wraps every new data key, and older ones that
 * still unwrap data keys not yet re-wrapped (rotation without downtime: add the new KEK in front,
 * re-wrap, then drop the old one).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretsError } from './errors.ts';

/** The pluggable KMS interface: wraps and unwraps 256-bit data keys, bound to a context. */
export interface KeyEncryptionKey {
  /** Stable name stored beside every data key it wraps (`kms-2025`, `a`). */
  readonly id: string;
  /** Encrypts `dek`; `context` is authenticated (a wrapped key moved to another row fails). */
  wrap(dek: Uint8Array, context: string): Promise<Uint8Array>;
  /** Reverses {@link wrap}; rejects (any error) on a wrong key, context or altered bytes. */
  unwrap(wrapped: Uint8Array, context: string): Promise<Uint8Array>;
}

const KEK_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * A local KEK: AES-256-GCM under `key32`, random 96-bit IV, `context` as associated data.
 * Wrapped form: IV ‖ ciphertext ‖ tag.
 *
 * @example
 * ```ts
 * const kek = localKek('a', crypto.getRandomValues(new Uint8Array(32)));
 * ```
 */
export function localKek(id: string, key32: Uint8Array): KeyEncryptionKey {
  if (!KEK_ID.test(id)) throw new TypeError('a KEK id is 1..64 characters of [A-Za-z0-9_.-]');
  if (key32.length !== 32) throw new TypeError('a local KEK is 32 bytes');
  const key = Buffer.from(key32);
  return {
    id,
    async wrap(dek, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(`ward-kek/v1/${context}`, 'utf8'));
      const ct = Buffer.concat([cipher.update(dek), cipher.final()]);
      return new Uint8Array(Buffer.concat([iv, ct, cipher.getAuthTag()]));
    },
    async unwrap(wrapped, context) {
      if (wrapped.length < IV_BYTES + TAG_BYTES) throw new Error('wrapped key too short');
      const bytes = Buffer.from(wrapped);
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(`ward-kek/v1/${context}`, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const out = Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return new Uint8Array(out);
    },
  };
}

/** The current KEK and older ones that still unwrap; ids are unique. */
export class KekRing {
  readonly current: KeyEncryptionKey;
  readonly #byId: ReadonlyMap<string, KeyEncryptionKey>;

  constructor(current: KeyEncryptionKey, ...older: KeyEncryptionKey[]) {
    const byId = new Map<string, KeyEncryptionKey>();
    for (const k of [current, ...older]) {
      if (byId.has(k.id)) throw new TypeError(`duplicate KEK id ${k.id}`);
      byId.set(k.id, k);
    }
    this.current = current;
    this.#byId = byId;
  }

  /** The KEK named `id`, or undefined when the ring does not hold it. */
  get(id: string): KeyEncryptionKey | undefined {
    return this.#byId.get(id);
  }

  /** Every id, current first. */
  get ids(): string[] {
    return [...this.#byId.keys()];
  }
}

/** A KEK or a ring: callers that only wrap take either. */
export function ringOf(kek: KeyEncryptionKey | KekRing): KekRing {
  return kek instanceof KekRing ? kek : new KekRing(kek);
}

const KEY_TEXT = /^[A-Za-z0-9+/_-]{43}=?$/;

/**
 * Reads a KEK spec, `id:base64url32[,id:base64url32…]` (the first is current), from an
 * environment variable or a file (`source` names it in errors). Throws SECRETS_BAD_KEK, naming
 * entries by position: the text is key material and never appears in a message.
 *
 * @example
 * ```ts
 * const ring = parseKekSpec(process.env.WARD_SECRETS_KEK ?? '', 'WARD_SECRETS_KEK');
 * ```
 */
export function parseKekSpec(text: string, source: string): KekRing {
  const bad = (message: string): never => {
    throw new SecretsError('SECRETS_BAD_KEK', `${source}: ${message}`, { field: source });
  };
  if (typeof text !== 'string') bad('not text');
  const entries = text
    .trim()
    .split(',')
    .map((e) => e.trim());
  if (entries.length === 0 || entries[0] === '') bad('empty; expected id:base64url-32-bytes');
  if (entries.length > 16) bad('at most 16 keys');
  const keks: KeyEncryptionKey[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    const at = entry.indexOf(':');
    const id = at < 0 ? '' : entry.slice(0, at);
    const keyText = at < 0 ? '' : entry.slice(at + 1);
    if (!KEK_ID.test(id)) {
      bad(`key ${i + 1}: expected id:base64url-32-bytes (id of 1..64 [A-Za-z0-9_.-])`);
    }
    if (seen.has(id)) bad(`key ${i + 1}: duplicate id ${id}`);
    seen.add(id);
    const bytes = KEY_TEXT.test(keyText)
      ? Buffer.from(
          keyText.replace(/=$/, '').replaceAll('+', '-').replaceAll('/', '_'),
          'base64url',
        )
      : undefined;
    if (bytes?.length !== 32) {
      bad(
        `key ${i + 1} (${id}): not 32 bytes of base64url (generate with \`openssl rand -base64 32\`)`,
      );
    }
    keks.push(localKek(id, bytes as Buffer));
  });
  const [current, ...older] = keks;
  return new KekRing(current as KeyEncryptionKey, ...older);
}
