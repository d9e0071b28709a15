import { useEffect, useMemo, useState } from 'preact/hooks';
import { get, enc } from '../api.js';
import { live, useStore } from '../store.js';
import { clipToRange, perServiceSeries, latencySeries, storageSeries, namespaceSeries, serviceIds, thresholdLevel, indexBacklogLevel } from '../lib/series.js';
import { formatBytes, formatSeconds, formatUptime, formatRate, formatPercent, formatNumber } from '../lib/format.js';
import { TimeChart } from '../components/TimeChart.jsx';
import { ErrorBox, StatusBadge } from '../components/common.jsx';

// Alert thresholds (as in the k8s alert rules): error ratio 1 % warning, 5 % critical.
export const ERROR_RATIO = { warn: 0.01, crit: 0.05 };
export const LATENCY_P95 = { warn: 0.25, crit: 1 };
export const FSYNC_P99 = { warn: 0.05, crit: 0.25 };

const RANGES = [
  ['1m', 60],
  ['5m', 300],
  ['15m', 900],
  ['all', 0],
];

function ServiceTile({ s }) {
  const down = s.status === 'unreachable';
  const el = thresholdLevel(s.errorRatio, ERROR_RATIO);
  const lat = thresholdLevel(s.p95Seconds, LATENCY_P95);
  return (
    <div class={'tile service ' + (down ? 'down' : s.status)} data-testid={'tile-' + s.kind} data-status={s.status} data-id={s.id}>
      <div class="tile-head">
        <strong>{s.kind}</strong> <StatusBadge status={s.status} />
      </div>
      <div class="muted small selectable" title="instance">{s.address || s.id}</div>
      {down ? (
        <div class="unavailable" data-testid="unavailable">
          unavailable{s.reason ? <span class="small">: {s.reason}</span> : null}
        </div>
      ) : (
        <>
          {/* not ready: why; ready: what is degraded (e.g. storage refusing writes, disk full) */}
          {s.reason ? <div class="reason small" data-testid="reason">{s.reason}</div> : null}
          <dl class="kv">
            <dt>version</dt>
            <dd>{s.version || '–'}</dd>
            <dt>uptime</dt>
            <dd>{formatUptime(s.uptimeSeconds)}</dd>
            <dt>requests</dt>
            <dd>{formatRate(s.requestRate)}</dd>
            <dt>errors</dt>
            <dd class={'lvl-' + el}>{formatPercent(s.errorRatio)}</dd>
            <dt>p95 / p99</dt>
            <dd class={'lvl-' + lat}>
              {formatSeconds(s.p95Seconds)} / {formatSeconds(s.p99Seconds)}
            </dd>
          </dl>
        </>
      )}
      <a class="small" href={'#/metrics/' + enc(s.id)} data-testid="raw-metrics-link">
        raw metrics
      </a>
    </div>
  );
}

function StorageTiles({ st, namespaces }) {
  const f = thresholdLevel(st.fsyncP99Seconds, FSYNC_P99);
  const b = indexBacklogLevel(st, namespaces);
  return (
    <div class="tiles small-tiles" data-testid="storage-tiles">
      <div class="tile stat"><div class="muted small">write queue</div><div class="big">{formatNumber(st.writeQueue)}</div></div>
      <div class="tile stat"><div class="muted small">fsync p99</div><div class={'big lvl-' + f}>{formatSeconds(st.fsyncP99Seconds)}</div></div>
      <div class="tile stat" title="Share of the time the single writer thread was busy (applying, logging, waiting for fsync)" data-testid="writer-busy"><div class="muted small">writer busy</div><div class="big">{formatPercent(st.writerBusy)}</div></div>
      <div class="tile stat"><div class="muted small">WAL</div><div class="big">{formatBytes(st.walBytes)}</div></div>
      <div class="tile stat"><div class="muted small">mapped</div><div class="big">{formatBytes(st.mappedBytes)}</div></div>
      <div class="tile stat"><div class="muted small">concepts</div><div class="big">{formatNumber(st.concepts)}</div></div>
      <div class="tile stat"><div class="muted small">associations</div><div class="big">{formatNumber(st.associations)}</div></div>
      <div class="tile stat" title="Vectors written but not yet in the HNSW graph: every vector search of their namespace scans them exactly. Amber when one namespace has more than 50,000 (the EngramStorageIndexLagging alert's threshold)." data-testid="index-backlog" data-level={b}>
        <div class="muted small">unindexed vectors</div>
        <div class={'big lvl-' + b}>{formatNumber(st.unindexedVectors)}</div>
      </div>
    </div>
  );
}

