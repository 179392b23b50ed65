/**
 * One place that binds @peculiar/x509 to Node's WebCrypto, so every module of this package
 * signs and verifies with the same provider.
 */
// @peculiar/x509 resolves its providers through tsyringe, which needs the Reflect metadata
// polyfill loaded first (ESM evaluates imports in order).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

/** A random positive 128-bit serial number, hex (RFC 5280 §4.1.2.2: ≤ 20 octets, positive). */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

/** PEM of a certificate, newline-terminated so that PEMs concatenate into valid bundles. */
export function pemOf(cert: x509.X509Certificate): string {
  const pem = cert.toString('pem');
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
