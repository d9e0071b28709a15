import { useEffect, useState } from 'preact/hooks';
import { live, useStore } from '../store.js';
import { effectiveTheme, setTheme, storedTheme } from '../theme.js';

const NAV = [
  ['overview', 'Overview'],
  ['namespaces', 'Namespaces'],
  ['concepts', 'Concepts'],
  ['graph', 'Graph'],
  ['reason', 'Reasoning'],
  ['snapshots', 'Snapshots'],
  ['audit', 'Audit'],
];

function LiveDot() {
  const l = useStore(live);
  const text =
    l.state === 'open' ? 'live' : l.state === 'waiting' ? `reconnecting in ${Math.ceil(l.retryInMs / 1000)} s` : l.state === 'idle' ? 'offline' : l.state;
  return (
    <span class={'live-dot ' + (l.state === 'open' ? 'ok' : 'warn')} title={l.lastError || text} data-testid="live-state">
      ● {text}
    </span>
  );
}

function ThemeSwitch() {
  const [choice, setChoice] = useState(storedTheme());
  const [eff, setEff] = useState(effectiveTheme());
  useEffect(() => {
    const f = () => {
      setChoice(storedTheme());
      setEff(effectiveTheme());
    };
    window.addEventListener('engram-theme', f);
    return () => window.removeEventListener('engram-theme', f);
  }, []);
  return (
    <span class="theme-switch">
      <button
        class="icon"
        data-testid="theme-toggle"
        title={`theme: ${eff}${choice === 'system' ? ' (following the system)' : ''}; click for ${eff === 'dark' ? 'light' : 'dark'}`}
        onClick={() => setTheme(eff === 'dark' ? 'light' : 'dark')}
      >
        {eff === 'dark' ? '☀ light' : '☾ dark'}
      </button>
      {choice !== 'system' ? (
        <button class="icon" title="follow the system's theme" onClick={() => setTheme('system')}>
          auto
        </button>
      ) : null}
    </span>
  );
}

export function Header({ route, keyName, onLogout }) {
  return (
    <header class="header">
      <a class="brand" href="#/overview">
        <img src="./favicon.svg" alt="" width="20" height="20" /> Engram control
      </a>
      <nav class="nav">
        {NAV.map(([id, label]) => (
          <a key={id} href={'#/' + id} class={route === id || (route === 'metrics' && id === 'overview') ? 'active' : ''} data-nav={id}>
            {label}
          </a>
        ))}
      </nav>
      <div class="header-right">
        <LiveDot />
        <span class="muted small" title="the admin key's name">
          {keyName}
        </span>
        <ThemeSwitch />
        <button onClick={onLogout} data-testid="logout">
          Log out
        </button>
      </div>
    </header>
  );
}
