/**
 * The console shell: sign-in with a Ward token, then one view per concern. Every view talks to
 * the API with the signed-in token, so a team token sees and changes exactly what the API lets
 * it — the console adds no authority of its own.
 */
import { useEffect, useState } from 'preact/hooks';
import { Api, ApiProblem, type Me } from './api.ts';
import { useRoute } from './route.ts';
import { forgetToken, savedToken, saveToken } from './session.ts';
import { VIEWS } from './views/index.ts';

export interface ViewProps {
  api: Api;
  me: Me;
  params: URLSearchParams;
}

export function App() {
  const [session, setSession] = useState<{ api: Api; me: Me } | null>(null);
  const [checking, setChecking] = useState(savedToken() !== null);

  useEffect(() => {
    const token = savedToken();
    if (!token) return;
    const api = new Api(token);
    api
      .get<Me>('/v1/whoami')
      .then((me) => setSession({ api, me }))
      .catch(() => forgetToken())
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <p class="muted pad">Checking your token…</p>;
  if (!session) return <SignIn onSignedIn={setSession} />;
  return (
    <Shell
      {...session}
      onSignOut={() => {
        forgetToken();
        setSession(null);
      }}
    />
  );
}

function SignIn(props: { onSignedIn: (s: { api: Api; me: Me }) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const api = new Api(token.trim());
    try {
      const me = await api.get<Me>('/v1/whoami');
      saveToken(token.trim());
      props.onSignedIn({ api, me });
    } catch (e) {
      setError(e instanceof ApiProblem ? e.message : 'the control plane did not answer');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <h1>Ward</h1>
      <form onSubmit={submit} data-testid="signin">
        <label for="token">Ward token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          placeholder="ward_…"
        />
        <button type="submit" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <p class="muted">
          An admin token sees everything; a team token sees and changes what its team owns. The
          token stays in this tab only.
        </p>
      </form>
    </main>
  );
}

function Shell(props: { api: Api; me: Me; onSignOut: () => void }) {
  const route = useRoute();
  const current = VIEWS.find((v) => v.id === route.view) ?? VIEWS[0]!;
  const View = current.component;
  return (
    <div class="shell">
      <header>
        <strong class="brand">Ward</strong>
        <nav>
          {VIEWS.map((v) => (
            <a key={v.id} href={`#/${v.id}`} class={v.id === current.id ? 'active' : ''}>
              {v.title}
            </a>
          ))}
        </nav>
        <span class="who" data-testid="whoami">
          {props.me.name} <span class="badge">{props.me.scope}</span>
        </span>
        <button type="button" class="link" onClick={props.onSignOut}>
          Sign out
        </button>
      </header>
      <main class="view" data-view={current.id}>
        <View api={props.api} me={props.me} params={route.params} />
      </main>
    </div>
  );
}
