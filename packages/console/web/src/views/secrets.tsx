/**
 * Secrets: the secrets the signed-in token owns (an admin: all) with their owner, type, readers,
 * current version, rotation and leases, and one secret's detail (`#/secrets?secret=shop/api-key`):
 * its versions with their states, its leases, its readers, and rotate / roll back for owners.
 * Metadata only: the console never asks for a value (no `GET …/value`), so none can reach the
 * page, its history or a screenshot.
 */
import type { SecretSummaryV1 } from '@ward/api-types/console';
import { useEffect, useState } from 'preact/hooks';
import type { ViewProps } from '../app.tsx';
import { Problem } from '../policies/problem.tsx';
import { useLoad } from '../policies/use-load.ts';
import { SecretDetail, ServiceLinks } from '../secrets/detail.tsx';
import { dueIn, matchesSecret, secretHref, secretKeyFromUrl, stamp } from '../secrets/model.ts';

export function SecretsView({ api, me, params }: ViewProps) {
  // The URL is anyone's text: only a well-formed key (a secret key is shaped like a service
  // key) is looked up, so no `..` or other path can be smuggled into an API request.
  const asked = params.get('secret');
  const selected = asked === null ? null : secretKeyFromUrl(asked);
  return (
    <div class="sec">
      <p class="sec-note" data-testid="secrets-note">
        Values are never shown here; use <code>ward secret get --reveal</code> (an audited read).
      </p>
      {asked !== null && selected === null && (
        <p class="error" role="alert" data-testid="secret-bad-key">
          Not a secret name: {asked} (name or namespace/name, lowercase DNS labels).
        </p>
      )}
      {selected ? (
        <SecretDetail key={selected} api={api} me={me} secret={selected} />
      ) : (
        <SecretList api={api} me={me} params={params} />
      )}
    </div>
  );
}

function SecretList({ api, me }: ViewProps) {
  const list = useLoad(
    () => api.get<{ items: SecretSummaryV1[] }>('/v1/secrets').then((r) => r.items),
    [api],
  );
  const [text, setText] = useState('');
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(tick);
  }, []);
  const items = (list.data ?? []).filter((s) => matchesSecret(s, text));

  return (
    <section class="pol-panel" data-testid="secrets">
      <h2>
        Secrets{' '}
        <span class="muted">
          {me.scope === 'admin' ? 'every secret' : 'the secrets of the services this token owns'}
        </span>
      </h2>
      <div class="pol-actions">
        <input
          aria-label="search secrets"
          data-testid="secrets-filter"
          placeholder="secret, owner or reader"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
        <button type="button" data-testid="secrets-reload" onClick={list.reload}>
          Reload
        </button>
      </div>
      <Problem failure={list.failure} />
      {list.data === null && !list.failure && <p class="muted">Loading…</p>}
      {list.data !== null && items.length === 0 && (
        <p class="muted" data-testid="secrets-empty">
          {list.data.length === 0
            ? 'No secret: apply a Secret document (kind: Secret) for a service this token owns.'
            : 'No secret matches.'}
        </p>
      )}
      {items.length > 0 && (
        <table data-testid="secrets-table">
          <thead>
            <tr>
              <th>Secret</th>
              <th>Owner</th>
              <th>Type</th>
              <th>Readers</th>
              <th>Current</th>
              <th>Versions</th>
              <th>Updated</th>
              <th>Next rotation</th>
              <th>Active leases</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.secret} data-testid="secret-row" data-secret={s.secret}>
                <td>
                  <a href={secretHref(s.secret)} data-testid="secret-open">
                    {s.secret}
                  </a>
                </td>
                <td>{s.owner ?? <span class="muted">undeclared</span>}</td>
                <td>
                  <span class="badge">{s.type}</span>
                </td>
                <td>
                  <ServiceLinks keys={s.readers} />
                </td>
                <td data-testid="secret-current">
                  {s.currentVersion === null ? (
                    <span class="muted">no value</span>
                  ) : (
                    `v${s.currentVersion}`
                  )}
                </td>
                <td>{s.versionCount}</td>
                <td title={s.updatedAt ?? ''}>{stamp(s.updatedAt)}</td>
                <td title={s.nextRotationAt ?? ''}>
                  {s.rotation.every === null ? (
                    <span class="muted">not scheduled</span>
                  ) : (
                    <>
                      {dueIn(s.nextRotationAt, now)}{' '}
                      <span class="muted">every {s.rotation.every}</span>
                    </>
                  )}
                </td>
                <td>{s.type === 'postgres' ? s.activeLeases : <span class="muted">–</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
