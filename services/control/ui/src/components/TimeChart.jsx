import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { axisFormatter } from '../lib/format.js';

export const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#db2777', '#0891b2', '#65a30d', '#dc2626', '#4b5563', '#7c3aed'];
const LEVEL_COLORS = { warn: '#d97706', crit: '#dc2626' };

function showLast(u) {
  const n = u.data && u.data[0] ? u.data[0].length : 0;
  if (n && !(u.cursor.left >= 0) && u.legend.idx !== n - 1) u.setLegend({ idx: n - 1 });
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/**
 * A Grafana-like time series panel on uPlot: unit on the y axis, threshold lines coloured by
 * level, the cursor synced with every other panel of the same `syncKey`.
 * data = [xs (unix s), ...ys]; labels = one per y series; thresholds = [{value, level}].
 */
export function TimeChart({ title, unit = '', yLabel, labels, data, thresholds = [], thresholdInRange = false, colors, height = 170, syncKey = 'overview', testid, minMax }) {
  const box = useRef();
  const plot = useRef(null);
  const shape = labels.join('\u0001') + '|' + unit;
  const thresholdsRef = useRef(thresholds);
  thresholdsRef.current = thresholds;

  useEffect(() => {
    let u = null;
    const create = () => {
      if (u) u.destroy();
      const axisStroke = cssVar('--fg-muted', '#666');
      const grid = cssVar('--grid', 'rgba(128,128,128,0.15)');
      const fmt = axisFormatter(unit);
      const opts = {
        width: Math.max(200, box.current.clientWidth),
        height,
        cursor: { sync: { key: syncKey, setSeries: false }, drag: { x: true, y: false } },
        legend: { live: true },
        scales: {
          x: { time: true },
          y: {
            range: (self, min, max) => {
              // The y range follows the data (a threshold line shows when the data reaches it);
              // `thresholdInRange` keeps the first threshold visible (error ratio near 0).
              const t = thresholdInRange ? thresholdsRef.current.map((x) => x.value) : [];
              let hi = Math.max(max ?? 0, minMax ?? 0, ...(t.length ? [t[0] * 1.25] : []));
              let lo = Math.min(0, min ?? 0);
              if (!(hi > lo)) hi = lo + 1;
              return [lo, hi * 1.05];
            },
          },
        },
        axes: [
          {
            stroke: axisStroke,
            grid: { stroke: grid },
            ticks: { stroke: grid },
            space: 60,
            // one line of local clock time (seconds when the span is short)
            values: (self, splits) => {
              const span = splits.length > 1 ? splits[splits.length - 1] - splits[0] : 0;
              const opt = span > 600 ? { hour: '2-digit', minute: '2-digit', hour12: false } : { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
              return splits.map((v) => new Date(v * 1000).toLocaleTimeString(undefined, opt));
            },
          },
          {
            stroke: axisStroke,
            grid: { stroke: grid },
            ticks: { stroke: grid },
            size: 64,
            label: yLabel,
            labelSize: yLabel ? 18 : 0,
            values: (self, ticks) => ticks.map((v) => fmt(v)),
          },
        ],
        series: [
          { label: 'time', value: (self, v) => (v == null ? '–' : new Date(v * 1000).toLocaleTimeString(undefined, { hour12: false })) },
          ...labels.map((l, i) => ({
            label: l,
            stroke: (colors && colors[i]) || PALETTE[i % PALETTE.length],
            width: 1.5,
            spanGaps: false,
            points: { show: false },
            value: (self, v) => (v == null ? '–' : fmt(v)),
          })),
        ],
        hooks: {
          // Away from the cursor, the legend shows the latest values (like Grafana's "last").
          setCursor: [(self) => showLast(self)],
          draw: [
            (self) => showLast(self),
            (self) => {
              const ctx = self.ctx;
              for (const t of thresholdsRef.current) {
                const y = self.valToPos(t.value, 'y', true);
                if (y < self.bbox.top || y > self.bbox.top + self.bbox.height) continue;
                ctx.save();
                ctx.strokeStyle = LEVEL_COLORS[t.level] || '#d97706';
                ctx.setLineDash([6, 4]);
                ctx.lineWidth = 1;
                ctx.beginPath();
                ctx.moveTo(self.bbox.left, y);
                ctx.lineTo(self.bbox.left + self.bbox.width, y);
                ctx.stroke();
                ctx.restore();
              }
            },
          ],
        },
      };
      u = new uPlot(opts, data, box.current);
      plot.current = u;

    };
    create();
    const ro = new ResizeObserver(() => {
      if (u && box.current) {
        const w = Math.max(200, box.current.clientWidth);
        if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
      }
    });
    ro.observe(box.current);
    const onTheme = () => create();
    window.addEventListener('engram-theme', onTheme);
    return () => {
      ro.disconnect();
      window.removeEventListener('engram-theme', onTheme);
      if (u) u.destroy();
      plot.current = null;
    };
  }, [shape, height]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(data);
  }, [data]);

  const empty = !data[0] || data[0].length === 0;
  return (
    <div class="panel" data-testid={testid}>
      <div class="panel-title">
        {title}
        {unit ? <span class="muted small"> ({unit})</span> : null}
      </div>
      <div class="chart" ref={box} />
      {empty ? <div class="muted small chart-empty">no data yet</div> : null}
    </div>
  );
}
