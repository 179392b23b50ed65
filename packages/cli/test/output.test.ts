import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { guardOutput, sanitizeOutput, trustedOutput, writeRaw } from '../src/output.ts';

const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('terminal-safe output', () => {
  it('property: no control or bidi character survives, and JSON output still parses to the same value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const out = sanitizeOutput(text);
        expect(out).not.toMatch(UNSAFE);
        const json = sanitizeOutput(JSON.stringify({ text }, null, 2));
        expect(JSON.parse(json)).toEqual({ text });
      }),
      { numRuns: 500 },
    );
  });

  it('keeps newlines, tabs and ordinary text; escapes ESC, CR, C1 and bidi overrides visibly', () => {
    expect(sanitizeOutput('a\tb\nc — ü 日本')).toBe('a\tb\nc — ü 日本');
    expect(sanitizeOutput('\u001b[2J\r\u009b\u202e\u2066x')).toBe(
      '\\u001b[2J\\u000d\\u009b\\u202e\\u2066x',
    );
  });

  it('guards every write of a stream, Buffers split mid-character included, until restored', () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    let seen = '';
    (stream as unknown as PassThrough).on('data', (c: Buffer) => {
      seen += c.toString('utf8');
    });
    const restore = guardOutput([stream]);
    stream.write('x\u001b]8;;u\u0007y\n');
    const bidi = Buffer.from('\u202e', 'utf8');
    stream.write(bidi.subarray(0, 1));
    stream.write(bidi.subarray(1));
    writeRaw(stream, '\r\u001b[K'); // the CLI's own progress-bar controls pass
    trustedOutput(stream).write('\u001b[36m'); // and the demo's own colors
    restore();
    stream.write('\u001b'); // restored: the stream is the caller's again
    expect(seen).toBe('x\\u001b]8;;u\\u0007y\n\\u202e\r\u001b[K\u001b[36m\u001b');
  });
});
