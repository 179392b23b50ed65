/**
 * The `bundle` watch event: a service's signed bundle pushed through its watch stream, for
 * watchers that asked with request header `ward-watch-include: bundle` (see contract-3). A change
 * then costs one build and one pre-encoded buffer written to every socket of that service,
 * instead of one bundle GET per PDP.
 */
import type { BuiltBundle } from '../bundles/builder.ts';

/** Request header by which a watcher asks for `bundle` events (comma list; unknown values ignored). */
export const WATCH_INCLUDE_HEADER = 'ward-watch-include';
/** Response header of a watch stream: the heartbeat interval (ms), so clients can time out. */
export const WATCH_HEARTBEAT_HEADER = 'ward-heartbeat-ms';

/** Whether a `ward-watch-include` header value asks for pushed bundles. */
export function wantsBundles(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  const values = Array.isArray(header) ? header : [header];
  return values.some((v) => v.split(',').some((token) => token.trim().toLowerCase() === 'bundle'));
}

/**
 * One built bundle's event, encoded once: built bundles are immutable and cached per service, so
 * every watcher of that service (live fan-out and connect-time catch-up alike) shares this buffer.
 * Weakly keyed: it goes away with the cache entry.
 */
const encoded = new WeakMap<BuiltBundle, Buffer>();

/**
 * `id: <bundle revision>\nevent: bundle\ndata: <SignedBundleV1 JSON>\n\n`. `built.body` is
 * `JSON.stringify` output, which escapes CR and LF inside strings, so it is always one data line.
 * The id is the bundle's revision (the revision its content last changed at), which is what a
 * client resumes from with `Last-Event-ID`.
 */
export function bundleEvent(built: BuiltBundle): Buffer {
  let buf = encoded.get(built);
  if (!buf) {
    buf = Buffer.from(`id: ${built.revision}\nevent: bundle\ndata: ${built.body}\n\n`, 'utf8');
    encoded.set(built, buf);
  }
  return buf;
}
