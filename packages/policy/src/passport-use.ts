/**
 * Which services need passport keys. Keys are a credential (an HMAC key can mint), so a bundle
 * carries them only to a service that uses them: one whose rules read `passport` in a `when`
 * condition, or whose Service document declares `spec.passport.mint` or `.verify`. Reading is
 * decided on the parsed CEL (an identifier `passport` anywhere in the tree), never by searching
 * the text, so `"passport"` in a string literal or a header name does not count.
 */
import { celEnvironment } from './cel.ts';
import type { IntentionDocument, ServiceDocument } from './types.ts';

/** The zone of services that do not name one. */
export const DEFAULT_PASSPORT_ZONE = 'default';

/** Default largest `exp - iat` a verifying service accepts, seconds. */
export const DEFAULT_PASSPORT_MAX_LIFETIME_SEC = 3600;

/** What a service's bundle needs for passports. */
export interface PassportUse {
  zone: string;
  /** Carries the zone's signing key(s). */
  mint: boolean;
  /** Carries the zone's verification keys. */
  verify: boolean;
  maxLifetimeSec: number;
}

interface CelNode {
  op?: unknown;
  args?: unknown;
}

function mentionsPassport(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false;
  if (Array.isArray(node)) return node.some(mentionsPassport);
  const n = node as CelNode;
  if (n.op === 'id') return n.args === 'passport';
  if (n.op === 'value') return false;
  return mentionsPassport(n.args);
}

/** Whether a CEL condition reads `passport`; a condition that does not parse counts as reading. */
export function conditionReadsPassport(when: string): boolean {
  let ast: unknown;
  try {
    ast = (celEnvironment().parse(when) as unknown as { ast?: unknown }).ast;
  } catch {
    return true;
  }
  return ast === undefined || mentionsPassport(ast);
}

/** Whether any rule of these intentions reads `passport`. */
export function intentionsReadPassport(intentions: readonly IntentionDocument[]): boolean {
  return intentions.some((i) =>
    i.spec.rules.some((r) => r.when !== undefined && conditionReadsPassport(r.when)),
  );
}

/**
 * The passport needs of the destination `service` from its own Service document (if any) and the
 * intentions on it.
 *
 * @example
 * passportUse(ordersService, ordersIntentions) // { zone: 'default', mint: false, verify: true, … }
 */
export function passportUse(
  service: ServiceDocument | undefined,
  intentions: readonly IntentionDocument[],
): PassportUse {
  const declared = service?.spec.passport ?? {};
  const mint = declared.mint === true;
  return {
    zone: declared.zone ?? DEFAULT_PASSPORT_ZONE,
    mint,
    verify: mint || declared.verify === true || intentionsReadPassport(intentions),
    maxLifetimeSec: declared.maxLifetimeSec ?? DEFAULT_PASSPORT_MAX_LIFETIME_SEC,
  };
}
