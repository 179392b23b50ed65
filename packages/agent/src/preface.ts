/**
 * One socket, two protocols: gRPC (HTTP/2) for the Workload API and HTTP/1.1 for the local
 * decision API. A connection is told apart by its first bytes: an HTTP/2 client opens with the
 * fixed preface `PRI * HTTP/2.0…` (RFC 9113 §3.4), which no HTTP/1.1 request line starts with.
 */
import type { Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0');

/**
 * Reads `socket` (paused, peer already identified) until its first bytes tell, then hands it
 * over with those bytes: to `http2` (bytes put back with `unshift`, which the HTTP/2 session
 * reads first) or to `http1` (called with them: node:http reads the socket's handle directly,
 * so it must be given them as a `data` event after it took the socket).
 */
export function routeByPreface(
  socket: Socket,
  http2: () => void,
  http1: (first: Buffer) => void,
): void {
  let seen: Buffer | undefined;
  const onData = (chunk: Buffer) => {
    seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const isHttp2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isHttp2 && n < PREFACE.length) return; // a prefix of the preface so far: read on
    socket.off('data', onData);
    if (isHttp2) {
      socket.pause();
      socket.unshift(seen);
      http2();
    } else {
      http1(seen);
    }
  };
  socket.on('data', onData);
  socket.resume();
}
