/**
 * Report windows: `since` is a duration back from now (`90s`, `30m`, `1h`, `7d`, `2w`) or an
 * ISO 8601 date-time.
 */
import { ServerError } from '../errors.ts';

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** The start (epoch ms) of the window `since` names; throws API_VALIDATION naming `field`. */
export function windowStart(since: string, now: number, field = 'query.since'): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(since.trim());
  if (m) return now - Number(m[1]) * UNIT_MS[m[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}/.test(since)) {
    const t = Date.parse(since);
    if (Number.isFinite(t)) return t;
  }
  throw new ServerError('API_VALIDATION', `cannot read the window "${since}"`, {
    errors: [
      {
        field,
        message:
          'must be a duration such as 30m, 1h, 7d, 2w (units s, m, h, d, w) or an ISO 8601 date-time',
        code: 'API_VALIDATION',
      },
    ],
  });
}
