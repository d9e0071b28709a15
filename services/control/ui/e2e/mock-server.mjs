#!/usr/bin/env node
// A stand-in for engram-control that implements the admin API contract of docs/control.md in
// memory, for developing the UI and for checking the end-to-end script before (or without) the
// real backend. It is NOT the product: the real e2e runs against the real binaries.
//
//   node e2e/mock-server.mjs [--port=8099] [--ui_dir=dist] [--prefix=/control/]
//   mock control endpoints: POST <prefix>__mock/hybrid/stop | start, <prefix>__mock/live/drop
//
// Keys: ek_admin_mock (admin), ek_reader_mock (reader).
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split(/=(.*)/s).slice(0, 2)));
const PORT = Number(args.port || 8099);
const UI_DIR = path.resolve(args.ui_dir || path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist'));
let PREFIX = args.prefix || '/';
if (!PREFIX.endsWith('/')) PREFIX += '/';
const INTERVAL = Number(args.interval || 1);
const KEYS = { ek_admin_mock: { name: 'mock-admin', role: 'admin' }, ek_reader_mock: { name: 'mock-reader', role: 'reader' } };

const sessions = new Map(); // id -> {keyName, csrf, expiresAt}
const audit = [];
const snapshots = new Map(); // name -> {meta, bytes}
let hybridUp = true;
const started = Date.now() / 1000;
const failures = new Map();

function now() { return new Date().toISOString(); }
function cid() { return crypto.randomBytes(8).toString('hex'); }

// ---------------- data ----------------
const store = { namespaces: new Map() };
function mkns(name, dimension = 16, metric = 'COSINE', embedder = 'hashing', indexParams = { m: 16, efConstruction: 200, efSearch: 64 }) {
  store.namespaces.set(name, { name, dimension, metric, embedder, indexParams, createTime: now(), concepts: new Map(), assocs: new Map() });
  return store.namespaces.get(name);
}
function vec(text, dim) {
  const v = new Array(dim).fill(0);
  for (const w of text.toLowerCase().split(/\W+/).filter(Boolean)) {
    const h = crypto.createHash('md5').update(w).digest();
    v[h[0] % dim] += h[1] & 1 ? 1 : -1;
  }
  const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
  return v.map((x) => x / n);
}
function addConcept(ns, id, content, attributes = {}) {
  const t = now();
  ns.concepts.set(id, { id, content, attributes, vector: vec(content, ns.dimension), strength: 1, confidence: 1, createTime: t, updateTime: t });
}
function assoc(ns, source, target, type, confidence) {
  ns.assocs.set(`${source}|${target}|${type}`, { source, target, type, confidence, weight: 1, createTime: now() });
}
function seed() {
  const d = mkns('default');
  const items = [
    ['rain', 'Rain is water falling from clouds', { topic: 'weather' }],
    ['clouds', 'Clouds are made of water droplets', { topic: 'weather' }],
    ['evaporation', 'Evaporation turns water into vapour', { topic: 'physics' }],
    ['sun', 'The sun heats the oceans', { topic: 'astronomy' }],
    ['flood', 'Heavy rain causes floods', { topic: 'weather' }],
    ['river', 'A river carries water to the sea', { topic: 'geography' }],
    ['dog', 'A dog is a mammal', { topic: 'animals' }],
    ['mammal', 'A mammal is an animal', { topic: 'animals' }],
  ];
  for (const [id, c, a] of items) addConcept(d, id, c, a);
  for (let i = 0; i < 60; i++) addConcept(d, `fact-${i}`, `Filler fact number ${i} about water and weather`, { topic: i % 2 ? 'weather' : 'misc' });
  assoc(d, 'sun', 'evaporation', 'CAUSAL', 0.9);
  assoc(d, 'evaporation', 'clouds', 'CAUSAL', 0.85);
  assoc(d, 'clouds', 'rain', 'CAUSAL', 0.9);
  assoc(d, 'rain', 'flood', 'CAUSAL', 0.7);
  assoc(d, 'rain', 'river', 'SEMANTIC', 0.6);
  assoc(d, 'dog', 'mammal', 'HIERARCHICAL', 0.95);
  assoc(d, 'flood', 'river', 'TEMPORAL', 0.5);
  assoc(d, 'river', 'clouds', 'COMPOSITIONAL', 0.3);
}
seed();

const pub = (c, withVector) => {
  const o = { ...c };
  if (!withVector) delete o.vector;
  return o;
};
function neighbors(ns, id, { types = [], direction = 'BOTH', limit = 50 } = {}) {
  const out = [];
  for (const a of ns.assocs.values()) {
    if (types.length && !types.includes(a.type)) continue;
    if (a.source === id && direction !== 'IN' && ns.concepts.has(a.target)) out.push({ concept: pub(ns.concepts.get(a.target)), association: a, direction: 'OUT' });
    else if (a.target === id && direction !== 'OUT' && ns.concepts.has(a.source)) out.push({ concept: pub(ns.concepts.get(a.source)), association: a, direction: 'IN' });
  }
  return out.sort((x, y) => y.association.confidence - x.association.confidence).slice(0, limit);
}
function search(ns, text, k, filter = {}) {
  const q = new Set(text.toLowerCase().split(/\W+/).filter(Boolean));
  const res = [];
  for (const c of ns.concepts.values()) {
    if (Object.entries(filter).some(([kk, v]) => c.attributes[kk] !== v)) continue;
    const words = c.content.toLowerCase().split(/\W+/).filter(Boolean);
    const hit = words.filter((w) => q.has(w)).length;
    if (hit) res.push({ concept: pub(c), score: Math.min(1, hit / Math.max(1, q.size)) * 0.9 });
  }
  return res.sort((a, b) => b.score - a.score).slice(0, k);
}
function findPaths(ns, source, target, { mode = 'BEST', maxDepth = 6, maxPaths = 3, types = [], decay = 0.85 } = {}) {
  const paths = [];
  const walk = (cur, ids, hops) => {
    if (hops.length > maxDepth) return;
    if (cur === target && hops.length) {
      const conf = hops.reduce((a, h) => a * h.confidence, 1) * decay ** hops.length;
      paths.push({ conceptIds: [...ids], hops: [...hops], confidence: conf });
      return;
    }
    for (const n of neighbors(ns, cur, { types, limit: 1000 })) {
      const next = n.concept.id;
      if (ids.includes(next)) continue;
      ids.push(next); hops.push(n.association);
      walk(next, ids, hops);
      ids.pop(); hops.pop();
    }
  };
  walk(source, [source], []);
  paths.sort(mode === 'SHORTEST' ? (a, b) => a.hops.length - b.hops.length || b.confidence - a.confidence : (a, b) => b.confidence - a.confidence);
  const chosen = paths.slice(0, maxPaths);
  const concepts = {};
  for (const p of chosen) for (const id of p.conceptIds) concepts[id] = pub(ns.concepts.get(id));
  return { paths: chosen, concepts, truncated: false };
}

// ---------------- HTTP helpers ----------------
const SEC = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'self'",
};
function send(res, status, body, headers = {}) {
  const isBuf = Buffer.isBuffer(body);
  const data = body === undefined ? '' : isBuf || typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { ...SEC, 'Content-Type': isBuf ? 'application/octet-stream' : typeof body === 'string' ? 'text/plain; version=0.0.4' : 'application/json', ...headers });
  res.end(data);
}
function err(res, status, code, message, headers) {
  send(res, status, { error: { code, message, correlationId: cid() } }, headers);
}
function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}
function cookie(req) {
  const m = /(?:^|;\s*)engram_session=([^;]+)/.exec(req.headers.cookie || '');
  return m ? sessions.get(m[1]) && { id: m[1], ...sessions.get(m[1]) } : null;
}
function record(keyName, action, target, result, req) {
  audit.unshift({ time: now(), keyName, action, target, result, correlationId: cid(), client: req.socket.remoteAddress });
}

