/**
 * HMAC-SHA-256 over ASCII text with the key's pad blocks compressed once, in plain JavaScript.
 *
 * Why not `createHmac`: on Node 26 each `createHmac(...).update(...).digest()` costs about 4 us
 * (OpenSSL 3 fetches and initialises the algorithm per call), and `crypto.hash` one-shots about
 * 1.5 us each, two per HMAC. Verifying a passport hashes ~200 ASCII bytes: with the ipad/opad
 * blocks precompressed per key (RFC 2104 allows any implementation of H), that is 3 to 4
 * compressions, about 1 us here (`npm run bench -- passport` measures the whole verify). Minting
 * still uses `createHmac`, so every round-trip test checks this code against OpenSSL, and a
 * property test compares them directly on random keys and messages.
 *
 * The code has no data-dependent branches or table lookups on secret data; only lengths (which
 * are public) change the control flow.
 */
import { createHash } from 'node:crypto';

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// Scratch shared by every call: HMAC here is synchronous and never re-entered.
const W = new Int32Array(64);
const INNER = new Int32Array(8);

/** The SHA-256 compression function: folds the block in W[0..15] into `state`. */
function compress(state: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!;
    const w2 = W[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

/** SHA-256 states after compressing `key XOR ipad` and `key XOR opad` (RFC 2104). */
export interface HmacPads {
  inner: Int32Array;
  outer: Int32Array;
}

/** Precompresses the pad blocks of an HMAC-SHA-256 key (keys over 64 bytes are hashed first). */
export function precomputePads(key: Uint8Array): HmacPads {
  const k = key.length > 64 ? createHash('sha256').update(key).digest() : key;
  const pads: HmacPads = { inner: new Int32Array(8), outer: new Int32Array(8) };
  for (const [state, pad] of [
    [pads.inner, 0x36],
    [pads.outer, 0x5c],
  ] as const) {
    for (let j = 0; j < 16; j++) {
      let word = 0;
      for (let b = 0; b < 4; b++) word = (word << 8) | ((k[j * 4 + b] ?? 0) ^ pad);
      W[j] = word;
    }
    state.set(IV);
    compress(state);
  }
  W.fill(0);
  return pads;
}

/**
 * HMAC-SHA-256 of the first `end` characters of `text`, written as 8 big-endian words into
 * `out`. Each character is taken as one byte, which is only injective for ASCII: the result is
 * the OR of every character code, and the caller must refuse the text when it exceeds 127.
 * `end` must be below 2^28 so the bit length fits in 32 bits.
 */
export function hmacAscii(pads: HmacPads, text: string, end: number, out: Int32Array): number {
  let seen = 0;
  const state = INNER;
  state.set(pads.inner);
  let p = 0;
  const fullEnd = end - (end & 63);
  while (p < fullEnd) {
    for (let j = 0; j < 16; j++, p += 4) {
      const c0 = text.charCodeAt(p);
      const c1 = text.charCodeAt(p + 1);
      const c2 = text.charCodeAt(p + 2);
      const c3 = text.charCodeAt(p + 3);
      seen |= c0 | c1 | c2 | c3;
      W[j] = (c0 << 24) | (c1 << 16) | (c2 << 8) | c3;
    }
    compress(state);
  }
  // The last partial block, the 0x80 terminator and the length (one or two blocks).
  W.fill(0, 0, 16);
  let j = 0;
  for (; p < end; p++, j++) {
    const c = text.charCodeAt(p);
    seen |= c;
    W[j >> 2]! |= c << (24 - 8 * (j & 3));
  }
  W[j >> 2]! |= 0x80 << (24 - 8 * (j & 3));
  j++;
  if (j > 56) {
    compress(state);
    W.fill(0, 0, 16);
  }
  W[15] = (64 + end) * 8;
  compress(state);

  // Outer hash: opad state, then the 32-byte inner digest as one padded block.
  out.set(pads.outer);
  for (let i = 0; i < 8; i++) W[i] = state[i]!;
  W[8] = 0x80000000;
  W.fill(0, 9, 15);
  W[15] = (64 + 32) * 8;
  compress(out);
  return seen;
}
