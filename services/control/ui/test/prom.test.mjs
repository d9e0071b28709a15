import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parsePrometheusText, parseValue, counterRate, counterIncrease, histogramQuantile,
  histogramSeries, quantileBetween, diffScrapes, labelKey,
} from '../src/lib/prom.js';

const TEXT = `# HELP engram_requests_total Requests served.
# TYPE engram_requests_total counter
engram_requests_total{method="Get",code="OK"} 10
engram_requests_total{method="Get",code="NOT_FOUND"} 2 1700000000000
# HELP engram_latency_seconds Request latency.\\nSecond line \\\\ done
# TYPE engram_latency_seconds histogram
engram_latency_seconds_bucket{method="Get",le="0.005"} 1
engram_latency_seconds_bucket{method="Get",le="0.01"} 3
engram_latency_seconds_bucket{method="Get",le="+Inf"} 4
engram_latency_seconds_sum{method="Get"} 0.05
engram_latency_seconds_count{method="Get"} 4
# TYPE engram_up gauge
engram_up 1
# a plain comment
weird_label{path="a\\"b\\\\c\\nd", x = "y" } NaN
untyped_thing -Inf
`;

test('parses families, types, help escapes and samples', () => {
  const fams = parsePrometheusText(TEXT);
  assert.deepEqual(fams.map((f) => f.name), ['engram_requests_total', 'engram_latency_seconds', 'engram_up', 'weird_label', 'untyped_thing']);
  const [req, lat, up, weird, untyped] = fams;
  assert.equal(req.type, 'counter');
  assert.equal(req.samples.length, 2);
  assert.deepEqual(req.samples[1].labels, { method: 'Get', code: 'NOT_FOUND' });
  assert.equal(req.samples[1].timestamp, 1700000000000);
  assert.equal(lat.type, 'histogram');
  assert.equal(lat.help, 'Request latency.\nSecond line \\ done');
  assert.equal(lat.samples.length, 5, 'bucket, sum and count samples belong to the histogram');
  assert.equal(up.samples[0].value, 1);
  assert.deepEqual(weird.samples[0].labels, { path: 'a"b\\c\nd', x: 'y' });
  assert.ok(Number.isNaN(weird.samples[0].value));
  assert.equal(untyped.type, 'untyped');
  assert.equal(untyped.samples[0].value, -Infinity);
});

test('counter _total family with the OpenMetrics-style name', () => {
  const fams = parsePrometheusText('# TYPE foo counter\nfoo_total 3\n');
  assert.equal(fams.length, 1);
  assert.equal(fams[0].name, 'foo');
  assert.equal(fams[0].samples[0].name, 'foo_total');
});

test('malformed lines are refused with their line number', () => {
  assert.throws(() => parsePrometheusText('ok 1\nbad{x="1" 2\n'), /line 2/);
  assert.throws(() => parsePrometheusText('x abc\n'), /line 1: bad sample value/);
  assert.throws(() => parsePrometheusText('x\n'), /line 1: missing value/);
});

test('parseValue accepts the special values', () => {
  assert.equal(parseValue('+Inf'), Infinity);
  assert.equal(parseValue('-Inf'), -Infinity);
  assert.ok(Number.isNaN(parseValue('NaN')));
  assert.equal(parseValue('1e3'), 1000);
});

test('labelKey is order-independent and can drop labels', () => {
  assert.equal(labelKey({ b: '2', a: '1' }), labelKey({ a: '1', b: '2' }));
  assert.equal(labelKey({ a: '1', le: '0.1' }, ['le']), labelKey({ a: '1' }));
});

test('counter rate handles resets like Prometheus', () => {
  assert.equal(counterRate([{ t: 0, v: 10 }, { t: 2, v: 20 }]), 5);
  // 10 -> 20 (+10), reset to 3 (+3), -> 8 (+5): 18 over 6 s
  assert.equal(counterIncrease([{ t: 0, v: 10 }, { t: 2, v: 20 }, { t: 4, v: 3 }, { t: 6, v: 8 }]), 18);
  assert.equal(counterRate([{ t: 0, v: 10 }, { t: 2, v: 20 }, { t: 4, v: 3 }, { t: 6, v: 8 }]), 3);
  assert.equal(counterRate([{ t: 0, v: 1 }]), null);
  assert.equal(counterRate([{ t: 1, v: 1 }, { t: 1, v: 2 }]), null);
});