// ---------------- metrics / ticks ----------------
let counters = { req: 0, err: 0, buckets: [0, 0, 0, 0, 0] };
const LE = [0.001, 0.005, 0.025, 0.1, '+Inf'];
function metricsText(kind) {
  counters.req += 5 + Math.floor(Math.random() * 10);
  counters.err += Math.random() < 0.3 ? 1 : 0;
  counters.buckets = counters.buckets.map((b, i) => b + (i + 1) * 2);
  const total = counters.buckets[4];
  return [
    `# HELP engram_${kind}_requests_total Requests served.`,
    `# TYPE engram_${kind}_requests_total counter`,
    `engram_${kind}_requests_total{code="OK"} ${counters.req}`,
    `engram_${kind}_requests_total{code="INTERNAL"} ${counters.err}`,
    `# HELP engram_${kind}_request_seconds Request latency.`,
    `# TYPE engram_${kind}_request_seconds histogram`,
    ...LE.map((le, i) => `engram_${kind}_request_seconds_bucket{le="${le}"} ${counters.buckets[i]}`),
    `engram_${kind}_request_seconds_sum ${(total * 0.004).toFixed(3)}`,
    `engram_${kind}_request_seconds_count ${total}`,
    `# TYPE process_resident_memory_bytes gauge`,
    `process_resident_memory_bytes ${50e6 + Math.random() * 1e6}`,
    '',
  ].join('\n');
}
function tick() {
  const t = Date.now() / 1000;
  const svc = (kind, port, up = true) => ({
    id: `${kind}@127.0.0.1:${port}`, kind, address: `127.0.0.1:${port}`,
    status: up ? 'ready' : 'unreachable', reason: up ? '' : 'connect: connection refused',
    version: up ? '0.1.0-mock' : '', uptimeSeconds: up ? t - started : null,
    requestRate: up ? 5 + Math.random() * 20 : null, errorRatio: up ? Math.random() * 0.03 : null,
    p50Seconds: up ? 0.002 + Math.random() * 0.001 : null, p95Seconds: up ? 0.01 + Math.random() * 0.005 : null, p99Seconds: up ? 0.03 + Math.random() * 0.02 : null,
  });
  let concepts = 0, associations = 0;
  const nss = [...store.namespaces.values()].map((n) => {
    concepts += n.concepts.size; associations += n.assocs.size;
    return { name: n.name, concepts: n.concepts.size, associations: n.assocs.size };
  });
  return {
    time: new Date(t * 1000).toISOString(), unixTime: t,
    services: [svc('storage', 9103), svc('hybrid', 9102, hybridUp), svc('api', 8080), svc('control', PORT)],
    storage: { writeQueue: Math.floor(Math.random() * 3), fsyncP99Seconds: 0.002 + Math.random() * 0.004, walBytes: 1e6 + audit.length * 1000, mappedBytes: 64 * 2 ** 20, concepts, associations },
    namespaces: nss,
  };
}
const history = [];
for (let i = 60; i > 0; i--) { const t = tick(); t.unixTime -= i * INTERVAL; t.time = new Date(t.unixTime * 1000).toISOString(); history.push(t); }
const sockets = new Set();
setInterval(() => {
  const t = tick();
  history.push(t);
  if (history.length > 900) history.shift();
  const frame = wsFrame(JSON.stringify({ type: 'tick', ...t }));
  for (const s of sockets) s.write(frame);
}, INTERVAL * 1000).unref();

