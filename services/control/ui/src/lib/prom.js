// Prometheus text exposition format (version 0.0.4) parser and the PromQL maths the UI needs:
// counter rates with resets, and histogram_quantile() exactly as Prometheus computes it.
// Pure functions, no DOM: unit-tested with `node --test`.

/** Parses a float the way Prometheus does (NaN, +Inf, -Inf accepted). */
export function parseValue(s) {
  switch (s) {
    case 'NaN': return NaN;
    case '+Inf': case 'Inf': return Infinity;
    case '-Inf': return -Infinity;
    default: {
      const v = Number(s);
      if (s === '' || Number.isNaN(v)) throw new Error(`bad sample value "${s}"`);
      return v;
    }
  }
}

function unescapeHelp(s) {
  return s.replace(/\\(\\|n)/g, (_, c) => (c === 'n' ? '\n' : '\\'));
}

/** Parses `{a="x",b="y\"z"}` starting at text[i] === '{'; returns [labels, indexAfterBrace]. */
function parseLabels(text, i, lineNo) {
  const labels = {};
  i++; // '{'
  for (;;) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === '}') return [labels, i + 1];
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!m) throw new Error(`line ${lineNo}: bad label name`);
    const name = m[0];
    i += name.length;
    while (text[i] === ' ') i++;
    if (text[i] !== '=') throw new Error(`line ${lineNo}: expected '=' after label ${name}`);
    i++;
    while (text[i] === ' ') i++;
    if (text[i] !== '"') throw new Error(`line ${lineNo}: expected '"' for label ${name}`);
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error(`line ${lineNo}: unterminated label value`);
      if (c === '\\') {
        const n = text[i + 1];
        value += n === 'n' ? '\n' : n;
        i += 2;
      } else if (c === '"') {
        i++;
        break;
      } else {
        value += c;
        i++;
      }
    }
    labels[name] = value;
    while (text[i] === ' ') i++;
    if (text[i] === ',') i++;
  }
}

const SUFFIXES = {
  histogram: ['_bucket', '_sum', '_count', '_created'],
  summary: ['_sum', '_count', '_created'],
  counter: ['_total', '_created'],
  gaugehistogram: ['_bucket', '_gsum', '_gcount'],
};

/**
 * Parses Prometheus text. Returns an array of families in order of appearance:
 * {name, type ('counter'|'gauge'|'histogram'|'summary'|'untyped'), help, samples:[{name, labels, value, timestamp}]}.
 * Samples are attached to the family they belong to (`x_bucket` to histogram `x`).
 * Throws on malformed lines, with the line number.
 */
export function parsePrometheusText(text) {
  const families = [];
  const byName = new Map();
  const family = (name) => {
    let f = byName.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [] };
      byName.set(name, f);
      families.push(f);
    }
    return f;
  };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].replace(/\r$/, '');
    const lineNo = n + 1;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      const f = family(m[2]);
      if (m[1] === 'HELP') f.help = unescapeHelp(m[3]);
      else f.type = m[3].trim().toLowerCase() || 'untyped';
      continue;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`line ${lineNo}: bad metric name`);
    const name = nm[0];
    let i = name.length;
    let labels = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, lineNo);
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest.length < 1 || rest[0] === '') throw new Error(`line ${lineNo}: missing value`);
    let value;
    try {
      value = parseValue(rest[0]);
    } catch (e) {
      throw new Error(`line ${lineNo}: ${e.message}`);
    }
    const timestamp = rest.length > 1 ? Number(rest[1]) : undefined;
    family(familyNameOf(name, byName)).samples.push({ name, labels, value, timestamp });
  }
  return families;
}

function familyNameOf(sampleName, byName) {
  if (byName.has(sampleName) && byName.get(sampleName).type !== 'untyped') return sampleName;
  for (const [type, suffixes] of Object.entries(SUFFIXES)) {
    for (const s of suffixes) {
      if (sampleName.endsWith(s)) {
        const base = sampleName.slice(0, -s.length);
        const f = byName.get(base);
        if (f && f.type === type) return base;
      }
    }
  }
  return sampleName;
}

/** Canonical key of a label set (sorted), optionally leaving some labels out. */
export function labelKey(labels, without = []) {
  return Object.keys(labels)
    .filter((k) => !without.includes(k))
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}

/**
 * Increase of a counter over samples [{t, v}] (oldest first) with counter resets handled like
 * Prometheus: a drop means the counter restarted from 0, so the new value counts in full.
 */
export function counterIncrease(samples) {
  let inc = 0;
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1].v;
    const cur = samples[i].v;
    inc += cur >= prev ? cur - prev : cur;
  }
  return inc;
}

/**
 * Per-second rate of a counter between samples [{t (seconds), v}]. Without Prometheus'
 * extrapolation to the window's edges: the window here is exactly first..last sample.
 * null when it cannot be known (fewer than two samples, no time elapsed).
 */
export function counterRate(samples) {
  if (!samples || samples.length < 2) return null;
  const dt = samples[samples.length - 1].t - samples[0].t;
  if (!(dt > 0)) return null;
  return counterIncrease(samples) / dt;
}

