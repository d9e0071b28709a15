import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appBase, liveUrl, parseRoute, routeHref, parseFilter, parseVector, parseKeywordFields, formatKeywordFields } from '../src/lib/urls.js';
import { formatBytes, formatSeconds, formatUptime, trim, formatPercent } from '../src/lib/format.js';

test('appBase: from the entry module under assets/, else the page directory', () => {
  assert.equal(appBase('http://h/control#/x', 'http://h/control/assets/index-abc.js'), 'http://h/control/');
  assert.equal(appBase('http://h/control/#/x', null), 'http://h/control/');
  assert.equal(appBase('http://h/control/index.html?x=1#/a', null), 'http://h/control/');
  assert.equal(appBase('http://h/', 'http://h/src/main.jsx'), 'http://h/');
});

test('liveUrl: ws or wss, same host and sub-path', () => {
  assert.equal(liveUrl('http://h:8090/'), 'ws://h:8090/api/live');
  assert.equal(liveUrl('https://h/control/'), 'wss://h/control/api/live');
});

test('routes round-trip', () => {
  assert.deepEqual(parseRoute('#/concepts/my%20ns?id=a%2Fb&x=1'), { parts: ['concepts', 'my ns'], query: { id: 'a/b', x: '1' } });
  assert.deepEqual(parseRoute(''), { parts: [], query: {} });
  assert.equal(routeHref(['concepts', 'my ns'], { id: 'a/b', empty: '' }), '#/concepts/my%20ns?id=a%2Fb');
});

test('filters and vectors typed by hand', () => {
  assert.deepEqual(parseFilter('lang=en, kind = noun'), { lang: 'en', kind: 'noun' });
  assert.deepEqual(parseFilter(''), {});
  assert.throws(() => parseFilter('oops'), /key=value/);
  assert.deepEqual(parseVector('[0.5, -1, 2e-1]'), [0.5, -1, 0.2]);
  assert.deepEqual(parseVector('1 2 3'), [1, 2, 3]);
  assert.throws(() => parseVector('1, x'), /not a finite/);
  assert.throws(() => parseVector(''), /empty/);
});

test('formatting with units', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(5 * 1024 ** 3), '5.00 GiB');
  assert.equal(formatSeconds(0.0005), '500 µs');
  assert.equal(formatSeconds(0.0123), '12.3 ms');
  assert.equal(formatSeconds(2.5), '2.5 s');
  assert.equal(formatUptime(93784), '1d 2h');
  assert.equal(formatUptime(42), '42s');
  assert.equal(trim(0.012345), '0.0123');
  assert.equal(formatPercent(0.05), '5 %');
});

test('keyword fields typed by hand, as engramctl reads them', () => {
  assert.deepEqual(parseKeywordFields('lemmas^3:1, title^2,tags'), [
    { attribute: 'lemmas', weight: 3, b: 1 },
    { attribute: 'title', weight: 2 },
    { attribute: 'tags' },
  ]);
  assert.deepEqual(parseKeywordFields('  '), []);
  assert.throws(() => parseKeywordFields('^3'), /no attribute name/);
  assert.throws(() => parseKeywordFields('a^x'), /weight after \^ is not a number/);
  assert.throws(() => parseKeywordFields('a^2:'), /b after : is not a number/);
  assert.equal(formatKeywordFields([{ attribute: 'lemmas', weight: 3, b: 1 }, { attribute: 't' }]), 'lemmas^3:1, t^1:0.75');
  assert.equal(formatKeywordFields(undefined), '');
});
