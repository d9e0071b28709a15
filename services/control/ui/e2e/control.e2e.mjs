#!/usr/bin/env node
// End-to-end test of engram-control in a real browser (Debian's chromium driven by playwright-core).
//
// Usage (every option also comes from the environment variable in brackets; CLI wins):
//   node e2e/control.e2e.mjs \
//     --base=http://127.0.0.1:PORT/            [CONTROL_BASE]       the UI's URL; may carry a sub-path (http://h:p/control/)
//     --admin_key=ek_...                       [CONTROL_ADMIN_KEY]  an admin key of the keys file
//     --reader_key=ek_...                      [CONTROL_READER_KEY] a reader key (must be refused with 403)
//     --api_base=http://127.0.0.1:8080/        [CONTROL_API_BASE]   engram-api's REST base: the compaction step writes garbage through it
//     --stop_hybrid_cmd='kill ...'             [CONTROL_STOP_HYBRID_CMD]  shell command that stops engram-hybrid
//     --start_hybrid_cmd='...'                 [CONTROL_START_HYBRID_CMD] shell command that starts it again (may return at once)
//     --screenshots=DIR                        [CONTROL_SCREENSHOTS] where to save one PNG per screen (default: e2e-out/)
//     --namespace=default                      [CONTROL_NAMESPACE]  the namespace the harness seeded
//     --co_answers_question='What is a dog?'   [CONTROL_CO_ANSWERS_QUESTION] a question the seeded data answers with several concepts
//     --chromium=/usr/bin/chromium             [CHROMIUM]           the browser binary
//     --timeout_ms=60000                       [CONTROL_TIMEOUT_MS] the longest wait for a service to change state
//     --check_no_slash=1                       open the sub-path without its trailing slash too (default: on when the base has a path)
//     --headed                                 show the browser (debugging)
//
// What it does, in order (each step prints "ok N - name" or "not ok N - name: why"): the login
// screen refuses the reader key with the server's 403 message; the admin key logs in; the overview
// shows storage, hybrid and api ready; hybrid stopped -> its tile says "unavailable" while namespaces
// and concepts still work -> hybrid started -> ready again; raw metrics parsed with rates; a namespace
// is created, filled with superseded versions through engram-api (reclaimable > 0), compacted from
// its row (confirmation; the row follows queued/running back to idle at generation 1 with less
// reclaimable) and deleted (typed confirmation); concepts are paged, opened and text-searched; the
// graph explorer expands a node, finds BEST and SHORTEST paths and exports a PNG; the reasoning tester
// draws a path, and shows each answer of a question answered by several concepts; a snapshot is created, downloaded (SHA-256 checked against the listed one and the
// X-Checksum-SHA256 header), refused for restore into a non-empty server (the error shown), restored
// after the seeded namespace is deleted (when it is the only one with data), and deleted; a concept
// without associations is deleted through its detail panel; the
// audit screen lists every one of those actions; dark mode toggles and survives a reload; no key is
// in the browser's storage; logout.
// Any console error, page error, failed request or HTTP status >= 400 that a step did not announce
// fails the run. Exit code 0 when everything passed, 1 otherwise; the last line is
// "e2e: N passed, M failed".
import { chromium } from 'playwright-core';
import { execSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// ---------------------------------------------------------------- options
const cli = {};
for (const a of process.argv.slice(2)) {
  const m = /^--([^=]+)(?:=(.*))?$/s.exec(a);
  if (m) cli[m[1]] = m[2] === undefined ? '1' : m[2];
}
const opt = (name, env, dflt) => cli[name] ?? process.env[env] ?? dflt;
const BASE = opt('base', 'CONTROL_BASE', '');
const ADMIN_KEY = opt('admin_key', 'CONTROL_ADMIN_KEY', '');
const READER_KEY = opt('reader_key', 'CONTROL_READER_KEY', '');
const API_BASE = opt('api_base', 'CONTROL_API_BASE', '');
const STOP_HYBRID = opt('stop_hybrid_cmd', 'CONTROL_STOP_HYBRID_CMD', '');
const START_HYBRID = opt('start_hybrid_cmd', 'CONTROL_START_HYBRID_CMD', '');
const SHOTS = path.resolve(opt('screenshots', 'CONTROL_SCREENSHOTS', 'e2e-out'));
const NS = opt('namespace', 'CONTROL_NAMESPACE', 'default');
const CO_ANSWERS_QUESTION = opt('co_answers_question', 'CONTROL_CO_ANSWERS_QUESTION', '');
const CHROMIUM = opt('chromium', 'CHROMIUM', '/usr/bin/chromium');
const TIMEOUT = Number(opt('timeout_ms', 'CONTROL_TIMEOUT_MS', '60000'));
const HEADED = !!cli.headed;
// --strict (the CI harness, which seeds the data itself): every step must run in full; a condition
// that would only be noted against an arbitrary running suite fails the run instead.
const STRICT = !!cli.strict;
const note = (text) => {
  if (STRICT) throw new Error(`strict: ${text}`);
  console.log(`# note: ${text}`);
};
if (!BASE || !ADMIN_KEY || !READER_KEY) {
  console.error('usage: node e2e/control.e2e.mjs --base=URL --admin_key=KEY --reader_key=KEY [--stop_hybrid_cmd=CMD --start_hybrid_cmd=CMD] [--screenshots=DIR]');
  process.exit(2);
}
const base = new URL(BASE);
if (!base.pathname.endsWith('/')) base.pathname += '/';
const CHECK_NO_SLASH = opt('check_no_slash', 'CONTROL_CHECK_NO_SLASH', base.pathname !== '/' ? '1' : '0') === '1';
const at = (hash) => new URL(hash, base).href;
fs.mkdirSync(SHOTS, { recursive: true });

// ---------------------------------------------------------------- reporting
let passed = 0;
let failed = 0;
let n = 0;
const problems = []; // unexpected console errors, page errors, failed requests
const expected = []; // {method, re, status, left}
const allowedUrls = new Set(); // responses that were expected (their console "Failed to load resource" is fine)

function expect(method, re, status, times = 1) {
  expected.push({ method, re, status, left: times });
}
function isExpected(method, url, status) {
  const e = expected.find((x) => x.left > 0 && x.method === method && x.re.test(url) && x.status === status);
  if (!e) return false;
  e.left--;
  allowedUrls.add(url);
  return true;
}

async function step(name, fn) {
  n++;
  const t0 = Date.now();
  const before = problems.length;
  try {
    await fn();
    await page.waitForTimeout(150); // let late console messages of this step arrive
    if (problems.length > before) throw new Error('unexpected: ' + problems.slice(before).join(' | '));
    passed++;
    expected.length = 0; // what a step announced holds for that step only
    console.log(`ok ${n} - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`not ok ${n} - ${name}: ${String(e.message || e).split('\n').slice(0, 6).join('\n    ')}`);
    try {
      await page.screenshot({ path: path.join(SHOTS, `FAILED-${String(n).padStart(2, '0')}.png`), fullPage: true });
    } catch {}
    throw e;
  }
}
async function shot(name) {
  await page.waitForTimeout(250);
  await page.$$eval('.toast', (els) => els.forEach((e) => e.click())); // notifications would hide the screen
  await page.waitForTimeout(50);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}
function sh(cmd) {
  console.log(`# $ ${cmd}`);
  execSync(cmd, { shell: '/bin/sh', stdio: 'inherit', timeout: TIMEOUT });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- browser
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: !HEADED,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light', acceptDownloads: true });
const page = await context.newPage();
page.setDefaultTimeout(15000);
page.on('console', (msg) => {
  if (msg.type() !== 'error') return;
  const loc = msg.location() || {};
  // the browser logs every 4xx/5xx answer as a console error: fine when a step announced it
  if (/^Failed to load resource/.test(msg.text()) && loc.url) {
    if (allowedUrls.has(loc.url)) return;
    if (expected.some((e) => e.re.test(loc.url) && msg.text().includes(`status of ${e.status}`))) return;
  }
  problems.push(`console error: ${msg.text()} ${loc.url || ''}`);
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('requestfailed', (r) => {
  const f = r.failure();
  // a download the browser hands to the download manager reports net::ERR_ABORTED: not a failure
  if (f && /ERR_ABORTED/.test(f.errorText) && /\/download$/.test(r.url())) return;
  // a GET cut short by a page reload or navigation (e.g. a periodic refresh in flight)
  if (f && /ERR_ABORTED/.test(f.errorText) && r.method() === 'GET') return;
  problems.push(`request failed: ${r.method()} ${r.url()} ${f ? f.errorText : ''}`);
});
page.on('websocket', (ws) => {
  ws.on('socketerror', (e) => problems.push(`websocket error on ${ws.url()}: ${e}`));
});
page.on('response', (r) => {
  if (r.status() < 400) return;
  if (isExpected(r.request().method(), r.url(), r.status())) return;
  problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
});

// Calls the admin API from the page (with its session cookie and CSRF token from the app).
async function apiGet(p) {
  return page.evaluate(async (u) => {
    const r = await fetch(u, { credentials: 'same-origin' });
    if (!r.ok) throw new Error(`${u}: HTTP ${r.status} ${await r.text()}`);
    return r.json();
  }, at(p));
}
// Calls engram-api's REST API (--api_base) with the admin key. engram-api may still be
// reconnecting to the hybrid that an earlier step restarted: a 503 is retried until TIMEOUT.
async function publicApi(method, p, body) {
  const until = Date.now() + TIMEOUT;
  for (;;) {
    const r = await fetch(new URL(p, API_BASE.endsWith('/') ? API_BASE : API_BASE + '/'), {
      method,
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (r.ok) return r.json();
    const text = await r.text();
    if (r.status !== 503 || Date.now() > until) throw new Error(`engram-api ${method} ${p}: HTTP ${r.status} ${text}`);
    await sleep(250);
  }
}
const tile = (kind) => page.locator(`[data-testid="tile-${kind}"]`).first();
async function waitStatus(kind, status, timeout = TIMEOUT) {
  await page.waitForFunction(
    ([k, s]) => [...document.querySelectorAll(`[data-testid="tile-${k}"]`)].some((t) => t.dataset.status === s),
    [kind, status],
    { timeout },
  );
}
async function go(hash, readySelector) {
  await page.goto(at(hash));
  if (readySelector) await page.locator(readySelector).first().waitFor();
}
async function confirmDialog(typed) {
  const dlg = page.locator('[data-testid="confirm"]');
  await dlg.waitFor();
  if (typed !== undefined) {
    await dlg.locator('[data-testid="confirm-input"]').fill(typed);
  }
  await dlg.locator('[data-testid="confirm-ok"]').click();
  await dlg.waitFor({ state: 'detached' });
}

const state = {};
const runId = crypto.randomBytes(3).toString('hex');
const nsName = `e2e_${runId}`;

try {
  if (CHECK_NO_SLASH) {
    await step(`the sub-path without its trailing slash (${base.pathname.slice(0, -1)}) opens the app`, async () => {
      expect('GET', /api\/session$/, 401);
      const noSlash = new URL(base.href);
      noSlash.pathname = base.pathname.slice(0, -1);
      await page.goto(noSlash.href);
      await page.locator('[data-testid="login-form"]').waitFor();
    });
  }

  await step('login screen; a reader key is refused with the server message', async () => {
    expect('GET', /api\/session$/, 401);
    await page.goto(base.href);
    await page.locator('[data-testid="login-form"]').waitFor();
    expect('POST', /api\/login$/, 403);
    await page.fill('[data-testid="login-key"]', READER_KEY);
    await page.click('[data-testid="login-submit"]');
    const err = page.locator('[data-testid="login-form"] [data-testid="error"]');
    await err.waitFor();
    const text = await err.innerText();
    if (!/403/.test(text)) throw new Error(`the refusal does not show HTTP 403: ${text}`);
    if (!/reader/i.test(text)) throw new Error(`the refusal does not name the key's role: ${text}`);
    if ((await page.inputValue('[data-testid="login-key"]')) !== '') throw new Error('the key field was not cleared');
    await shot('01-login-refused');
  });

  await step('the admin key logs in; the overview shows storage, hybrid and api ready', async () => {
    await page.fill('[data-testid="login-key"]', ADMIN_KEY);
    await page.click('[data-testid="login-submit"]');
    await page.locator('[data-testid="service-tiles"]').waitFor();
    for (const k of ['storage', 'hybrid', 'api']) await waitStatus(k, 'ready');
    await page.waitForFunction(() => document.querySelector('[data-testid="live-state"]')?.textContent.includes('live'), null, { timeout: TIMEOUT });
    // charts drawn from the history + ticks
    await page.locator('[data-testid="chart-rate"] canvas').first().waitFor();
    await page.waitForFunction(() => !document.querySelector('[data-testid="chart-rate"] .chart-empty'), null, { timeout: TIMEOUT });
    // The storage writer's busy share, from two scrapes of its counters.
    await page.waitForFunction(() => /\d %$/.test(document.querySelector('[data-testid="writer-busy"] .big')?.textContent ?? ''), null, { timeout: TIMEOUT });
    // The HNSW backlog, from engram_storage_unindexed_vectors: a count with a level, not "–".
    await page.waitForFunction(() => {
      const t = document.querySelector('[data-testid="index-backlog"]');
      return t && /^\d[\d,]*$/.test(t.querySelector('.big').textContent) && t.dataset.level === 'ok';
    }, null, { timeout: TIMEOUT });
    await page.click('[data-range="5m"]');
    await shot('02-overview');
  });

  await step('no key in localStorage or sessionStorage', async () => {
    const dump = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    if (dump.includes(ADMIN_KEY) || dump.includes(READER_KEY)) throw new Error('a key is in the browser storage');
    if (/engram_session/.test(dump)) throw new Error('the session cookie is readable from JavaScript (not HttpOnly)');
  });

  await step('raw metrics of storage: Prometheus text parsed, rates between two fetches', async () => {
    await tile('storage').locator('[data-testid="raw-metrics-link"]').click();
    await page.locator('[data-testid="metrics-table"]').waitFor();
    const families = await page.locator('[data-testid="metrics-table"] tr.family').count();
    if (families < 3) throw new Error(`only ${families} metric families`);
    await sleep(1100);
    await page.click('[data-testid="metrics-refresh"]');
    await page.waitForFunction(() => /rates over the last/.test(document.querySelector('main').textContent));
    await shot('03-raw-metrics');
  });

  if (STOP_HYBRID && START_HYBRID) {
    await step('hybrid stopped: its tile says unavailable, the rest keeps working', async () => {
      await go('#/overview', '[data-testid="service-tiles"]');
      sh(STOP_HYBRID);
      await waitStatus('hybrid', 'unreachable');
      const text = await page.locator('[data-testid="tile-hybrid"][data-status="unreachable"]').first().innerText();
      if (!/unavailable/i.test(text)) throw new Error(`hybrid tile says: ${text}`);
      await waitStatus('storage', 'ready', 5000);
      // api stays reachable (it may report not_ready while its hybrid is gone: that is its call)
      const apiStatus = await tile('api').getAttribute('data-status');
      if (apiStatus === 'unreachable') throw new Error('api became unreachable when hybrid stopped');
      await shot('04-overview-hybrid-down');
      await go(`#/namespaces`, '[data-testid="ns-table"]');
      await page.locator(`[data-ns="${NS}"]`).waitFor();
      await go(`#/concepts/${encodeURIComponent(NS)}`, '[data-testid="concept-table"] tr[data-id]');
    });
    await step('hybrid started again: ready', async () => {
      sh(START_HYBRID);
      await go('#/overview', '[data-testid="service-tiles"]');
      await waitStatus('hybrid', 'ready');
      await page.waitForFunction(() => ![...document.querySelectorAll('[data-testid="tile-hybrid"]')].some((t) => t.dataset.status !== 'ready'), null, { timeout: TIMEOUT });
    });
  } else {
    note('hybrid stop/start skipped (no --stop_hybrid_cmd/--start_hybrid_cmd)');
  }

  await step(`create namespace ${nsName} with keyword fields and int8 quantization`, async () => {
    await go('#/namespaces', '[data-testid="ns-table"]');
    await page.fill('[data-testid="ns-name"]', nsName);
    await page.fill('[data-testid="ns-keyword-fields"]', 'lemmas^3:1, title^2');
    await page.selectOption('[data-testid="ns-quantization"]', 'QUANTIZATION_INT8');
    await page.click('[data-testid="ns-create-submit"]');
    await page.locator(`[data-ns="${nsName}"]`).waitFor();
    const fields = await page.locator(`[data-ns="${nsName}"] [data-testid="ns-keyword-fields-cell"]`).textContent();
    if (fields !== 'lemmas^3:1, title^2:0.75') throw new Error(`keyword fields shown as "${fields}"`);
    // The quantization comes back from storage (GetNamespace), not from the form.
    const index = await page.locator(`[data-ns="${nsName}"] [data-testid="ns-index-cell"]`).textContent();
    if (!index.trim().endsWith(', int8')) throw new Error(`index shown as "${index}"`);
    const gen = await page.locator(`[data-ns="${nsName}"] [data-testid="ns-generation"]`).textContent();
    if (gen.trim() !== '0') throw new Error(`a new namespace shows generation "${gen}"`);
  });

  if (API_BASE) {
    await step(`compact ${nsName}: garbage written through engram-api, Compact confirmed, idle again at generation 1 with less reclaimable`, async () => {
      // 30 concepts, each updated 4 times (new content, re-embedded): superseded versions and vectors.
      const ns = encodeURIComponent(nsName);
      const ids = Array.from({ length: 30 }, (_, i) => `g${i}`);
      await publicApi('POST', `v1/namespaces/${ns}/concepts:batch`, {
        concepts: ids.map((id) => ({ id, content: `garbage collector test concept ${id}, first version`, extractAssociations: false })),
      });
      for (let version = 2; version <= 5; version++) {
        await Promise.all(ids.map((id) => publicApi('PATCH', `v1/namespaces/${ns}/concepts/${id}`, { content: `garbage collector test concept ${id}, version ${version}`, updateMask: ['content'] })));
      }
      const row = page.locator(`[data-ns="${nsName}"]`);
      const reclaimable = async () => Number(await row.locator('[data-testid="ns-reclaimable"]').getAttribute('data-bytes'));
      await page.locator('.toolbar button', { hasText: 'Refresh' }).click();
      await page.waitForFunction((n) => Number(document.querySelector(`[data-ns="${n}"] [data-testid="ns-reclaimable"]`)?.dataset.bytes) > 0, nsName);
      const before = await reclaimable();
      const shown = await row.locator('[data-testid="ns-reclaimable"]').innerText();
      if (!/^\d+(\.\d+)? (B|KiB|MiB|GiB)$/.test(shown.trim())) throw new Error(`reclaimable shown as "${shown}"`);
      // The vectors cell: storage's live vectors and, in brackets, the indexer's backlog, which
      // drains to 0 once the HNSW graph holds them all.
      for (const deadline = Date.now() + TIMEOUT; ; ) {
        const listed = ((await apiGet('api/namespaces')).namespaces || []).find((x) => x.name === nsName);
        const cell = row.locator('[data-testid="ns-vectors"]');
        const text = (await cell.innerText()).trim();
        if (listed.vectors > 0 && listed.unindexedVectors === 0 && (await cell.getAttribute('data-unindexed')) === '0' && text === `${listed.vectors} (0)`) break;
        if (Date.now() > deadline) throw new Error(`vectors shown as "${text}", storage lists ${JSON.stringify(listed)}`);
        await sleep(200);
        await page.locator('.toolbar button', { hasText: 'Refresh' }).click();
      }
      if ((await row.locator('[data-testid="ns-compaction"]').getAttribute('data-state')) !== 'idle') throw new Error('not idle before the compaction');
      await shot('05-namespaces');
      await row.locator('[data-testid="ns-compact"]').click();
      const target = await page.locator('[data-testid="confirm"] code.target').innerText();
      if (target !== nsName) throw new Error(`the confirmation names ${target}, not ${nsName}`);
      await confirmDialog();
      await page.locator('[data-testid="toast-ok"]', { hasText: `Compaction of ${nsName}` }).first().waitFor();
      // The screen follows the compaction until it is idle again.
      await page.waitForFunction(
        (n) => {
          const r = document.querySelector(`[data-ns="${n}"]`);
          return r && r.querySelector('[data-testid="ns-compaction"]').dataset.state === 'idle' && r.querySelector('[data-testid="ns-generation"]').textContent.trim() === '1';
        },
        nsName,
        { timeout: TIMEOUT },
      );
      const after = await reclaimable();
      if (!(after < before)) throw new Error(`reclaimable ${before} -> ${after} bytes: did not shrink`);
      const last = await row.locator('[data-testid="ns-compaction-last"]').innerText();
      if (!/ → /.test(last) || /failed/.test(last)) throw new Error(`the last compaction shows "${last}"`);
      // the concepts are all there, at their last version
      const listed = await apiGet(`api/namespaces/${ns}/concepts?pageSize=100`);
      const versions = (listed.concepts || []).map((c) => c.content);
      if (versions.length !== ids.length || !versions.every((c) => c.endsWith('version 5'))) throw new Error(`after the compaction: ${JSON.stringify(versions.slice(0, 3))}... (${versions.length})`);
      state.compacted = true;
      await shot('05b-namespace-compacted');
    });
  } else {
    note('compaction skipped (no --api_base to write garbage through engram-api)');
  }

  await step(`delete namespace ${nsName} with typed confirmation`, async () => {
    await go('#/namespaces', `[data-ns="${nsName}"]`);
    if (!state.compacted) await shot('05-namespaces');
    await page.locator(`[data-ns="${nsName}"] [data-testid="ns-delete"]`).click();
    const ok = page.locator('[data-testid="confirm-ok"]');
    if (!(await ok.isDisabled())) throw new Error('delete is possible before typing the name');
    await confirmDialog(nsName);
    await page.locator(`[data-ns="${nsName}"]`).waitFor({ state: 'detached' });
  });

  await step(`concepts of ${NS}: paged, detail panel, text and vector search with scores`, async () => {
    await go(`#/concepts/${encodeURIComponent(NS)}`, '[data-testid="concept-table"] tr[data-id]');
    const rows = page.locator('[data-testid="concept-table"] tr[data-id]');
    if ((await rows.count()) < 1) throw new Error('no concepts');
    if (await page.locator('[data-testid="page-next"]').isEnabled()) {
      await page.click('[data-testid="page-next"]');
      await page.waitForFunction(() => /page 2/.test(document.querySelector('[data-testid="page-number"]').textContent));
      await page.click('[data-testid="page-prev"]');
      await page.waitForFunction(() => /page 1/.test(document.querySelector('[data-testid="page-number"]').textContent));
    }
    // Find a concept with associations (for the graph and the reasoning steps).
    const pageData = await apiGet(`api/namespaces/${encodeURIComponent(NS)}/concepts?pageSize=100`);
    for (const c of pageData.concepts || []) {
      const d = await apiGet(`api/namespaces/${encodeURIComponent(NS)}/concepts/${encodeURIComponent(c.id)}`);
      const nb = [...(d.out || []), ...(d.in || [])];
      if (nb.length) {
        state.concept = d.concept;
        state.neighbors = nb;
        break;
      }
    }
    if (!state.concept) throw new Error(`no concept with associations in the first page of ${NS}`);
    await go(`#/concepts/${encodeURIComponent(NS)}?id=${encodeURIComponent(state.concept.id)}`, '[data-testid="concept-content"]');
    const content = await page.innerText('[data-testid="concept-content"]');
    if (content.trim() !== state.concept.content.trim()) throw new Error('the detail panel shows another concept');
    const assoc = (await page.locator('[data-testid="assoc-out"] tr').count()) + (await page.locator('[data-testid="assoc-in"] tr').count());
    if (assoc < 1) throw new Error('no associations in the detail panel');
    await shot('06-concept-detail');
    await page.fill('[data-testid="search-input"]', state.concept.content.slice(0, 200));
    await page.click('[data-testid="search-submit"]');
    await page.locator('[data-testid="search-results"] td.score').first().waitFor();
    // hybrid (the default): the concept's own text finds it first, with both component scores
    await page.waitForFunction(
      (content) => {
        const row = document.querySelector('[data-testid="search-results"] tbody tr');
        return row && row.textContent.includes(content);
      },
      state.concept.content.trim().slice(0, 40),
    );
    for (const cell of ['vector-score', 'keyword-score']) {
      const text = await page.locator(`[data-testid="search-results"] tbody tr:first-child [data-testid="${cell}"]`).innerText();
      if (!(Number(text) > 0)) throw new Error(`hybrid search: ${cell} is '${text}', expected a positive number`);
    }
    await shot('07-concept-search');
    // words only (BM25): no vector score
    await page.selectOption('[data-testid="search-mode"]', 'KEYWORD');
    await page.click('[data-testid="search-submit"]');
    await page.waitForFunction(() => {
      const cell = document.querySelector('[data-testid="search-results"] tbody tr [data-testid="vector-score"]');
      return cell && cell.textContent === '—';
    });
    // vector search with the concept's own vector: it is the best hit
    if ((state.concept.vector || []).length) {
      await page.selectOption('[data-testid="search-mode"]', 'vector');
      await page.fill('[data-testid="search-input"]', JSON.stringify(state.concept.vector));
      await page.click('[data-testid="search-submit"]');
      await page.waitForFunction(
        (content) => {
          const row = document.querySelector('[data-testid="search-results"] tbody tr');
          return row && row.textContent.includes(content);
        },
        state.concept.content.trim().slice(0, 40),
      );
    }
  });

  await step('graph explorer: expand (double-click) and collapse, BEST and SHORTEST paths highlighted, pin, export PNG', async () => {
    await go(`#/graph/${encodeURIComponent(NS)}?start=${encodeURIComponent(state.concept.id)}`, '[data-testid="cy"] canvas');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="node-list"] [data-node]').length > 1, null, { timeout: 15000 });
    const count = await page.locator('[data-testid="node-list"] [data-node]').count();
    const cyNodes = await page.evaluate(() => window.__engramCy && window.__engramCy.nodes().length);
    if (cyNodes !== count) throw new Error(`canvas has ${cyNodes} nodes, the list ${count}`);
    const listIds = () => page.$$eval('[data-testid="node-list"] [data-node]', (els) => els.map((e) => e.dataset.node));
    const first = await listIds();
    // double-click a neighbour on the canvas: it expands; collapse takes back what it added
    let neighborId = first.find((id) => id !== state.concept.id);
    let target = neighborId;
    for (const cand of first.filter((id) => id !== state.concept.id)) {
      const pos = await page.evaluate((id) => {
        const cy = window.__engramCy;
        const p = cy.getElementById(id).renderedPosition();
        const r = cy.container().getBoundingClientRect();
        return { x: r.left + p.x, y: r.top + p.y };
      }, cand);
      await page.mouse.dblclick(pos.x, pos.y);
      await page.waitForFunction((id) => window.__engramCy.getElementById(id).hasClass('expanded'), cand, { timeout: 15000 });
      const second = await listIds();
      const added = second.filter((id) => !first.includes(id));
      if (added.length) {
        neighborId = cand;
        // collapse removes exactly what this expansion brought in, expand brings it back
        await page.locator(`[data-testid="node-list"] [data-node="${cssEscape(cand)}"] input`).check();
        await page.locator('[data-testid="collapse"]').click();
        await page.waitForFunction((n) => document.querySelectorAll('[data-testid="node-list"] [data-node]').length === n, first.length);
        await page.locator('[data-testid="expand"]').click();
        await page.waitForFunction((n) => document.querySelectorAll('[data-testid="node-list"] [data-node]').length === n, second.length);
        target = added[0];
        break;
      }
    }
    state.hops = target === neighborId ? 1 : 2;
    // pick the start concept and the target (two hops away when the graph has one)
    await page.$$eval('[data-testid="node-list"] [data-node] input:checked', (els) => els.forEach((e) => e.click()));
    await page.locator(`[data-testid="node-list"] [data-node="${cssEscape(state.concept.id)}"] input`).check();
    await page.locator(`[data-testid="node-list"] [data-node="${cssEscape(target)}"] input`).check();
    await page.click('[data-testid="path-best"]');
    await page.locator('[data-testid="path-results"] [data-testid="path-item"]').first().waitFor();
    const hl = await page.evaluate(() => window.__engramCy.elements('.hl').length);
    if (hl < 3) throw new Error(`the path is not highlighted (${hl} highlighted elements)`);
    const hops = await page.evaluate(() => document.querySelector('[data-testid="path-item"]').textContent.match(/(\d+) hops?/)[1]);
    if (Number(hops) < state.hops) throw new Error(`the best path has ${hops} hops, expected at least ${state.hops}`);
    await shot('08-graph-paths');
    await page.click('[data-testid="path-shortest"]');
    await page.waitForFunction(() => /shortest path/.test(document.querySelector('[data-testid="path-results"]')?.textContent || ''));
    // pin the start node
    await page.$$eval('[data-testid="node-list"] [data-node] input:checked', (els) => els.forEach((e) => e.click()));
    await page.locator(`[data-testid="node-list"] [data-node="${cssEscape(state.concept.id)}"] input`).check();
    await page.click('[data-testid="pin"]');
    if (!(await page.evaluate((id) => window.__engramCy.getElementById(id).locked(), state.concept.id))) throw new Error('the pinned node is not locked');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-png"]')]);
    const png = fs.readFileSync(await download.path());
    if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('the export is not a PNG');
    fs.writeFileSync(path.join(SHOTS, '08b-graph-export.png'), png);
  });

  await step('reasoning tester: the answer with its path drawn hop by hop', async () => {
    await go(`#/reason/${encodeURIComponent(NS)}`, '[data-testid="reason-form"]');
    const question = opt('question', 'CONTROL_QUESTION', state.concept.content.slice(0, 300));
    await page.fill('[data-testid="question"]', question);
    await page.fill('[data-testid="min-confidence"]', '0');
    await page.click('[data-testid="ask"]');
    await page.locator('[data-testid="reason-result"]').waitFor({ timeout: 30000 });
    const paths = await page.locator('[data-testid="reason-path"]').count();
    const hops = await page.locator('[data-testid="reason-hop"]').count();
    if (paths < 1 || hops < 1) throw new Error(`no path drawn (${paths} paths, ${hops} hops)`);
    await page.locator('[data-testid="reason-graph"] canvas').first().waitFor();
    await page.locator('[data-testid="reason-history"] .history-item').first().waitFor();
    await shot('09-reasoning');
  });

  await step('reasoning tester: a question answered by several concepts shows each', async () => {
    if (!CO_ANSWERS_QUESTION) return note('no --co_answers_question: the several-answers check was not run');
    await page.fill('[data-testid="question"]', CO_ANSWERS_QUESTION);
    await page.fill('[data-testid="min-confidence"]', '0.3');
    await page.click('[data-testid="ask"]');
    const verdict = page.locator('[data-testid="verdict"]', { hasText: CO_ANSWERS_QUESTION });
    await verdict.waitFor({ timeout: 30000 });
    if ((await verdict.getAttribute('data-confident')) !== 'true') throw new Error(`"${CO_ANSWERS_QUESTION}" was not answered: ${await verdict.innerText()}`);
    const shown = await verdict.locator('[data-testid="answer"]').allInnerTexts();
    if (shown.length < 2) throw new Error(`one answer shown (${shown.join(' | ')}); expected several`);
    if (API_BASE) {
      // the same answers as engram-api's REST API gives
      const answered = await publicApi('POST', `v1/namespaces/${encodeURIComponent(NS)}/reason`, { query: CO_ANSWERS_QUESTION });
      const listed = (answered.answers || []).map((a) => a.content);
      if (JSON.stringify(listed) !== JSON.stringify(shown.map((t) => t.trim()))) throw new Error(`shown ${JSON.stringify(shown)} != engram-api's answers ${JSON.stringify(listed)}`);
    }
    await shot('09b-reasoning-several-answers');
  });

  await step('snapshots: create, download with a verified SHA-256, restore refused while data exists, restore into an emptied server, delete', async () => {
    await go('#/snapshots', '[data-testid="snapshot-table"]');
    const before = await page.locator('[data-testid="snapshot-table"] tr[data-snapshot]').count();
    const countsAtSnapshot = ((await apiGet('api/namespaces')).namespaces || []).find((x) => x.name === NS);
    await page.click('[data-testid="snapshot-create"]');
    await page.waitForFunction((b) => document.querySelectorAll('[data-testid="snapshot-table"] tr[data-snapshot]').length > b, before, { timeout: TIMEOUT });
    const listed = await apiGet('api/snapshots');
    const newest = (listed.snapshots || []).slice().sort((a, b) => String(b.createTime).localeCompare(String(a.createTime)))[0];
    state.snapshot = newest.name;
    const row = page.locator(`[data-testid="snapshot-table"] tr[data-snapshot="${cssEscape(newest.name)}"]`);
    const shaShown = (await row.locator('[data-testid="sha256"]').getAttribute('title')).trim();
    if (shaShown !== newest.sha256) throw new Error('the listed SHA-256 differs from the API');
    await shot('10-snapshots');
    const [download] = await Promise.all([page.waitForEvent('download'), row.locator('[data-testid="snapshot-download"]').click()]);
    const file = await download.path();
    const got = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    if (got !== shaShown.toLowerCase()) throw new Error(`downloaded SHA-256 ${got} != listed ${shaShown}`);
    // the header the server sends with the stream names the same checksum
    const header = await page.evaluate(async (u) => {
      const r = await fetch(u, { credentials: 'same-origin' });
      await r.arrayBuffer();
      return r.headers.get('X-Checksum-SHA256');
    }, at(`api/snapshots/${encodeURIComponent(newest.name)}/download`));
    if (!header || header.toLowerCase() !== got) throw new Error(`X-Checksum-SHA256 ${header} != ${got}`);
    state.archive = file;
    // restore into a server that holds data: refused with 409 (FAILED_PRECONDITION), the error shown
    expect('POST', /api\/snapshots:restore$/, 409);
    await page.setInputFiles('[data-testid="restore-file"]', file);
    await page.click('[data-testid="restore-submit"]');
    const dlg = page.locator('[data-testid="confirm"]');
    await dlg.locator('[data-testid="confirm-ok"]').click();
    const err = dlg.locator('[data-testid="error"]');
    await err.waitFor();
    if (!/409|FAILED_PRECONDITION/.test(await err.innerText())) throw new Error(`restore error: ${await err.innerText()}`);
    await dlg.locator('button', { hasText: 'Cancel' }).click();
    await dlg.waitFor({ state: 'detached' });

    // A real restore: when the seeded namespace is the only one holding data, delete it (typed
    // confirmation), restore the downloaded archive into the now empty server, and find it again.
    const nss = (await apiGet('api/namespaces')).namespaces || [];
    const seeded = nss.find((x) => x.name === NS);
    const others = nss.filter((x) => x.name !== NS && !x.system && (Number(x.concepts) || Number(x.associations)));
    if (seeded && others.length === 0) {
      await go('#/namespaces', `[data-ns="${cssEscape(NS)}"]`);
      await page.locator(`[data-ns="${cssEscape(NS)}"] [data-testid="ns-delete"]`).click();
      await confirmDialog(NS);
      await page.locator(`[data-ns="${cssEscape(NS)}"]`).waitFor({ state: 'detached' });
      await go('#/snapshots', '[data-testid="snapshot-table"]');
      await page.setInputFiles('[data-testid="restore-file"]', file);
      await page.click('[data-testid="restore-submit"]');
      await confirmDialog();
      await page.locator('[data-testid="restore-result"]').waitFor({ timeout: TIMEOUT });
      const back = ((await apiGet('api/namespaces')).namespaces || []).find((x) => x.name === NS);
      if (!back) throw new Error(`${NS} is not back after the restore`);
      // identical counts, unless something wrote while the test ran (then the snapshot's moment is unknown)
      const quiet = countsAtSnapshot && countsAtSnapshot.concepts === seeded.concepts && countsAtSnapshot.associations === seeded.associations;
      if (quiet && (Number(back.concepts) !== Number(seeded.concepts) || Number(back.associations) !== Number(seeded.associations))) {
        throw new Error(`after the restore ${NS} has ${back.concepts} concepts, ${back.associations} associations; before: ${seeded.concepts}, ${seeded.associations}`);
      }
      if (!quiet) note('writes during the test: restored counts not compared');
      await apiGet(`api/namespaces/${encodeURIComponent(NS)}/concepts/${encodeURIComponent(state.concept.id)}`);
      state.restored = true;
      await shot('10b-snapshot-restored');
    } else {
      note(`no real restore (other namespaces hold data: ${others.map((x) => x.name).join(', ')})`);
    }
    await row.locator('[data-testid="snapshot-delete"]').click();
    await confirmDialog();
    await row.waitFor({ state: 'detached' });
  });

  await step('concepts: delete one (confirmation naming the id); it is gone', async () => {
    // a concept without associations, so the rest of the seeded graph stays as it was
    const pageData = await apiGet(`api/namespaces/${encodeURIComponent(NS)}/concepts?pageSize=100`);
    let victim = null;
    for (const c of (pageData.concepts || []).slice().reverse()) {
      if (c.id === state.concept.id) continue;
      const d = await apiGet(`api/namespaces/${encodeURIComponent(NS)}/concepts/${encodeURIComponent(c.id)}`);
      if (!(d.out || []).length && !(d.in || []).length) {
        victim = c;
        break;
      }
    }
    if (!victim) {
      note('no concept without associations to delete: skipped');
      return;
    }
    state.deleted = victim.id;
    await go(`#/concepts/${encodeURIComponent(NS)}?id=${encodeURIComponent(victim.id)}`, '[data-testid="concept-content"]');
    await page.click('[data-testid="concept-delete"]');
    const target = await page.locator('[data-testid="confirm"] code.target').innerText();
    if (target !== victim.id) throw new Error(`the confirmation names ${target}, not ${victim.id}`);
    await confirmDialog();
    await page.locator('[data-testid="concept-detail"]').waitFor({ state: 'detached' });
    expect('GET', /\/concepts\/[^/]+$/, 404);
    const status = await page.evaluate(async (u) => (await fetch(u)).status, at(`api/namespaces/${encodeURIComponent(NS)}/concepts/${encodeURIComponent(victim.id)}`));
    if (status !== 404) throw new Error(`GET of the deleted concept: ${status}`);
  });

  await step('audit: every action of this run, newest first, filterable', async () => {
    await go('#/audit', '[data-testid="audit-table"]');
    const need = ['login', 'login_failed', 'namespace_create', 'namespace_delete', 'snapshot_create', 'snapshot_download', 'snapshot_delete'];
    const actions = await page.$$eval('[data-testid="audit-table"] tr[data-action]', (rows) => rows.map((r) => r.dataset.action));
    const missing = need.filter((a) => !actions.includes(a));
    if (missing.length) throw new Error(`missing audit entries: ${missing.join(', ')}`);
    if (state.restored && !actions.includes('snapshot_restore')) throw new Error('the restore is not in the audit log');
    if (state.deleted && !actions.includes('concept_delete')) throw new Error('the concept delete is not in the audit log');
    if (state.compacted && !actions.includes('namespace_compact')) throw new Error('the compaction is not in the audit log');
    const all = (await apiGet('api/audit?limit=1000')).entries || [];
    const keys = all.map((e) => `${e.time}|${e.action}|${e.correlationId}`);
    const dups = keys.length - new Set(keys).size;
    if (dups) throw new Error(`${dups} audit entries appear twice (same time, action and correlation id)`);
    const times = await page.$$eval('[data-testid="audit-table"] tr[data-action] td:first-child', (tds) => tds.length);
    if (times < need.length) throw new Error('too few rows');
    await page.selectOption('[data-testid="audit-action"]', 'snapshot_create');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('[data-testid="audit-table"] tr[data-action]')];
      return rows.length > 0 && rows.every((r) => r.dataset.action === 'snapshot_create');
    });
    await page.selectOption('[data-testid="audit-action"]', '');
    await page.fill('[data-testid="audit-q"]', nsName);
    await page.press('[data-testid="audit-q"]', 'Enter');
    await page.waitForFunction(([ns, least]) => {
      const rows = [...document.querySelectorAll('[data-testid="audit-table"] tr[data-action]')];
      return rows.length >= least && rows.every((r) => r.textContent.includes(ns));
    }, [nsName, state.compacted ? 3 : 2]);
    await page.fill('[data-testid="audit-q"]', '');
    await page.press('[data-testid="audit-q"]', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-table"] tr[data-action]').length > 3);
    await shot('11-audit');
  });

  await step('dark mode: toggled, kept across a reload, every screen renders', async () => {
    await go('#/overview', '[data-testid="service-tiles"]');
    const before = await page.evaluate(() => document.documentElement.dataset.theme);
    await page.click('[data-testid="theme-toggle"]');
    const after = await page.evaluate(() => document.documentElement.dataset.theme);
    if (before !== 'light' || after !== 'dark') throw new Error(`theme ${before} -> ${after}`);
    await page.reload();
    await page.locator('[data-testid="service-tiles"]').waitFor();
    if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== 'dark') throw new Error('the choice did not survive a reload');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    if (bg === 'rgb(255, 255, 255)') throw new Error('the body is still white');
    await page.locator('[data-testid="chart-rate"] canvas').first().waitFor();
    await shot('12-overview-dark');
    await go(`#/graph/${encodeURIComponent(NS)}?start=${encodeURIComponent(state.concept.id)}`, '[data-testid="cy"] canvas');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="node-list"] [data-node]').length > 1);
    await shot('13-graph-dark');
    await go(`#/concepts/${encodeURIComponent(NS)}?id=${encodeURIComponent(state.concept.id)}`, '[data-testid="concept-content"]');
    await shot('14-concepts-dark');
    await page.click('[data-testid="theme-toggle"]');
  });

  await step('logout returns to the login screen; the API then answers 401', async () => {
    expect('GET', /api\/session$/, 401);
    await page.click('[data-testid="logout"]');
    await page.locator('[data-testid="login-form"]').waitFor();
    const status = await page.evaluate(async (u) => (await fetch(u)).status, at('api/session'));
    // that fetch's 401 is expected
    if (status !== 401) throw new Error(`api/session after logout: ${status}`);
  });
} catch {
  // reported by step()
} finally {
  await browser.close().catch(() => {});
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(failed || passed === 0 ? 1 : 0);
}

function cssEscape(s) {
  return String(s).replace(/["\\]/g, '\\$&');
}
