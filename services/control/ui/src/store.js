// A tiny observable store and a hook for it (no framework state library needed).
import { useEffect, useState } from 'preact/hooks';

export function createStore(initial) {
  let state = initial;
  const subs = new Set();
  return {
    get: () => state,
    set(patch) {
      state = typeof patch === 'function' ? patch(state) : { ...state, ...patch };
      for (const f of subs) f(state);
    },
    subscribe(f) {
      subs.add(f);
      return () => subs.delete(f);
    },
  };
}

export function useStore(store) {
  const [s, setS] = useState(store.get());
  useEffect(() => {
    setS(store.get());
    return store.subscribe(setS);
  }, [store]);
  return s;
}

// Application state shared by the screens.
export const session = createStore({ status: 'checking', keyName: '', expiresAt: '', notice: '' });
export const prefs = createStore({ namespace: 'default' });
// The live feed: ticks (oldest first), connection state.
export const live = createStore({ ticks: [], intervalSeconds: 2, state: 'idle', retryInMs: 0, lastError: '' });
// The reasoning tester's history of questions in this session (memory only).
export const reasonHistory = createStore({ items: [] });
// Toasts: {id, kind: 'ok'|'error', text, error?}
export const toasts = createStore({ items: [] });

let toastId = 0;
export function toast(kind, text, error) {
  const id = ++toastId;
  toasts.set((s) => ({ items: [...s.items.slice(-4), { id, kind, text, error }] }));
  setTimeout(() => toasts.set((s) => ({ items: s.items.filter((t) => t.id !== id) })), kind === 'error' ? 12000 : 4000);
}
