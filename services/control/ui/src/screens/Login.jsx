import { useEffect, useRef, useState } from 'preact/hooks';
import { post } from '../api.js';
import { ErrorBox } from '../components/common.jsx';

/**
 * Login with an admin API key. The key lives only in the password field and the request body:
 * never in localStorage/sessionStorage, and the field is cleared after every attempt.
 */
export function Login({ onLoggedIn, notice }) {
  const input = useRef();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [retryUntil, setRetryUntil] = useState(0);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    input.current && input.current.focus();
  }, []);
  useEffect(() => {
    if (retryUntil <= Date.now()) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [retryUntil]);
  const wait = Math.max(0, Math.ceil((retryUntil - now) / 1000));

  const submit = async (e) => {
    e.preventDefault();
    const key = input.current.value.trim();
    if (!key || busy || wait) return;
    setBusy(true);
    setError(null);
    try {
      const s = await post('api/login', { key }, { noAuthRedirect: true });
      input.current.value = '';
      onLoggedIn(s);
    } catch (err) {
      input.current.value = '';
      let message = err.message;
      if (err.status === 401) message = err.message || 'Unknown key.';
      if (err.status === 403) message = err.message || 'This key is not an admin key.';
      if (err.status === 429) {
        const s = err.retryAfter ?? 60;
        setRetryUntil(Date.now() + s * 1000);
        setNow(Date.now());
        message = `${err.message || 'Too many failed logins.'} Retry in ${s} s.`;
      }
      setError({ ...err, code: err.code, status: err.status, message, correlationId: err.correlationId });
      setBusy(false);
      input.current.focus();
    }
  };

  return (
    <div class="login">
      <form class="card login-card" onSubmit={submit} data-testid="login-form">
        <h1>
          <img src="./favicon.svg" alt="" width="28" height="28" /> Engram control
        </h1>
        <p class="muted">Log in with an <strong>admin</strong> API key (from the api keys file).</p>
        {notice ? <p class="notice">{notice}</p> : null}
        <label>
          Admin API key
          <input ref={input} type="password" name="key" autocomplete="off" spellcheck={false} placeholder="ek_…" data-testid="login-key" required />
        </label>
        <ErrorBox error={error} />
        <button class="primary" type="submit" disabled={busy || wait > 0} data-testid="login-submit">
          {busy ? 'Checking…' : wait ? `Retry in ${wait} s` : 'Log in'}
        </button>
        <p class="muted small">The key is sent once; the session is an HttpOnly cookie. Nothing is kept in this browser's storage.</p>
      </form>
    </div>
  );
}