/**
 * histogram_quantile(q, buckets) as Prometheus computes it (promql/quantile.go, bucketQuantile):
 * buckets = [{le: upper bound (number, +Inf for the last), count: cumulative count (or its rate)}].
 */
export function histogramQuantile(q, buckets) {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const b = coalesceBuckets([...buckets].sort((x, y) => x.le - y.le));
  if (b.length < 2) return NaN;
  if (b[b.length - 1].le !== Infinity) return NaN;
  ensureMonotonic(b);
  const observations = b[b.length - 1].count;
  if (observations === 0 || Number.isNaN(observations)) return NaN;
  let rank = q * observations;
  let i = b.findIndex((x) => x.count >= rank);
  if (i < 0) i = b.length - 1;
  if (i === b.length - 1) return b[b.length - 2].le;
  if (i === 0 && b[0].le <= 0) return b[0].le;
  let start = 0;
  const end = b[i].le;
  let count = b[i].count;
  if (i > 0) {
    start = b[i - 1].le;
    count -= b[i - 1].count;
    rank -= b[i - 1].count;
  }
  return start + (end - start) * (rank / count);
}

function coalesceBuckets(sorted) {
  const out = [];
  for (const x of sorted) {
    const last = out[out.length - 1];
    if (last && last.le === x.le) last.count += x.count;
    else out.push({ le: x.le, count: x.count });
  }
  return out;
}

function ensureMonotonic(b) {
  let max = -Infinity;
  for (const x of b) {
    if (x.count > max) max = x.count;
    else if (x.count < max) x.count = max;
  }
}

/**
 * Groups a histogram family's `_bucket` samples by their labels without `le`:
 * returns Map(labelKey -> {labels, buckets:[{le, count}], sum, count}).
 */
export function histogramSeries(family) {
  const out = new Map();
  const get = (labels) => {
    const key = labelKey(labels, ['le']);
    let s = out.get(key);
    if (!s) {
      const l = { ...labels };
      delete l.le;
      s = { labels: l, buckets: [], sum: null, count: null };
      out.set(key, s);
    }
    return s;
  };
  for (const smp of family.samples) {
    if (smp.name.endsWith('_bucket') && smp.labels.le !== undefined) {
      get(smp.labels).buckets.push({ le: parseValue(smp.labels.le), count: smp.value });
    } else if (smp.name.endsWith('_sum')) get(smp.labels).sum = smp.value;
    else if (smp.name.endsWith('_count')) get(smp.labels).count = smp.value;
  }
  return out;
}

/**
 * Quantile of what a histogram observed between two scrapes (like
 * histogram_quantile(q, rate(x_bucket[window]))): bucket increases, resets handled per bucket.
 */
export function quantileBetween(q, prevBuckets, curBuckets) {
  const prev = new Map(prevBuckets.map((b) => [b.le, b.count]));
  const inc = curBuckets.map((b) => {
    const p = prev.get(b.le);
    if (p === undefined) return { le: b.le, count: b.count };
    return { le: b.le, count: b.count >= p ? b.count - p : b.count };
  });
  return histogramQuantile(q, inc);
}

/**
 * Compares two parsed scrapes taken `dtSeconds` apart and returns, per family, per series:
 * {key, labels, value, rate (counters and histogram/summary counts; null otherwise)}.
 * Histogram series also get p50/p95/p99 of the observations between the scrapes.
 */
export function diffScrapes(prevFamilies, curFamilies, dtSeconds) {
  const prevByName = new Map((prevFamilies || []).map((f) => [f.name, f]));
  return curFamilies.map((f) => {
    const pf = prevByName.get(f.name);
    const prevSamples = new Map();
    if (pf) for (const s of pf.samples) prevSamples.set(s.name + '{' + labelKey(s.labels) + '}', s.value);
    const isCounterLike = (s) =>
      f.type === 'counter' ||
      ((f.type === 'histogram' || f.type === 'summary') && (s.name.endsWith('_count') || s.name.endsWith('_sum') || s.name.endsWith('_bucket')));
    const rows = f.samples.map((s) => {
      const key = s.name + '{' + labelKey(s.labels) + '}';
      let rate = null;
      if (isCounterLike(s) && prevSamples.has(key) && dtSeconds > 0) {
        rate = counterRate([{ t: 0, v: prevSamples.get(key) }, { t: dtSeconds, v: s.value }]);
      }
      return { key, name: s.name, labels: s.labels, value: s.value, rate };
    });
    let quantiles = null;
    if (f.type === 'histogram') {
      const cur = histogramSeries(f);
      const prev = pf ? histogramSeries(pf) : new Map();
      quantiles = [...cur.entries()].map(([key, s]) => {
        const p = prev.get(key);
        const q = (x) => (p ? quantileBetween(x, p.buckets, s.buckets) : histogramQuantile(x, s.buckets));
        return { key, labels: s.labels, p50: q(0.5), p95: q(0.95), p99: q(0.99), since: p ? 'between fetches' : 'since start' };
      });
    }
    return { name: f.name, type: f.type, help: f.help, rows, quantiles };
  });
}