function wsFrame(text) {
  const payload = Buffer.from(text);
  let head;
  if (payload.length < 126) head = Buffer.from([0x81, payload.length]);
  else if (payload.length < 65536) { head = Buffer.alloc(4); head[0] = 0x81; head[1] = 126; head.writeUInt16BE(payload.length, 2); }
  else { head = Buffer.alloc(10); head[0] = 0x81; head[1] = 127; head.writeBigUInt64BE(BigInt(payload.length), 2); }
  return Buffer.concat([head, payload]);
}

// ---------------- static ----------------
const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };
function serveStatic(res, rel) {
  const file = path.join(UI_DIR, rel || 'index.html');
  if (!file.startsWith(UI_DIR) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) return err(res, 404, 'NOT_FOUND', 'no such file');
  send(res, 200, fs.readFileSync(file), { 'Content-Type': MIME[path.extname(file)] || 'application/octet-stream' });
}

// ---------------- routes ----------------
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname + '/' === PREFIX) { res.writeHead(301, { Location: PREFIX }); return res.end(); }
  if (!url.pathname.startsWith(PREFIX)) return err(res, 404, 'NOT_FOUND', 'outside the prefix');
  const p = url.pathname.slice(PREFIX.length);
  if (!p.startsWith('api/') && !p.startsWith('__mock/')) return serveStatic(res, decodeURIComponent(p));
  const method = req.method;
  const body = await readBody(req);
  const json = () => { try { return body.length ? JSON.parse(body) : {}; } catch { return null; } };

  if (p === '__mock/hybrid/stop') { hybridUp = false; return send(res, 200, { hybridUp }); }
  if (p === '__mock/hybrid/start') { hybridUp = true; return send(res, 200, { hybridUp }); }
  if (p === '__mock/live/drop') { const n = sockets.size; for (const so of sockets) so.destroy(); sockets.clear(); return send(res, 200, { dropped: n }); }

  if (p === 'api/login' && method === 'POST') {
    const ip = req.socket.remoteAddress;
    const f = failures.get(ip) || 0;
    if (f >= 10) { record('', 'login_failed', '', 'rate_limited', req); return err(res, 429, 'RESOURCE_EXHAUSTED', 'too many failed logins from this client', { 'Retry-After': '30' }); }
    const b = json() || {};
    const k = KEYS[b.key];
    if (!k) { failures.set(ip, f + 1); record('', 'login_failed', '', 'unknown_key', req); return err(res, 401, 'UNAUTHENTICATED', 'unknown API key'); }
    if (k.role !== 'admin') { failures.set(ip, f + 1); record(k.name, 'login_failed', '', 'not_admin', req); return err(res, 403, 'PERMISSION_DENIED', `key "${k.name}" has the role ${k.role}; engram-control needs an admin key`); }
    const id = crypto.randomBytes(16).toString('hex');
    const s = { keyName: k.name, csrfToken: crypto.randomBytes(16).toString('hex'), expiresAt: new Date(Date.now() + 3600e3).toISOString() };
    sessions.set(id, s);
    record(k.name, 'login', '', 'ok', req);
    return send(res, 200, s, { 'Set-Cookie': `engram_session=${id}; HttpOnly; SameSite=Strict; Path=${PREFIX}; Max-Age=3600` });
  }
  const s = cookie(req);
  if (!s) return err(res, 401, 'UNAUTHENTICATED', 'log in first');
  if (['POST', 'PUT', 'DELETE'].includes(method) && req.headers['x-csrf-token'] !== s.csrfToken) return err(res, 403, 'PERMISSION_DENIED', 'missing or wrong X-CSRF-Token');
  if (p === 'api/logout' && method === 'POST') {
    sessions.delete(s.id);
    record(s.keyName, 'logout', '', 'ok', req);
    res.writeHead(204, { ...SEC, 'Set-Cookie': `engram_session=; Path=${PREFIX}; Max-Age=0` });
    return res.end();
  }
  if (p === 'api/session') return send(res, 200, { keyName: s.keyName, expiresAt: s.expiresAt, csrfToken: s.csrfToken });
  if (p === 'api/overview') return send(res, 200, history[history.length - 1]);
  if (p === 'api/history') return send(res, 200, { intervalSeconds: INTERVAL, ticks: history });
  let m;
  if ((m = /^api\/services\/([^/]+)\/metrics$/.exec(p))) {
    const id = decodeURIComponent(m[1]);
    if (id.startsWith('hybrid') && !hybridUp) return err(res, 503, 'UNAVAILABLE', 'hybrid: connect: connection refused');
    return send(res, 200, metricsText(id.split('@')[0]));
  }
  if (p === 'api/namespaces' && method === 'GET') {
    return send(res, 200, { namespaces: [...store.namespaces.values()].map((n) => ({ name: n.name, dimension: n.dimension, metric: n.metric, embedder: n.embedder, indexParams: n.indexParams, concepts: n.concepts.size, associations: n.assocs.size, vectors: n.concepts.size, indexedVectors: n.concepts.size, dataBytes: n.concepts.size * 300, createTime: n.createTime })) });
  }
  if (p === 'api/namespaces' && method === 'POST') {
    const b = json();
    if (!b || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(b.name || '')) return err(res, 400, 'INVALID_ARGUMENT', 'name: must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}');
    if (store.namespaces.has(b.name)) { record(s.keyName, 'namespace_create', b.name, 'ALREADY_EXISTS', req); return err(res, 409, 'ALREADY_EXISTS', `namespace ${b.name} exists`); }
    const n = mkns(b.name, b.dimension, b.metric, b.embedder, b.indexParams);
    record(s.keyName, 'namespace_create', b.name, 'ok', req);
    return send(res, 200, { name: n.name, dimension: n.dimension, metric: n.metric, embedder: n.embedder, indexParams: n.indexParams, concepts: 0, associations: 0, createTime: n.createTime });
  }
  if ((m = /^api\/namespaces\/([^/]+)(\/.*)?$/.exec(p))) {
    const name = decodeURIComponent(m[1]);
    const ns = store.namespaces.get(name);
    const rest = m[2] || '';
    if (!ns) return err(res, 404, 'NOT_FOUND', `namespace ${name} not found`);
    if (rest === '' && method === 'DELETE') {
      const b = json() || {};
      if (b.confirm !== name) return err(res, 400, 'INVALID_ARGUMENT', 'confirm must equal the namespace name');
      store.namespaces.delete(name);
      record(s.keyName, 'namespace_delete', name, 'ok', req);
      res.writeHead(204, SEC); return res.end();
    }
    if (rest === '/concepts' && method === 'GET') {
      const size = Number(url.searchParams.get('pageSize') || 50);
      const token = url.searchParams.get('pageToken') || '';
      const filter = {};
      for (const f of url.searchParams.getAll('filter')) for (const kv of f.split(',')) { const i = kv.indexOf('='); if (i > 0) filter[kv.slice(0, i)] = kv.slice(i + 1); }
      const all = [...ns.concepts.values()].filter((c) => Object.entries(filter).every(([k, v]) => c.attributes[k] === v)).sort((a, b) => a.id.localeCompare(b.id));
      const start = token ? Number(Buffer.from(token, 'base64').toString()) : 0;
      const page = all.slice(start, start + size);
      return send(res, 200, { concepts: page.map((c) => pub(c)), nextPageToken: start + size < all.length ? Buffer.from(String(start + size)).toString('base64') : '' });
    }
    if (rest === '/search' && method === 'POST') {
      if (!hybridUp && json().text !== undefined) return err(res, 503, 'UNAVAILABLE', 'engram-hybrid is unavailable');
      const b = json();
      return send(res, 200, { results: b.text !== undefined ? search(ns, b.text, b.k || 10, b.filter) : [...ns.concepts.values()].map((c) => ({ concept: pub(c), score: c.vector.reduce((a, x, i) => a + x * (b.vector[i] || 0), 0) })).sort((x, y) => y.score - x.score).slice(0, b.k || 10) });
    }
    if (rest === '/paths' && method === 'POST') {
      const b = json();
      return send(res, 200, findPaths(ns, b.source, b.target, b));
    }
    if (rest === '/reason' && method === 'POST') {
      if (!hybridUp) return err(res, 503, 'UNAVAILABLE', 'engram-hybrid is unavailable');
      const b = json();
      const support = search(ns, b.question || '', b.k || 10).map((r) => ({ node: r.concept, score: r.score }));
      let paths = [];
      for (const sp of support.slice(0, 3)) {
        for (const other of ns.concepts.keys()) {
          if (other === sp.node.id) continue;
          paths.push(...findPaths(ns, sp.node.id, other, { maxDepth: Math.min(3, b.maxDepth || 4), maxPaths: 1 }).paths);
        }
      }
      paths.sort((a, b2) => b2.confidence - a.confidence);
      paths = paths.slice(0, b.maxPaths || 5);
      const best = paths[0];
      const sem = support[0] ? support[0].score : 0;
      const graph = best ? best.confidence : 0;
      const fin = 1 - (1 - sem * graph);
      const min = b.minConfidence ?? 0.3;
      const ansId = best ? best.conceptIds[best.conceptIds.length - 1] : support[0] && support[0].node.id;
      const ans = ansId ? pub(ns.concepts.get(ansId)) : undefined;
      const pathConcepts = [];
      for (const pp of paths) for (const id of pp.conceptIds) if (!pathConcepts.find((c) => c.id === id)) pathConcepts.push(pub(ns.concepts.get(id)));
      return send(res, 200, { answer: fin >= min ? ans : undefined, confident: fin >= min, confidence: { graph, semantic: sem, consensus: 0, final: fin }, paths, support, explanation: best ? best.hops.map((h) => `${h.source} -> ${h.target} (${h.type}, ${h.confidence})`).join('; ') : '', bestGuess: ans, pathConcepts, stats: { seeds: support.length, nodesExpanded: 12, pathsExplored: 40 } });
    }
    if ((m = /^\/concepts\/([^/]+)(\/neighbors)?$/.exec(rest))) {
      const id = decodeURIComponent(m[1]);
      const c = ns.concepts.get(id);
      if (!c) return err(res, 404, 'NOT_FOUND', `concept ${id} not found in ${name}`);
      if (m[2]) {
        const types = (url.searchParams.get('types') || '').split(',').filter(Boolean);
        return send(res, 200, { neighbors: neighbors(ns, id, { types, direction: url.searchParams.get('direction') || 'BOTH', limit: Number(url.searchParams.get('limit') || 25) }) });
      }
      if (method === 'DELETE') {
        ns.concepts.delete(id);
        for (const [k, a] of ns.assocs) if (a.source === id || a.target === id) ns.assocs.delete(k);
        record(s.keyName, 'concept_delete', `${name}/${id}`, 'ok', req);
        res.writeHead(204, SEC); return res.end();
      }
      const all = neighbors(ns, id, { limit: 1000 });
      return send(res, 200, { concept: pub(c, true), out: all.filter((n) => n.direction === 'OUT'), in: all.filter((n) => n.direction === 'IN') });
    }
    return err(res, 404, 'NOT_FOUND', 'no such route');
  }
  if (p === 'api/snapshots' && method === 'GET') return send(res, 200, { snapshots: [...snapshots.values()].map((x) => x.meta) });
  if (p === 'api/snapshots' && method === 'POST') {
    const data = Buffer.from(JSON.stringify([...store.namespaces.values()].map((n) => ({ ...n, concepts: [...n.concepts.values()], assocs: [...n.assocs.values()] }))));
    const name = `snap-${Date.now()}`;
    const meta = { name, sequence: String(1000 + audit.length), createTime: now(), sizeBytes: String(data.length), namespaces: [...store.namespaces.keys()], sha256: crypto.createHash('sha256').update(data).digest('hex') };
    snapshots.set(name, { meta, bytes: data });
    record(s.keyName, 'snapshot_create', name, 'ok', req);
    return send(res, 200, meta);
  }
  if (p === 'api/snapshots:restore' && method === 'POST') {
    if ([...store.namespaces.values()].some((n) => n.concepts.size)) { record(s.keyName, 'snapshot_restore', '', 'FAILED_PRECONDITION', req); return err(res, 409, 'FAILED_PRECONDITION', 'storage is not empty: restore needs an empty server'); }
    let data;
    try { data = JSON.parse(body.toString()); } catch { return err(res, 400, 'INVALID_ARGUMENT', 'not a snapshot archive'); }
    for (const n of data) {
      const ns = mkns(n.name, n.dimension, n.metric, n.embedder, n.indexParams);
      for (const c of n.concepts) ns.concepts.set(c.id, c);
      for (const a of n.assocs) ns.assocs.set(`${a.source}|${a.target}|${a.type}`, a);
    }
    record(s.keyName, 'snapshot_restore', '', 'ok', req);
    return send(res, 200, { snapshot: { namespaces: data.map((n) => n.name) }, stats: { namespaces: data.length } });
  }
  if ((m = /^api\/snapshots\/([^/]+)(\/download)?$/.exec(p))) {
    const name = decodeURIComponent(m[1]);
    const snap = snapshots.get(name);
    if (!snap) return err(res, 404, 'NOT_FOUND', `snapshot ${name} not found`);
    if (m[2]) {
      record(s.keyName, 'snapshot_download', name, 'ok', req);
      return send(res, 200, snap.bytes, { 'Content-Disposition': `attachment; filename="${name}.tar"`, 'X-Checksum-SHA256': snap.meta.sha256 });
    }
    if (method === 'DELETE') { snapshots.delete(name); record(s.keyName, 'snapshot_delete', name, 'ok', req); res.writeHead(204, SEC); return res.end(); }
  }
  if (p === 'api/audit') {
    const action = url.searchParams.get('action');
    const q = (url.searchParams.get('q') || '').toLowerCase();
    const limit = Number(url.searchParams.get('limit') || 100);
    return send(res, 200, { entries: audit.filter((e) => (!action || e.action === action) && (!q || JSON.stringify(e).toLowerCase().includes(q))).slice(0, limit) });
  }
  return err(res, 404, 'NOT_FOUND', `no route ${method} ${p}`);
});

server.on('upgrade', (req, socket) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname !== PREFIX + 'api/live' || !cookie(req)) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  socket.write(wsFrame(JSON.stringify({ type: 'history', intervalSeconds: INTERVAL, ticks: history })));
  sockets.add(socket);
  socket.on('data', (d) => { if ((d[0] & 0x0f) === 8) socket.end(); });
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => sockets.delete(socket));
});

server.listen(PORT, '127.0.0.1', () => console.log(`mock engram-control on http://127.0.0.1:${PORT}${PREFIX} (ui ${UI_DIR})`));
