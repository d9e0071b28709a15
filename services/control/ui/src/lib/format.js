// Number and time formatting with units (axes, tiles, tables).

export function formatBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + units[i];
}

/** A latency in seconds as µs/ms/s. */
export function formatSeconds(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  const a = Math.abs(s);
  if (a === 0) return '0';
  if (a < 1e-3) return trim(s * 1e6) + ' µs';
  if (a < 1) return trim(s * 1e3) + ' ms';
  return trim(s) + ' s';
}

/** An uptime in seconds as `3d 4h`, `5h 12m`, `42s`. */
export function formatUptime(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function formatRate(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return trim(v) + '/s';
}

export function formatPercent(ratio) {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return '–';
  return trim(ratio * 100) + ' %';
}

export function formatNumber(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 1e6) return trim(v / 1e6) + 'M';
  if (Math.abs(v) >= 1e4) return trim(v / 1e3) + 'k';
  return trim(v);
}

/** 3 significant digits, no trailing zeros. */
export function trim(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(a)));
  return String(Number(v.toFixed(digits)));
}

/** Axis tick formatter for a unit: 's' (latency), 'B' (bytes), '%', '/s', '' (plain). */
export function axisFormatter(unit) {
  switch (unit) {
    case 's': return formatSeconds;
    case 'B': return formatBytes;
    case '%': return (v) => trim(v) + ' %';
    case '/s': return (v) => formatNumber(v) + '/s';
    default: return formatNumber;
  }
}

export function formatTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { hour12: false });
}
