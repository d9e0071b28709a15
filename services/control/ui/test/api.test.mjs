import { test } from 'node:test';
import assert from 'node:assert/strict';

// api.js resolves every URL against the page's base: give it one, and a fake fetch.
globalThis.location = { href: 'http://ctl.example/control/#/overview' };
const calls = [];
let answer = () => new Response('{}', { status: 200 });
globalThis.fetch = async (url, init) => {
  calls.push({ url, init });
  return answer(url, init);
};
const api = await import('../src/api.js');

test('URLs are relative to the app base (sub-path kept)', () => {
  assert.equal(api.BASE, 'http://ctl.example/control/');
  assert.equal(api.apiUrl('api/namespaces'), 'http://ctl.example/control/api/namespaces');
  assert.equal(api.apiUrl('api/snapshots:restore'), 'http://ctl.example/control/api/snapshots:restore');
  assert.equal(api.apiUrl('api/audit', { limit: 100, action: '', q: 'x y' }), 'http://ctl.example/control/api/audit?limit=100&q=x+y');
});

test('the CSRF token goes on mutating calls only', async () => {
  api.setCsrfToken('tok');
  calls.length = 0;
  await api.get('api/session');
  await api.post('api/namespaces', { name: 'n' });
  await api.del('api/namespaces/n', { confirm: 'n' }, { expect: 'none' });
  assert.equal(calls[0].init.headers['X-CSRF-Token'], undefined);
  assert.equal(calls[1].init.headers['X-CSRF-Token'], 'tok');
  assert.equal(calls[1].init.headers['Content-Type'], 'application/json');
  assert.equal(calls[1].init.body, '{"name":"n"}');
  assert.equal(calls[2].init.method, 'DELETE');
  assert.equal(calls[2].init.headers['X-CSRF-Token'], 'tok');
  api.setCsrfToken(null);
});

test('errors carry code, message, correlation id and Retry-After', async () => {
  answer = () =>
    new Response(JSON.stringify({ error: { code: 'RESOURCE_EXHAUSTED', message: 'too many failed logins', correlationId: 'c-1' } }), {
      status: 429,
      headers: { 'Retry-After': '17' },
    });
  await assert.rejects(api.post('api/login', { key: 'k' }, { noAuthRedirect: true }), (e) => {
    assert.ok(e instanceof api.ApiError);
    assert.equal(e.status, 429);
    assert.equal(e.code, 'RESOURCE_EXHAUSTED');
    assert.equal(e.message, 'too many failed logins');
    assert.equal(e.correlationId, 'c-1');
    assert.equal(e.retryAfter, 17);
    return true;
  });
  // a body that is not the JSON error shape: its text is the message, the header the correlation id
  answer = () => new Response('upstream exploded', { status: 502, headers: { 'X-Correlation-ID': 'c-2' } });
  await assert.rejects(api.get('api/overview'), (e) => e.status === 502 && e.message === 'upstream exploded' && e.correlationId === 'c-2');
});

test('a 401 calls the unauthorized handler, unless the caller handles it', async () => {
  let n = 0;
  api.onUnauthorized(() => n++);
  answer = () => new Response(JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'log in' } }), { status: 401 });
  await assert.rejects(api.get('api/namespaces'));
  assert.equal(n, 1);
  await assert.rejects(api.get('api/session', undefined, { noAuthRedirect: true }));
  assert.equal(n, 1);
});

test('a network failure is an ApiError too', async () => {
  answer = () => {
    throw new TypeError('fetch failed');
  };
  await assert.rejects(api.get('api/overview'), (e) => e.code === 'NETWORK' && /unreachable/.test(e.message));
});

test('raw bodies (restore upload) go as octet-stream', async () => {
  answer = () => new Response('{"snapshot":{}}', { status: 200 });
  calls.length = 0;
  const r = await api.request('POST', 'api/snapshots:restore', { body: new Uint8Array([1, 2, 3]) });
  assert.deepEqual(r, { snapshot: {} });
  assert.equal(calls[0].init.headers['Content-Type'], 'application/octet-stream');
});
