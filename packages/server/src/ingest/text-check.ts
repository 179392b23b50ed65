/**
 * The one check every ingested string passes before it can reach a report or the store: well
 * formed (no lone UTF-16 surrogate, which PostgreSQL's UTF-8 would silently turn into U+FFFD),
 * and free of C0/C1 control characters (NUL makes PostgreSQL refuse the whole statement; the
 * others have no business in a service name, path or rule and can drive a terminal).
 *
 * `replacementIsInvalid`: the body was not valid UTF-8 and was decoded with U+FFFD in place of the
 * bad bytes, so a U+FFFD in it marks invalid input rather than a character the sender meant.
 */

// C0 controls (NUL, ESC, CR, LF, …), DEL and C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_OR_REPLACEMENT = /[\u0000-\u001f\u007f-\u009f\ufffd]/;

/** Why `text` is refused, or undefined when it is fine. */
export function badText(text: string, replacementIsInvalid = false): string | undefined {
  if (!text.isWellFormed()) return 'is not valid Unicode (lone surrogate)';
  const m = (replacementIsInvalid ? CONTROL_OR_REPLACEMENT : CONTROL).exec(text);
  if (m === null) return undefined;
  const code = m[0].charCodeAt(0);
  if (code === 0xfffd) return 'is not valid UTF-8';
  return `holds control character U+${code.toString(16).toUpperCase().padStart(4, '0')} at ${m.index}`;
}
