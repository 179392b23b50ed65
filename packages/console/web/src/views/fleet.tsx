/**
 * Identity & fleet: every PDP and node agent with its revision against the one its service
 * should be at (SYNCED, STALE, LOST), the workloads with their SVID expiry counting down, and the
 * trust bundle's roots and rotation state. Polls the API every 5 s; the countdowns tick locally.
 * What a team token sees is what the API gives it (its services' PDPs and workloads).
 */
import type { FleetAnswerV1, FleetMemberV1, IdentityAnswerV1 } from '@ward/api-types/console';
import { useEffect, useState } from 'preact/hooks';
import { ApiProblem } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { ago, countdown, matches } from '../fleet/model.ts';
import { Choice } from '../ui/controls.tsx';

const POLL_MS = 5000;

export function FleetView({ api }: ViewProps) {
  const [fleet, setFleet] = useState<FleetAnswerV1 | null>(null);
  const [identity, setIdentity] = useState<IdentityAnswerV1 | null>(null);
  const [error, setError] = useState<string | null>(null);
  // When the answers were read, to age them locally between polls.
  const [readAt, setReadAt] = useState(Date.now());
  const [now, setNow] = useState(Date.now());
  const [filter, setFilter] = useState({ kind: '', state: '', text: '' });

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const [f, i] = await Promise.all([
          api.get<FleetAnswerV1>('/v1/fleet', abort.signal),
          api.get<IdentityAnswerV1>('/v1/identity', abort.signal),
        ]);
        setFleet(f);
        setIdentity(i);
        setReadAt(Date.now());
        setError(null);
      } catch (e) {
        if (abort.signal.aborted) return;
        setError(e instanceof ApiProblem ? e.message : 'the control plane did not answer');
      }
      if (!abort.signal.aborted) timer = setTimeout(load, POLL_MS);
    };
    void load();
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      abort.abort();
      clearTimeout(timer);
      clearInterval(tick);
    };
  }, [api]);

  const since = Math.max(0, now - readAt);
  return (
    <div class="fleet">
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <section>
        <h2>
          Fleet {fleet && <span class="muted">control plane at revision {fleet.revision}</span>}
        </h2>
        <Filters filter={filter} onChange={setFilter} />
        {fleet === null ? (
          <p class="muted">Loading…</p>
        ) : (
          <FleetTable items={fleet.items.filter((i) => matches(i, filter))} since={since} />
        )}
      </section>
      {identity && <IdentitySection identity={identity} since={since} />}
    </div>
  );
}

const KINDS = [
  ['', 'PDPs and agents'],
  ['pdp', 'PDPs'],
  ['agent', 'Agents'],
] as const;
const STATES = [
  ['', 'any state'],
  ['SYNCED', 'SYNCED'],
  ['STALE', 'STALE'],
  ['LOST', 'LOST'],
] as const;

function Filters(props: {
  filter: { kind: string; state: string; text: string };
  onChange: (f: { kind: string; state: string; text: string }) => void;
}) {
  const { filter, onChange } = props;
  return (
    <div class="fleet-filters" data-testid="fleet-filters">
      <Choice
        label="kind"
        testid="filter-kind"
        value={filter.kind}
        onChange={(kind) => onChange({ ...filter, kind })}
        choices={KINDS}
      />
      <Choice
        label="state"
        testid="filter-state"
        value={filter.state}
        onChange={(state) => onChange({ ...filter, state })}
        choices={STATES}
      />
      <input
        aria-label="search"
        data-testid="filter-text"
        placeholder="service, node or instance"
        value={filter.text}
        onInput={(e) => onChange({ ...filter, text: (e.target as HTMLInputElement).value })}
      />
    </div>
  );
}

function FleetTable({ items, since }: { items: FleetMemberV1[]; since: number }) {
  if (items.length === 0) {
    return (
      <p class="muted" data-testid="fleet-empty">
        No PDP or agent matches (they report every 30 s by default).
      </p>
    );
  }
  return (
    <table data-testid="fleet-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Kind</th>
          <th>Service / node</th>
          <th>Revision</th>
          <th>Desired</th>
          <th>State</th>
          <th>Last contact</th>
          <th>Version</th>
        </tr>
      </thead>
      <tbody>
        {items.map((i) => (
          <tr
            key={`${i.kind}/${i.instance}`}
            data-testid="fleet-row"
            data-instance={i.instance}
            data-state={i.state}
          >
            <td>
              <code>{i.instance}</code>
              {i.label && <span class="muted"> {i.label}</span>}
            </td>
            <td>{i.kind}</td>
            <td data-testid="fleet-scope">{i.kind === 'pdp' ? i.service : i.node}</td>
            <td data-testid="fleet-revision">{i.revision}</td>
            <td>{i.desiredRevision ?? '–'}</td>
            <td>
              <span class={`badge state-${i.state.toLowerCase()}`} data-testid="fleet-state">
                {i.state}
              </span>
              {i.kind === 'pdp' && !i.connected && <span class="muted"> not watching</span>}
            </td>
            <td title={i.lastContact}>{ago(i.ageMs + since)}</td>
            <td>{i.version}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function IdentitySection({ identity, since }: { identity: IdentityAnswerV1; since: number }) {
  const bundle = identity.trustBundle;
  return (
    <>
      <section>
        <h2>
          Workloads <span class="muted">trust domain {identity.trustDomain}</span>
        </h2>
        {identity.workloads.length === 0 ? (
          <p class="muted">No registered workload.</p>
        ) : (
          <table data-testid="workloads">
            <thead>
              <tr>
                <th>SPIFFE ID</th>
                <th>Service</th>
                <th>Node</th>
                <th>SVID serial</th>
                <th>Expires in</th>
              </tr>
            </thead>
            <tbody>
              {identity.workloads.map((w) => (
                <tr key={`${w.node}/${w.spiffeId}`} data-testid="workload-row">
                  <td>
                    <code>{w.spiffeId}</code>
                  </td>
                  <td>{w.service ?? '–'}</td>
                  <td>{w.node}</td>
                  <td>
                    <code>{w.serial ?? '–'}</code>
                  </td>
                  <td title={w.notAfter ?? ''} data-testid="workload-expiry">
                    {w.expiresInMs === null ? 'not reported' : countdown(w.expiresInMs - since)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section>
        <h2>Trust bundle</h2>
        {bundle === null ? (
          <p class="muted">This control plane runs no CA.</p>
        ) : (
          <>
            <p data-testid="rotation">
              Root rotation: <span class="badge">{bundle.rotation.state}</span>
              {bundle.rotation.next && (
                <span class="muted"> next step: ward ca root {bundle.rotation.next}</span>
              )}
              {bundle.rotation.intermediate && (
                <span class="muted">
                  {' '}
                  · signing intermediate {bundle.rotation.intermediate.serial} until{' '}
                  {bundle.rotation.intermediate.notAfter}
                </span>
              )}
            </p>
            <table data-testid="roots">
              <thead>
                <tr>
                  <th>Subject</th>
                  <th>State</th>
                  <th>SHA-256 fingerprint</th>
                  <th>Valid</th>
                </tr>
              </thead>
              <tbody>
                {bundle.roots.map((r) => (
                  <tr key={r.serial} data-testid="root-row">
                    <td>{r.subject}</td>
                    <td>
                      <span class="badge">{r.state}</span>
                    </td>
                    <td>
                      <code class="fingerprint">{r.fingerprint}</code>
                    </td>
                    <td>
                      {r.notBefore.slice(0, 10)} → {r.notAfter.slice(0, 10)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
    </>
  );
}
