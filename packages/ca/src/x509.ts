/**
 * One place that loads @peculiar/x509 and binds it to Node's WebCrypto, so every module of this
 * package signs and verifies with the same provider.
 */
import { createRequire } from 'node:module';
import type * as X509 from '@peculiar/x509';
import { withGlobalsRestored } from './global-guard.ts';

// @peculiar/x509 registers its algorithms in tsyringe's container when it loads, and tsyringe
// insists on a `Reflect.getMetadata` polyfill then; its CommonJS helper library (tslib) also
// copies `__decorate` & co. onto the global object. Neither is needed afterwards (x509 declares
// no constructor parameters, and its code calls tslib's helpers through the module), so it is
// loaded synchronously with a private metadata store in place and every global it added is then
// removed: importing `@ward/ca` leaves `globalThis` and `Reflect` as it found them.
const x509: typeof X509 = withGlobalsRestored(() =>
  createRequire(import.meta.url)('@peculiar/x509'),
);
x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

/** A random positive 128-bit serial number, hex (RFC 5280 §4.1.2.2: ≤ 20 octets, positive). */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

/** PEM of a certificate, newline-terminated so that PEMs concatenate into valid bundles. */
export function pemOf(cert: X509.X509Certificate): string {
  const pem = cert.toString('pem');
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
