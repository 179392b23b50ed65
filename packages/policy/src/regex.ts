import { RE2JS } from 're2js';

/**
 * Regular expressions of policy conditions (`matches()`) run on re2js, a pure-JavaScript port of
 * RE2: matching takes time linear in the input, whatever the pattern. JavaScript's own RegExp
 * backtracks, so `^/(a+)+$` against 29 characters took 8.7 s in one decision.
 *
 * RE2 syntax: no backreferences, no lookaround; `(?i)` etc. for flags.
 */
export interface Regex {
  readonly source: string;
  /** True when the pattern matches anywhere in `value` (CEL `matches` is a search, not anchored). */
  test(value: string): boolean;
}

/** Compiles `pattern`, or says why it is not a valid RE2 pattern. */
export function compileRegex(
  pattern: string,
): { ok: true; regex: Regex } | { ok: false; message: string } {
  try {
    const re = RE2JS.compile(pattern);
    return { ok: true, regex: { source: pattern, test: (v) => re.test(v) } };
  } catch (error) {
    const message = (error as { message?: string }).message ?? String(error);
    return {
      ok: false,
      message: `invalid regular expression ${JSON.stringify(pattern)}: ${message}`,
    };
  }
}
