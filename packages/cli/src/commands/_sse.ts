/**
 * A server-sent-events reader for the commands that follow a stream (`ward logs -f`): splits
 * the byte stream into events (`id`, `event`, `data`; comments dropped), per the EventSource
 * parsing rules that matter here. The stream comes from a server and is untrusted: a line longer
 * than `MAX_LINE` ends the stream with an error rather than growing a buffer without bound.
 */

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Longest line kept (a decision event is a few KiB at most). */
export const MAX_LINE = 1 << 20;

export class SseParser {
  #buf = '';
  #event: { id?: string; event?: string; data: string[] } = { data: [] };

  /** Feeds text; returns the events it completed. Throws when a line exceeds MAX_LINE. */
  push(text: string): SseEvent[] {
    this.#buf += text;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buf);
      if (!m) break;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (m[0] === '\r' && m.index === this.#buf.length - 1) break;
      const line = this.#buf.slice(0, m.index);
      this.#buf = this.#buf.slice(m.index + m[0].length);
      this.#line(line, out);
    }
    if (this.#buf.length > MAX_LINE) throw new Error('server-sent event line too long');
    return out;
  }

  #line(line: string, out: SseEvent[]): void {
    if (line === '') {
      const e = this.#event;
      this.#event = { data: [] };
      if (e.data.length === 0) return;
      out.push({
        ...(e.id !== undefined ? { id: e.id } : {}),
        event: e.event || 'message',
        data: e.data.join('\n'),
      });
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.#event.data.push(value);
    else if (field === 'event') this.#event.event = value;
    else if (field === 'id' && !value.includes('\u0000')) this.#event.id = value;
  }
}
