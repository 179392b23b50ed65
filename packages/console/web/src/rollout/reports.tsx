/** The soft-apply reports: dry-run denials by edge and rule with samples, unapproved, unused. */
import type { DryRunItemV1 as DryRunItem } from '@ward/api-types/console';
import type { ComponentChildren } from 'preact';
import type { Api } from '../api.ts';
import { Problem } from '../policies/problem.tsx';
import { useLoad } from '../policies/use-load.ts';

interface UnapprovedItem {
  source: string;
  destination: string;
  decisions: number;
  denied: number;
  traceCalls: number;
  wireSamples: number;
  lastSeen: string;
  seenIn: string[];
}

interface UnusedItem {
  source: string;
  destination: string;
  rules: { rule: string; mode: string; wildcard?: boolean }[];
  wildcard: boolean;
  lastSeen: string | null;
}

interface Report<T> {
  since: string;
  until: string;
  items: T[];
  dropped?: number;
}

/** Keeps the edges a filter lets through (a team's own services, when it asks for that). */
export type EdgeFilter = (e: { source: string; destination: string }) => boolean;

/** One report from the API, reloaded on `tick`, and its items the filter lets through. */
function useReport<T extends { source: string; destination: string }>(
  api: Api,
  path: string,
  filter: EdgeFilter,
  tick: number,
) {
  const report = useLoad(() => api.get<Report<T>>(path), [api, path, tick]);
  return { report, items: (report.data?.items ?? []).filter(filter) };
}

function EdgeCell(props: {
  edge: { source: string; destination: string };
  children?: ComponentChildren;
}) {
  return (
    <td>
      {props.edge.source} → {props.edge.destination}
      {props.children}
    </td>
  );
}

function Head(props: { columns: string[] }) {
  return (
    <thead>
      <tr>
        {props.columns.map((c) => (
          <th key={c}>{c}</th>
        ))}
      </tr>
    </thead>
  );
}

export function DryRunTable(props: { api: Api; since: string; filter: EdgeFilter; tick: number }) {
  const { api, since } = props;
  const { report, items } = useReport<DryRunItem>(
    api,
    `/v1/reports/dry-run?since=${encodeURIComponent(since)}`,
    props.filter,
    props.tick,
  );
  return (
    <section class="pol-panel" data-testid="dry-run">
      <h2>Would be denied (dry-run rules, last {since})</h2>
      <Problem failure={report.failure} />
      {report.data && items.length === 0 && (
        <p class="muted" data-testid="dry-run-empty">
          No call was denied by a dry-run rule in the window.
        </p>
      )}
      {(report.data?.dropped ?? 0) > 0 && (
        <p class="muted">
          Shippers dropped {report.data?.dropped} record(s) in the window: counts may be short.
        </p>
      )}
      {items.length > 0 && (
        <table data-testid="dry-run-table">
          <Head columns={['Edge', 'Rule', 'Calls', 'First seen', 'Last seen', 'Samples']} />
          <tbody>
            {items.map((i) => (
              <tr key={`${i.source}>${i.destination}>${i.rule}`} data-testid="dry-run-row">
                <EdgeCell edge={i} />
                <td>
                  <code>{i.rule}</code>
                </td>
                <td>
                  {i.count}
                  {i.sampled > 0 && <span class="muted"> (+{i.sampled} sampled)</span>}
                </td>
                <td>{i.firstSeen}</td>
                <td>{i.lastSeen}</td>
                <td>
                  {i.samples.map((s) => (
                    <div key={`${s.method} ${s.path}`}>
                      <code>
                        {s.method} {s.path}
                      </code>{' '}
                      ×{s.count}
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function UnapprovedTable(props: { api: Api; filter: EdgeFilter; tick: number }) {
  const { report, items } = useReport<UnapprovedItem>(
    props.api,
    '/v1/reports/unapproved',
    props.filter,
    props.tick,
  );
  return (
    <section class="pol-panel" data-testid="unapproved">
      <h2>Unapproved edges (seen, no allow rule; last 30d)</h2>
      <Problem failure={report.failure} />
      {report.data && items.length === 0 && <p class="muted">None.</p>}
      {items.length > 0 && (
        <table>
          <Head
            columns={[
              'Edge',
              'Decisions (denied)',
              'Trace calls',
              'Wire samples',
              'Seen in',
              'Last seen',
            ]}
          />
          <tbody>
            {items.map((i) => (
              <tr key={`${i.source}>${i.destination}`} data-testid="unapproved-row">
                <EdgeCell edge={i} />
                <td>
                  {i.decisions} ({i.denied})
                </td>
                <td>{i.traceCalls}</td>
                <td>{i.wireSamples}</td>
                <td>{i.seenIn.join(', ')}</td>
                <td>{i.lastSeen}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function UnusedTable(props: { api: Api; filter: EdgeFilter; tick: number }) {
  const { report, items } = useReport<UnusedItem>(
    props.api,
    '/v1/reports/unused',
    props.filter,
    props.tick,
  );
  return (
    <section class="pol-panel" data-testid="unused">
      <h2>Unused edges (allowed, no traffic; last 7d)</h2>
      <Problem failure={report.failure} />
      {report.data && items.length === 0 && <p class="muted">None.</p>}
      {items.length > 0 && (
        <table>
          <Head columns={['Edge', 'Approved by', 'Last seen']} />
          <tbody>
            {items.map((i) => (
              <tr key={`${i.source}>${i.destination}`} data-testid="unused-row">
                <EdgeCell edge={i}>{i.wildcard && <span class="badge">wildcard</span>}</EdgeCell>
                <td>{i.rules.map((r) => `${r.rule} (${r.mode})`).join(', ')}</td>
                <td>{i.lastSeen ?? 'never (within retention)'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
