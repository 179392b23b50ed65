/**
 * Live: the tail of denials and dry-run denials as they arrive (newest on top, bounded to
 * MAX_ROWS, pausable, filtered by service and kind), and the alerts firing now. The backlog is
 * the recent raw denials; then the stream, reopened with backoff when it ends. Everything shown
 * is text rendered by Preact (escaped); the API decides what a team token may see.
 */
import {
  type DecisionLogDenialsV1,
  type LiveLineV1,
  liveLineOfDenial,
} from '@ward/api-types/console';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiProblem } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import {
  type Filters,
  type FiringAlert,
  keeps,
  MAX_ROWS,
  prepend,
  type Row,
  streamQuery,
} from '../live/rows.ts';

const ALERT_POLL_MS = 15_000;

export function LiveView({ api }: ViewProps) {
  const [filters, setFilters] = useState<Filters>({ service: '', kind: '' });
  const [draft, setDraft] = useState('');
  const [rows, setRows] = useState<Row[]>([]);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState<Row[]>([]);
  const [dropped, setDropped] = useState(0);
  const [status, setStatus] = useState('connecting');
  const [alerts, setAlerts] = useState<FiringAlert[] | null>(null);
  const [alertError, setAlertError] = useState<string | null>(null);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const seq = useRef(0);

  // The tail: backlog, then the stream, for the current filters.
  useEffect(() => {
    const abort = new AbortController();
    const toRow = (d: LiveLineV1): Row => ({ ...d, key: String(++seq.current) });
    const add = (incoming: Row[]) => {
      if (incoming.length === 0) return;
      if (pausedRef.current) setHeld((h) => prepend(h, incoming));
      else setRows((r) => prepend(r, incoming));
    };
    setRows([]);
    setHeld([]);
    setDropped(0);
    const run = async () => {
      try {
        const q = new URLSearchParams({ since: '15m', limit: '50' });
        const s = filters.service.trim();
        const pages = await Promise.all(
          s
            ? [
                api.get<DecisionLogDenialsV1>(
                  `/v1/decision-logs/denials?${q}&destination=${encodeURIComponent(s)}`,
                  abort.signal,
                ),
                api.get<DecisionLogDenialsV1>(
                  `/v1/decision-logs/denials?${q}&source=${encodeURIComponent(s)}`,
                  abort.signal,
                ),
              ]
            : [api.get<DecisionLogDenialsV1>(`/v1/decision-logs/denials?${q}`, abort.signal)],
        );
        const backlog = pages
          .flatMap((p) => p.items)
          .map(liveLineOfDenial)
          .filter((d) => keeps(filters, d))
          .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
        add(backlog.map(toRow));
      } catch {
        // The backlog is a nicety: the tail itself follows.
      }
      let backoff = 1000;
      while (!abort.signal.aborted) {
        try {
          setStatus('live');
          await api.stream(
            `/v1/decisions/stream${streamQuery(filters)}`,
            (e) => {
              backoff = 1000;
              if (e.event === 'decision') add([toRow(JSON.parse(e.data) as LiveLineV1)]);
              else if (e.event === 'dropped')
                setDropped((n) => n + ((JSON.parse(e.data) as { dropped: number }).dropped ?? 0));
            },
            abort.signal,
          );
          setStatus('reconnecting');
        } catch (e) {
          if (abort.signal.aborted) return;
          if (e instanceof ApiProblem && e.status >= 400 && e.status < 500 && e.status !== 429) {
            setStatus(`stopped: ${e.message}`);
            return;
          }
          setStatus('reconnecting');
        }
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 30_000);
      }
    };
    void run();
    return () => abort.abort();
  }, [api, filters]);

  // Firing alerts, polled.
  useEffect(() => {
    let stop = false;
    const load = () =>
      api
        .get<{ alerts: FiringAlert[] }>('/v1/alerts')
        .then((r) => {
          if (stop) return;
          setAlerts(r.alerts);
          setAlertError(null);
        })
        .catch((e) => {
          if (!stop) setAlertError(e instanceof Error ? e.message : 'alerts unavailable');
        });
    void load();
    const timer = setInterval(load, ALERT_POLL_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [api]);

  const resume = () => {
    setRows((r) => [...held, ...r].slice(0, MAX_ROWS));
    setHeld([]);
    setPaused(false);
  };

  return (
    <div class="live">
      <section class="live-alerts" data-testid="alerts">
        <h2>Firing alerts</h2>
        {alertError && <p class="error">{alertError}</p>}
        {alerts === null && !alertError && <p class="muted">Loading…</p>}
        {alerts?.length === 0 && <p class="muted">Nothing is firing.</p>}
        {alerts && alerts.length > 0 && (
          <table>
            <tbody>
              {alerts.map((a) => (
                <tr key={`${a.name}/${a.key}`} data-testid="alert-row" class={`sev-${a.severity}`}>
                  <td>
                    <span class="badge">{a.severity}</span>
                  </td>
                  <td>{a.name}</td>
                  <td title={a.description ?? ''}>{a.summary}</td>
                  <td class="muted">since {a.startsAt}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section>
        <form
          class="live-controls"
          onSubmit={(e) => {
            e.preventDefault();
            setFilters((f) => ({ ...f, service: draft }));
          }}
        >
          <input
            data-testid="live-filter-service"
            placeholder="service (source or destination)"
            value={draft}
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
          />
          <select
            data-testid="live-filter-kind"
            value={filters.kind}
            onChange={(e) =>
              setFilters((f) => ({
                ...f,
                kind: (e.target as HTMLSelectElement).value as Filters['kind'],
              }))
            }
          >
            <option value="">denials and dry-run denials</option>
            <option value="deny">denials</option>
            <option value="dry-run-deny">dry-run denials</option>
          </select>
          <button type="submit">Filter</button>
          <button
            type="button"
            data-testid="live-pause"
            onClick={() => (paused ? resume() : setPaused(true))}
          >
            {paused ? `Resume${held.length ? ` (${held.length} new)` : ''}` : 'Pause'}
          </button>
          <span class="muted" data-testid="live-status">
            {paused ? 'paused' : status}
          </span>
          {dropped > 0 && (
            <span class="muted" data-testid="live-dropped">
              {dropped} not shown (rate limit)
            </span>
          )}
        </form>
        <table data-testid="live-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Kind</th>
              <th>Source</th>
              <th>Destination</th>
              <th>Call</th>
              <th>Rule</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key} data-testid="live-row" class={r.dryRun ? 'dry-run' : 'deny'}>
                <td>{r.at}</td>
                <td>{r.dryRun ? 'dry-run' : 'deny'}</td>
                <td>{r.source}</td>
                <td>{r.destination}</td>
                <td>
                  {[r.method, r.path].filter(Boolean).join(' ')}
                  {r.count && r.count > 1 ? ` ×${r.count}` : ''}
                </td>
                <td title={r.reason ?? ''}>{r.rule}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <p class="muted">No denials yet.</p>}
      </section>
    </div>
  );
}
