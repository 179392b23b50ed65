/**
 * What a token owns, as the server decides it (server/src/auth/tokens.ts `owns`): a team token
 * owns the service keys it names and every service of the namespaces it names. The console only
 * uses this to filter and to disable buttons; the server checks every request itself.
 */
import { canonicalServiceKey, namespaceOfKey } from '@ward/spiffe';
import type { Me } from './api.ts';

export function owns(me: Me, key: string): boolean {
  if (me.scope === 'admin') return true;
  if (me.scope !== 'team') return false;
  return me.services.includes(key) || (me.namespaces ?? []).includes(namespaceOfKey(key));
}

/**
 * The key of an intention's destination: `spec.destination` is relative to the intention's own
 * namespace, which its key (`name`) carries.
 */
export function destinationKey(intentionKey: string, destination: string): string {
  return canonicalServiceKey(destination, namespaceOfKey(intentionKey)) ?? destination;
}
