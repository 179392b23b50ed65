/**
 * Body parsers for the ingest routes: JSON or protobuf, optionally `Content-Encoding: gzip`.
 *
 * The route's `bodyLimit` bounds the bytes on the wire; the decoded size is bounded separately
 * (`maxOutputLength`), so a small gzip bomb is refused with 413 instead of inflating in memory.
 * Registered inside the ingest plugins' own Fastify contexts only: other routes keep Fastify's
 * defaults.
 */
import { isUtf8 } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServerError } from '../errors.ts';

/** Decodes `Content-Encoding` (identity or gzip) with a bound on the decoded size. */
export function decodeBody(request: FastifyRequest, body: Buffer, maxDecodedBytes: number): Buffer {
  const header = request.headers['content-encoding'];
  const encoding = (Array.isArray(header) ? header.join(',') : (header ?? 'identity'))
    .trim()
    .toLowerCase();
  if (encoding === '' || encoding === 'identity') return body;
  if (encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new ServerError(
      'API_UNSUPPORTED_MEDIA_TYPE',
      `Content-Encoding ${encoding} is not supported; send gzip or none`,
      {
        errors: [{ field: 'headers.content-encoding', message: 'must be gzip or absent' }],
      },
    );
  }
  try {
    return gunzipSync(body, { maxOutputLength: maxDecodedBytes });
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ServerError(
        'API_PAYLOAD_TOO_LARGE',
        `the decompressed body exceeds ${maxDecodedBytes} bytes`,
        {
          errors: [
            { field: 'body', message: `decompresses to more than ${maxDecodedBytes} bytes` },
          ],
          cause,
        },
      );
    }
    throw new ServerError('API_MALFORMED_BODY', 'the body is not valid gzip', {
      errors: [
        {
          field: 'body',
          message: `Content-Encoding is gzip but the body does not inflate: ${(cause as Error).message}`,
        },
      ],
      cause,
    });
  }
}

/**
 * Requests whose JSON body was not valid UTF-8. Such a body is still parsed (bad bytes become
 * U+FFFD) so that its other records count; the records holding a U+FFFD are then refused.
 */
const invalidUtf8 = new WeakSet<FastifyRequest>();

/** True when `request`'s JSON body held bytes that are not UTF-8. */
export function bodyWasInvalidUtf8(request: FastifyRequest): boolean {
  return invalidUtf8.has(request);
}

/** Parses a decoded body as JSON, naming the position of a syntax error. */
export function parseJson(bytes: Buffer, request?: FastifyRequest): unknown {
  if (bytes.length === 0) {
    throw new ServerError('API_MALFORMED_BODY', 'the body is empty but the content type is JSON', {
      errors: [{ field: 'body', message: 'is empty' }],
    });
  }
  if (request !== undefined && !isUtf8(bytes)) invalidUtf8.add(request);
  try {
    // JSON.parse makes `__proto__` an own property, never the prototype; the strict schemas that
    // follow refuse unknown keys, so it cannot reach anything that merges objects.
    return JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new ServerError('API_MALFORMED_BODY', 'the body is not valid JSON', {
      errors: [{ field: 'body', message: (cause as Error).message }],
      cause,
    });
  }
}

/**
 * Replaces the JSON parser of `app`'s context (and adds `extraTypes`, parsed to a Buffer) with
 * parsers that undo gzip first.
 */
export function registerIngestParsers(
  app: FastifyInstance,
  options: { maxDecodedBytes: number; wireLimit: number; bufferTypes?: readonly string[] },
): void {
  // Only these media types: anything else (text/plain included) is a 415, not a schema error.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: options.wireLimit },
    (request, body, done) => {
      try {
        done(
          null,
          parseJson(decodeBody(request, body as Buffer, options.maxDecodedBytes), request),
        );
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );
  if (options.bufferTypes && options.bufferTypes.length > 0) {
    app.addContentTypeParser(
      [...options.bufferTypes],
      { parseAs: 'buffer', bodyLimit: options.wireLimit },
      (request, body, done) => {
        try {
          done(null, decodeBody(request, body as Buffer, options.maxDecodedBytes));
        } catch (error) {
          done(error as Error, undefined);
        }
      },
    );
  }
}
