// URLs relative to where the app is served (`/`, `/control/`, ...). Pure: every input is passed in.

/**
 * The app's base URL: the directory of the page, or, when the entry module's URL is known and lies
 * under `<base>/assets/`, that base (robust even when the page URL lacks its trailing slash).
 */
export function appBase(pageHref, moduleUrl) {
  if (moduleUrl) {
    const i = moduleUrl.lastIndexOf('/assets/');
    if (i >= 0 && /^https?:/.test(moduleUrl)) return moduleUrl.slice(0, i + 1);
  }
  const u = new URL(pageHref);
  u.hash = '';
  u.search = '';
  u.pathname = u.pathname.slice(0, u.pathname.lastIndexOf('/') + 1);
  return u.href;
}

/** The WebSocket URL of the live feed for an app base URL: ws(s)://host/<base path>api/live. */
export function liveUrl(base) {
  const u = new URL('api/live', base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

/** Splits a hash route `#/concepts/default?id=x` into {parts:['concepts','default'], query:{id:'x'}}. */
export function parseRoute(hash) {
  const h = (hash || '').replace(/^#\/?/, '');
  const q = h.indexOf('?');
  const path = q >= 0 ? h.slice(0, q) : h;
  const query = {};
  if (q >= 0) for (const [k, v] of new URLSearchParams(h.slice(q + 1))) query[k] = v;
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query };
}

/** Builds a hash route from parts and an optional query object. */
export function routeHref(parts, query) {
  const p = parts.map((x) => encodeURIComponent(x)).join('/');
  const qs = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== '')).toString() : '';
  return '#/' + p + (qs ? '?' + qs : '');
}

/** Parses an attribute filter `k=v,k2=v2` into an object; throws on a part without '='. */
export function parseFilter(text) {
  const out = {};
  for (const part of (text || '').split(',')) {
    const p = part.trim();
    if (!p) continue;
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`filter "${p}" is not key=value`);
    out[p.slice(0, i).trim()] = p.slice(i + 1).trim();
  }
  return out;
}

/**
 * Parses keyword fields typed by hand, engramctl's syntax: `lemmas^3:1, title^2, tags` ->
 * [{attribute, weight?, b?}] (unset numbers are the server's defaults: weight 1, b 0.75).
 * Throws on a missing name or a non-number; ranges are the server's to check.
 */
export function parseKeywordFields(text) {
  const out = [];
  for (const part of (text || '').split(',')) {
    const p = part.trim();
    if (!p) continue;
    const [attribute, numbers] = p.split('^', 2);
    if (!attribute.trim()) throw new Error(`keyword field "${p}" has no attribute name`);
    const field = { attribute: attribute.trim() };
    if (numbers !== undefined) {
      const [w, b] = numbers.split(':', 2);
      const num = (s, what) => {
        const v = Number((s || '').trim());
        if (!(s || '').trim() || !Number.isFinite(v)) throw new Error(`keyword field "${p}": ${what} is not a number`);
        return v;
      };
      field.weight = num(w, 'the weight after ^');
      if (b !== undefined) field.b = num(b, 'b after :');
    }
    out.push(field);
  }
  return out;
}

/** Formats keyword fields as parseKeywordFields reads them: `lemmas^3:1, title^1:0.75`. */
export function formatKeywordFields(fields) {
  return (fields || []).map((f) => `${f.attribute}^${f.weight ?? 1}:${f.b ?? 0.75}`).join(', ');
}

/** Parses a vector typed by hand: `[0.1, 0.2]` or `0.1 0.2` or `0.1,0.2`. Throws on a non-number. */
export function parseVector(text) {
  const t = (text || '').trim().replace(/^\[|\]$/g, '');
  if (!t) throw new Error('the vector is empty');
  return t.split(/[\s,]+/).filter(Boolean).map((x) => {
    const v = Number(x);
    if (!Number.isFinite(v)) throw new Error(`"${x}" is not a finite number`);
    return v;
  });
}
