// Tick history (the admin API's `history` and `tick` messages) -> uPlot data.
// uPlot wants columns: [xs (unix seconds), ys1, ys2, ...] with null for gaps.

/** Appends a tick to a history kept sorted by time and bounded to `maxTicks` (drops the oldest). */
export function appendTick(ticks, tick, maxTicks = 2000) {
  const last = ticks[ticks.length - 1];
  if (last && tick.unixTime <= last.unixTime) {
    // A duplicate or an out-of-order tick (e.g. after a reconnect): keep time order, no duplicates.
    if (ticks.some((t) => t.unixTime === tick.unixTime)) return ticks;
    const out = [...ticks, tick].sort((a, b) => a.unixTime - b.unixTime);
    return out.length > maxTicks ? out.slice(out.length - maxTicks) : out;
  }
  const out = ticks.concat([tick]);
  return out.length > maxTicks ? out.slice(out.length - maxTicks) : out;
}

/** Merges a `history` message into the ticks already held (a reconnect resends the history). */
export function mergeHistory(ticks, history, maxTicks = 2000) {
  let out = ticks;
  for (const t of history) out = appendTick(out, t, maxTicks);
  return out;
}

/** The ticks within the last `seconds` of the newest tick (all of them when seconds is falsy). */
export function clipToRange(ticks, seconds) {
  if (!seconds || ticks.length === 0) return ticks;
  const end = ticks[ticks.length - 1].unixTime;
  const i = ticks.findIndex((t) => t.unixTime >= end - seconds);
  return i <= 0 ? ticks : ticks.slice(i);
}

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Every service id seen in the ticks, in order of first appearance. */
export function serviceIds(ticks) {
  const ids = [];
  const seen = new Set();
  for (const t of ticks) for (const s of t.services || []) if (!seen.has(s.id)) { seen.add(s.id); ids.push(s.id); }
  return ids;
}

/**
 * One series per service instance of `field` (e.g. requestRate): {labels: [id...], data: [xs, ...ys]}.
 * `scale` multiplies the values (e.g. 100 for a ratio shown in %). Missing or null -> gap.
 */
export function perServiceSeries(ticks, field, { scale = 1, ids = serviceIds(ticks) } = {}) {
  const xs = ticks.map((t) => t.unixTime);
  const ys = ids.map((id) =>
    ticks.map((t) => {
      const s = (t.services || []).find((x) => x.id === id);
      if (!s || s.status === 'unreachable') return null;
      const v = num(s[field]);
      return v === null ? null : v * scale;
    }),
  );
  return { labels: ids, data: [xs, ...ys] };
}

/** p50/p95/p99 of one service: {labels:['p50','p95','p99'], data:[xs, p50s, p95s, p99s]} (in `scale` units). */
export function latencySeries(ticks, id, { scale = 1 } = {}) {
  const xs = ticks.map((t) => t.unixTime);
  const fields = ['p50Seconds', 'p95Seconds', 'p99Seconds'];
  const ys = fields.map((f) =>
    ticks.map((t) => {
      const s = (t.services || []).find((x) => x.id === id);
      if (!s || s.status === 'unreachable') return null;
      const v = num(s[f]);
      return v === null ? null : v * scale;
    }),
  );
  return { labels: ['p50', 'p95', 'p99'], data: [xs, ...ys] };
}

/** One storage field over time: {labels:[field], data:[xs, ys]}. */
export function storageSeries(ticks, field, { scale = 1 } = {}) {
  const xs = ticks.map((t) => t.unixTime);
  const ys = ticks.map((t) => {
    const v = num(t.storage && t.storage[field]);
    return v === null ? null : v * scale;
  });
  return { labels: [field], data: [xs, ys] };
}

/** One series per namespace of `field` (concepts or associations). */
export function namespaceSeries(ticks, field) {
  const names = [];
  const seen = new Set();
  for (const t of ticks) for (const n of t.namespaces || []) if (!seen.has(n.name)) { seen.add(n.name); names.push(n.name); }
  const xs = ticks.map((t) => t.unixTime);
  const ys = names.map((name) =>
    ticks.map((t) => {
      const n = (t.namespaces || []).find((x) => x.name === name);
      return n ? num(n[field]) : null;
    }),
  );
  return { labels: names, data: [xs, ...ys] };
}

// As the EngramStorageIndexLagging alert: one namespace's backlog above 50,000 vectors (levels
// start at their bound, so 50,001).
export const INDEX_BACKLOG = { warn: 50001 };

/** The unindexed-vectors tile's level: the largest namespace backlog against INDEX_BACKLOG
 * (the alert is per namespace; the tile's number is the total). 'unknown' without storage data. */
export function indexBacklogLevel(storage, namespaces) {
  if (storage?.unindexedVectors === null || storage?.unindexedVectors === undefined) return 'unknown';
  const worst = (namespaces || []).reduce((m, n) => Math.max(m, n.unindexedVectors ?? 0), 0);
  return thresholdLevel(worst, INDEX_BACKLOG);
}

/**
 * Threshold level of a value: 'ok' | 'warn' | 'crit' | 'unknown', for thresholds {warn, crit}
 * (higher is worse).
 */
export function thresholdLevel(value, { warn, crit } = {}) {
  if (value === null || value === undefined || Number.isNaN(value)) return 'unknown';
  if (crit !== undefined && value >= crit) return 'crit';
  if (warn !== undefined && value >= warn) return 'warn';
  return 'ok';
}

/** Reconnect delay (ms) for attempt n (0-based): exponential from baseMs, capped, with jitter in [0.5, 1). */
export function backoffDelay(attempt, { baseMs = 500, maxMs = 30000, random = Math.random } = {}) {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(exp * (0.5 + random() * 0.5));
}
