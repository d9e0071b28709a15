import { useEffect, useRef, useState } from 'preact/hooks';
import { useStore, toasts, prefs } from '../store.js';
import { get } from '../api.js';

/** An API error shown whole: code, message, correlation id. Never swallowed. */
export function ErrorBox({ error, onClose }) {
  if (!error) return null;
  return (
    <div class="error-box" role="alert" data-testid="error">
      <div>
        <strong>{error.code || 'ERROR'}</strong>
        {error.status ? <span class="muted"> (HTTP {error.status})</span> : null}: {error.message}
      </div>
      {error.correlationId ? (
        <div class="muted small">
          correlation id <code class="selectable">{error.correlationId}</code>
        </div>
      ) : null}
      {onClose ? (
        <button class="link close" onClick={onClose} aria-label="dismiss">
          ×
        </button>
      ) : null}
    </div>
  );
}

export function Toasts() {
  const { items } = useStore(toasts);
  return (
    <div class="toasts" aria-live="polite">
      {items.map((t) => (
        <div key={t.id} class={'toast ' + t.kind} data-testid={'toast-' + t.kind} title="click to dismiss" onClick={() => toasts.set((s) => ({ items: s.items.filter((x) => x.id !== t.id) }))}>
          {t.text}
          {t.error ? <ErrorBox error={t.error} /> : null}
        </div>
      ))}
    </div>
  );
}

/**
 * A confirmation dialog that names the target. With `typed`, the user must type the target's name.
 */
export function Confirm({ title, target, typed, action = 'Delete', danger = true, onConfirm, onCancel, children }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const ref = useRef();
  useEffect(() => {
    ref.current && ref.current.focus();
    const onKey = (e) => e.key === 'Escape' && !busy && onCancel();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [busy]);
  const ok = !typed || text === target;
  const go = async (e) => {
    e && e.preventDefault();
    if (!ok || busy) return;
    setBusy(true);
    setError(null);
    try {
      await onConfirm(text);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <div class="modal-backdrop">
      <form class="modal" role="dialog" aria-modal="true" aria-label={title} onSubmit={go} data-testid="confirm">
        <h3>{title}</h3>
        <p>
          {action} <code class="target">{target}</code>?
        </p>
        {children}
        {typed ? (
          <label>
            Type <code>{target}</code> to confirm
            <input ref={ref} value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="confirm-input" autocomplete="off" spellcheck={false} />
          </label>
        ) : null}
        <ErrorBox error={error} />
        <div class="row end">
          <button type="button" onClick={onCancel} ref={typed ? undefined : ref}>
            Cancel
          </button>
          <button type="submit" class={danger ? 'danger' : 'primary'} disabled={!ok || busy} data-testid="confirm-ok">
            {busy ? 'Working…' : action}
          </button>
        </div>
      </form>
    </div>
  );
}

/** The namespace list (for the pickers), refreshed when asked. */
export function useNamespaces() {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const load = async () => {
    try {
      const r = await get('api/namespaces');
      setList(r.namespaces || []);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load();
  }, []);
  return { list, error, reload: load };
}

export function NamespacePicker({ value, onChange }) {
  const { list, error } = useNamespaces();
  const names = list ? list.map((n) => n.name) : [];
  if (value && !names.includes(value)) names.unshift(value);
  return (
    <label class="inline">
      Namespace
      <select
        value={value}
        data-testid="namespace-picker"
        onChange={(e) => {
          prefs.set({ namespace: e.currentTarget.value });
          onChange(e.currentTarget.value);
        }}
      >
        {names.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
      {error ? <span class="bad small" title={error.message}> (namespaces unavailable)</span> : null}
    </label>
  );
}

export function StatusBadge({ status }) {
  const text = status === 'unreachable' ? 'unavailable' : status === 'not_ready' ? 'not ready' : status || 'unknown';
  const cls = status === 'ready' ? 'ok' : status === 'not_ready' ? 'warn' : 'crit';
  return (
    <span class={'badge ' + cls} data-testid="status">
      {text}
    </span>
  );
}

export function Attributes({ attrs }) {
  const entries = Object.entries(attrs || {});
  if (!entries.length) return <span class="muted">none</span>;
  return (
    <span class="attrs">
      {entries.map(([k, v]) => (
        <span class="attr" key={k}>
          {k}={v}
        </span>
      ))}
    </span>
  );
}

export function Loading({ what }) {
  return <div class="muted loading">Loading {what}…</div>;
}

export const TYPE_COLORS = {
  SEMANTIC: '#6b7280',
  CAUSAL: '#dc2626',
  TEMPORAL: '#2563eb',
  HIERARCHICAL: '#16a34a',
  COMPOSITIONAL: '#9333ea',
};

export function TypeTag({ type }) {
  return <span class={'type-tag t-' + (type || 'SEMANTIC')}>{type || 'SEMANTIC'}</span>;
}
export { toast } from '../store.js';
