/**
 * Request bodies within the gateway's limit: buffered (for JSON Schema validation) or streamed
 * through a counter. Both refuse a body past `maxBytes` whether or not it declared its length.
 */
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import { GatewayError } from '../errors.ts';

export const tooLarge = (maxBytes: number): GatewayError<'GATEWAY_BAD_REQUEST'> =>
  new GatewayError('GATEWAY_BAD_REQUEST', `the request body is larger than ${maxBytes} bytes`);

/** True when the request has a body (a length above 0, or chunked framing). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** Reads the whole body; rejects with a 413-kind GatewayError past `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** A pass-through that fails with a 413-kind GatewayError once more than `maxBytes` went by. */
export function limitStream(maxBytes: number): Transform {
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > maxBytes) callback(tooLarge(maxBytes));
      else callback(null, chunk);
    },
  });
}

/** `application/json` or `application/*+json`, parameters ignored. */
export function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}
