/** The fleet view's data: how times are shown and which members the filters keep. */
import type { FleetMemberV1 } from '@ward/api-types/console';

/** `1h 02m`, `4m 05s`, `12s`; `expired` at or below zero. */
export function countdown(ms: number): string {
  if (ms <= 0) return 'expired';
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h >= 48) return `${Math.floor(h / 24)}d`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** How long ago, from milliseconds. */
export function ago(ms: number): string {
  return ms < 1000 ? 'just now' : `${countdown(ms)} ago`;
}

/** Whether an item passes the filters (kind, state, text in service, node or instance). */
export function matches(
  item: FleetMemberV1,
  filter: { kind: string; state: string; text: string },
): boolean {
  if (filter.kind && item.kind !== filter.kind) return false;
  if (filter.state && item.state !== filter.state) return false;
  const t = filter.text.trim().toLowerCase();
  if (!t) return true;
  return [item.service, item.node, item.instance, item.label].some((v) =>
    (v ?? '').toLowerCase().includes(t),
  );
}
