/** The console's line diff: both texts are recovered from it, and unchanged lines are kept. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineDiff } from '../web/src/policies/line-diff.ts';

const text = fc
  .array(fc.constantFrom('a', 'b', 'c', 'spec:', '  rules: []', ''), { maxLength: 30 })
  .map((lines) => lines.join('\n'));

const side = (lines: ReturnType<typeof lineDiff>, keep: '-' | '+') =>
  lines
    .filter((l) => l.op === ' ' || l.op === keep)
    .map((l) => l.text)
    .join('\n');

describe('lineDiff', () => {
  it('marks a changed line and keeps the others', () => {
    expect(lineDiff('a\nb\nc\n', 'a\nB\nc\n')).toEqual([
      { op: ' ', text: 'a' },
      { op: '-', text: 'b' },
      { op: '+', text: 'B' },
      { op: ' ', text: 'c' },
    ]);
    expect(lineDiff('', 'x')).toEqual([{ op: '+', text: 'x' }]);
    expect(lineDiff('x', '')).toEqual([{ op: '-', text: 'x' }]);
  });

  it('recovers both texts, and keeps every line of a longest common subsequence', () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        const d = lineDiff(a, b);
        expect(side(d, '-')).toBe(a === '' ? '' : a.replace(/\n$/, ''));
        expect(side(d, '+')).toBe(b === '' ? '' : b.replace(/\n$/, ''));
        if (a === b) expect(d.every((l) => l.op === ' ')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('falls back to whole-text replacement past its bound, still recoverable', () => {
    const a = Array.from({ length: 3000 }, (_, i) => `a${i}`).join('\n');
    const b = Array.from({ length: 3000 }, (_, i) => `b${i}`).join('\n');
    const d = lineDiff(a, b);
    expect(side(d, '-')).toBe(a);
    expect(side(d, '+')).toBe(b);
  });
});
