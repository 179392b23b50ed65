import type { webcrypto } from 'node:crypto';

// The repository compiles without the DOM lib, so WebCrypto's dictionary types come from Node.
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type JsonWebKey = webcrypto.JsonWebKey;
export type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
