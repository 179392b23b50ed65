/**
 * Revision history and a diff between any two revisions. The server answers one revision at a
 * time (each change with the document before and after), so the diff from A to B walks the
 * revisions in (A, B]: a document's first change there gives its state at A, its last change its
 * state at B, and the two are compared as YAML lines.
 */
import { useState } from 'preact/hooks';
import type { Api, Me } from '../api.ts';
import { type DiffLine, lineDiff } from './line-diff.ts';
import { type Failure, failureOf, Problem } from './problem.tsx';
import { RollbackPanel } from './rollback.tsx';
import { useLoad } from './use-load.ts';
import { toYaml } from './yaml.ts';

interface HistoryEntry {
  revision: number;
  at: string;
  actor: { id: string; name: string };
  operation: string;
  services: string[];
  changes: { kind: string; name: string; action: string }[];
}

interface RevisionDetail {
  revision: number;
  changes: { kind: string; name: string; action: string; before: unknown; after: unknown }[];
}

export interface DocumentDiff {
  key: string;
  status: 'created' | 'deleted' | 'changed';
  lines: DiffLine[];
}

/** Revisions walked at most for one diff: each is one request. */
const MAX_SPAN = 100;

export async function diffRevisions(
  api: Api,
  revisions: readonly number[],
  from: number,
  to: number,
): Promise<DocumentDiff[]> {
  const [lo, hi] = from <= to ? [from, to] : [to, from];
  const walk = revisions.filter((r) => r > lo && r <= hi).sort((a, b) => a - b);
  if (walk.length > MAX_SPAN) {
    throw new Error(`pick revisions at most ${MAX_SPAN} changes apart (${walk.length} here)`);
  }
  const details = await Promise.all(walk.map((r) => api.get<RevisionDetail>(`/v1/history/${r}`)));
  const states = new Map<string, { start: unknown; end: unknown }>();
  for (const d of details) {
    for (const c of d.changes) {
      const key = `${c.kind}/${c.name}`;
      const s = states.get(key);
      if (s) s.end = c.after;
      else states.set(key, { start: c.before, end: c.after });
    }
  }
  const out: DocumentDiff[] = [];
  for (const [key, s] of [...states].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const before = toYaml(s.start);
    const after = toYaml(s.end);
    if (before === after) continue;
    out.push({
      key,
      status: s.start == null ? 'created' : s.end == null ? 'deleted' : 'changed',
      lines: lineDiff(before, after),
    });
  }
  return out;
}

export function HistoryPanel(props: { api: Api; me: Me }) {
  const { api, me } = props;
  const history = useLoad(
    () => api.get<{ items: HistoryEntry[] }>('/v1/history?limit=100').then((r) => r.items),
    [api],
  );
  const items = history.data ?? [];
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const [diff, setDiff] = useState<DocumentDiff[] | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const [rollbackTo, setRollbackTo] = useState<number | null>(null);
  const toRev = to ?? items[0]?.revision ?? 0;
  const fromRev = from ?? items[1]?.revision ?? 0;

  const run = async (a: number, b: number) => {
    setBusy(true);
    setFailure(null);
    try {
      setDiff(
        await diffRevisions(
          api,
          items.map((i) => i.revision),
          a,
          b,
        ),
      );
    } catch (e) {
      setFailure(failureOf(e));
      setDiff(null);
    } finally {
      setBusy(false);
    }
  };

  const select = (value: number, set: (n: number) => void, testid: string) => (
    <select
      data-testid={testid}
      value={String(value)}
      onChange={(e) => set(Number((e.target as HTMLSelectElement).value))}
    >
      <option value="0">0 (empty)</option>
      {items.map((i) => (
        <option key={i.revision} value={String(i.revision)}>
          {i.revision}
        </option>
      ))}
    </select>
  );

  return (
    <section class="pol-panel" data-testid="history">
      <h2>History</h2>
      <Problem failure={history.failure} />
      <div class="pol-actions">
        Diff from {select(fromRev, setFrom, 'diff-from')} to {select(toRev, setTo, 'diff-to')}
        <button
          type="button"
          class="primary"
          data-testid="diff-run"
          disabled={busy || items.length === 0}
          onClick={() => run(fromRev, toRev)}
        >
          Diff
        </button>
      </div>
      <Problem failure={failure} testid="diff-problem" />
      {diff && (
        <div data-testid="diff">
          {diff.length === 0 && <p class="muted">No document differs.</p>}
          {diff.map((d) => (
            <div key={d.key} class="pol-diff" data-testid="diff-doc" data-key={d.key}>
              <h4>
                {d.key} <span class="badge">{d.status}</span>
              </h4>
              <pre class="pol-code">
                {d.lines.map((l, i) => (
                  <div key={i} class={l.op === '+' ? 'add' : l.op === '-' ? 'del' : ''}>
                    {`${l.op} ${l.text}`}
                  </div>
                ))}
              </pre>
            </div>
          ))}
        </div>
      )}
      {rollbackTo !== null && (
        <RollbackPanel
          key={rollbackTo}
          api={api}
          me={me}
          to={rollbackTo}
          onDone={history.reload}
          onClose={() => setRollbackTo(null)}
        />
      )}
      <table data-testid="history-table">
        <thead>
          <tr>
            <th>Revision</th>
            <th>When</th>
            <th>Who</th>
            <th>Operation</th>
            <th>Changes</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map((i) => (
            <tr key={i.revision} data-testid="history-row">
              <td>{i.revision}</td>
              <td>{i.at}</td>
              <td>{i.actor.name}</td>
              <td>{i.operation}</td>
              <td>{i.changes.map((c) => `${c.action} ${c.kind}/${c.name}`).join(', ')}</td>
              <td>
                <button
                  type="button"
                  class="link"
                  onClick={() => {
                    const prev = items.find((p) => p.revision < i.revision)?.revision ?? 0;
                    setFrom(prev);
                    setTo(i.revision);
                    void run(prev, i.revision);
                  }}
                >
                  diff
                </button>{' '}
                {i.revision !== items[0]?.revision && (
                  <button
                    type="button"
                    class="link"
                    data-testid="rb-open"
                    data-revision={String(i.revision)}
                    onClick={() => setRollbackTo(i.revision)}
                  >
                    roll back to this revision
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