test('histogram_quantile interpolates linearly inside the bucket', () => {
  const b = [{ le: 0.1, count: 50 }, { le: 0.2, count: 100 }, { le: Infinity, count: 100 }];
  assert.equal(histogramQuantile(0.5, b), 0.1);
  assert.ok(Math.abs(histogramQuantile(0.75, b) - 0.15) < 1e-12);
  assert.ok(Math.abs(histogramQuantile(0.25, b) - 0.05) < 1e-12, 'first bucket starts at 0');
});

test('histogram_quantile edge cases match Prometheus', () => {
  const b = [{ le: 1, count: 10 }, { le: 2, count: 20 }, { le: Infinity, count: 30 }];
  // rank falls in +Inf bucket -> upper bound of the last finite bucket
  assert.equal(histogramQuantile(0.99, b), 2);
  assert.equal(histogramQuantile(-0.1, b), -Infinity);
  assert.equal(histogramQuantile(1.1, b), Infinity);
  assert.ok(Number.isNaN(histogramQuantile(NaN, b)));
  assert.ok(Number.isNaN(histogramQuantile(0.5, [{ le: Infinity, count: 3 }])), 'fewer than two buckets');
  assert.ok(Number.isNaN(histogramQuantile(0.5, [{ le: 1, count: 3 }, { le: 2, count: 3 }])), 'no +Inf bucket');
  assert.ok(Number.isNaN(histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }])), 'no observations');
  // unsorted input and a non-monotonic bucket (fixed up like ensureMonotonic)
  const messy = [{ le: Infinity, count: 100 }, { le: 0.2, count: 40 }, { le: 0.1, count: 50 }];
  assert.equal(histogramQuantile(0.5, messy), 0.1);
  // a first bucket with a non-positive upper bound
  assert.equal(histogramQuantile(0.1, [{ le: -1, count: 5 }, { le: 1, count: 10 }, { le: Infinity, count: 10 }]), -1);
});

test('histogramSeries groups buckets by labels without le', () => {
  const fams = parsePrometheusText(TEXT);
  const series = histogramSeries(fams[1]);
  assert.equal(series.size, 1);
  const s = [...series.values()][0];
  assert.deepEqual(s.labels, { method: 'Get' });
  assert.equal(s.buckets.length, 3);
  assert.equal(s.count, 4);
  assert.equal(s.sum, 0.05);
  assert.equal(histogramQuantile(0.5, s.buckets), 0.0075);
});

test('quantileBetween uses bucket increases (rate then histogram_quantile)', () => {
  const prev = [{ le: 0.1, count: 100 }, { le: 1, count: 100 }, { le: Infinity, count: 100 }];
  const cur = [{ le: 0.1, count: 100 }, { le: 1, count: 110 }, { le: Infinity, count: 110 }];
  // every new observation is in (0.1, 1]
  assert.ok(Math.abs(quantileBetween(0.5, prev, cur) - 0.55) < 1e-12);
  // a reset: the new counts count in full
  const reset = [{ le: 0.1, count: 4 }, { le: 1, count: 4 }, { le: Infinity, count: 4 }];
  assert.ok(Math.abs(quantileBetween(0.5, prev, reset) - 0.05) < 1e-12);
});

test('diffScrapes computes rates for counters and histogram quantiles', () => {
  const a = parsePrometheusText('# TYPE c counter\nc{x="1"} 10\n# TYPE g gauge\ng 5\n# TYPE h histogram\nh_bucket{le="1"} 0\nh_bucket{le="+Inf"} 0\nh_count 0\nh_sum 0\n');
  const b = parsePrometheusText('# TYPE c counter\nc{x="1"} 30\n# TYPE g gauge\ng 7\n# TYPE h histogram\nh_bucket{le="1"} 10\nh_bucket{le="+Inf"} 10\nh_count 10\nh_sum 3\n');
  const d = diffScrapes(a, b, 4);
  assert.equal(d[0].rows[0].rate, 5);
  assert.equal(d[1].rows[0].rate, null, 'gauges have no rate');
  assert.equal(d[2].quantiles[0].p50, 0.5);
  assert.equal(d[2].rows.find((r) => r.name === 'h_count').rate, 2.5);
  const first = diffScrapes(null, b, 0);
  assert.equal(first[0].rows[0].rate, null);
});
