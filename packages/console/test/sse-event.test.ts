/** The console's text/event-stream parser: any block parses without throwing, and what the
 * server writes (event, id, multi-line data) comes back as written. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEvent } from '../web/src/api.ts';

// A field value holds no line break (the server splits multi-line data into `data:` lines).
const value = fc.string({ maxLength: 20 }).filter((s) => !/[\r\n]/.test(s));

describe('parseEvent', () => {
  it('never throws, whatever the block', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (block) => {
        const e = parseEvent(block);
        if (e) expect(typeof e.data).toBe('string');
      }),
    );
  });

  it('returns the event, id and data lines the server wrote', () => {
    fc.assert(
      fc.property(
        value.filter((s) => s.length > 0),
        fc.option(value, { nil: undefined }),
        fc.array(value, { minLength: 1, maxLength: 5 }),
        (event, id, lines) => {
          const block = [
            ': a comment',
            `event: ${event}`,
            ...(id === undefined ? [] : [`id: ${id}`]),
            ...lines.map((l) => `data: ${l}`),
          ].join('\n');
          expect(parseEvent(block)).toEqual({
            event,
            data: lines.join('\n'),
            ...(id === undefined ? {} : { id }),
          });
        },
      ),
    );
  });

  it('is null for a block without data (a comment, a keep-alive)', () => {
    expect(parseEvent(': keep-alive')).toBeNull();
    expect(parseEvent('event: decision')).toBeNull();
  });
});
