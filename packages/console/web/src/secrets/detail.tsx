/**
 * One secret: its settings, its versions (state, when, by whom, under which key-encryption key),
 * its leases (postgres secrets), its readers, and the owner's actions — rotate a generated
 * secret, roll back to an earlier version — each behind an explicit confirmation, with the API's
 * problem shown word for word when it refuses. Metadata only: no value is ever requested.
 */
import type {
  LeaseInfoV1,
  SecretSummaryV1,
  SecretVersionInfoV1,
  SecretWriteResultV1,
} from '@ward/api-types/console';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Api, Me } from '../api.ts';
import { type Failure, failureOf, Problem } from '../policies/problem.tsx';
import { useLoad } from '../policies/use-load.ts';
import {
  isGenerated,
  mayManage,
  mayRollBackTo,
  newestFirst,
  secretPath,
  serviceHref,
  stamp,
} from './model.ts';

type SecretDetailV1 = SecretSummaryV1 & { versions: SecretVersionInfoV1[] };

/** What the owner asked for and has yet to confirm. */
type Pending = { kind: 'rotate' } | { kind: 'rollback'; version: number } | null;

export function SecretDetail(props: { api: Api; me: Me; secret: string }) {
  const { api, me, secret } = props;
  const detail = useLoad(() => api.get<SecretDetailV1>(secretPath(secret)), [api, secret]);
  const leases = useLoad(
    () =>
      detail.data?.type === 'postgres'
        ? api.get<{ items: LeaseInfoV1[] }>(secretPath(secret, '/leases')).then((r) => r.items)
        : Promise.resolve(null),
    [api, secret, detail.data?.type],
  );
  const [pending, setPending] = useState<Pending>(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const d = detail.data;
  const manage = d !== null && mayManage(me, d);

  const act = async (p: NonNullable<Pending>) => {
    setBusy(true);
    setFailure(null);
    setDone(null);
    try {
      const r =
        p.kind === 'rotate'
          ? await api.send<SecretWriteResultV1>('POST', secretPath(secret, '/rotate'))
          : await api.send<SecretWriteResultV1>('POST', secretPath(secret, '/rollback'), {
              version: p.version,
            });
      setDone(
        `${r.secret}: wrote version ${r.version}${p.kind === 'rollback' ? ` with the value of version ${p.version}` : ''}; current from ${stamp(r.notBefore)}`,
      );
      setPending(null);
      detail.reload();
    } catch (e) {
      setFailure(failureOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="pol-panel" data-testid="secret-detail" data-secret={secret}>
      <p>
        <a href="#/secrets" data-testid="secrets-back">
          ← All secrets
        </a>
      </p>
      <h2>
        Secret <code data-testid="secret-name">{secret}</code>
      </h2>
      <Problem failure={detail.failure} />
      {d === null && !detail.failure && <p class="muted">Loading…</p>}
      {d !== null && (
        <>
          <dl class="sec-facts" data-testid="secret-facts">
            <dt>Owner</dt>
            <dd>
              {d.owner === null ? (
                <span class="muted">undeclared (no Secret document: admins only)</span>
              ) : (
                <a href={serviceHref(d.owner)}>{d.owner}</a>
              )}
            </dd>
            <dt>Type</dt>
            <dd>
              <span class="badge">{d.type}</span>
            </dd>
            <dt>Current version</dt>
            <dd data-testid="secret-current-version">
              {d.currentVersion === null ? 'no value yet' : d.currentVersion}
            </dd>
            <dt>Rotation</dt>
            <dd>
              {d.rotation.every === null ? 'not scheduled' : `every ${d.rotation.every}`}; grace{' '}
              {d.rotation.grace}, activation {d.rotation.activation}
              {d.nextRotationAt && <> · next {stamp(d.nextRotationAt)}</>}
            </dd>
            <dt>Readers</dt>
            <dd data-testid="secret-readers">
              <ServiceLinks keys={d.readers} />
            </dd>
          </dl>

          {manage && (
            <div class="pol-actions">
              <button
                type="button"
                class="primary"
                data-testid="secret-rotate"
                disabled={busy || !isGenerated(d)}
                title={
                  isGenerated(d)
                    ? ''
                    : `a ${d.type} secret is not generated: write a value with ward secret put`
                }
                onClick={() => {
                  setPending({ kind: 'rotate' });
                  setFailure(null);
                  setDone(null);
                }}
              >
                Rotate now
              </button>
              {!isGenerated(d) && (
                <span class="muted">only random and keypair secrets are rotated here</span>
              )}
            </div>
          )}
          {!manage && (
            <p class="muted" data-testid="secret-readonly">
              This token does not own {d.owner ?? 'this secret'}: no action is offered.
            </p>
          )}
          {pending && (
            <Confirm
              pending={pending}
              secret={secret}
              detail={d}
              busy={busy}
              onConfirm={() => act(pending)}
              onCancel={() => setPending(null)}
            />
          )}
          <Problem failure={failure} testid="secret-problem" />
          {done && (
            <p class="pol-ok" role="status" data-testid="secret-done">
              {done}
            </p>
          )}

          <h3>Versions</h3>
          <Versions
            versions={d.versions}
            manage={manage}
            busy={busy}
            onRollBack={(version) => {
              setPending({ kind: 'rollback', version });
              setFailure(null);
              setDone(null);
            }}
          />

          {d.type === 'postgres' && (
            <>
              <h3>Leases</h3>
              <Problem failure={leases.failure} />
              <Leases items={leases.data ?? null} />
            </>
          )}
        </>
      )}
    </section>
  );
}

function Confirm(props: {
  pending: NonNullable<Pending>;
  secret: string;
  detail: SecretDetailV1;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const { pending, secret, detail } = props;
  // The confirmation may open below the fold (a version's row): focus takes the user to it.
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => confirm.current?.focus(), [pending]);
  const what =
    pending.kind === 'rotate'
      ? `Rotate ${secret}? A new generated version becomes current after ${detail.rotation.activation}; the current one stays valid for ${detail.rotation.grace} more.`
      : `Roll back ${secret} to version ${pending.version}? This writes a new version holding version ${pending.version}'s value; it becomes current after ${detail.rotation.activation}.`;
  return (
    <fieldset class="sec-confirm" data-testid="secret-confirm-box">
      <legend>{pending.kind === 'rotate' ? 'Confirm rotation' : 'Confirm rollback'}</legend>
      <p>{what}</p>
      <div class="pol-actions">
        <button
          ref={confirm}
          type="button"
          class="danger"
          data-testid="secret-confirm"
          disabled={props.busy}
          onClick={props.onConfirm}
        >
          {pending.kind === 'rotate' ? 'Rotate' : `Roll back to version ${pending.version}`}
        </button>
        <button type="button" data-testid="secret-cancel" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </fieldset>
  );
}

function Versions(props: {
  versions: SecretVersionInfoV1[];
  manage: boolean;
  busy: boolean;
  onRollBack: (version: number) => void;
}) {
  if (props.versions.length === 0) {
    return (
      <p class="muted" data-testid="secret-no-versions">
        No version yet (<code>ward secret put</code> writes the first).
      </p>
    );
  }
  return (
    <table data-testid="secret-versions">
      <thead>
        <tr>
          <th>Version</th>
          <th>State</th>
          <th>Created</th>
          <th>Created by</th>
          <th>Source</th>
          <th>Valid from</th>
          <th>Valid until</th>
          <th>KEK</th>
          {props.manage && <th>Action</th>}
        </tr>
      </thead>
      <tbody>
        {newestFirst(props.versions).map((v) => (
          <tr
            key={v.version}
            data-testid="secret-version"
            data-version={v.version}
            data-state={v.state}
          >
            <td>{v.version}</td>
            <td>
              <span class={`badge sec-state-${v.state}`}>{v.state}</span>
            </td>
            <td title={v.createdAt}>{stamp(v.createdAt)}</td>
            <td>{v.createdBy}</td>
            <td>{v.source}</td>
            <td title={v.notBefore}>{stamp(v.notBefore)}</td>
            <td title={v.notAfter ?? ''}>{v.notAfter === null ? '–' : stamp(v.notAfter)}</td>
            <td>
              <code>{v.kek || '–'}</code>
            </td>
            {props.manage && (
              <td>
                {mayRollBackTo(v, props.versions) && (
                  <button
                    type="button"
                    class="link"
                    data-testid="secret-rollback"
                    data-version={v.version}
                    disabled={props.busy}
                    onClick={() => props.onRollBack(v.version)}
                  >
                    Roll back to this
                  </button>
                )}
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Leases({ items }: { items: LeaseInfoV1[] | null }) {
  if (items === null) return <p class="muted">Loading…</p>;
  if (items.length === 0) {
    return (
      <p class="muted" data-testid="secret-no-leases">
        No lease: agents take one when a workload of a reader asks for this secret.
      </p>
    );
  }
  return (
    <table data-testid="secret-leases">
      <thead>
        <tr>
          <th>Lease</th>
          <th>Service</th>
          <th>Node</th>
          <th>Role</th>
          <th>Created</th>
          <th>Expires</th>
          <th>Max</th>
          <th>Revoked</th>
        </tr>
      </thead>
      <tbody>
        {items.map((l) => (
          <tr key={l.id} data-testid="secret-lease">
            <td>
              <code>{l.id}</code>
            </td>
            <td>
              <a href={serviceHref(l.service)}>{l.service}</a>
            </td>
            <td>{l.node}</td>
            <td>
              <code>{l.role}</code>
            </td>
            <td title={l.createdAt}>{stamp(l.createdAt)}</td>
            <td title={l.expiresAt}>{stamp(l.expiresAt)}</td>
            <td title={l.maxExpiresAt}>{stamp(l.maxExpiresAt)}</td>
            <td>
              {l.revokedAt === null ? (
                <span class="muted">active</span>
              ) : (
                `${stamp(l.revokedAt)}${l.revokeReason ? ` (${l.revokeReason})` : ''}`
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Service keys as links to their page (the Graph view with the service selected). */
export function ServiceLinks({ keys }: { keys: readonly string[] }) {
  if (keys.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="sec-services">
      {keys.map((k) => (
        <li key={k}>
          <a href={serviceHref(k)}>{k}</a>
        </li>
      ))}
    </ul>
  );
}
