import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendTick, mergeHistory, clipToRange, serviceIds, perServiceSeries, latencySeries,
  storageSeries, namespaceSeries, thresholdLevel, indexBacklogLevel, backoffDelay,
} from '../src/lib/series.js';

const svc = (id, extra) => ({ id, kind: id.split('@')[0], status: 'ready', requestRate: 1, errorRatio: 0.01, p50Seconds: 0.001, p95Seconds: 0.002, p99Seconds: 0.004, ...extra });
const tick = (t, services, storage = {}, namespaces = []) => ({ unixTime: t, time: new Date(t * 1000).toISOString(), services, storage, namespaces });

test('appendTick keeps order, drops duplicates and bounds the length', () => {
  let h = [];
  h = appendTick(h, tick(1, []));
  h = appendTick(h, tick(3, []));
  h = appendTick(h, tick(2, []));
  h = appendTick(h, tick(3, []));
  assert.deepEqual(h.map((t) => t.unixTime), [1, 2, 3]);
  for (let i = 4; i < 10; i++) h = appendTick(h, tick(i, []), 4);
  assert.deepEqual(h.map((t) => t.unixTime), [6, 7, 8, 9]);
});

test('mergeHistory after a reconnect does not duplicate', () => {
  const h = mergeHistory([tick(1, []), tick(2, [])], [tick(2, []), tick(3, []), tick(4, [])]);
  assert.deepEqual(h.map((t) => t.unixTime), [1, 2, 3, 4]);
});

test('clipToRange keeps the last N seconds', () => {
  const h = [1, 2, 3, 4, 5, 6].map((t) => tick(t * 10, []));
  assert.deepEqual(clipToRange(h, 20).map((t) => t.unixTime), [40, 50, 60]);
  assert.equal(clipToRange(h, 0).length, 6);
  assert.equal(clipToRange([], 20).length, 0);
});

test('per-service series: one column per instance, gaps when missing, unreachable or null', () => {
  const h = [
    tick(1, [svc('api@a'), svc('hybrid@b', { requestRate: null })]),
    tick(2, [svc('api@a', { requestRate: 2 }), svc('hybrid@b', { status: 'unreachable', requestRate: 9 })]),
    tick(3, [svc('api@a', { requestRate: 3 }), svc('storage@c', { requestRate: 4 })]),
  ];
  assert.deepEqual(serviceIds(h), ['api@a', 'hybrid@b', 'storage@c']);
  const s = perServiceSeries(h, 'requestRate');
  assert.deepEqual(s.labels, ['api@a', 'hybrid@b', 'storage@c']);
  assert.deepEqual(s.data, [[1, 2, 3], [1, 2, 3], [null, null, null], [null, null, 4]]);
  const pct = perServiceSeries(h, 'errorRatio', { scale: 100 });
  assert.equal(pct.data[1][0], 1);
});

test('latency series in ms', () => {
  const h = [tick(1, [svc('api@a')])];
  const s = latencySeries(h, 'api@a', { scale: 1000 });
  assert.deepEqual(s.labels, ['p50', 'p95', 'p99']);
  assert.deepEqual(s.data, [[1], [1], [2], [4]]);
});

test('storage and namespace series', () => {
  const h = [
    tick(1, [], { walBytes: 100 }, [{ name: 'default', concepts: 5, associations: 2 }]),
    tick(2, [], { walBytes: 200 }, [{ name: 'default', concepts: 6, associations: 2 }, { name: 'n2', concepts: 1, associations: 0 }]),
  ];
  assert.deepEqual(storageSeries(h, 'walBytes').data, [[1, 2], [100, 200]]);
  assert.deepEqual(storageSeries(h, 'writeQueue').data, [[1, 2], [null, null]]);
  const n = namespaceSeries(h, 'concepts');
  assert.deepEqual(n.labels, ['default', 'n2']);
  assert.deepEqual(n.data, [[1, 2], [5, 6], [null, 1]]);
});

test('thresholdLevel', () => {
  const t = { warn: 0.01, crit: 0.05 };
  assert.equal(thresholdLevel(0, t), 'ok');
  assert.equal(thresholdLevel(0.01, t), 'warn');
  assert.equal(thresholdLevel(0.2, t), 'crit');
  assert.equal(thresholdLevel(null, t), 'unknown');
  assert.equal(thresholdLevel(NaN, t), 'unknown');
});

test('indexBacklogLevel: the largest namespace backlog against the alert threshold', () => {
  const ns = (unindexedVectors) => ({ name: 'n', unindexedVectors });
  assert.equal(indexBacklogLevel({ unindexedVectors: 0 }, [ns(0), ns(0)]), 'ok');
  // 80,000 in all, but no namespace above 50,000: the alert would not fire.
  assert.equal(indexBacklogLevel({ unindexedVectors: 80000 }, [ns(40000), ns(40000)]), 'ok');
  assert.equal(indexBacklogLevel({ unindexedVectors: 50000 }, [ns(50000)]), 'ok');
  assert.equal(indexBacklogLevel({ unindexedVectors: 60001 }, [ns(50001), ns(10000)]), 'warn');
  assert.equal(indexBacklogLevel({ unindexedVectors: null }, []), 'unknown');
  assert.equal(indexBacklogLevel(undefined, undefined), 'unknown');
});

test('backoffDelay grows exponentially, is capped and jittered', () => {
  const max = () => 0.999999;
  assert.equal(backoffDelay(0, { random: () => 0 }), 250);
  assert.equal(backoffDelay(3, { random: () => 0 }), 2000);
  assert.ok(backoffDelay(30, { random: max }) <= 30000);
  assert.ok(backoffDelay(30, { random: () => 0 }) >= 15000);
});
