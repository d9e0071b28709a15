// The live feed: a WebSocket to api/live with reconnects (exponential backoff with jitter).
// The server sends {"type":"history",...} first, then {"type":"tick",...} every interval.
import { liveUrl } from './lib/urls.js';
import { appendTick, mergeHistory, backoffDelay } from './lib/series.js';
import { BASE, get } from './api.js';
import { live } from './store.js';

const MAX_TICKS = 3000;
let ws = null;
let timer = null;
let attempt = 0;
let running = false;

export function startLive() {
  if (running) return;
  running = true;
  attempt = 0;
  connect();
}

export function stopLive() {
  running = false;
  clearTimeout(timer);
  timer = null;
  if (ws) {
    ws.onclose = null;
    ws.close();
    ws = null;
  }
  live.set({ state: 'idle', ticks: [] });
}

function connect() {
  if (!running) return;
  live.set({ state: attempt ? 'reconnecting' : 'connecting', retryInMs: 0 });
  let sock;
  try {
    sock = new WebSocket(liveUrl(BASE));
  } catch (e) {
    live.set({ lastError: String(e.message || e) });
    schedule();
    return;
  }
  ws = sock;
  sock.onopen = () => {
    attempt = 0;
    live.set({ state: 'open', lastError: '' });
  };
  sock.onmessage = (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.type === 'history') {
      live.set((s) => ({ ...s, intervalSeconds: msg.intervalSeconds || s.intervalSeconds, ticks: mergeHistory(s.ticks, msg.ticks || [], MAX_TICKS) }));
    } else if (msg.type === 'tick') {
      live.set((s) => ({ ...s, ticks: appendTick(s.ticks, msg, MAX_TICKS) }));
    }
  };
  sock.onclose = (ev) => {
    if (ws === sock) ws = null;
    if (!running) return;
    live.set({ state: 'closed', lastError: ev.reason || `closed (${ev.code})` });
    schedule();
  };
}

async function schedule() {
  if (!running) return;
  const delay = backoffDelay(attempt++);
  live.set({ state: 'waiting', retryInMs: delay });
  timer = setTimeout(async () => {
    // A refused upgrade looks like any other close: ask whether the session is still valid
    // (a 401 sends the app to the login screen and stops the feed).
    if (attempt > 1) {
      try {
        await get('api/session');
      } catch (e) {
        if (e.status === 401) return;
      }
    }
    connect();
  }, delay);
}
