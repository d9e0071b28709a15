import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { get, post, setCsrfToken, onUnauthorized } from './api.js';
import { parseRoute } from './lib/urls.js';
import { session, useStore } from './store.js';
import { startLive, stopLive } from './live.js';
import { applyTheme, watchSystemTheme } from './theme.js';
import { Toasts } from './components/common.jsx';
import { Header } from './components/Header.jsx';
import { Login } from './screens/Login.jsx';
import { Overview } from './screens/Overview.jsx';
import { RawMetrics } from './screens/RawMetrics.jsx';
import { Namespaces } from './screens/Namespaces.jsx';
import { Concepts } from './screens/Concepts.jsx';
import { Snapshots } from './screens/Snapshots.jsx';
import { Audit } from './screens/Audit.jsx';
import { Reason } from './screens/Reason.jsx';
import { lazy } from './components/lazy.jsx';

// The graph explorer pulls in cytoscape: loaded only when that screen opens.
const Graph = lazy(() => import('./screens/Graph.jsx').then((m) => m.Graph));

applyTheme();
watchSystemTheme();

// A page opened as `/control` (no trailing slash) would resolve `api/...` against `/`: normalise.
if (!location.pathname.endsWith('/') && !/\.[a-z]+$/i.test(location.pathname)) {
  history.replaceState(null, '', location.pathname + '/' + location.search + location.hash);
}

export function loggedIn(s) {
  setCsrfToken(s.csrfToken);
  session.set({ status: 'in', keyName: s.keyName, expiresAt: s.expiresAt, notice: '' });
  startLive();
}

export async function logout() {
  try {
    await post('api/logout', undefined, { expect: 'none', noAuthRedirect: true });
  } catch {
    /* the session may be gone already: the login screen follows either way */
  }
  setCsrfToken(null);
  stopLive();
  session.set({ status: 'out', keyName: '', notice: 'Logged out.' });
}

onUnauthorized(() => {
  setCsrfToken(null);
  stopLive();
  if (session.get().status === 'in') session.set({ status: 'out', notice: 'Your session has expired or was revoked: log in again.' });
});

function useRoute() {
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const f = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);
  return route;
}

const SCREENS = {
  overview: Overview,
  metrics: RawMetrics,
  namespaces: Namespaces,
  concepts: Concepts,
  graph: Graph,
  reason: Reason,
  snapshots: Snapshots,
  audit: Audit,
};

function App() {
  const s = useStore(session);
  const route = useRoute();
  useEffect(() => {
    get('api/session', undefined, { noAuthRedirect: true })
      .then(loggedIn)
      .catch((e) => session.set({ status: 'out', notice: e.status === 401 ? '' : e.message }));
  }, []);
  const name = route.parts[0] || 'overview';
  const Screen = SCREENS[name];
  useEffect(() => {
    if (!Screen) location.hash = '#/overview';
  }, [Screen]);
  if (s.status === 'checking') return <div class="center muted">Loading…</div>;
  if (s.status !== 'in') return <Login onLoggedIn={loggedIn} notice={s.notice} />;
  return (
    <div class="app">
      <Header route={name} keyName={s.keyName} onLogout={logout} />
      <main class="main" data-screen={name}>
        {Screen ? <Screen route={route} /> : null}
      </main>
      <Toasts />
    </div>
  );
}

render(<App />, document.getElementById('app'));
