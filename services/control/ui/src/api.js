// The admin API client: relative URLs under the app's base, the CSRF token kept in memory only,
// errors as ApiError carrying the server's message and correlation id. Any 401 sends the app
// back to the login screen.
import { appBase } from './lib/urls.js';

export const BASE = appBase(location.href, import.meta.url);

let csrfToken = null;
let unauthorized = () => {};

export function setCsrfToken(t) {
  csrfToken = t || null;
}
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** `api/...` resolved against the app's base (works at `/` and under `/control/`). */
export function apiUrl(path, query) {
  const u = new URL(path, BASE);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === '') continue;
      if (Array.isArray(v)) v.forEach((x) => u.searchParams.append(k, x));
      else u.searchParams.set(k, String(v));
    }
  }
  return u.href;
}

export class ApiError extends Error {
  constructor({ status, code, message, correlationId, retryAfter, path }) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || (status ? `HTTP_${status}` : 'NETWORK');
    this.correlationId = correlationId || '';
    this.retryAfter = retryAfter;
    this.path = path;
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Calls the admin API. opts: json (body as JSON), body (raw body), contentType, query,
 * expect ('json' | 'text' | 'none'), noAuthRedirect (a 401 is returned as an error only).
 */
export async function request(method, path, opts = {}) {
  const headers = { Accept: opts.expect === 'text' ? 'text/plain' : 'application/json' };
  let body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = opts.contentType || 'application/octet-stream';
    body = opts.body;
  }
  if (MUTATING.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(apiUrl(path, opts.query), { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError({ status: 0, code: 'NETWORK', message: `engram-control is unreachable (${e.message})`, path });
  }
  if (!res.ok) {
    const err = await errorFrom(res, path);
    if (res.status === 401 && !opts.noAuthRedirect) unauthorized(err);
    throw err;
  }
  if (opts.expect === 'none' || res.status === 204) return null;
  if (opts.expect === 'text') return res.text();
  const text = await res.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError({ status: res.status, code: 'BAD_RESPONSE', message: `the answer of ${path} is not JSON`, path });
  }
}

async function errorFrom(res, path) {
  let code, message, correlationId;
  const text = await res.text().catch(() => '');
  try {
    const e = JSON.parse(text).error || {};
    code = e.code;
    message = e.message;
    correlationId = e.correlationId;
  } catch {
    message = text.trim().slice(0, 500) || res.statusText;
  }
  const ra = res.headers.get('Retry-After');
  return new ApiError({
    status: res.status,
    code,
    message: message || `HTTP ${res.status}`,
    correlationId: correlationId || res.headers.get('X-Correlation-ID') || '',
    retryAfter: ra !== null && ra !== '' && !Number.isNaN(Number(ra)) ? Number(ra) : undefined,
    path,
  });
}

export const get = (path, query, opts) => request('GET', path, { ...opts, query });
export const post = (path, json, opts) => request('POST', path, { ...opts, json });
export const del = (path, json, opts) => request('DELETE', path, { ...opts, json });

export const enc = encodeURIComponent;
