import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, enc } from '../api.js';
import { parsePrometheusText, diffScrapes } from '../lib/prom.js';
import { formatSeconds, trim } from '../lib/format.js';
import { ErrorBox } from '../components/common.jsx';

function labelsText(labels) {
  const e = Object.entries(labels);
  return e.length ? '{' + e.map(([k, v]) => `${k}="${v}"`).join(', ') + '}' : '';
}

function fmt(v) {
  if (v === null || v === undefined) return '–';
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : trim(v);
}

/**
 * One service instance's raw /metrics (api/services/{id}/metrics), parsed in the browser: the metric
 * families, each series' value, and rates between the last two fetches (histogram quantiles too).
 */
export function RawMetrics({ route }) {
  const id = route.parts[1] || '';
  const prev = useRef(null); // {at, families}
  const [view, setView] = useState(null);
  const [error, setError] = useState(null);
  const [filter, setFilter] = useState('');
  const [auto, setAuto] = useState(true);
  const [open, setOpen] = useState({});

  const load = async () => {
    try {
      const text = await get(`api/services/${enc(id)}/metrics`, undefined, { expect: 'text' });
      const at = performance.now() / 1000;
      const families = parsePrometheusText(text);
      const p = prev.current;
      const dt = p ? at - p.at : 0;
      setView({ families: diffScrapes(p && p.families, families, dt), dt, bytes: text.length, fetchedAt: new Date() });
      prev.current = { at, families };
      setError(null);
    } catch (e) {
      setError(e);
    }
  };

  useEffect(() => {
    prev.current = null;
    setView(null);
    load();
  }, [id]);
  useEffect(() => {
    if (!auto) return;
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [auto, id]);

  const q = filter.trim().toLowerCase();
  const fams = view ? view.families.filter((f) => !q || f.name.toLowerCase().includes(q) || f.help.toLowerCase().includes(q)) : [];
  return (
    <section>
      <div class="toolbar">
        <h2>
          Raw metrics <code>{id}</code>
        </h2>
        <a href="#/overview">← overview</a>
        <button onClick={load} data-testid="metrics-refresh">Fetch again</button>
        <label class="inline">
          <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.currentTarget.checked)} /> every 5 s
        </label>
        <input placeholder="filter metric names" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
        {view ? (
          <span class="muted small">
            {view.families.length} families, {Math.round(view.bytes / 1024)} KiB, {view.dt ? `rates over the last ${trim(view.dt)} s` : 'fetch again for rates'}
          </span>
        ) : null}
      </div>
      <ErrorBox error={error} />
      {view ? (
        <table class="table metrics" data-testid="metrics-table">
          <thead>
            <tr>
              <th>metric</th>
              <th>type</th>
              <th>series</th>
              <th>value</th>
              <th>rate /s</th>
            </tr>
          </thead>
          <tbody>
            {fams.map((f) => {
              const isOpen = open[f.name] ?? fams.length <= 3;
              const total = f.rows.length === 1 ? f.rows[0] : null;
              return (
                <Fragment key={f.name}>
                  <tr class="family" onClick={() => setOpen({ ...open, [f.name]: !isOpen })}>
                    <td>
                      <span class="caret">{isOpen ? '▾' : '▸'}</span> <code>{f.name}</code>
                      <div class="muted small">{f.help}</div>
                    </td>
                    <td>{f.type}</td>
                    <td>{f.rows.length}</td>
                    <td class="num">{total ? fmt(total.value) : ''}</td>
                    <td class="num">{total ? fmt(total.rate) : ''}</td>
                  </tr>
                  {isOpen && f.quantiles
                    ? f.quantiles.map((qq) => (
                        <tr key={f.name + 'q' + qq.key} class="sub">
                          <td colspan="3">
                            <code class="small">{labelsText(qq.labels)}</code> <span class="muted small">quantiles {qq.since}</span>
                          </td>
                          <td colspan="2" class="num">
                            p50 {formatSeconds(qq.p50)} · p95 {formatSeconds(qq.p95)} · p99 {formatSeconds(qq.p99)}
                          </td>
                        </tr>
                      ))
                    : null}
                  {isOpen
                    ? f.rows.map((r) => (
                        <tr key={r.key} class="sub">
                          <td colspan="3">
                            <code class="small">
                              {r.name}
                              {labelsText(r.labels)}
                            </code>
                          </td>
                          <td class="num">{fmt(r.value)}</td>
                          <td class="num">{fmt(r.rate)}</td>
                        </tr>
                      ))
                    : null}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      ) : !error ? (
        <div class="muted">Fetching…</div>
      ) : null}
    </section>
  );
}
