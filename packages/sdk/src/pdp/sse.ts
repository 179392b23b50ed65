import { PdpError } from './errors.ts';

/** One dispatched server-sent event. */
export interface SseEvent {
  /** The `event:` field; `message` when the event named none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event ID after this event (the `id:` field, carried over from earlier events). */
  id: string;
}

/** Limits that keep a hostile or broken stream from growing memory without bound. */
export interface SseParserOptions {
  /** Longest line, in UTF-16 code units, before the stream is refused. Default 1 MiB. */
  maxLineLength?: number;
  /** Largest `data` of one event before the stream is refused. Default 1 MiB. */
  maxEventSize?: number;
}

const LF = 10;
const CR = 13;

/**
 * An incremental parser of `text/event-stream` as the WHATWG HTML standard defines it
 * (§9.2.6 "Interpreting an event stream"): lines end in CRLF, LF or CR, possibly split across
 * chunks; `:` starts a comment (heartbeats); one optional space after the field colon is dropped;
 * an `id` containing NUL is ignored; an empty line dispatches the event, and an event without
 * data is not dispatched.
 *
 * Written here rather than taken from a library because the PDP must bound memory on untrusted
 * input and feed undici's body chunks directly; the common `eventsource-parser` has no limits.
 */
export class SseParser {
  #pending = '';
  #skipLF = false;
  #started = false;
  #eventType = '';
  #data = '';
  #hasData = false;
  #lastEventId = '';
  #retry: number | undefined;
  #comments = 0;
  #lastComment = '';
  readonly #decoder = new TextDecoder('utf-8');
  readonly #maxLine: number;
  readonly #maxEvent: number;

  constructor(options: SseParserOptions = {}) {
    this.#maxLine = options.maxLineLength ?? 1 << 20;
    this.#maxEvent = options.maxEventSize ?? 1 << 20;
  }

  /** The last event ID seen, for `Last-Event-ID` on reconnect. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** The last `retry:` value, in milliseconds, if the server sent one. */
  get retry(): number | undefined {
    return this.#retry;
  }

  /** Comment lines seen so far (heartbeats). */
  get comments(): number {
    return this.#comments;
  }

  /** Text of the last comment line, without its `:` and one leading space. */
  get lastComment(): string {
    return this.#lastComment;
  }

  /** Feeds raw bytes (UTF-8, possibly split inside a character) and returns completed events. */
  feedBytes(chunk: Uint8Array): SseEvent[] {
    return this.feed(this.#decoder.decode(chunk, { stream: true }));
  }

  /** Feeds text and returns the events it completed. Throws `PDP_WATCH_PROTOCOL` past a limit. */
  feed(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      // The standard strips one leading U+FEFF from the stream.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    if (this.#skipLF && text.length > 0) {
      // A CR ended the previous chunk: a LF right after it belongs to the same line end.
      if (text.charCodeAt(0) === LF) start = 1;
      this.#skipLF = false;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      const line =
        this.#pending.length > 0 ? this.#pending + text.slice(start, i) : text.slice(start, i);
      this.#pending = '';
      this.#line(line, out);
      if (c === CR) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === LF) i++;
        } else {
          this.#skipLF = true;
        }
      }
      start = i + 1;
    }
    if (start < text.length) this.#pending += text.slice(start);
    if (this.#pending.length > this.#maxLine) {
      throw new PdpError(
        'PDP_WATCH_PROTOCOL',
        `event stream line longer than ${this.#maxLine} characters`,
      );
    }
    return out;
  }

  #line(line: string, out: SseEvent[]): void {
    if (line.length > this.#maxLine) {
      throw new PdpError(
        'PDP_WATCH_PROTOCOL',
        `event stream line longer than ${this.#maxLine} characters`,
      );
    }
    if (line.length === 0) {
      this.#dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) {
      this.#comments++;
      this.#lastComment = line.charCodeAt(1) === 32 ? line.slice(2) : line.slice(1);
      return;
    }
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'event':
        this.#eventType = value;
        break;
      case 'data':
        if (this.#data.length + value.length + 1 > this.#maxEvent) {
          throw new PdpError(
            'PDP_WATCH_PROTOCOL',
            `event data larger than ${this.#maxEvent} characters`,
          );
        }
        this.#data += `${value}\n`;
        this.#hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.#retry = Number(value);
        break;
      default:
        // Unknown fields are ignored, as the standard says.
        break;
    }
  }

  #dispatch(out: SseEvent[]): void {
    if (this.#hasData) {
      out.push({
        event: this.#eventType === '' ? 'message' : this.#eventType,
        data: this.#data.slice(0, -1),
        id: this.#lastEventId,
      });
    }
    this.#eventType = '';
    this.#data = '';
    this.#hasData = false;
  }
}
