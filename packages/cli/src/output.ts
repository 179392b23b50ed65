/**
 * Terminal safety for everything the CLI prints. What `ward` shows comes largely from the
 * control plane, and much of that was written by teams (`spec.owner`, names, labels, rule
 * reasons, token names, error messages): text holding ESC sequences could clear the screen, forge
 * lines, retitle the terminal or plant OSC 8 links, and bidi overrides could make a line read
 * differently from what it is. So every write to stdout and stderr goes through one filter that
 * replaces such characters with a visible `\uXXXX` escape:
 *
 * - C0 controls except tab and newline (ESC, CR, BEL, backspace, …), DEL, and C1 controls
 *   (U+0080–U+009F, which some terminals also obey);
 * - the bidi embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069.
 *
 * The escape is valid JSON inside a string (JSON output stays parseable and means the same, and
 * `JSON.stringify` already escapes C0 itself), and reads unambiguously in text and YAML output.
 */
import { StringDecoder } from 'node:string_decoder';

const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const escaped = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` with every terminal control and bidi character replaced by its `\uXXXX` escape. */
export function sanitizeOutput(text: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text) ? text.replace(UNSAFE, escaped) : text;
}

type Write = NodeJS.WriteStream['write'];
const RAW = Symbol('ward.rawWrite');
type Guarded = NodeJS.WriteStream & { [RAW]?: Write };

/**
 * Routes every write of `streams` through {@link sanitizeOutput} until the returned function is
 * called. Installed by `main()` for the length of one CLI run — not on import — so it covers
 * every command, commander's messages and error reports without each call site remembering.
 */
export function guardOutput(
  streams: NodeJS.WriteStream[] = [process.stdout, process.stderr],
): () => void {
  const restores = streams.map((stream) => {
    const s = stream as Guarded;
    if (s[RAW]) return () => {}; // already guarded (nested run in a test)
    const original = s.write;
    const raw: Write = original.bind(s) as Write;
    const decoder = new StringDecoder('utf8');
    s[RAW] = raw;
    s.write = function guardedWrite(chunk: unknown, ...rest: unknown[]) {
      // Buffers are decoded statefully, so a character split across two writes stays whole.
      const text =
        typeof chunk === 'string' ? chunk : decoder.write(Buffer.from(chunk as Uint8Array));
      return (raw as (...a: unknown[]) => boolean)(sanitizeOutput(text), ...rest);
    } as Write;
    return () => {
      s.write = original;
      delete s[RAW];
    };
  });
  return () => {
    for (const restore of restores) restore();
  };
}

/**
 * Writes the CLI's own control sequences (the progress bar's `\r` and erase-line) past the
 * filter. Anything from outside in `text` must already have gone through `sanitizeOutput`.
 */
export function writeRaw(stream: NodeJS.WriteStream, text: string): void {
  const raw = (stream as Guarded)[RAW];
  if (raw) raw(text);
  else stream.write(text);
}

/**
 * `stream` for output the CLI composes itself with deliberate styling (the demo's colored
 * banner and `\r` status line, built only from its own fixed services): writes skip the filter.
 * Never hand it text that came from a control plane or a file.
 */
export function trustedOutput(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  const write = (chunk: unknown): boolean => {
    writeRaw(
      stream,
      typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(),
    );
    return true;
  };
  return new Proxy(stream, {
    get: (target, property) => (property === 'write' ? write : Reflect.get(target, property)),
  });
}