export function Overview() {
  const l = useStore(live);
  const [range, setRange] = useState(900);
  const [fallback, setFallback] = useState(null);
  const [error, setError] = useState(null);

  // Until the live feed delivers, show the latest tick from api/overview.
  useEffect(() => {
    if (l.ticks.length) return;
    get('api/overview').then(setFallback, setError);
  }, []);

  const latest = l.ticks.length ? l.ticks[l.ticks.length - 1] : fallback;
  const ticks = useMemo(() => clipToRange(l.ticks, range), [l.ticks, range]);
  const ids = useMemo(() => serviceIds(ticks), [ticks]);
  const charts = useMemo(
    () => ({
      rate: perServiceSeries(ticks, 'requestRate', { ids }),
      errors: perServiceSeries(ticks, 'errorRatio', { ids, scale: 100 }),
      latency: ids.map((id) => ({ id, ...latencySeries(ticks, id) })),
      writeQueue: storageSeries(ticks, 'writeQueue'),
      fsync: storageSeries(ticks, 'fsyncP99Seconds'),
      wal: storageSeries(ticks, 'walBytes'),
      mapped: storageSeries(ticks, 'mappedBytes'),
      nsConcepts: namespaceSeries(ticks, 'concepts'),
      nsAssociations: namespaceSeries(ticks, 'associations'),
    }),
    [ticks, ids],
  );
  const span = ticks.length > 1 ? ticks[ticks.length - 1].unixTime - ticks[0].unixTime : 0;

  return (
    <section>
      <div class="toolbar">
        <h2>Overview</h2>
        <div class="range-picker" role="group" aria-label="time range">
          {RANGES.map(([label, s]) => (
            <button key={label} class={range === s ? 'active' : ''} onClick={() => setRange(s)} data-range={label}>
              {label}
            </button>
          ))}
        </div>
        <span class="muted small">
          {ticks.length} points over {formatUptime(span)}, every {l.intervalSeconds} s
          {latest ? ` · last ${new Date((latest.unixTime || 0) * 1000).toLocaleTimeString(undefined, { hour12: false })}` : ''}
        </span>
      </div>
      <ErrorBox error={!latest ? error : null} />
      {latest ? (
        <>
          <div class="tiles" data-testid="service-tiles">
            {(latest.services || []).map((s) => (
              <ServiceTile key={s.id} s={s} />
            ))}
          </div>
          <h3>Storage</h3>
          <StorageTiles st={latest.storage || {}} namespaces={latest.namespaces} />
          {(latest.namespaces || []).length ? (
            <table class="table compact ns-counts" data-testid="ns-counts">
              <thead>
                <tr>
                  <th>namespace</th>
                  <th class="num">concepts</th>
                  <th class="num">associations</th>
                </tr>
              </thead>
              <tbody>
                {latest.namespaces.map((n) => (
                  <tr key={n.name}>
                    <td>
                      <a href={'#/concepts/' + enc(n.name)}>{n.name}</a>
                    </td>
                    <td class="num">{formatNumber(n.concepts)}</td>
                    <td class="num">{formatNumber(n.associations)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </>
      ) : !error ? (
        <div class="muted">Waiting for the first scrape…</div>
      ) : null}

      <h3>Services</h3>
      <div class="grid2">
        <TimeChart title="Request rate" unit="/s" yLabel="requests / s" labels={charts.rate.labels} data={charts.rate.data} testid="chart-rate" />
        <TimeChart
          title="Error ratio"
          unit="%"
          yLabel="errors %"
          labels={charts.errors.labels}
          data={charts.errors.data}
          thresholds={[{ value: ERROR_RATIO.warn * 100, level: 'warn' }, { value: ERROR_RATIO.crit * 100, level: 'crit' }]}
          thresholdInRange
          testid="chart-errors"
        />
        {charts.latency.map((c) => (
          <TimeChart
            key={c.id}
            title={`Latency ${c.id}`}
            unit="s"
            yLabel="seconds"
            labels={c.labels}
            data={c.data}
            colors={['#16a34a', '#d97706', '#dc2626']}
            thresholds={[{ value: LATENCY_P95.warn, level: 'warn' }, { value: LATENCY_P95.crit, level: 'crit' }]}
            testid="chart-latency"
          />
        ))}
      </div>
      <h3>Storage</h3>
      <div class="grid2">
        <TimeChart title="Write queue" unit="" yLabel="batches" labels={['write queue']} data={charts.writeQueue.data} />
        <TimeChart title="fsync p99" unit="s" yLabel="seconds" labels={['fsync p99']} data={charts.fsync.data} thresholds={[{ value: FSYNC_P99.warn, level: 'warn' }, { value: FSYNC_P99.crit, level: 'crit' }]} />
        <TimeChart title="WAL size" unit="B" yLabel="bytes" labels={['WAL bytes']} data={charts.wal.data} />
        <TimeChart title="Mapped" unit="B" yLabel="bytes" labels={['mapped bytes']} data={charts.mapped.data} />
      </div>
      <h3>Namespaces</h3>
      <div class="grid2">
        <TimeChart title="Concepts per namespace" yLabel="concepts" labels={charts.nsConcepts.labels} data={charts.nsConcepts.data} />
        <TimeChart title="Associations per namespace" yLabel="associations" labels={charts.nsAssociations.labels} data={charts.nsAssociations.data} />
      </div>
    </section>
  );
}
