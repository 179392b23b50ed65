import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PdpError, type SseEvent, SseParser } from '../src/index.ts';
import { parseWatchEvent } from '../src/pdp/control-plane.ts';

/** Feeds `text` cut at the given offsets and collects every event. */
function parseInPieces(text: string, cuts: number[], parser = new SseParser()): SseEvent[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: SseEvent[] = [];
  let from = 0;
  for (const p of [...points, text.length]) {
    out.push(...parser.feed(text.slice(from, p)));
    from = p;
  }
  return out;
}

const noLineBreak = fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, ''));
const fieldValue = noLineBreak.map((s) => s.replace(/^ /, ''));
const eol = fc.constantFrom('\n', '\r', '\r\n');

describe('SseParser', () => {
  it('parses the stream the control plane sends, heartbeats and all', () => {
    const parser = new SseParser();
    const events = parser.feed(
      ': heartbeat\n\nid: 7\nevent: revision\ndata: {"revision":7,"services":["orders"]}\n\n: heartbeat\n\n',
    );
    expect(events).toEqual([
      { event: 'revision', data: '{"revision":7,"services":["orders"]}', id: '7' },
    ]);
    expect(parser.lastEventId).toBe('7');
    expect(parser.comments).toBe(2);
  });

  it('follows the standard on fields: one space dropped, multi-line data, retry, ids with NUL', () => {
    const parser = new SseParser();
    const events = parser.feed(
      'data:a\ndata:  b\ndata\nretry: 1500\nid: x\0y\n\nevent\ndata: z\nunknown: q\n\n\ufefffoo\n',
    );
    expect(events).toEqual([
      { event: 'message', data: 'a\n b\n', id: '' },
      { event: 'message', data: 'z', id: '' },
    ]);
    expect(parser.retry).toBe(1500);
  });

  it('strips a leading byte-order mark and decodes UTF-8 split inside a character', () => {
    const parser = new SseParser();
    const bytes = Buffer.from('\ufeffdata: é€\n\n', 'utf8');
    const events = [...bytes].flatMap((b) => parser.feedBytes(Uint8Array.of(b)));
    expect(events).toEqual([{ event: 'message', data: 'é€', id: '' }]);
  });

  it('does not dispatch an event without data, and keeps an unfinished event pending', () => {
    const parser = new SseParser();
    expect(parser.feed('event: revision\nid: 3\n\n')).toEqual([]);
    expect(parser.lastEventId).toBe('3');
    expect(parser.feed('data: 1\n')).toEqual([]);
    expect(parser.feed('\n')).toEqual([{ event: 'message', data: '1', id: '3' }]);
  });

  it('refuses a line or an event past its limit with PDP_WATCH_PROTOCOL', () => {
    const long = new SseParser({ maxLineLength: 16 });
    expect(() => long.feed('data: 0123456789abcdef')).toThrow(
      expect.objectContaining({ code: 'PDP_WATCH_PROTOCOL' }),
    );
    const big = new SseParser({ maxEventSize: 10 });
    expect(() => big.feed('data: 12345\ndata: 67890\n')).toThrow(PdpError);
  });

  it('property: events survive any chunking and any line ending', () => {
    const eventArb = fc.record({
      event: fc.option(
        fieldValue.filter((s) => s.length > 0),
        { nil: undefined },
      ),
      id: fc.option(
        fieldValue.filter((s) => !s.includes('\0')),
        { nil: undefined },
      ),
      data: fc.array(fieldValue, { minLength: 1, maxLength: 3 }),
    });
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 6 }),
        eol,
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        (events, nl, cuts, heartbeats) => {
          let text = '';
          let id = '';
          const expected: SseEvent[] = [];
          for (const e of events) {
            if (heartbeats) text += `: heartbeat${nl}${nl}`;
            if (e.event !== undefined) text += `event: ${e.event}${nl}`;
            if (e.id !== undefined) {
              text += `id: ${e.id}${nl}`;
              id = e.id;
            }
            for (const d of e.data) text += `data: ${d}${nl}`;
            text += nl;
            expected.push({ event: e.event ?? 'message', data: e.data.join('\n'), id });
          }
          // A lone CR at the very end of one chunk followed by LF in the next is one line end.
          expect(parseInPieces(text, cuts)).toEqual(expected);
        },
      ),
    );
  });

  it('property: any input, cut anywhere, gives the same events as in one piece, or a coded error', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom(
            'a',
            ':',
            ' ',
            '\n',
            '\r',
            'd',
            'data',
            'id',
            'event',
            '\0',
            '\ufeff',
          ),
        }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (text, cuts) => {
          const whole = new SseParser({ maxLineLength: 64 });
          let expected: SseEvent[] | string;
          try {
            expected = whole.feed(text);
          } catch (error) {
            expect((error as PdpError).code).toBe('PDP_WATCH_PROTOCOL');
            return;
          }
          expect(parseInPieces(text, cuts, new SseParser({ maxLineLength: 64 }))).toEqual(expected);
        },
      ),
    );
  });
});

describe('parseWatchEvent', () => {
  it('accepts a WatchEventV1 and refuses anything else with PDP_WATCH_PROTOCOL', () => {
    expect(parseWatchEvent('{"revision":4,"services":["*"]}')).toEqual({
      revision: 4,
      services: ['*'],
    });
    for (const bad of [
      '',
      'null',
      '{"revision":-1,"services":[]}',
      '{"revision":1.5,"services":[]}',
      '{"revision":1,"services":[1]}',
      '[]',
    ]) {
      expect(parseWatchEvent(bad)).toMatchObject({ code: 'PDP_WATCH_PROTOCOL' });
    }
  });

  it('property: never throws on any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        const result = parseWatchEvent(text);
        expect(result instanceof PdpError || Number.isSafeInteger(result.revision)).toBe(true);
      }),
    );
  });
});
