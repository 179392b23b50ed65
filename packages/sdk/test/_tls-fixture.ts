import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM key and certificate. */
export interface KeyPair {
  key: string;
  cert: string;
}

export interface TlsFixture {
  ca: string;
  server: KeyPair;
  /** Client certificates by name, each with URI SAN `spiffe://ward.test/ns/shop/sa/<name>`. */
  clients: Record<string, KeyPair>;
  /** A client certificate for `frontend` from a CA the server does not trust. */
  rogue: KeyPair;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/**
 * Real X.509 material made by the real openssl CLI: a CA, a server certificate for 127.0.0.1 and
 * SPIFFE client certificates (ECDSA P-256, one URI SAN), plus one from an untrusted CA.
 */
export function makeTlsFixture(clientNames: string[]): TlsFixture {
  const dir = mkdtempSync(join(tmpdir(), 'ward-mw-tls-'));
  try {
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    const makeCa = (name: string) =>
      openssl(dir, [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign',
      ]);
    const issue = (name: string, ca: string, san: string, usage: string) => {
      openssl(dir, [
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${name}`,
      ]);
      writeFileSync(
        join(dir, `${name}.ext`),
        `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${usage}\nsubjectAltName=${san}\n`,
      );
      openssl(dir, [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.crt`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
      ]);
      return { key: read(`${name}.key`), cert: read(`${name}.crt`) };
    };
    makeCa('ca');
    makeCa('rogue-ca');
    const server = issue(
      'server',
      'ca',
      'IP:127.0.0.1,DNS:localhost,URI:spiffe://ward.test/ns/shop/sa/orders',
      'serverAuth,clientAuth',
    );
    const clients: Record<string, KeyPair> = {};
    for (const name of clientNames) {
      clients[name] = issue(name, 'ca', `URI:spiffe://ward.test/ns/shop/sa/${name}`, 'clientAuth');
    }
    const rogue = issue(
      'rogue',
      'rogue-ca',
      'URI:spiffe://ward.test/ns/shop/sa/frontend',
      'clientAuth',
    );
    return { ca: read('ca.crt'), server, clients, rogue };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
