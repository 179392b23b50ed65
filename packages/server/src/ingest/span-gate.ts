/**
 * What a trace export may add to the graph: spans whose reporting service (`service.name` of
 * their resource) is the exporter's own service — a PDP token reports its service's spans only —
 * and whose names are clean text of sane length. Collectors and admins may report any service.
 * Refused spans are counted, like malformed ones, into OTLP's `partial_success`.
 */
import { type SourceRef, type SpanInput, type SpanSink, spanKey } from '@ward/graph';
import { badText } from './text-check.ts';

/** Longest service, namespace or peer name kept (DNS names are at most 253). */
const MAX_NAME = 512;

function badName(what: string, name: string): string | undefined {
  if (name.length > MAX_NAME) return `${what} is longer than ${MAX_NAME} characters`;
  // Names are identifiers: a U+FFFD there is always a decoding accident, never meant.
  const bad = badText(name, true);
  return bad === undefined ? undefined : `${what} ${bad}`;
}

export class SpanGate implements SpanSink {
  readonly #next: SpanSink;
  /** The one service the exporter may report; undefined: any. */
  readonly #service: string | undefined;
  /** Spans refused here or skipped as malformed by the reader. */
  rejected = 0;
  admitted = 0;
  firstRejection: string | undefined;

  constructor(next: SpanSink, service: string | undefined) {
    this.#next = next;
    this.#service = service;
  }

  addSpan(span: SpanInput, source: SourceRef): void {
    const why =
      badName('service.name', span.service) ??
      (span.namespace !== undefined ? badName('namespace', span.namespace) : undefined) ??
      (span.peer !== undefined ? badName('peer name', span.peer.name) : undefined) ??
      // The node the span lands on is its key (a bare `service.name` in the resource's
      // namespace): compare that, so a token cannot reach another namespace's node through
      // `k8s.namespace.name`.
      (this.#service !== undefined && spanKey(span.service, span.namespace) !== this.#service
        ? `span of service ${JSON.stringify(spanKey(span.service, span.namespace))}: this token reports only ${this.#service === '' ? "its own service's spans, and is bound to none" : `${this.#service}'s spans`}`
        : undefined);
    if (why !== undefined) {
      this.#refuse(why);
      return;
    }
    this.admitted++;
    this.#next.addSpan(span, source);
  }

  skip(reason: string, message: string): void {
    this.#next.skip(reason, message);
    this.#refuse(message);
  }

  #refuse(message: string): void {
    this.rejected++;
    this.firstRejection ??= message;
  }
}
